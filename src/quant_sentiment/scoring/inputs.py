"""Raw input records, streamed: plain text, TSV, CSV and JSON Lines files or stdin.

Files are read line by line (never whole), so memory does not grow with the input.
Every line becomes a :class:`Record` with its file and line number; a line that cannot
be read (undecodable bytes, an empty text, a missing field) carries a ``problem``
instead of a text, and the caller decides to stop or skip (``--on-invalid``).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

FORMATS = ("text", "tsv", "csv", "jsonl")
_SUFFIXES = {".txt": "text", ".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl"}
_SUFFIXES[".ndjson"] = "jsonl"
STDIN = "-"


class InputError(ValueError):
    """A whole input is unusable (missing column, unknown format): stop, naming it."""


@dataclass(frozen=True)
class Record:
    """One input row: where it came from, its id, and its text or what is wrong."""

    source: str
    line: int
    row_id: str
    text: str | None
    problem: str | None = None


@dataclass(frozen=True)
class InputSpec:
    """How to read the inputs.

    Attributes:
        fmt: ``text``, ``tsv``, ``csv``, ``jsonl`` or ``None`` (from the suffix;
            stdin is ``text``).
        column: TSV/CSV column (name, or 0-based index) or JSONL field of the text.
        id_column: Column / field holding the row id (``None``: the line number).
        header: Whether TSV/CSV files start with a header row.
        encoding: Text encoding of the inputs.
    """

    fmt: str | None = None
    column: str = "text"
    id_column: str | None = None
    header: bool = True
    encoding: str = "utf-8"


def input_format(source: str, fmt: str | None) -> str:
    """The format of ``source``: ``fmt`` if given, else from its suffix."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"--format must be one of {list(FORMATS)}, got {fmt!r}")
        return fmt
    if source == STDIN:
        return "text"
    suffix = Path(source).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(
            f"{source}: cannot tell the format from the suffix {suffix!r}; "
            f"pass --format ({', '.join(FORMATS)})"
        )
    return _SUFFIXES[suffix]


class _Lines:
    """Decoded lines of a binary stream; undecodable lines become ``None``.

    Yields ``(line_number, text or None, problem)``; ``bytes_read`` feeds the
    progress bar. A UTF-8 byte-order mark on the first line is dropped.
    """

    def __init__(self, stream: IO[bytes], encoding: str) -> None:
        self.stream = stream
        self.encoding = encoding
        self.bytes_read = 0

    def __iter__(self) -> Iterator[tuple[int, str | None, str | None]]:
        for number, raw in enumerate(self.stream, start=1):
            self.bytes_read += len(raw)
            bom = number == 1 and raw.startswith(b"\xef\xbb\xbf")
            data = raw[3:] if bom else raw
            try:
                text = data.decode(self.encoding)
            except UnicodeDecodeError as exc:
                bad = data[exc.start : exc.end]
                yield number, None, f"undecodable bytes {bad!r} at byte {exc.start}"
                continue
            yield number, text.rstrip("\r\n"), None


def _text_records(source: str, lines: _Lines, spec: InputSpec) -> Iterator[Record]:
    for number, text, problem in lines:
        why = problem or (None if text.strip() else "empty line")
        yield Record(source, number, str(number), None if why else text, why)


def _column_index(source: str, header: list[str] | None, column: str) -> int:
    if column.isdigit():
        return int(column)
    if header is None:
        raise InputError(
            f"{source}: column {column!r} given by name but the file has no header "
            "(--no-header); give its 0-based index instead"
        )
    if column not in header:
        raise InputError(
            f"{source}: no column {column!r}; the header has {header} "
            "(choose one with --column, by name or 0-based index)"
        )
    return header.index(column)


