"""Positive pairs for in-batch-negative training, split by document id.

Two sources:

* **parallel**: NusaX-senti is sentence-aligned across languages by ``id``; a pair is
  (text in the query language, text with the same id in the document language). The
  NusaX train/valid/test splits are disjoint by id, and the pipeline keeps them so.
* **corpus**: a JSON-Lines corpus of ``{"id": ..., "text": ...}`` documents, read one
  line at a time. A document goes to train/valid/eval by a hash of its id, so a
  document's pairs never straddle splits, and pairs are self-supervised: two disjoint
  word spans of one document (``spans``) or the same span twice, relying on dropout
  to make the two embeddings differ (``dropout``, SimCSE). No similarity label is
  invented: with MultipleNegativesRankingLoss the other pairs in the batch are the
  negatives.

Every pair frame has the columns of :data:`PAIR_COLUMNS`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from quant_sentiment.datasets import JSONLinesStream

logger = logging.getLogger(__name__)

#: ``pair_id`` names the query, ``doc_id`` its relevant document, ``group_id`` the
#: source document / NusaX id (the unit of splitting), ``eval_set`` the retrieval task.
PAIR_COLUMNS = ["pair_id", "doc_id", "group_id", "eval_set", "anchor", "positive"]
SPLITS = ("train", "valid", "eval")


def stable_fraction(key: str, salt: str = "") -> float:
    """A uniform number in [0, 1) fixed by ``key`` (BLAKE2b; not Python's salted hash)."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_of(
    doc_id: str, valid_fraction: float, eval_fraction: float, salt: str = ""
) -> str:
    """Assign a document id to ``train``, ``valid`` or ``eval`` by its hash."""
    if valid_fraction < 0 or eval_fraction < 0 or valid_fraction + eval_fraction >= 1:
        raise ValueError(
            "valid_fraction and eval_fraction must be >= 0 and sum to < 1, got "
            f"{valid_fraction} and {eval_fraction}"
        )
    u = stable_fraction(doc_id, salt)
    if u < eval_fraction:
        return "eval"
    if u < eval_fraction + valid_fraction:
        return "valid"
    return "train"


# --------------------------------------------------------------------------- parallel
def _read_partition(
    partitions: dict[str, Callable[[], pd.DataFrame]], language: str, split: str
) -> pd.DataFrame:
    key = f"{language}/{split}"
    if key not in partitions:
        languages = sorted({k.split("/")[0] for k in partitions})
        raise ValueError(
            f"NusaX file '{key}.csv' not found. Languages available: {languages}; "
            f"splits are train, valid, test."
        )
    frame = partitions[key]()
    missing = {"id", "text"} - set(frame.columns)
    if missing:
        raise ValueError(
            f"NusaX file '{key}.csv' lacks columns {sorted(missing)}; "
            f"it has {list(frame.columns)}."
        )
    return frame


def parallel_pairs(
    partitions: dict[str, Callable[[], pd.DataFrame]],
    language_pairs: list[list[str]],
    split: str,
    stats: dict[str, Any],
) -> pd.DataFrame:
    """Pairs (query-language text, document-language text) aligned by NusaX ``id``.

    Args:
        partitions: NusaX files as ``{"<language>/<split>": loader}`` (PartitionedDataset).
        language_pairs: ``[[query_language, document_language], ...]``.
        split: NusaX split (``train``, ``valid`` or ``test``).
        stats: Counters updated in place (rows without a partner or with empty text).
    """
    frames = []
    for pair in language_pairs:
        if len(pair) != len(("query", "document")) or pair[0] == pair[1]:
            raise ValueError(
                f"language pair must be two different languages, got {pair}"
            )
        src, tgt = pair
        left = _read_partition(partitions, src, split)[["id", "text"]]
        right = _read_partition(partitions, tgt, split)[["id", "text"]]
        for name, frame in ((src, left), (tgt, right)):
            if frame["id"].duplicated().any():
                dups = frame.loc[frame["id"].duplicated(), "id"].head(5).tolist()
                raise ValueError(f"NusaX {name}/{split} repeats ids, e.g. {dups}")
        merged = left.merge(
            right, on="id", how="outer", suffixes=("_q", "_d"), indicator=True
        )
        unmatched = int((merged["_merge"] != "both").sum())
        merged = merged[merged["_merge"] == "both"]
        empty = merged["text_q"].fillna("").str.strip().eq("") | merged[
            "text_d"
        ].fillna("").str.strip().eq("")
        key = f"{src}->{tgt}/{split}"
        stats.setdefault("dropped", {})[key] = {
            "no_partner": unmatched,
            "empty_text": int(empty.sum()),
        }
        merged = merged[~empty]
        ids = merged["id"].astype(str)
        frames.append(
            pd.DataFrame(
                {
                    "pair_id": src + ":" + ids,
                    "doc_id": tgt + ":" + ids,
                    "group_id": ids,
                    "eval_set": f"{src}->{tgt}",
                    "anchor": merged["text_q"].astype(str).str.strip(),
                    "positive": merged["text_d"].astype(str).str.strip(),
                }
            )
        )
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=PAIR_COLUMNS)
    )


