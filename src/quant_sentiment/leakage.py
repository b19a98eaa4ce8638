"""Near-duplicate leakage guard: word n-gram Jaccard between two sets of texts.

NusaX-senti was translated from SmSA, so many of its Indonesian texts are lightly
edited SmSA sentences (``../shared/data/README.md``). A model trained on one and tested
on the other has seen its test sentences; :func:`guard_train` removes such train rows.

**Tokenisation** (:func:`word_ngrams`): the text is lowercased and split into words
on whitespace and punctuation (a word is a maximal run of Unicode word characters,
``re.findall(r"\\w+")``; ``"tidak-marah!"`` → ``tidak``, ``marah``). A text's grams are
the *set* of its consecutive word n-grams; a text with fewer than ``n`` words (but at
least one) has one gram, its whole word sequence, so short texts match only texts with
the same short word sequence (``"tidak marah"`` ~ ``"Tidak marah."``, Jaccard 1). A
text without words has no grams and matches nothing. Splitting on punctuation matters
here: SmSA is pre-tokenised (``"lagi ."``) while NusaX is not (``"lagi."``); with a
whitespace-only split the data README's 248/400 (NusaX test) and 336/500 (train) near
duplicates in SmSA train fall to 93 and 118.

**Similarity**: Jaccard of the two gram sets, ``|A ∩ B| / |A ∪ B|``; a pair is a near
duplicate when it is ``>= threshold`` (the boundary counts: 2 shared of 4 distinct grams
is 0.5, a match at the default 0.5). Intersections come from one sparse matrix product
(binary text × gram matrices, scipy/sklearn), in row chunks, so 11,000 × 5,000 texts
take about a second on 2 cores.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

#: Columns of :func:`near_duplicates`' result.
MATCH_COLUMNS = ["text_index", "reference_index", "jaccard"]
#: The ``check`` of rows :func:`guard_train` removes.
CHECK = "near_duplicate"
#: The column naming where a row's text comes from (``across_parts``).
ORIGIN = "origin"
_WORD = re.compile(r"\w+")
_CHUNK_ROWS = 2048
_EXAMPLES = 5
# Jaccard values are ratios of small integers; this absorbs float rounding at the
# threshold (e.g. 0.5 * 3 vs 1.5) without admitting a truly lower ratio.
_EPS = 1e-9
_EMPTY_TYPES = (
    ("text_index", "int64"),
    ("reference_index", "int64"),
    ("jaccard", "float"),
)


def word_ngrams(text: str, ngram: int = 3) -> set[str]:
    """The set of word ``ngram``-grams of ``text`` (see the module docstring).

    Args:
        text: Any text.
        ngram: Words per gram (>= 1).

    Returns:
        Grams as words joined by single spaces; the whole word sequence as one gram
        when the text has fewer than ``ngram`` words; empty when it has no words.
    """
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    words = _WORD.findall(str(text).lower())
    if not words:
        return set()
    if len(words) < ngram:
        return {" ".join(words)}
    return {" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)}


def _matrix(
    grams: list[set[str]], vocabulary: dict[str, int], grow: bool
) -> sparse.csr_matrix:
    """Binary text × gram matrix; with ``grow``, unseen grams extend ``vocabulary``."""
    indptr, indices = [0], []
    for gram_set in grams:
        for gram in gram_set:
            column = vocabulary.get(gram)
            if column is None and grow:
                column = vocabulary[gram] = len(vocabulary)
            if column is not None:
                indices.append(column)
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.int32)
    return sparse.csr_matrix(
        (data, np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
        shape=(len(grams), max(len(vocabulary), 1)),
    )


def near_duplicates(
    texts: Sequence[str],
    reference: Sequence[str],
    ngram: int = 3,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Every pair (text, reference text) whose word n-gram Jaccard is ``>= threshold``.

    Args:
        texts: The texts to check (e.g. train).
        reference: The texts they must not near-duplicate (e.g. another set's test).
        ngram: Words per gram (3: word trigrams).
        threshold: Jaccard threshold in (0, 1]; the boundary counts as a match.

    Returns:
        ``text_index`` (position in ``texts``), ``reference_index`` (position in
        ``reference``) and ``jaccard``, sorted by the two indices. Symmetric:
        swapping the arguments swaps the index columns, same Jaccard values.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    text_grams = [word_ngrams(t, ngram) for t in texts]
    ref_grams = [word_ngrams(t, ngram) for t in reference]
    vocabulary: dict[str, int] = {}
    ref_matrix = _matrix(ref_grams, vocabulary, grow=True)
    text_matrix = _matrix(text_grams, vocabulary, grow=False)
    text_sizes = np.array([len(g) for g in text_grams], dtype=np.int64)
    ref_sizes = np.array([len(g) for g in ref_grams], dtype=np.int64)
    ref_t = ref_matrix.T.tocsc()
    rows, cols, scores = [], [], []
    for start in range(0, text_matrix.shape[0], _CHUNK_ROWS):
        inter = (text_matrix[start : start + _CHUNK_ROWS] @ ref_t).tocoo()
        shared = inter.data.astype(np.int64)
        union = text_sizes[start + inter.row] + ref_sizes[inter.col] - shared
        jaccard = shared / union
        keep = shared >= threshold * union - _EPS
        rows.append(inter.row[keep] + start)
        cols.append(inter.col[keep])
        scores.append(jaccard[keep])
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _EMPTY_TYPES})
    out = pd.DataFrame(
        {
            "text_index": np.concatenate(rows).astype(np.int64),
            "reference_index": np.concatenate(cols).astype(np.int64),
            "jaccard": np.concatenate(scores).astype(float),
        }
    )
    return out.sort_values(["text_index", "reference_index"], ignore_index=True)


def guard_train(
    train: pd.DataFrame,
    references: Mapping[str, pd.DataFrame],
    ngram: int = 3,
    threshold: float = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Remove train rows that near-duplicate a text of any reference set.

    Args:
        train: Rows with a ``text`` column (any other columns are kept).
        references: Name → frame with a ``text`` column (e.g. ``{"nusax_indonesian
            valid+test": frame}``); the name appears in the removed rows' reason.
        ngram: Words per gram.
        threshold: Jaccard threshold (boundary included).

    Returns:
        ``(kept, removed, report)``. ``kept``: the train rows without a match, index
        reset. ``removed``: the others with their columns plus ``check``
        (``"near_duplicate"``), ``reason`` (reference set, matched text, Jaccard),
        ``reference``, ``matched_text`` and ``jaccard`` (the best match, first
        reference on ties). ``report``: ``threshold``, ``ngram``, ``rows_in``,
        ``rows_removed``, ``rows_kept``, per reference its ``reference_rows`` and
        ``train_rows_matched`` (a row may match several references), and up to five
        ``examples``.
    """
    best = pd.DataFrame(columns=["row", "reference", "matched_text", "jaccard"])
    per_reference: dict[str, Any] = {}
    found = []
    train_texts = train["text"].astype(str).tolist()
    for name, frame in references.items():
        ref_texts = frame["text"].astype(str).tolist()
        matches = near_duplicates(train_texts, ref_texts, ngram, threshold)
        per_reference[name] = {
            "reference_rows": len(ref_texts),
            "train_rows_matched": int(matches["text_index"].nunique()),
        }
        if len(matches):
            found.append(
                pd.DataFrame(
                    {
                        "row": matches["text_index"].to_numpy(),
                        "reference": name,
                        "matched_text": [
                            ref_texts[i] for i in matches["reference_index"]
                        ],
                        "jaccard": matches["jaccard"].to_numpy(),
                    }
                )
            )
    if found:
        # Stable sort: the highest Jaccard per row, the first reference on ties.
        best = (
            pd.concat(found, ignore_index=True)
            .sort_values("jaccard", ascending=False, kind="stable")
            .drop_duplicates("row")
            .sort_values("row")
        )
    mask = np.zeros(len(train), dtype=bool)
    mask[best["row"].to_numpy(dtype=np.int64)] = True
    removed = train.iloc[np.flatnonzero(mask)].reset_index(drop=True)
    best = best.reset_index(drop=True)
    removed = removed.assign(
        check=CHECK,
        reason=[
            f"near-duplicate of a {ref} text (word {ngram}-gram Jaccard "
            f"{j:.3f} >= {threshold}): {text!r}"
            for ref, j, text in zip(
                best["reference"], best["jaccard"], best["matched_text"]
            )
        ],
        reference=best["reference"].to_numpy(),
        matched_text=best["matched_text"].to_numpy(),
        jaccard=best["jaccard"].to_numpy(dtype=float),
    )
    kept = train.iloc[np.flatnonzero(~mask)].reset_index(drop=True)
    report = {
        "threshold": float(threshold),
        "ngram": int(ngram),
        "rows_in": len(train),
        "rows_removed": len(removed),
        "rows_kept": len(kept),
        "by_reference": per_reference,
        "examples": [
            {
                "text": str(row["text"]),
                "reference": str(row["reference"]),
                "matched_text": str(row["matched_text"]),
                "jaccard": round(float(row["jaccard"]), 4),
            }
            for _, row in removed.head(_EXAMPLES).iterrows()
        ],
    }
    return kept, removed, report