def _table_records(
    source: str, lines: _Lines, spec: InputSpec, delimiter: str
) -> Iterator[Record]:
    """TSV (no quoting, as SmSA) or CSV (standard quoting) rows, streamed."""
    bad: dict[int, str] = {}

    def decoded() -> Iterator[str]:
        for number, text, problem in lines:
            if problem is not None:
                bad[number] = problem
            yield "" if text is None else text

    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(decoded(), delimiter=delimiter, quoting=quoting)
    header = next(reader, None) if spec.header else None
    text_at = _column_index(source, header, spec.column)
    id_at = None
    if spec.id_column is not None:
        id_at = _column_index(source, header, spec.id_column)
    for row in reader:
        yield _table_record(source, reader.line_num, row, bad, text_at, id_at)


def _table_record(  # noqa: PLR0913 - one argument per piece of the row
    source: str,
    number: int,
    row: list[str],
    bad: dict[int, str],
    text_at: int,
    id_at: int | None,
) -> Record:
    row_id = str(number)
    if id_at is not None and id_at < len(row):
        row_id = row[id_at]
    if number in bad:
        return Record(source, number, row_id, None, bad.pop(number))
    if not row:
        return Record(source, number, row_id, None, "empty line")
    if text_at >= len(row):
        problem = f"{len(row)} column(s), no column {text_at}"
        return Record(source, number, row_id, None, problem)
    if not row[text_at].strip():
        return Record(source, number, row_id, None, "empty text")
    return Record(source, number, row_id, row[text_at])


def _jsonl_fields(text: str, spec: InputSpec) -> tuple[str | None, str | None, str]:
    """``(row_id or None, text or None, problem)`` of one JSON line."""
    if not text.strip():
        return None, None, "empty line"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, None, f"not JSON ({exc.msg}, column {exc.colno})"
    if not isinstance(obj, dict):
        return None, None, f"not a JSON object ({type(obj).__name__})"
    row_id = None
    if spec.id_column is not None and spec.id_column in obj:
        row_id = str(obj[spec.id_column])
    value = obj.get(spec.column)
    if not isinstance(value, str):
        return row_id, None, f"field {spec.column!r} is missing or not a string"
    if not value.strip():
        return row_id, None, f"field {spec.column!r} is empty"
    return row_id, value, ""


def _jsonl_records(source: str, lines: _Lines, spec: InputSpec) -> Iterator[Record]:
    for number, text, problem in lines:
        if problem is not None:
            yield Record(source, number, str(number), None, problem)
            continue
        row_id, value, why = _jsonl_fields(text, spec)
        yield Record(source, number, row_id or str(number), value, why or None)


_READERS: dict[str, Callable[[str, _Lines, InputSpec], Iterator[Record]]] = {
    "text": _text_records,
    "tsv": lambda s, lines, spec: _table_records(s, lines, spec, "\t"),
    "csv": lambda s, lines, spec: _table_records(s, lines, spec, ","),
    "jsonl": _jsonl_records,
}


def _open(source: str) -> tuple[IO[bytes], bool]:
    """``(binary stream, whether to close it)`` of a path or ``-``."""
    if source == STDIN:
        return sys.stdin.buffer, False
    try:
        return open(source, "rb"), True  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputError(f"{source}: cannot open ({exc.strerror})") from exc


def read_records(
    source: str,
    spec: InputSpec,
    on_bytes: Callable[[int], None] | None = None,
    stream: IO[bytes] | None = None,
) -> Iterator[Record]:
    """Stream the records of one file (or ``-`` for stdin).

    Args:
        source: A path, or ``-``; with ``stream``, the name records carry (and whose
            suffix gives the format).
        spec: How to read it.
        on_bytes: Called with the bytes consumed since the last call (progress).
        stream: Read this binary stream instead of opening ``source``.

    Raises:
        InputError: For an unreadable file, an unknown format or a missing column.
    """
    fmt = input_format(source, spec.fmt)
    stream, close = (stream, False) if stream is not None else _open(source)
    lines = _Lines(stream, spec.encoding)
    seen = 0
    try:
        for record in _READERS[fmt](source, lines, spec):
            if on_bytes is not None:
                on_bytes(lines.bytes_read - seen)
                seen = lines.bytes_read
            yield record
    finally:
        if close:
            stream.close()
