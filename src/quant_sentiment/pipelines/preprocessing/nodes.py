"""Nodes of the ``preprocessing`` pipeline.

Every row a step removes is returned in a "dropped rows" frame with its file, line and
reason, and ends up in the versioned ``preprocessing_dropped_rows`` table; nothing is
dropped silently. Rows kept but changed on the way in (byte-order mark removed, stray
``\r`` replaced, over-long text truncated) are listed there too, with their
``action``, and counted in ``preprocessing_report``. An empty split stops the run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pandas as pd

from quant_sentiment.corpora import label_columns, label_of
from quant_sentiment.duplicates import resolve_conflicting_labels
from quant_sentiment.normalise import normalisation_steps, quirk_counts
from quant_sentiment.records import Line, Row, TableParser, decode_lines
from quant_sentiment.textcheck import text_problem

logger = logging.getLogger(__name__)

DROPPED_COLUMNS = [
    "split",
    "source",
    "line",
    "text",
    "label",
    "check",
    "reason",
    "action",
]
#: Columns of the ``invalid_rows`` frame of ``validate_rows``.
FINDING_COLUMNS = ["source", "line", "text", "label", "check", "reason", "action"]
_MAX_LISTED = 10
_MAX_LINES = 5
_SETTING = "preprocessing.validation"
_SETTINGS = (
    "encoding",
    "separator",
    "quoted",
    "header",
    "text_column",
    "label_column",
    "on_invalid",
    "max_drop_share",
    "max_chars",
    "on_too_long",
)
_MODES = {"on_invalid": ("error", "drop"), "on_too_long": ("truncate", "drop", "error")}
#: Names a separator may be given by (``--params`` splits its value at commas).
_SEPARATOR_NAMES = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_BOM_FINDING = (
    "byte_order_mark",
    "byte-order mark (U+FEFF) at the start of the file removed",
    "stripped",
)
_CHECK_TITLES = {
    "undecodable": "undecodable bytes",
    "blank_line": "blank line",
    "column_count": "wrong column count",
    "empty_text": "empty text",
    "unknown_label": "unknown label",
    "too_long": "text too long",
    "unclosed_quote": "unclosed quote",
    "invalid_text": "unusable text",
    "label_rule": "label columns inconsistent",
}


def _name(settings: dict, key: str) -> str:
    """Where the setting ``key`` lives: the dataset registry entry's key when the
    settings came from one (``settings["names"]``), else ``preprocessing.validation``."""
    default = "datasets.<name>.labels" if key == "labels" else f"{_SETTING}.{key}"
    return (settings.get("names") or {}).get(key, default)


class DataValidationError(ValueError):
    """Raised when input rows break the expected format (``text<TAB>label`` by
    default; see ``preprocessing.validation``)."""


def _settings(validation: dict[str, Any]) -> dict[str, Any]:
    missing = [key for key in _SETTINGS if key not in validation]
    if missing:
        raise ValueError(
            f"{_SETTING} lacks {missing}; see conf/base/parameters_preprocessing.yml"
        )
    settings = dict(validation)
    for key in ("header", "quoted"):
        if not isinstance(settings[key], bool):
            raise ValueError(
                f"{_SETTING}.{key} must be true or false, got {settings[key]!r}"
            )
    settings["separator"] = _SEPARATOR_NAMES.get(
        settings["separator"], settings["separator"]
    )
    if settings["quoted"] and len(settings["separator"]) != 1:
        raise ValueError(
            f"{_SETTING}.separator must be one character when {_SETTING}.quoted is "
            f"true (CSV parsing), got {settings['separator']!r}"
        )
    for key, allowed in _MODES.items():
        if settings[key] not in allowed:
            raise ValueError(
                f"{_SETTING}.{key} must be one of {list(allowed)}, "
                f"got {settings[key]!r}"
            )
    return settings


def _lines(lines: pd.Series) -> str:
    """``line 4`` / ``lines 1, 2, 3, 4, 5, ... (240 in all)``."""
    shown = ", ".join(str(n) for n in lines.head(_MAX_LINES))
    if len(lines) == 1:
        return f"line {shown}"
    more = f", ... ({len(lines)} in all)" if len(lines) > _MAX_LINES else ""
    return f"lines {shown}{more}"


def _check_hint(
    check: str, group: pd.DataFrame, label_map: dict[str, int], settings: dict
) -> str:
    """What went wrong in ``group`` (rows of one check) and which setting to change."""
    if check == "unknown_label":
        found = group["label"].value_counts(sort=False)
        listed = ", ".join(f"{label!r} ({n})" for label, n in found.items())
        return (
            f"labels found: {listed}; expected one of {sorted(label_map)}. If these "
            f"are the same classes under other names, map them in "
            f"{_name(settings, 'labels')}, or for your own files name the file's "
            f"labels in the id order you want, e.g. "
            f'--params "dataset=files,data.labels='
            f'{" ".join(sorted(map(str, found.index)))}"'
        )
    if check == "undecodable":
        return (
            f"not valid {settings['encoding']} (first: {group['reason'].iloc[0]}); if "
            f"the file uses another encoding (e.g. cp1252, latin-1), set "
            f"{_name(settings, 'encoding')}"
        )
    if check == "column_count":
        layout = settings["layout"]
        if layout["names"] == ["text", "label"]:
            shape = f"<text>{settings['separator']!r}<label>"
        else:
            shape = f"{layout['columns']} fields separated by {settings['separator']!r}"
        return (
            f"each line must be {shape} ("
            + ", ".join(
                _name(settings, k)
                for k in (
                    "separator",
                    "quoted",
                    "header",
                    "text_column",
                    "label_column",
                )
            )
            + ")"
        )
    if check == "too_long":
        return (
            f"longer than {_SETTING}.max_chars ({settings['max_chars']} characters); "
            f"raise max_chars, or set {_SETTING}.on_too_long: truncate or drop"
        )
    return _STATIC_HINTS.get(check, "nothing before the separator")


_STATIC_HINTS = {
    "blank_line": "remove the blank line(s)",
    "unclosed_quote": (
        'a field that opens with " must close with " (a quote inside it is written '
        '""); the row is skipped and reading resumes on the next line; '
        f"{_SETTING}.quoted: false reads quotes as plain text"
    ),
    "invalid_text": (
        "lone surrogates, control characters and texts of only invisible characters "
        "are refused (quant_sentiment.textcheck, as by predict and serve)"
    ),
}


def _problem_summary(
    problems: pd.DataFrame, label_map: dict[str, int], settings: dict
) -> str:
    """One line per check: count, first line numbers, what was found, the setting."""
    out = []
    for check, group in problems.groupby("check", sort=False):
        title = _CHECK_TITLES.get(check, check)
        hint = _check_hint(check, group, label_map, settings)
        out.append(f"  - {title}: {len(group)} row(s), {_lines(group['line'])}; {hint}")
    listed = "\n".join(
        f"    {r.source}, line {r.line}: {r.reason}"
        for r in problems.head(_MAX_LISTED).itertuples()
    )
    more = (
        f"\n    ... and {len(problems) - _MAX_LISTED} more"
        if len(problems) > _MAX_LISTED
        else ""
    )
    return "\n".join(out) + f"\n  First rows:\n{listed}{more}"


def _file_of(raw: pd.DataFrame) -> str:
    if "source" in raw and len(raw):
        return ", ".join(str(s) for s in raw["source"].unique())
    return str(raw.attrs.get("source", "<unknown file>"))


def _table_rows(raw: pd.DataFrame, settings: dict) -> Iterator[Row]:
    """The rows of a raw-lines frame, split by the shared record reader
    (:mod:`quant_sentiment.records`): with ``quoted``, CSV quoting with ``"`` (a
    quoted field may hold the separator and line breaks; an unclosed quote costs its
    row only); else a plain split at the separator (quotes are text)."""
    lines = (
        Line(number, bytes(data), b"\n", len(data))
        for number, data in raw[["line", "raw"]].itertuples(index=False)
    )
    parser = TableParser(settings["separator"], settings["quoted"])
    settings["parser"] = parser
    return parser.rows(decode_lines(lines, settings["encoding"]))


def _column_index(
    role: str, header: list[str] | None, settings: dict, source: str
) -> int:
    """0-based index of the ``text`` or ``label`` column (a name needs a header)."""
    return _index(
        settings[f"{role}_column"],
        _name(settings, f"{role}_column"),
        header,
        settings,
        source,
    )


def _index(
    value: Any, key: str, header: list[str] | None, settings: dict, source: str
) -> int:
    """0-based index of the column ``value`` (a name needs a header)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        if header is not None and value >= len(header):
            raise DataValidationError(
                f"{source}, line 1: {key} is {value}, but the header has "
                f"{len(header)} column(s): {header}."
            )
        return value
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"{key} must be a column name or a 0-based index, got {value!r}"
        )
    if header is None:
        raise ValueError(
            f"{key} is the column name {value!r}, which needs a header line: set "
            f"{_name(settings, 'header')}: true, or give a 0-based column index."
        )
    if header.count(value) != 1:
        problem = "is not in" if value not in header else "occurs twice in"
        raise DataValidationError(
            f"{source}, line 1: column {value!r} ({key}) {problem} the header "
            f"{header}. Set {key} to one of these names (or a 0-based index), or "
            f"fix the header line."
        )
    return header.index(value)


