"""Nodes of the ``preprocessing`` pipeline.

Every row a step removes is returned in a "dropped rows" frame with its file, line and
reason, and ends up in the versioned ``preprocessing_dropped_rows`` table; nothing is
dropped silently.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

DROPPED_COLUMNS = ["split", "source", "line", "text", "label", "check", "reason"]
_NON_LETTERS = re.compile(r"[^\w\s]|[\d_]")
_WHITESPACE = re.compile(r"\s+")
_MAX_LISTED = 10


class DataValidationError(ValueError):
    """Raised when input rows break the expected ``text<TAB>label`` format."""


def _describe_decode_error(raw: bytes, exc: UnicodeDecodeError) -> str:
    bad = raw[exc.start : exc.end]
    return f"undecodable bytes {bad!r} at byte {exc.start} ({exc.reason})"


def validate_rows(
    raw: pd.DataFrame, label_map: dict[str, int], validation: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse raw ``text<TAB>label`` lines and check each one.

    Problems found: undecodable bytes, wrong column count (including blank lines),
    empty text, unknown label.

    Args:
        raw: Output of ``RawLinesDataset``: ``source``, ``line``, ``raw`` (bytes).
        label_map: ``{label: id}``; labels outside it are errors.
        validation: ``encoding`` (default utf-8), ``separator`` (default tab),
            ``on_invalid``: ``error`` (raise) or ``drop`` (drop and report).

    Returns:
        ``(rows, invalid)``: valid rows with ``source``, ``line``, ``text``, ``label``,
        and the invalid rows with their ``reason``.

    Raises:
        DataValidationError: If ``on_invalid`` is ``error`` and any row is invalid;
            the message names file, line and problem of the first rows.
    """
    encoding = validation.get("encoding", "utf-8")
    sep = validation.get("separator", "\t")
    on_invalid = validation.get("on_invalid", "error")
    if on_invalid not in {"error", "drop"}:
        raise ValueError(
            f"validation.on_invalid must be 'error' or 'drop', got {on_invalid!r}"
        )
    good, bad = [], []
    for source, line, payload in raw[["source", "line", "raw"]].itertuples(index=False):
        try:
            decoded = payload.decode(encoding)
        except UnicodeDecodeError as exc:
            bad.append(
                (
                    source,
                    line,
                    None,
                    None,
                    "undecodable",
                    _describe_decode_error(payload, exc),
                )
            )
            continue
        fields = decoded.split(sep)
        if len(fields) != 2:
            bad.append(
                (
                    source,
                    line,
                    decoded,
                    None,
                    "column_count",
                    f"expected 2 columns (text, label) separated by {sep!r}, "
                    f"found {len(fields)}",
                )
            )
            continue
        text, label = fields[0], fields[1].strip()
        if not text.strip():
            bad.append((source, line, text, label, "empty_text", "empty text"))
        elif label not in label_map:
            bad.append(
                (
                    source,
                    line,
                    text,
                    label,
                    "unknown_label",
                    f"unknown label {label!r} (expected one of {sorted(label_map)})",
                )
            )
        else:
            good.append((source, line, text, label))
    rows = pd.DataFrame(good, columns=["source", "line", "text", "label"])
    invalid = pd.DataFrame(
        bad, columns=["source", "line", "text", "label", "check", "reason"]
    )
    if len(invalid) and on_invalid == "error":
        listed = "\n".join(
            f"  {r.source}, line {r.line}: {r.reason}"
            for r in invalid.head(_MAX_LISTED).itertuples()
        )
        more = (
            f"\n  ... and {len(invalid) - _MAX_LISTED} more"
            if len(invalid) > _MAX_LISTED
            else ""
        )
        raise DataValidationError(
            f"{len(invalid)} invalid row(s):\n{listed}{more}\n"
            "Fix the file, or set preprocessing.validation.on_invalid: drop to drop and "
            "report them."
        )
    if len(invalid):
        logger.warning("Dropped %d invalid row(s) of %d", len(invalid), len(raw))
    return rows, invalid


