"""Nodes of the ``eda`` pipeline: tables that describe a labelled text corpus.

A *corpus* here is one frame with the rows of all splits and the columns ``split``,
``text`` and ``label`` (``source``/``line`` kept when present). The same template
of nodes runs on the raw splits (the rows the preprocessing node ``validate_rows``
accepted, ``validated_<split>``) and on the cleaned splits, so that the effect of
preprocessing shows side by side.

Every setting comes from ``params:eda`` (``conf/base/parameters_eda.yml``); label names
and ``max_length`` come from ``params:model``.

Word definitions used throughout:

- *words* in length statistics are whitespace-separated tokens (``str.split``), as in
  the preprocessing report, so punctuation split off by spaces counts as a word;
- *n-gram terms* are regex words (``\\w+`` with inner hyphens/apostrophes, e.g.
  ``anak-anak``), punctuation excluded, case kept as in the text (the cleaned view is
  lowercased by preprocessing; the raw view is not);
- *model tokens* come from the configured tokenizer with its special tokens
  (``[CLS]``/``[SEP]``), i.e. what counts against ``max_length``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from quant_sentiment.modeling import SCRATCH, label_names, train_wordpiece_tokenizer

logger = logging.getLogger(__name__)

ALL = "all"
WORD_PATTERN = re.compile(r"\w+(?:[-']\w+)*")
LENGTH_MEASURES = {
    "n_chars": "characters",
    "n_words": "words",
    "n_tokens": "model tokens",
}
# Distinctive words are ranked between at least this many labels.
MIN_LABELS = 2
# ``rate_in_label`` / ``rate_in_rest`` are per this many words.
RATE_PER = 1000
_MATRIX_NDIM = 2  # classes x words
_QUANTILES = {
    "p25": 0.25,
    "median": 0.5,
    "p75": 0.75,
    "p90": 0.9,
    "p95": 0.95,
    "p99": 0.99,
}


# ----------------------------------------------------------------------------- inputs
def combine_splits(
    train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame
) -> pd.DataFrame:
    """Stack the three splits into one frame with a leading ``split`` column.

    Raises:
        ValueError: If a split lacks a ``text`` or ``label`` column.
    """
    parts = []
    for split, frame in (("train", train), ("valid", valid), ("test", test)):
        missing = {"text", "label"} - set(frame.columns)
        if missing:
            raise ValueError(
                f"split '{split}' lacks column(s) {sorted(missing)}; "
                f"found {list(frame.columns)}"
            )
        parts.append(frame.assign(split=split))
    corpus = pd.concat(parts, ignore_index=True)
    return corpus[["split", *[c for c in corpus.columns if c != "split"]]]


def combine_invalid_rows(
    train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame
) -> pd.DataFrame:
    """Stack the rows ``validate_rows`` rejected per split (``invalid_rows_<split>``)
    with a ``split`` column."""
    parts = [
        f.assign(split=s)
        for s, f in (("train", train), ("valid", valid), ("test", test))
    ]
    return pd.concat(parts, ignore_index=True)


def load_tokenizer(
    eda: dict[str, Any], model: dict[str, Any], clean_train: pd.DataFrame
) -> tuple[Any, dict[str, Any]]:
    """Load the tokenizer whose token counts the length and coverage tables use.

    ``eda.tokenizer`` (a local folder or hub id) wins when set; otherwise the
    fine-tuning source ``finetune.model.source`` is used. For ``scratch`` the WordPiece
    tokenizer is trained on ``clean_train`` exactly as the finetune pipeline does
    (``finetune.model.scratch.vocab_size`` / ``min_frequency``).

    Returns:
        ``(tokenizer, info)`` where ``info`` names the source and tokenizer class.

    Raises:
        OSError: If the source cannot be loaded (e.g. a hub id offline), with what
            to set instead.
    """
    source = eda["tokenizer"] or model["source"]
    if not source:
        raise ValueError(
            "No tokenizer configured: set eda.tokenizer or finetune.model.source."
        )
    source = str(source)
    if source == SCRATCH:
        scratch = model["scratch"]
        tokenizer = train_wordpiece_tokenizer(
            clean_train["text"].astype(str).tolist(),
            vocab_size=int(scratch["vocab_size"]),
            min_frequency=int(scratch["min_frequency"]),
        )
        origin = "WordPiece trained on clean_train (finetune.model.scratch)"
    else:
        from transformers import AutoTokenizer

        revision = None if eda["tokenizer"] else model.get("revision")
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        except (OSError, ValueError) as exc:
            kind = "local folder" if Path(source).exists() else "hub id"
            raise OSError(
                f"Could not load the tokenizer '{source}' ({kind}) for the eda "
                f"pipeline: {exc}\nHub ids need network access or a filled Hugging "
                "Face cache. Set `eda.tokenizer` to a local folder (e.g. "
                "`--params eda.tokenizer=<model folder>`) or run with "
                "`--env=offline` / `--env=minilm` (packaged all-MiniLM-L6-v2)."
            ) from exc
        origin = "eda.tokenizer" if eda["tokenizer"] else "finetune.model.source"
    info = {
        "source": source,
        "origin": origin,
        "class": type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
    }
    logger.info("eda tokenizer: %s", info)
    return tokenizer, info


# ----------------------------------------------------------------------------- tables
def _split_order(corpus: pd.DataFrame) -> list[str]:
    known = [s for s in ("train", "valid", "test") if s in set(corpus["split"])]
    return known + sorted(set(corpus["split"]) - set(known))


def split_label_counts(corpus: pd.DataFrame, label_map: dict[str, int]) -> pd.DataFrame:
    """Rows per split and label, with each label's share of its split.

    Labels of ``label_map`` absent from a split get a 0 row; labels outside it are
    listed after them. The ``all`` rows pool the splits.

    Returns:
        Columns ``split``, ``label``, ``count``, ``share``.
    """
    labels = label_names(label_map)
    labels += sorted(set(corpus["label"].dropna().astype(str)) - set(labels))
    rows = []
    for split in [*_split_order(corpus), ALL]:
        part = corpus if split == ALL else corpus[corpus["split"] == split]
        counts = part["label"].astype(str).value_counts()
        total = len(part)
        for label in labels:
            n = int(counts.get(label, 0))
            rows.append((split, label, n, n / total if total else np.nan))
    return pd.DataFrame(rows, columns=["split", "label", "count", "share"])


def quality_counts(corpus: pd.DataFrame, dropped: pd.DataFrame) -> pd.DataFrame:
    """Missing, empty, duplicate and dropped rows per split, plus vocabulary size.

    Args:
        corpus: The rows analysed.
        dropped: Rows removed upstream (``split``, ``check``): the rows
            ``validate_rows`` rejected for the raw view, ``preprocessing_dropped_rows``
            for the cleaned view. Each check gets a ``dropped_<check>`` column.

    Returns:
        One row per split and an ``all`` row: ``rows``, ``missing_text``,
        ``empty_text`` (blank after stripping), ``missing_label``, ``duplicate_rows``
        (same text and label), ``duplicate_texts``, ``conflicting_label_texts``,
        ``texts_shared_with_train``, ``dropped_upstream``, ``dropped_<check>``...,
        ``words_total`` and ``vocabulary_size`` (distinct n-gram terms).
    """
    if "action" in dropped:  # rows kept but changed (truncated...) are not dropped
        dropped = dropped[dropped["action"].fillna("dropped") == "dropped"]
    checks = sorted(dropped["check"].dropna().unique()) if len(dropped) else []
    train_texts = set(corpus.loc[corpus["split"] == "train", "text"].dropna())
    rows = []
    for split in [*_split_order(corpus), ALL]:
        part = corpus if split == ALL else corpus[corpus["split"] == split]
        gone = dropped if split == ALL else dropped[dropped["split"] == split]
        text = part["text"]
        labels_per_text = (
            part.dropna(subset=["text"]).groupby("text")["label"].nunique()
        )
        terms = [
            t for doc in text.dropna().astype(str) for t in WORD_PATTERN.findall(doc)
        ]
        row = {
            "split": split,
            "rows": len(part),
            "missing_text": int(text.isna().sum()),
            "empty_text": int(
                (text.fillna("").astype(str).str.strip() == "").sum()
                - text.isna().sum()
            ),
            "missing_label": int(part["label"].isna().sum()),
            "duplicate_rows": int(part.duplicated(["text", "label"]).sum()),
            "duplicate_texts": int(part["text"].duplicated().sum()),
            "conflicting_label_texts": int((labels_per_text > 1).sum()),
            "texts_shared_with_train": (
                np.nan
                if split in ("train", ALL)
                else int(part["text"].drop_duplicates().isin(train_texts).sum())
            ),
            "dropped_upstream": len(gone),
        }
        for check in checks:
            row[f"dropped_{check}"] = int((gone["check"] == check).sum())
        row["words_total"] = int(text.dropna().astype(str).str.split().str.len().sum())
        row["vocabulary_size"] = len(set(terms))
        rows.append(row)
    return pd.DataFrame(rows)


def measure_lengths(
    corpus: pd.DataFrame, tokenizer: Any, eda: dict[str, Any]
) -> pd.DataFrame:
    """Length of every text in characters, words and model tokens.

    Model tokens include the tokenizer's special tokens and are counted without
    truncation, in batches of ``eda.token_batch_size``.

    Returns:
        ``split``, ``label``, ``n_chars``, ``n_words``, ``n_tokens``.
    """
    texts = corpus["text"].fillna("").astype(str).tolist()
    batch = int(eda["token_batch_size"])
    n_tokens: list[int] = []
    for start in tqdm(
        range(0, len(texts), batch),
        desc="eda: tokenize",
        unit="batch",
        disable=len(texts) <= batch,
    ):
        encoded = tokenizer(
            texts[start : start + batch],
            add_special_tokens=True,
            truncation=False,
            verbose=False,
        )["input_ids"]
        n_tokens += [len(ids) for ids in encoded]
    return pd.DataFrame(
        {
            "split": corpus["split"].to_numpy(),
            "label": corpus["label"].astype(str).to_numpy(),
            "n_chars": [len(t) for t in texts],
            "n_words": [len(t.split()) for t in texts],
            "n_tokens": n_tokens,
        }
    )


def length_statistics(lengths: pd.DataFrame, label_map: dict[str, int]) -> pd.DataFrame:
    """Length statistics per split and per label (and pooled) for every measure.

    Returns:
        Long table: ``split``, ``label`` (``all`` = every label), ``measure``
        (``n_chars``/``n_words``/``n_tokens``), ``count``, ``mean``, ``std``, ``min``,
        ``p25``, ``median``, ``p75``, ``p90``, ``p95``, ``p99``, ``max``.
    """
    labels = [lab for lab in label_names(label_map) if lab in set(lengths["label"])]
    labels += sorted(set(lengths["label"]) - set(labels))
    rows = []
    for split in [*_split_order(lengths), ALL]:
        in_split = lengths if split == ALL else lengths[lengths["split"] == split]
        for label in [ALL, *labels]:
            part = in_split if label == ALL else in_split[in_split["label"] == label]
            for measure in LENGTH_MEASURES:
                values = part[measure]
                if values.empty:
                    continue
                row = {
                    "split": split,
                    "label": label,
                    "measure": measure,
                    "count": len(values),
                    "mean": values.mean(),
                    "std": values.std(),
                    "min": int(values.min()),
                }
                row.update(
                    {k: float(values.quantile(q)) for k, q in _QUANTILES.items()}
                )
                row["max"] = int(values.max())
                rows.append(row)
    return pd.DataFrame(rows)


def token_coverage(lengths: pd.DataFrame, eda: dict[str, Any]) -> pd.DataFrame:
    """Share of texts (and of tokens) cut off at each candidate ``max_length``.

    A text is truncated at ``L`` when it has more than ``L`` model tokens (special
    tokens included, as Hugging Face truncation counts them).

    Returns:
        ``split``, ``label``, ``max_length``, ``texts``, ``truncated``,
        ``truncated_share``, ``tokens_lost_share`` (tokens beyond ``L`` / all tokens).
    """
    thresholds = sorted(int(x) for x in eda["truncation_lengths"])
    if not thresholds or thresholds[0] < 1:
        raise ValueError(
            f"eda.truncation_lengths must be positive integers, got "
            f"{eda['truncation_lengths']!r}"
        )
    rows = []
    groups = [(s, ALL) for s in [*_split_order(lengths), ALL]]
    groups += [
        (s, lab)
        for s in _split_order(lengths)
        for lab in sorted(set(lengths.loc[lengths["split"] == s, "label"]))
    ]
    for split, label in groups:
        part = lengths if split == ALL else lengths[lengths["split"] == split]
        if label != ALL:
            part = part[part["label"] == label]
        tokens = part["n_tokens"].to_numpy()
        for limit in thresholds:
            cut = tokens > limit
            total = tokens.sum()
            rows.append(
                {
                    "split": split,
                    "label": label,
                    "max_length": limit,
                    "texts": len(tokens),
                    "truncated": int(cut.sum()),
                    "truncated_share": float(cut.mean()) if len(tokens) else np.nan,
                    "tokens_lost_share": float(
                        (tokens - limit).clip(min=0).sum() / total
                    )
                    if total
                    else np.nan,
                }
            )
    return pd.DataFrame(rows)


@cache
def _sastrawi_stopwords() -> frozenset[str]:
    from Sastrawi.StopWordRemover.StopWordRemoverFactory import StopWordRemoverFactory

    return frozenset(StopWordRemoverFactory().get_stop_words())


def stopword_set(settings: dict[str, Any]) -> frozenset[str]:
    """Sastrawi's Indonesian stop words minus ``stopwords_keep`` (e.g. negations);
    empty when ``remove_stopwords`` is false."""
    if not settings["remove_stopwords"]:
        return frozenset()
    return _sastrawi_stopwords() - {w.lower() for w in settings["stopwords_keep"]}


def ngram_analyzer(n: int, stopwords: Iterable[str] = ()) -> Callable[[str], list[str]]:
    """Return ``text -> word n-grams`` (adjacent regex words joined by a space).

    N-grams containing a stop word (compared lowercased) are dropped, rather than
    removing stop words first, which would join words that were never adjacent.
    """
    stop = frozenset(stopwords)

    def analyze(text: str) -> list[str]:
        words = WORD_PATTERN.findall(text)
        grams = [words[i : i + n] for i in range(len(words) - n + 1)]
        return [" ".join(g) for g in grams if not any(w.lower() in stop for w in g)]

    return analyze


def count_terms(texts: Iterable[str], n: int, stopwords: Iterable[str] = ()):
    """Document-term counts of word ``n``-grams.

    Returns:
        ``(matrix, vocabulary)``: a sparse ``documents × terms`` count matrix and the
        term of each column.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(analyzer=ngram_analyzer(n, stopwords))
    try:
        matrix = vectorizer.fit_transform(list(texts))
    except ValueError:  # empty vocabulary
        from scipy.sparse import csr_matrix

        return csr_matrix((0, 0), dtype=np.int64), np.array([], dtype=object)
    return matrix, vectorizer.get_feature_names_out()