def drop_leaks(
    frame: pd.DataFrame, held_out: list[pd.DataFrame]
) -> tuple[pd.DataFrame, int]:
    """Drop pairs that share a group id or a text with any held-out frame."""
    groups: set[str] = set()
    texts: set[str] = set()
    for other in held_out:
        groups.update(other["group_id"])
        texts.update(other["anchor"])
        texts.update(other["positive"])
    leak = (
        frame["group_id"].isin(groups)
        | frame["anchor"].isin(texts)
        | frame["positive"].isin(texts)
    )
    return frame[~leak].reset_index(drop=True), int(leak.sum())


def dedupe_for_retrieval(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep one pair per query text and per document text within each retrieval task.

    A corpus holding the same text under two ids would make a correct hit count as a
    miss; a repeated pair would be its own in-batch "negative".
    """
    before = len(frame)
    frame = frame.drop_duplicates(["eval_set", "anchor"])
    # One document text ↔ one doc_id (several query languages may share a doc_id).
    first_doc = frame.drop_duplicates(["eval_set", "positive"])[
        ["eval_set", "positive", "doc_id"]
    ]
    frame = frame.merge(first_doc, on=["eval_set", "positive"], suffixes=("", "_first"))
    frame = frame[frame["doc_id"] == frame["doc_id_first"]].drop(columns="doc_id_first")
    return frame.reset_index(drop=True)[PAIR_COLUMNS], before - len(frame)


def build_parallel_splits(
    partitions: dict[str, Callable[[], pd.DataFrame]], cfg: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Train/valid/eval pair frames from NusaX with no id or text shared across splits."""
    pairs = [list(p) for p in cfg["language_pairs"]]
    stats: dict[str, Any] = {"source": "parallel", "language_pairs": pairs}
    split_names = {
        "train": cfg["train_split"],
        "valid": cfg["valid_split"],
        "eval": cfg["eval_split"],
    }
    if len(set(split_names.values())) != len(split_names):
        raise ValueError(
            f"train/valid/eval must be three different NusaX splits, got {split_names}"
        )
    frames = {
        k: parallel_pairs(partitions, pairs, v, stats) for k, v in split_names.items()
    }
    eval_pairs, n_eval_dup = dedupe_for_retrieval(frames["eval"])
    valid_pairs, n_valid_leak = drop_leaks(frames["valid"], [eval_pairs])
    valid_pairs, n_valid_dup = dedupe_for_retrieval(valid_pairs)
    train_pairs, n_train_leak = drop_leaks(frames["train"], [valid_pairs, eval_pairs])
    n_train = len(train_pairs)
    train_pairs = train_pairs.drop_duplicates(["anchor", "positive"]).reset_index(
        drop=True
    )
    stats["splits"] = split_names
    stats["dropped"].update(
        {
            "eval/duplicate_text": n_eval_dup,
            "valid/leak_into_eval": n_valid_leak,
            "valid/duplicate_text": n_valid_dup,
            "train/leak_into_valid_or_eval": n_train_leak,
            "train/duplicate_pair": n_train - len(train_pairs),
        }
    )
    return train_pairs, valid_pairs, eval_pairs, stats


# --------------------------------------------------------------------------- corpus
def document_pair(
    doc_id: str, text: str, mode: str, span_words: int, min_span_words: int
) -> tuple[str, str] | None:
    """A self-supervised (anchor, positive) pair from one document, or ``None`` if too short.

    ``spans``: two disjoint spans of up to ``span_words`` words, one from each half
    of the document, at positions fixed by the document id. ``dropout``: the first
    ``span_words`` words twice (SimCSE; the encoder's dropout makes the views differ).
    """
    words = text.split()
    if mode == "dropout":
        if len(words) < min_span_words:
            return None
        span = " ".join(words[:span_words])
        return span, span
    if mode != "spans":
        raise ValueError(f"corpus.pair_mode must be 'spans' or 'dropout', got {mode!r}")
    half = len(words) // 2
    length = min(span_words, half)
    if length < min_span_words:
        return None
    # Span positions fixed by the id (two 32-bit numbers from one BLAKE2b digest).
    digest = hashlib.blake2b(f"span\x00{doc_id}".encode(), digest_size=8).digest()
    a = int.from_bytes(digest[:4], "big") % (half - length + 1)
    b = half + int.from_bytes(digest[4:], "big") % (len(words) - half - length + 1)
    return " ".join(words[a : a + length]), " ".join(words[b : b + length])


def iter_corpus_pairs(
    stream: JSONLinesStream,
    cfg: dict[str, Any],
    stats: dict[str, Any] | None = None,
    progress: bool = False,
) -> Iterator[tuple[str, dict[str, str]]]:
    """Stream ``(split, pair)`` over the corpus, one document at a time.

    Documents without an ``id`` or a non-empty ``text`` field, too short documents and
    invalid lines (with ``on_invalid: skip``) are dropped and counted in ``stats``.
    """
    stats = stats if stats is not None else {}
    counts = stats.setdefault("dropped", {})
    lines: dict[str, int] = stats.setdefault("lines", {})
    id_field, text_field = cfg["id_field"], cfg["text_field"]
    max_docs = cfg["max_documents"]
    records = stream.records(on_invalid=cfg["on_invalid"], stats=lines)
    for n, (_, record) in enumerate(
        tqdm(
            records,
            desc="corpus documents",
            unit="doc",
            disable=not progress,
            mininterval=5,
        )
    ):
        if max_docs and n >= int(max_docs):
            break
        doc_id, text = record.get(id_field), record.get(text_field)
        if doc_id is None or not isinstance(text, str) or not text.strip():
            counts["missing_id_or_text"] = counts.get("missing_id_or_text", 0) + 1
            continue
        doc_id = str(doc_id)
        pair = document_pair(
            doc_id,
            text,
            cfg["pair_mode"],
            int(cfg["span_words"]),
            int(cfg["min_span_words"]),
        )
        if pair is None:
            counts["too_short"] = counts.get("too_short", 0) + 1
            continue
        split = split_of(
            doc_id,
            float(cfg["valid_fraction"]),
            float(cfg["eval_fraction"]),
            str(cfg["split_salt"]),
        )
        yield (
            split,
            {
                "pair_id": f"q:{doc_id}",
                "doc_id": f"d:{doc_id}",
                "group_id": doc_id,
                "eval_set": "corpus",
                "anchor": pair[0],
                "positive": pair[1],
            },
        )


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=8).digest()