@cache
def _stopword_remover(keep: tuple[str, ...]):
    """Filter Sastrawi's stop-word list out of a text, keeping the words in ``keep``.

    Sastrawi's own ``StopWordRemover.remove`` deletes from the list it iterates over
    and so keeps every second of two adjacent stop words ("yang dan" -> "dan"); the
    list is Sastrawi's, the filtering is done here.
    """
    from Sastrawi.StopWordRemover.StopWordRemoverFactory import StopWordRemoverFactory

    stop = frozenset(StopWordRemoverFactory().get_stop_words()) - frozenset(keep)
    return lambda text: " ".join(w for w in text.split() if w not in stop)


@cache
def _stemmer():
    from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

    return StemmerFactory().create_stemmer()


def _step_functions(normalisation: dict[str, Any]) -> list[tuple[str, Any]]:
    """The enabled steps of ``preprocessing.normalisation``, in order (every switch is
    read from the parameters; ``stopwords_keep`` only when stop words are removed)."""
    steps = []
    if normalisation["lowercase"]:
        steps.append(("lowercase", str.lower))
    if normalisation["strip_non_letters"]:
        steps.append(("strip_non_letters", lambda t: _NON_LETTERS.sub(" ", t)))
    if normalisation["collapse_whitespace"]:
        steps.append(("collapse_whitespace", lambda t: _WHITESPACE.sub(" ", t).strip()))
    if normalisation["remove_stopwords"]:
        remover = _stopword_remover(tuple(normalisation["stopwords_keep"]))
        steps.append(("remove_stopwords", remover))
    if normalisation["stem"]:
        steps.append(("stem", _stemmer().stem))
    return steps