def _select_splits(corpus: pd.DataFrame, splits: list[str] | None) -> pd.DataFrame:
    if not splits:
        return corpus
    unknown = set(splits) - set(corpus["split"])
    if unknown:
        raise ValueError(
            f"unknown split(s) {sorted(unknown)}; the corpus has {_split_order(corpus)}"
        )
    return corpus[corpus["split"].isin(splits)]


def ngram_table(
    corpus: pd.DataFrame, eda: dict[str, Any], label_map: dict[str, int]
) -> pd.DataFrame:
    """Top-N word n-grams overall and per label (``eda.ngrams``).

    Settings: ``orders`` (e.g. ``[1, 2]``), ``top_n``, ``remove_stopwords`` and
    ``stopwords_keep``; rows from ``eda.word_splits`` (null = all splits). Ties are
    broken alphabetically.

    Returns:
        ``n``, ``label`` (``all`` or a label), ``rank``, ``ngram``, ``count``,
        ``share`` (of all n-grams of that order in the group), ``documents`` (texts
        containing it).
    """
    settings = eda["ngrams"]
    top_n = int(settings["top_n"])
    stop = stopword_set(settings)
    corpus = _select_splits(corpus, eda["word_splits"])
    texts = corpus["text"].fillna("").astype(str)
    labels = corpus["label"].astype(str).to_numpy()
    rows = []
    for n in settings["orders"]:
        matrix, vocab = count_terms(texts, int(n), stop)
        if not len(vocab):
            continue
        groups = [(ALL, np.ones(len(labels), bool))]
        groups += [
            (lab, labels == lab)
            for lab in label_names(label_map)
            if (labels == lab).any()
        ]
        for label, mask in groups:
            sub = matrix[mask]
            counts = np.asarray(sub.sum(axis=0)).ravel()
            docs = np.asarray((sub > 0).sum(axis=0)).ravel()
            order = np.lexsort((vocab, -counts))
            order = [i for i in order if counts[i] > 0][:top_n]
            total = counts.sum()
            for rank, i in enumerate(order, start=1):
                rows.append(
                    (
                        int(n),
                        label,
                        rank,
                        vocab[i],
                        int(counts[i]),
                        counts[i] / total,
                        int(docs[i]),
                    )
                )
    return pd.DataFrame(
        rows, columns=["n", "label", "rank", "ngram", "count", "share", "documents"]
    )