class CorpusTrainPairs:
    """The train pairs of a corpus as a lazy, re-iterable stream (one pass per iteration).

    Pairs whose group id or text also occurs in the valid/eval pairs are skipped, so
    a document id repeated in the corpus (or a repeated text) cannot leak.
    """

    def __init__(
        self, stream: JSONLinesStream, cfg: dict[str, Any], held_out: list[pd.DataFrame]
    ) -> None:
        self.stream, self.cfg = stream, cfg
        self.held_groups = set().union(*(set(f["group_id"]) for f in held_out))
        self.held_texts = set().union(
            *(
                {_text_key(t) for t in f["anchor"]}
                | {_text_key(t) for t in f["positive"]}
                for f in held_out
            )
        )

    def __iter__(self) -> Iterator[dict[str, str]]:
        limit = self.cfg["max_train_pairs"]
        n = 0
        for split, pair in iter_corpus_pairs(self.stream, self.cfg, progress=True):
            if split != "train":
                continue
            if (
                pair["group_id"] in self.held_groups
                or _text_key(pair["anchor"]) in self.held_texts
                or _text_key(pair["positive"]) in self.held_texts
            ):
                continue
            yield pair
            n += 1
            if limit and n >= int(limit):
                return


def build_corpus_splits(
    stream: JSONLinesStream, cfg: dict[str, Any]
) -> tuple[CorpusTrainPairs, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """One streaming pass collects the (capped) valid/eval pairs and counts everything.

    The train pairs are returned as a lazy :class:`CorpusTrainPairs` stream, written
    line by line when the catalog saves them.
    """
    stats: dict[str, Any] = {
        "source": "corpus",
        "path": str(stream.path),
        "pair_mode": cfg["pair_mode"],
    }
    caps = {"valid": cfg["max_valid_pairs"], "eval": cfg["max_eval_pairs"]}
    held: dict[str, list[dict[str, str]]] = {"valid": [], "eval": []}
    per_split = dict.fromkeys(SPLITS, 0)
    for split, pair in iter_corpus_pairs(stream, cfg, stats, progress=True):
        per_split[split] += 1
        if split in held and not (caps[split] and len(held[split]) >= int(caps[split])):
            held[split].append(pair)
    stats["documents_per_split"] = per_split
    eval_pairs, n_eval_dup = dedupe_for_retrieval(
        pd.DataFrame(held["eval"], columns=PAIR_COLUMNS)
    )
    valid_pairs, n_valid_leak = drop_leaks(
        pd.DataFrame(held["valid"], columns=PAIR_COLUMNS), [eval_pairs]
    )
    valid_pairs, n_valid_dup = dedupe_for_retrieval(valid_pairs)
    stats["dropped"].update(
        {
            "eval/duplicate_text": n_eval_dup,
            "valid/leak_into_eval": n_valid_leak,
            "valid/duplicate_text": n_valid_dup,
        }
    )
    if eval_pairs.empty or valid_pairs.empty:
        raise ValueError(
            f"The corpus gave {len(valid_pairs)} valid and {len(eval_pairs)} eval "
            f"pairs; raise valid_fraction/eval_fraction or use a larger corpus "
            f"(documents per split: {per_split})."
        )
    return (
        CorpusTrainPairs(stream, cfg, [valid_pairs, eval_pairs]),
        valid_pairs,
        eval_pairs,
        stats,
    )