def normalise_texts(
    rows: pd.DataFrame, label_map: dict[str, int], normalisation: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Apply the enabled normalisation steps in order and count what each changed.

    Steps (each switchable): ``lowercase``, ``strip_non_letters`` (keeps letters and
    whitespace), ``collapse_whitespace``, ``remove_stopwords`` (Sastrawi's list minus
    ``stopwords_keep``, e.g. negations), ``stem`` (Sastrawi). Texts left empty are
    dropped and reported.

    Returns:
        ``(clean, stats, emptied)``: rows with ``text`` replaced and ``label_id`` added;
        per-step ``rows_changed`` / ``tokens_before`` / ``tokens_after``; and the rows
        emptied by normalisation with their original text and a reason.
    """
    texts = rows["text"].astype(str)
    stats: dict[str, Any] = {"rows_in": len(rows), "steps": {}}
    for name, func in _step_functions(normalisation):
        new = texts.map(func)
        stats["steps"][name] = {
            "rows_changed": int((new != texts).sum()),
            "tokens_before": int(texts.str.split().str.len().sum()),
            "tokens_after": int(new.str.split().str.len().sum()),
        }
        texts = new
    empty = texts.str.strip() == ""
    emptied = rows.loc[empty, ["source", "line", "text", "label"]].assign(
        check="empty_after_normalisation", reason="empty after normalisation"
    )
    clean = rows.loc[~empty].assign(text=texts[~empty])
    clean["label_id"] = clean["label"].map(label_map).astype(int)
    stats["rows_emptied"] = int(empty.sum())
    stats["rows_out"] = len(clean)
    if len(emptied):
        logger.warning(
            "%d text(s) were empty after normalisation and were dropped", len(emptied)
        )
    return clean.reset_index(drop=True), stats, emptied


def _duplicate_summary(frame: pd.DataFrame) -> dict[str, Any]:
    dup = frame[frame.duplicated("text", keep=False)]
    conflicting = dup.groupby("text")["label"].nunique()
    return {
        "duplicate_rows": int(frame.duplicated(["text", "label"]).sum()),
        "duplicate_texts": int(frame.duplicated("text").sum()),
        "distinct_duplicated_texts": int(dup["text"].nunique()),
        "texts_with_conflicting_labels": int((conflicting > 1).sum()),
    }


def deduplicate_and_check_leakage(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    deduplicate: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Report duplicates within each split and texts shared across splits.

    Optionally (``deduplicate.within_train``) drops repeated train texts, keeping the
    first, and (``deduplicate.leaked_from_train``) drops train rows whose text also
    appears in valid or test. Dropped rows are returned for the report.

    Returns:
        ``(train, valid, test, report, dropped)``.
    """
    report: dict[str, Any] = {
        "within_split": {
            name: _duplicate_summary(frame)
            for name, frame in (("train", train), ("valid", valid), ("test", test))
        }
    }
    train_texts = set(train["text"])
    cross = {}
    for name, frame in (("valid", valid), ("test", test)):
        shared = frame[frame["text"].isin(train_texts)]
        merged = shared.merge(
            train[["text", "label"]].drop_duplicates(),
            on="text",
            suffixes=("", "_train"),
        )
        cross[f"train_{name}"] = {
            "shared_texts": int(shared["text"].nunique()),
            "rows_in_" + name: len(shared),
            "label_disagreements": int(
                (merged["label"] != merged["label_train"]).sum()
            ),
            "examples": shared["text"].drop_duplicates().head(5).tolist(),
        }
    shared_vt = set(valid["text"]) & set(test["text"])
    cross["valid_test"] = {
        "shared_texts": len(shared_vt),
        "examples": sorted(shared_vt)[:5],
    }
    report["cross_split"] = cross

    drop_mask = pd.Series(False, index=train.index)
    reasons = pd.Series("", index=train.index)
    if deduplicate["within_train"]:
        dup = train.duplicated("text", keep="first")
        reasons[dup] = "duplicate_in_train"
        drop_mask |= dup
    if deduplicate["leaked_from_train"]:
        leaked = train["text"].isin(set(valid["text"]) | set(test["text"])) & ~drop_mask
        reasons[leaked] = "train_text_in_valid_or_test"
        drop_mask |= leaked
    dropped = train.loc[drop_mask, ["source", "line", "text", "label"]].assign(
        check=reasons[drop_mask], reason="dropped by preprocessing.deduplicate"
    )
    report["dropped_from_train"] = int(drop_mask.sum())
    return (train.loc[~drop_mask].reset_index(drop=True), valid, test, report, dropped)


def build_quality_report(
    duplicates: dict[str, Any],
    deduplicated: pd.DataFrame,
    **per_split: Any,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Collect what every step found and removed into one report and one table.

    Args:
        duplicates: The report of ``deduplicate_and_check_leakage``.
        deduplicated: Train rows it dropped.
        **per_split: For every split ``<s>`` (in report order): ``<s>_invalid`` (rows
            ``validate_rows`` rejected), ``<s>_stats`` (``normalise_texts`` stats),
            ``<s>_emptied`` (rows emptied by normalisation) and ``<s>_clean``.

    Returns:
        ``(report, dropped_rows)``: a JSON-ready data-quality report (rows in/out,
        label counts, invalid rows by reason, normalisation stats, duplicates and
        leakage) and every dropped row with split, file, line and reason.

    Raises:
        ValueError: If a split lacks one of the four inputs.
    """
    kinds = ("invalid", "stats", "emptied", "clean")
    split_names = list(dict.fromkeys(key.rsplit("_", 1)[0] for key in per_split))
    missing = [
        f"{s}_{k}" for s in split_names for k in kinds if f"{s}_{k}" not in per_split
    ]
    if missing:
        raise ValueError(f"build_quality_report lacks input(s) {missing}")
    parts = []
    splits: dict[str, Any] = {}
    for split in split_names:
        invalid, stats, emptied, clean = (per_split[f"{split}_{k}"] for k in kinds)
        splits[split] = {
            "rows_valid": stats["rows_in"],
            "rows_invalid": len(invalid),
            "invalid_by_check": invalid["check"].value_counts().to_dict(),
            "normalisation": stats,
            "rows_out": len(clean),
            "label_counts": clean["label"].value_counts().sort_index().to_dict(),
        }
        parts += [invalid.assign(split=split), emptied.assign(split=split)]
    parts.append(deduplicated.assign(split="train"))
    dropped = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else pd.DataFrame(columns=DROPPED_COLUMNS)
    )
    report = {
        "splits": splits,
        "duplicates_and_leakage": duplicates,
        "rows_dropped_total": len(dropped),
    }
    return report, dropped.reindex(columns=DROPPED_COLUMNS)