def _layout(header_row: Row | None, settings: dict, source: str) -> tuple[dict, list]:
    """Read the header row (``header: true``) and locate the text and label columns.

    Returns:
        ``(layout, findings)``: ``columns`` (fields per row), ``text``, ``label``
        (indices), ``names`` (a description of the columns for messages); findings
        are the header line's (a byte-order mark removed).
    """
    header, findings = None, []
    if header_row is not None:
        if header_row.problem is not None:
            raise DataValidationError(
                f"{source}, line {header_row.line} (header): {header_row.problem}; "
                f"set {_name(settings, 'encoding')} to the file's encoding."
            )
        if header_row.bom:
            findings.append((source, header_row.line, None, None, *_BOM_FINDING))
        header = [name.strip() for name in header_row.fields]
        settings["parser"].width = len(header)
    text = _column_index("text", header, settings, source)
    rule = settings.get("label_rule") or {"column": settings["label_column"], "map": {}}
    label_name = _name(settings, "label_column")
    labels = {
        str(c): _index(c, label_name, header, settings, source)
        for c in label_columns(rule)
    }
    owners = settings.get("keep_names") or {}  # a kept column's own setting
    keep = {
        str(c): _index(
            c, owners.get(str(c), _name(settings, "columns")), header, settings, source
        )
        for c in settings.get("keep_columns") or []
    }
    if text in labels.values():
        raise ValueError(
            f"{_name(settings, 'text_column')} and {label_name} are the same column "
            f"({text})"
        )
    columns = len(header) if header else max(text, *labels.values(), *keep.values()) + 1
    roles = {text: "text", **{i: "label" for i in labels.values()}}
    names = header or [roles.get(i, f"column {i}") for i in range(columns)]
    layout = {"columns": columns, "text": text, "labels": labels, "rule": rule}
    return {**layout, "keep": keep, "names": names}, findings