def weighted_log_odds(
    counts: np.ndarray, prior: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted log-odds ratios with an informative Dirichlet prior, class vs rest.

    Monroe, Colaresi & Quinn (2008), "Fightin' Words", eqs. 16, 18-20: for class
    ``i`` against the pooled other classes ``j`` and word ``w``::

        delta_w = log((y_iw + a_w) / (n_i + a_0 - y_iw - a_w))
                - log((y_jw + a_w) / (n_j + a_0 - y_jw - a_w))
        var_w  ~= 1 / (y_iw + a_w) + 1 / (y_jw + a_w)
        z_w     = delta_w / sqrt(var_w)

    with ``a_0 = sum(a_w)``. A positive ``z`` marks a word used more by class ``i``.

    Args:
        counts: ``classes × words`` counts (``y``).
        prior: Dirichlet pseudo-counts ``a_w`` per word, all > 0.

    Returns:
        ``(z, delta)``, both ``classes × words``.

    Raises:
        ValueError: On mismatched shapes, negative counts or non-positive prior.
    """
    counts = np.asarray(counts, dtype=float)
    prior = np.asarray(prior, dtype=float)
    if counts.ndim != _MATRIX_NDIM or prior.shape != (counts.shape[1],):
        raise ValueError(
            f"counts must be classes × words and prior one value per word; "
            f"got {counts.shape} and {prior.shape}"
        )
    if (counts < 0).any() or (prior <= 0).any():
        raise ValueError("counts must be >= 0 and the prior > 0 for every word")
    a0 = prior.sum()
    y_i = counts
    y_j = counts.sum(axis=0, keepdims=True) - counts
    n_i = y_i.sum(axis=1, keepdims=True)
    n_j = y_j.sum(axis=1, keepdims=True)
    delta = np.log((y_i + prior) / (n_i + a0 - y_i - prior)) - np.log(
        (y_j + prior) / (n_j + a0 - y_j - prior)
    )
    variance = 1.0 / (y_i + prior) + 1.0 / (y_j + prior)
    return delta / np.sqrt(variance), delta


def distinctive_words(
    corpus: pd.DataFrame, eda: dict[str, Any], label_map: dict[str, int]
) -> pd.DataFrame:
    """Words that distinguish each label from the others (weighted log-odds z-scores).

    The prior is informative and comes from the whole analysed corpus: ``a_w =
    prior_scale × count of w in all texts`` (``eda.distinctive``). Words seen fewer
    than ``min_count`` times are not ranked. Rows from ``eda.word_splits``.

    Returns:
        Per label the ``top_n`` words by ``z``: ``label``, ``rank``, ``word``, ``z``,
        ``delta``, ``count_in_label``, ``count_in_rest``, ``rate_in_label`` and
        ``rate_in_rest`` (per 1,000 words).
    """
    settings = eda["distinctive"]
    top_n = int(settings["top_n"])
    min_count = int(settings["min_count"])
    scale = float(settings["prior_scale"])
    if scale <= 0:
        raise ValueError(f"eda.distinctive.prior_scale must be > 0, got {scale}")
    corpus = _select_splits(corpus, eda["word_splits"])
    labels_present = [
        lab
        for lab in label_names(label_map)
        if (corpus["label"].astype(str) == lab).any()
    ]
    columns = [
        "label",
        "rank",
        "word",
        "z",
        "delta",
        "count_in_label",
        "count_in_rest",
        "rate_in_label",
        "rate_in_rest",
    ]
    if len(labels_present) < MIN_LABELS:
        logger.warning(
            "distinctive words need at least two labels; found %s", labels_present
        )
        return pd.DataFrame(columns=columns)
    matrix, vocab = count_terms(
        corpus["text"].fillna("").astype(str), 1, stopword_set(settings)
    )
    labels = corpus["label"].astype(str).to_numpy()
    counts = np.vstack(
        [
            np.asarray(matrix[labels == lab].sum(axis=0)).ravel()
            for lab in labels_present
        ]
    )
    keep = counts.sum(axis=0) >= min_count
    counts, vocab = counts[:, keep], vocab[keep]
    z, delta = weighted_log_odds(counts, scale * counts.sum(axis=0))
    rest = counts.sum(axis=0, keepdims=True) - counts
    rows = []
    for k, label in enumerate(labels_present):
        n_label, n_rest = counts[k].sum(), rest[k].sum()
        order = np.lexsort((vocab, -z[k]))[:top_n]
        for rank, i in enumerate(order, start=1):
            rows.append(
                (
                    label,
                    rank,
                    vocab[i],
                    z[k, i],
                    delta[k, i],
                    int(counts[k, i]),
                    int(rest[k, i]),
                    RATE_PER * counts[k, i] / n_label,
                    RATE_PER * rest[k, i] / n_rest if n_rest else np.nan,
                )
            )
    return pd.DataFrame(rows, columns=columns)


def render_markdown_tables(view: str, **tables: pd.DataFrame) -> str:
    """Render the view's tables as one Markdown document (``DataFrame.to_markdown``)."""
    parts = [f"# EDA tables: {view}\n"]
    for name, table in tables.items():
        parts.append(f"## {name.replace('_', ' ')}\n")
        parts.append(
            table.to_markdown(index=False, floatfmt=".4g")
            if len(table)
            else "_(empty)_"
        )
        parts.append("")
    return "\n".join(parts)


def preprocessing_effect(
    raw_quality: pd.DataFrame,
    clean_quality: pd.DataFrame,
    raw_lengths: pd.DataFrame,
    clean_lengths: pd.DataFrame,
    raw_coverage: pd.DataFrame,
    clean_coverage: pd.DataFrame,
    max_length: int,
) -> pd.DataFrame:
    """Raw vs cleaned splits side by side: rows, duplicates, vocabulary, lengths and
    the share truncated at the model's ``max_length`` (``params:model.max_length``).

    Returns:
        One row per split (and ``all``) and view (``raw``/``clean``).
    """
    max_length = int(max_length)
    frames = []
    for view, quality, lengths, coverage in (
        ("raw", raw_quality, raw_lengths, raw_coverage),
        ("clean", clean_quality, clean_lengths, clean_coverage),
    ):
        base = quality[
            [
                "split",
                "rows",
                "dropped_upstream",
                "duplicate_texts",
                "vocabulary_size",
                "words_total",
            ]
        ]
        overall = lengths[lengths["label"] == ALL].pivot(
            index="split", columns="measure", values="mean"
        )
        overall.columns = [f"mean_{c}" for c in overall.columns]
        at_limit = coverage[
            (coverage["label"] == ALL) & (coverage["max_length"] == max_length)
        ]
        truncated = at_limit.set_index("split")["truncated_share"].rename(
            f"truncated_share_at_{max_length}"
        )
        frame = base.merge(overall, left_on="split", right_index=True, how="left")
        if len(at_limit):
            frame = frame.merge(
                truncated, left_on="split", right_index=True, how="left"
            )
        frames.append(frame.assign(view=view))
    out = pd.concat(frames, ignore_index=True)
    order = {s: i for i, s in enumerate(["train", "valid", "test", ALL])}
    out = out.sort_values(
        ["split", "view"],
        key=lambda s: s.map(order).fillna(9)
        if s.name == "split"
        else s.map({"raw": 0, "clean": 1}),
    )
    return out[
        ["split", "view", *[c for c in out.columns if c not in ("split", "view")]]
    ].reset_index(drop=True)