def apply_guard(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    guard_spec: Mapping[str, Any] | None,
    reference_frames: Mapping[str, pd.DataFrame],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """A dataset's ``leakage_guard`` applied to its train split.

    Args:
        train: Train rows (``text``; with ``across_parts``, also ``origin``).
        valid: Valid rows (same columns).
        test: Test rows (same columns).
        guard_spec: The resolved entry's ``leakage_guard`` (``threshold``, ``ngram``,
            ``across_parts``, ``against``), or ``None`` (no guard).
            ``across_parts``: a train row is removed when it near-duplicates a valid
            or test row of a *different* ``origin`` (pooled entries: NusaX was
            translated from SmSA). ``against``: a train row is removed when it
            near-duplicates any text of ``reference_frames[name]`` for a listed name.
        reference_frames: Entry name → its valid and test rows (``text``), for every
            name in ``against``.

    Returns:
        ``(kept, removed, report)`` as :func:`guard_train`, the train row order kept;
        the report adds ``enabled``, ``across_parts``, ``against`` and
        ``removed_by_reference`` (rows counted under their best match), and its
        ``by_reference`` is summed over the origins of train.

    Raises:
        ValueError: If ``against`` names an entry missing from ``reference_frames``,
            or ``across_parts`` is set and a frame has no ``origin`` column.
    """
    if not guard_spec:
        empty = train.iloc[0:0].assign(check=CHECK, reason="")
        return train, empty, {"enabled": False}
    against = [str(a) for a in guard_spec.get("against") or []]
    missing = [a for a in against if a not in reference_frames]
    if missing:
        raise ValueError(
            f"leakage_guard.against names {missing}, whose valid/test rows were not "
            f"given (have: {sorted(reference_frames)})"
        )
    across = bool(guard_spec.get("across_parts"))
    if across and not all(ORIGIN in f for f in (train, valid, test)):
        raise ValueError(
            f"leakage_guard.across_parts needs an {ORIGIN!r} column in train, valid "
            f"and test"
        )
    ngram, threshold = int(guard_spec["ngram"]), float(guard_spec["threshold"])
    train = train.reset_index(drop=True)
    fixed = {f"{a} valid+test": reference_frames[a] for a in against}
    held_out = pd.concat([valid, test], ignore_index=True)
    groups = train.groupby(ORIGIN, sort=False) if across else [(None, train)]
    kept_parts, removed_parts, reports = [], [], []
    for origin, rows in groups:
        references = dict(fixed)
        if across:
            for other in pd.unique(held_out[ORIGIN]):
                if other != origin:
                    references[f"{other} valid+test"] = held_out[
                        held_out[ORIGIN] == other
                    ]
        kept, removed, report = guard_train(
            rows.assign(_row=rows.index.to_numpy()),
            references,
            ngram,
            threshold,
        )
        kept_parts.append(kept)
        removed_parts.append(removed)
        reports.append(report)
    kept = pd.concat(kept_parts).sort_values("_row").drop(columns="_row")
    removed = pd.concat(removed_parts).sort_values("_row").drop(columns="_row")
    by_reference: dict[str, dict[str, int]] = {}
    for report in reports:
        for name, counts in report["by_reference"].items():
            total = by_reference.setdefault(
                name, {"reference_rows": counts["reference_rows"]}
            )
            total["train_rows_matched"] = (
                total.get("train_rows_matched", 0) + counts["train_rows_matched"]
            )
    report = {
        "enabled": True,
        "threshold": threshold,
        "ngram": ngram,
        "across_parts": across,
        "against": against,
        "rows_in": len(train),
        "rows_removed": len(removed),
        "rows_kept": len(kept),
        "removed_by_reference": removed["reference"].value_counts().to_dict()
        if len(removed)
        else {},
        "by_reference": by_reference,
        "examples": [e for r in reports for e in r["examples"]][:_EXAMPLES],
    }
    return kept.reset_index(drop=True), removed.reset_index(drop=True), report