def _text_finding(text: str) -> str | None:
    """The shared raw-text check (:func:`quant_sentiment.textcheck.text_problem`:
    lone surrogates, control characters, invisible-only text) without its
    character cap (``max_chars`` / ``on_too_long`` apply here). Control characters
    that are whitespace (vertical tab, form feed, U+0085, U+001C-U+001E) count as
    whitespace, as the ``collapse_whitespace`` step treats them."""
    spaced = "".join(" " if c.isspace() else c for c in text)
    problem = text_problem(spaced, max_chars=None)
    return None if problem is None else f"text {problem}"


def _check_row(  # noqa: PLR0911 - one return per outcome of the checks
    row: Row, label_map: dict[str, int], settings: dict
) -> tuple[tuple[str, str] | None, list[tuple]]:
    """Check one row: ``((text, label) or None, findings)``.

    A finding is ``(text, label, check, reason, action)``; ``action`` is ``dropped``
    for a rejected row, else what was done to the kept row (``stripped``,
    ``normalised``, ``truncated``).
    """
    found: list[tuple] = [(None, None, *_BOM_FINDING)] if row.bom else []
    if row.problem is not None:
        if row.fields is not None:  # undecodable: its text is not what the file holds
            return None, [*found, (None, None, "undecodable", row.problem, "dropped")]
        finding = (row.text, None, "unclosed_quote", row.problem, "dropped")
        return None, [*found, finding]
    if not row.text.strip():
        return None, [*found, (row.text, None, "blank_line", "blank line", "dropped")]
    carriage_returns = row.text.count("\r")
    fields = [field.replace("\r", " ") for field in row.fields]
    sep, layout = settings["separator"], settings["layout"]
    decoded = row.text.replace("\r", " ")
    if len(fields) != layout["columns"]:
        reason = (
            f"expected {layout['columns']} columns ({', '.join(layout['names'])}) "
            f"separated by {sep!r}, found {len(fields)}"
        )
        if carriage_returns:
            reason += (
                f" (the line holds {carriage_returns} carriage return(s) \\r: a file "
                f"with \\r-only line endings must be converted to \\n)"
            )
        return None, [*found, (decoded, None, "column_count", reason, "dropped")]
    text = fields[layout["text"]]
    label, problem = label_of(
        {key: fields[i].strip() for key, i in layout["labels"].items()}, layout["rule"]
    )
    if not text.strip():
        return None, [*found, (text, label, "empty_text", "empty text", "dropped")]
    if problem:
        return None, [*found, (text, None, "label_rule", problem, "dropped")]
    if label not in label_map:
        reason = f"unknown label {label!r} (expected one of {sorted(label_map)})"
        return None, [*found, (text, label, "unknown_label", reason, "dropped")]
    problem = _text_finding(text)
    if problem is not None:
        return None, [*found, (text, label, "invalid_text", problem, "dropped")]
    if carriage_returns:
        found.append(
            (
                text,
                label,
                "stray_carriage_return",
                f"{carriage_returns} stray carriage return(s) (\\r) inside the line "
                f"replaced by a space",
                "normalised",
            )
        )
    return _cap_length(text, label, settings, found)


def _cap_length(
    text: str, label: str, settings: dict, found: list[tuple]
) -> tuple[tuple[str, str] | None, list[tuple]]:
    """Apply ``max_chars`` / ``on_too_long`` to a row that passed every check."""
    limit = int(settings["max_chars"])
    if len(text) <= limit:
        return (text, label), found
    reason = (
        f"text of {len(text)} characters is longer than {_SETTING}.max_chars ({limit})"
    )
    if settings["on_too_long"] == "truncate":
        return (text[:limit], label), [
            *found,
            (text, label, "too_long", reason, "truncated"),
        ]
    return None, [*found, (text, label, "too_long", reason, "dropped")]


def validate_rows(
    raw: pd.DataFrame, label_map: dict[str, int], validation: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse raw lines (``text<TAB>label`` by default) and check each one.

    The layout comes from ``validation``: ``separator`` (a character, or ``tab``,
    ``comma``, ``semicolon``, ``pipe``), ``quoted`` (CSV quoting with ``"``),
    ``header`` (line 1 names the columns) and ``text_column`` / ``label_column`` (a
    header name, or a 0-based index). Every line must have the header's number of
    fields (without a header: up to the last column used).

    Rows rejected: undecodable bytes, blank line, wrong column count, empty text,
    unknown label, and texts over ``max_chars`` unless truncated. Rows kept but
    changed (and reported): a byte-order mark at the start of the file is removed,
    a stray ``\\r`` inside a line becomes a space, an over-long text is truncated.

    Args:
        raw: Output of ``RawLinesDataset``: ``source``, ``line``, ``raw`` (bytes).
        label_map: ``{label: id}``; labels outside it are errors.
        validation: ``preprocessing.validation`` (every key in
            ``parameters_preprocessing.yml``): ``encoding``, ``separator``,
            ``quoted``, ``header``, ``text_column`` / ``label_column``,
            ``on_invalid`` (``error``: raise, ``drop``: drop and report),
            ``max_drop_share`` (the share of rows a split may lose), ``max_chars``
            and ``on_too_long`` (``truncate``, ``drop`` or ``error``).

    Returns:
        ``(rows, invalid)``: valid rows with ``source``, ``line``, ``text``, ``label``,
        and the findings (``FINDING_COLUMNS``): rejected rows (``action`` =
        ``dropped``) and changed rows (``stripped``, ``normalised``, ``truncated``)
        with their ``check`` and ``reason``.

    Raises:
        ValueError: If a setting is missing or invalid (named).
        DataValidationError: If the file is empty or has a header only; if a named
            column is not in the header (file and column named); if rows are
            invalid and ``on_invalid`` is ``error`` (or too long and ``on_too_long`` is
            ``error``); if more than ``max_drop_share`` of the rows are dropped or
            none is left. The message names the file, the lines (first ones and a
            count), the problem and the setting to change.
    """
    settings = _settings(validation)
    source = _file_of(raw)
    rows_in, findings = _data_rows(raw, settings, source)
    good = []
    keep = settings["layout"]["keep"]
    for row in rows_in:
        kept, found = _check_row(row, label_map, settings)
        findings += [(source, row.line, *f) for f in found]
        if kept is not None:
            extra = [row.fields[i].strip() for i in keep.values()]
            good.append((source, row.line, *kept, *extra))
    rows = pd.DataFrame(good, columns=["source", "line", "text", "label", *keep])
    invalid = pd.DataFrame(findings, columns=FINDING_COLUMNS)
    dropped = invalid[invalid["action"] == "dropped"]
    n_rows = len(rows_in)
    _stop_on_errors(dropped, n_rows, label_map, settings, source)
    _stop_on_drop_share(rows, dropped, n_rows, label_map, settings, source)
    _log_findings(invalid, dropped, n_rows, source)
    return rows, invalid


def _data_rows(
    raw: pd.DataFrame, settings: dict[str, Any], source: str
) -> tuple[list[Row], list]:
    """The rows after the header and the findings of the layout check; sets
    ``settings["layout"]``. Stops on an empty file or a header-only file."""
    if raw.empty:
        raise DataValidationError(
            f"{source}: the file is empty (no lines); an empty split cannot be "
            f"trained or evaluated on. Put the data in that file, or point the "
            f"split's raw_<split> catalog entry at the right file."
        )
    rows = _table_rows(raw, settings)
    header = next(rows) if settings["header"] else None
    settings["layout"], findings = _layout(header, settings, source)
    data = list(rows)
    if not data:
        raise DataValidationError(
            f"{source}: the file has a header line only (no rows); an empty split "
            f"cannot be trained or evaluated on."
        )
    return data, findings


def _stop_on_errors(dropped, n_rows, label_map, settings, source) -> None:
    """Raise for rejected rows whose setting says ``error``."""
    too_long = dropped["check"] == "too_long"
    errors = dropped[
        (too_long & (settings["on_too_long"] == "error"))
        | (~too_long & (settings["on_invalid"] == "error"))
    ]
    if not len(errors):
        return
    fix = (
        f"Fix the file, or set {_SETTING}.on_invalid: drop to drop these rows "
        f"and list them in preprocessing_dropped_rows."
        if (~too_long[errors.index]).any()
        else "Fix the file, or change the settings named above."
    )
    raise DataValidationError(
        f"{source}: {len(errors)} invalid row(s) of {n_rows}:\n"
        f"{_problem_summary(errors, label_map, settings)}\n{fix}"
    )


def _stop_on_drop_share(rows, dropped, n_rows, label_map, settings, source) -> None:
    """Raise when drop mode would leave no row or lose more than ``max_drop_share``."""
    share, limit = len(dropped) / n_rows, float(settings["max_drop_share"])
    if share <= limit and not rows.empty:
        return
    why = (
        ", leaving an empty split"
        if rows.empty
        else f", more than {_SETTING}.max_drop_share ({limit:.0%})"
    )
    raise DataValidationError(
        f"{source}: {len(dropped)} of {n_rows} rows ({share:.0%}) would be "
        f"dropped{why}:\n{_problem_summary(dropped, label_map, settings)}\n"
        f"Fix the file; raise {_SETTING}.max_drop_share only if losing these rows "
        f"is intended."
    )


def _log_findings(invalid, dropped, n_rows, source) -> None:
    """One warning for the dropped rows, one per kind of change to kept rows."""
    if len(dropped):
        logger.warning(
            "%s: dropped %d invalid row(s) of %d (%s)",
            source,
            len(dropped),
            n_rows,
            ", ".join(f"{c}: {n}" for c, n in dropped["check"].value_counts().items()),
        )
    for check, group in invalid[invalid["action"] != "dropped"].groupby("check"):
        logger.warning(
            "%s, %s: %s (row%s kept, %s; listed in preprocessing_dropped_rows)",
            source,
            _lines(group["line"]),
            group["reason"].iloc[0] if len(group) == 1 else check,
            "" if len(group) == 1 else "s",
            group["action"].iloc[0],
        )


def normalise_texts(
    rows: pd.DataFrame, label_map: dict[str, int], normalisation: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Apply the enabled normalisation steps in order and count what each changed.

    Steps (each switchable): the tweet-corpus ones (``newline_escapes``,
    ``byte_escapes``, ``retweet_marker``, ``placeholders``, ``mangled_bytes``),
    ``lowercase``, ``strip_non_letters`` (keeps letters and whitespace),
    ``collapse_whitespace``, ``slang``, ``remove_stopwords`` (Sastrawi's list minus
    ``stopwords_keep``, e.g. negations), ``stem`` (Sastrawi). Texts left empty are
    dropped and reported; ``quirks_found`` counts the texts showing each quirk before
    any step.

    Returns:
        ``(clean, stats, emptied)``: rows with ``text`` replaced and ``label_id`` added;
        per-step ``rows_changed`` / ``tokens_before`` / ``tokens_after``; and the rows
        emptied by normalisation with their original text and a reason.

    Raises:
        DataValidationError: If no text is left (an empty split), naming the file.
    """
    texts = rows["text"].astype(str)
    stats: dict[str, Any] = {"rows_in": len(rows), "steps": {}}
    # Texts showing each tweet-corpus quirk, whether or not its step is switched on.
    stats["quirks_found"] = quirk_counts(texts.tolist())
    for name, func in normalisation_steps(normalisation):
        new = texts.map(func)
        stats["steps"][name] = {
            "rows_changed": int((new != texts).sum()),
            "tokens_before": int(texts.str.split().str.len().sum()),
            "tokens_after": int(new.str.split().str.len().sum()),
        }
        texts = new
    empty = texts.str.strip() == ""
    if empty.all():
        source = _file_of(rows)
        raise DataValidationError(
            f"{source}: all {len(rows)} text(s) are empty after normalisation, "
            f"leaving an empty split; switch off steps in preprocessing.normalisation "
            f"(enabled: {', '.join(stats['steps']) or 'none'})."
        )
    emptied = rows.loc[empty, ["source", "line", "text", "label"]].assign(
        check="empty_after_normalisation",
        reason="empty after normalisation",
        action="dropped",
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

    Texts whose labels disagree, within a split or across splits (the normalised
    text), are resolved by ``deduplicate.conflicting`` (``drop_all``, ``majority``,
    ``keep``; :mod:`quant_sentiment.duplicates`) in every split and reported under
    ``conflicting_labels``. Optionally (``deduplicate.within_train``) drops repeated
    train texts, keeping the first, and (``deduplicate.leaked_from_train``) drops train
    rows whose text also appears in valid or test. Dropped rows are returned for the
    report, with their ``split``.

    Returns:
        ``(train, valid, test, report, dropped)``.

    Raises:
        DataValidationError: If a split would be left empty.
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
    train, valid, test, conflicts, report["conflicting_labels"] = _resolve_conflicts(
        train, valid, test, deduplicate.get("conflicting", "keep")
    )

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
    if drop_mask.all():
        raise DataValidationError(
            f"{_file_of(train)}: preprocessing.deduplicate would drop all "
            f"{len(train)} train rows, leaving an empty split; switch off "
            f"deduplicate.within_train / deduplicate.leaked_from_train."
        )
    dropped = train.loc[drop_mask, ["source", "line", "text", "label"]].assign(
        check=reasons[drop_mask],
        reason="dropped by preprocessing.deduplicate",
        action="dropped",
    )
    report["dropped_from_train"] = int(drop_mask.sum())
    dropped = pd.concat(
        [p for p in (conflicts, dropped.assign(split="train")) if len(p)]
        or [dropped.assign(split="train")],
        ignore_index=True,
    )
    return (train.loc[~drop_mask].reset_index(drop=True), valid, test, report, dropped)


def _resolve_conflicts(
    train: pd.DataFrame, valid: pd.DataFrame, test: pd.DataFrame, rule: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Conflicting labels of the three splits together, resolved by ``rule``."""
    splits = {"train": train, "valid": valid, "test": test}
    both = pd.concat(
        [frame.assign(split=name) for name, frame in splits.items()],
        ignore_index=True,
    )
    kept, dropped, report = resolve_conflicting_labels(both, rule)
    out = []
    for name, frame in splits.items():
        part = kept[kept["split"] == name].drop(columns="split")
        if len(frame) and part.empty:
            raise DataValidationError(
                f"{_file_of(frame)}: preprocessing.deduplicate.conflicting={rule} "
                f"would drop all {len(frame)} {name} rows, leaving an empty split; "
                "set it to keep."
            )
        out.append(part.reset_index(drop=True))
    columns = ["split", "source", "line", "text", "label", "check", "reason", "action"]
    return (*out, dropped.reindex(columns=columns), report)


def build_quality_report(
    duplicates: dict[str, Any],
    deduplicated: pd.DataFrame,
    subsample: dict[str, Any],
    subsampled: pd.DataFrame,
    held_out_subsample: dict[str, Any],
    held_out_subsampled: pd.DataFrame,
    **per_split: Any,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Collect what every step found and removed into one report and one table.

    Args:
        duplicates: The report of ``deduplicate_and_check_leakage``.
        deduplicated: Train rows it dropped.
        subsample: The report of ``subsample_train``.
        subsampled: Train rows left out of the subsample.
        held_out_subsample: The report of ``subsample_held_out`` (valid, test).
        held_out_subsampled: Valid / test rows left out of their subsamples.
        **per_split: For every split ``<s>`` (in report order): ``<s>_invalid`` (rows
            ``validate_rows`` rejected), ``<s>_stats`` (``normalise_texts`` stats),
            ``<s>_emptied`` (rows emptied by normalisation) and ``<s>_clean``.

    Returns:
        ``(report, dropped_rows)``: a JSON-ready data-quality report (rows in/out,
        label counts, invalid rows by check, rows kept but changed by check with
        their first lines, byte-order mark, normalisation stats, duplicates and
        leakage) and every dropped or changed row with split, file, line, check,
        reason and ``action`` (``dropped``, ``truncated``, ``normalised``,
        ``stripped``).

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
        if "action" not in invalid:
            invalid = invalid.assign(action="dropped")
        rejected = invalid[invalid["action"] == "dropped"]
        changed = invalid[invalid["action"] != "dropped"]
        splits[split] = {
            "rows_raw": stats["rows_in"] + len(rejected),
            "rows_valid": stats["rows_in"],
            "rows_invalid": len(rejected),
            "invalid_by_check": rejected["check"].value_counts().to_dict(),
            "rows_modified": int(changed["line"].nunique()),
            "modified_by_check": changed["check"].value_counts().to_dict(),
            "modified_lines": {
                check: group["line"].head(_MAX_LISTED).tolist()
                for check, group in changed.groupby("check")
            },
            "byte_order_mark": bool((changed["check"] == "byte_order_mark").any()),
            "normalisation": stats,
            "rows_out": len(clean),
            "label_counts": clean["label"].value_counts().sort_index().to_dict(),
        }
        parts += [invalid.assign(split=split), emptied.assign(split=split)]
    if "split" not in deduplicated:
        deduplicated = deduplicated.assign(split="train")
    else:  # conflicts name their split; the leakage guard removes train rows
        deduplicated = deduplicated.assign(split=deduplicated["split"].fillna("train"))
    parts += [deduplicated, subsampled.assign(split="train"), held_out_subsampled]
    dropped = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else pd.DataFrame(columns=DROPPED_COLUMNS)
    ).reindex(columns=DROPPED_COLUMNS)
    dropped["action"] = dropped["action"].fillna("dropped")
    report = {
        "splits": splits,
        "duplicates_and_leakage": duplicates,
        "train_subsample": subsample,
        "held_out_subsample": held_out_subsample,
        "rows_dropped_total": int((dropped["action"] == "dropped").sum()),
        "rows_modified_total": int(
            (~dropped["action"].isin(["dropped", "not_sampled"])).sum()
        ),
        "rows_not_sampled": int((dropped["action"] == "not_sampled").sum()),
    }
    return report, dropped
