"""The one record reader: raw text files and streams → numbered records.

Used by the ``quant-sentiment predict`` command, the ``predict`` pipeline and the
``preprocessing`` pipeline (its raw split files), so a file is split into records
the same way wherever it is read. It sits below the pipelines and below
``scoring`` (it imports only the standard library and :mod:`quant_sentiment.textcheck`).

Three layers, each usable alone:

- :class:`LineReader`: the physical lines of a binary stream, read in blocks of
  :data:`BLOCK_BYTES` (never the whole file), numbered from 1, split at ``\\n`` only
  (a ``\\r`` before it is the line ending ``\\r\\n``; a lone ``\\r`` stays in the
  line). A line longer than ``max_line_bytes`` is cut while it is read: its bytes are
  counted and discarded, and the line arrives empty and flagged, so one huge line
  never sits in memory.
- :func:`decode_lines`: each line decoded (an undecodable line keeps a stand-in text,
  so quotes still parse, and carries the problem); a byte-order mark on line 1 is
  removed and flagged.
- :class:`TableParser`: delimited rows (TSV, CSV) parsed here, not by ``csv``: with
  ``quoted``, a field that starts with ``"`` runs to its closing quote (``""`` is a
  quote) across line endings, which stay in the text as they are in the file. A row
  keeps the line it starts on. A quote that does not close properly (end of input,
  text after the closing quote on a later line, a row of the wrong width, more than
  ``max_chars`` characters) makes that row a problem reported at its first line, and
  parsing starts again on the next line, so one stray quote costs one row, not the
  rest of the file.

:func:`read_records` puts them together for the scoring entry points: plain text
(a line per record), TSV, CSV and JSON Lines, each record checked with
:func:`quant_sentiment.textcheck.text_problem` (surrogates, control characters,
invisible-only texts, the character cap). A whole input that cannot be read (missing,
empty, binary, no such column) raises :class:`InputError`.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from quant_sentiment.textcheck import MAX_CHARS, text_problem

FORMATS = ("text", "tsv", "csv", "jsonl")
_SUFFIXES = {
    ".txt": "text",
    ".tsv": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
STDIN = "-"
#: Bytes read from a stream at a time.
BLOCK_BYTES = 1 << 16
#: Share of the first block that may be undecodable or control characters before
#: the whole input is refused as binary.
BINARY_SHARE = 0.3
_BOM = "\ufeff"
#: Characters that count towards :data:`BINARY_SHARE`: U+FFFD (undecodable) and the
#: C0 controls other than tab, line feed, form feed and carriage return.
_BINARY_CHARS = frozenset({"\ufffd", *map(chr, range(32))}) - frozenset("\t\n\f\r")


class InputError(ValueError):
    """A whole input is unusable (missing, empty, binary, no such column): stop."""


def max_line_bytes(max_chars: int) -> int:
    """The byte cap of one physical line for a ``max_chars`` character cap.

    Generous (6 bytes a character, a JSON ``\\uXXXX`` escape, plus 64 KiB for the
    other columns or fields), so it only refuses lines whose text is over the cap.
    """
    return 6 * max_chars + BLOCK_BYTES


# ------------------------------------------------------------------ physical lines
@dataclass(frozen=True)
class Line:
    """One physical line: ``data`` without its ``ending`` (``\\n``, ``\\r\\n`` or
    ``""`` for a last line without one); ``size`` is its length in the file, and
    ``cut`` says it was longer than the cap (then ``data`` is empty)."""

    number: int
    data: bytes
    ending: bytes
    size: int
    cut: bool = False


class LineReader:
    """The physical lines of a binary stream, read in bounded blocks.

    Args:
        stream: A binary stream (a file opened ``rb``, ``sys.stdin.buffer``).
        max_line_bytes: Lines longer than this are cut (``None``: no cap).
        block: Bytes read at a time.

    Attributes:
        bytes_read: Bytes consumed so far (for a progress bar).
    """

    def __init__(
        self, stream: IO[bytes], max_line_bytes: int | None = None, block=BLOCK_BYTES
    ) -> None:
        self.stream, self.limit, self.block = stream, max_line_bytes, block
        self.bytes_read = 0
        self._read = getattr(stream, "read1", stream.read)
        self._first: bytes | None = None

    def first_block(self) -> bytes:
        """The first block of the stream (read once, still yielded by iteration)."""
        if self._first is None:
            self._first = bytes(self._read(self.block))
        return self._first

    def _blocks(self) -> Iterator[bytes]:
        first = self.first_block()
        while first:
            self.bytes_read += len(first)
            yield first
            first = self._read(self.block)

    def __iter__(self) -> Iterator[Line]:
        number, buf, size = 0, bytearray(), 0
        keep = None if self.limit is None else self.limit + 1  # + a "\r"
        for block in self._blocks():
            start = 0
            while True:
                end = block.find(b"\n", start)
                piece = block[start:] if end < 0 else block[start:end]
                size += len(piece)
                if keep is None or size <= keep:
                    buf += piece
                elif buf:
                    buf = bytearray()  # over the cap: count the rest, keep nothing
                if end < 0:
                    break
                number += 1
                yield self._line(number, buf, size, b"\n")
                buf, size, start = bytearray(), 0, end + 1
        if size:
            yield self._line(number + 1, buf, size, b"")

    def _line(self, number: int, buf: bytearray, size: int, ending: bytes) -> Line:
        data = bytes(buf)
        if ending and data.endswith(b"\r"):
            data, ending = data[:-1], b"\r\n"
        limit = self.limit
        cut = limit is not None and (size > limit + 1 or len(data) > limit)
        return Line(number, b"" if cut else data, ending, size, cut)


def split_lines(data: bytes) -> list[bytes]:
    """The lines of in-memory file contents, as :class:`LineReader` splits them."""
    import io

    return [line.data for line in LineReader(io.BytesIO(data))]


# ------------------------------------------------------------------ decoding
@dataclass(frozen=True)
class Decoded:
    """A decoded line: ``text`` (a stand-in with U+FFFD when undecodable),
    ``ending`` as text, ``problem`` (undecodable bytes, a cut line) and ``bom``
    (a byte-order mark was removed from line 1)."""

    number: int
    text: str
    ending: str
    problem: str | None = None
    bom: bool = False


def decode_lines(lines: Iterable[Line], encoding: str) -> Iterator[Decoded]:
    """Decode each line; see :class:`Decoded`."""
    for line in lines:
        ending = line.ending.decode("ascii")
        if line.cut:
            problem = f"line of {line.size} bytes is longer than the line cap"
            yield Decoded(line.number, "", ending, problem)
            continue
        problem = None
        try:
            text = line.data.decode(encoding)
        except UnicodeDecodeError as exc:
            bad = line.data[exc.start : exc.end]
            problem = f"undecodable bytes {bad!r} at byte {exc.start}"
            text = line.data.decode(encoding, errors="replace")
        bom = line.number == 1 and text.startswith(_BOM)
        yield Decoded(line.number, text[1:] if bom else text, ending, problem, bom)


def binary_reason(block: bytes, encoding: str) -> str | None:
    """Why ``block`` (the start of an input) looks binary, or ``None``.

    A NUL byte, or more than :data:`BINARY_SHARE` of its characters undecodable in
    ``encoding`` or control characters other than tab, line feed, carriage return
    and form feed.
    """
    if not block:
        return None
    nul = block.find(b"\x00")
    if nul >= 0:
        return f"a NUL byte at byte {nul}"
    text = block.decode(encoding, errors="replace")
    odd = sum(1 for c in text if c in _BINARY_CHARS)
    if odd > BINARY_SHARE * len(text):
        return (
            f"{odd} of the first {len(text)} characters are undecodable as "
            f"{encoding} or control characters"
        )
    return None


# ------------------------------------------------------------------ delimited rows
@dataclass(frozen=True)
class Row:
    """One delimited row: ``fields`` (``None`` when it could not be split), the
    lines it spans, its source ``text`` (lines joined, endings kept) and
    ``problem`` (undecodable, cut, unclosed quote)."""

    line: int
    last_line: int
    fields: list[str] | None
    text: str
    problem: str | None = None
    bom: bool = False


class _Lines:
    """Decoded lines with push-back (lines re-read after a broken quote)."""

    def __init__(self, lines: Iterable[Decoded]) -> None:
        self._it, self._back = iter(lines), deque()

    def next(self) -> Decoded | None:
        return self._back.popleft() if self._back else next(self._it, None)

    def push(self, lines: list[Decoded]) -> None:
        self._back.extendleft(reversed(lines))


class _Broken(Exception):
    """A quoted field that does not close properly: why, as a phrase after "the
    quoted field starting on line N", and (optionally) as a one-line problem."""

    def __init__(self, phrase: str, one_line: str | None = None) -> None:
        super().__init__(phrase)
        self.phrase, self.one_line = phrase, one_line or phrase


class TableParser:
    """Split decoded lines into rows: ``separator``-delimited, ``"``-quoted fields
    when ``quoted`` (see the module docstring).

    Args:
        separator: One character (or a string when not ``quoted``).
        quoted: CSV quoting; else fields are split at every separator (TSV).
        max_chars: Characters a row may reach while a quoted field is open before
            the quote counts as unclosed (``None``: no cap).

    Attributes:
        width: Fields a row should have (set by the caller after the header); a
            multi-line row of another width counts as a broken quote.
    """

    def __init__(
        self, separator: str, quoted: bool, max_chars: int | None = None
    ) -> None:
        if quoted and len(separator) != 1:
            raise ValueError(f"a quoted separator must be one character: {separator!r}")
        self.separator, self.quoted, self.max_chars = separator, quoted, max_chars
        self.width: int | None = None

    def rows(self, lines: Iterable[Decoded]) -> Iterator[Row]:
        """The rows of ``lines``, in order."""
        source = _Lines(lines)
        while (first := source.next()) is not None:
            if first.problem is not None and first.text == "":  # a cut line
                yield Row(first.number, first.number, None, "", first.problem)
            elif not self.quoted or '"' not in first.text:
                fields = first.text.split(self.separator)
                yield Row(first.number, first.number, fields, first.text,
                          first.problem, first.bom)  # fmt: skip
            else:
                yield self._quoted_row(first, source)

    def _quoted_row(self, first: Decoded, source: _Lines) -> Row:
        taken = [first]
        try:
            fields = self._split(taken, source)
        except _Broken as exc:
            if len(taken) == 1:
                return Row(first.number, first.number, None, first.text, exc.one_line)
            source.push(taken[1:])  # parse again from the next line
            problem = (
                f"unclosed quote: the quoted field starting on line {first.number} "
                f"{exc.phrase}; the row is skipped and reading resumes at line "
                f"{first.number + 1}"
            )
            return Row(first.number, first.number, None, first.text, problem)
        text = "".join(d.text + d.ending for d in taken[:-1]) + taken[-1].text
        problem = next(
            (
                d.problem if d is first else f"line {d.number}: {d.problem}"
                for d in taken
                if d.problem
            ),
            None,
        )
        return Row(first.number, taken[-1].number, fields, text, problem, first.bom)

    def _split(self, taken: list[Decoded], source: _Lines) -> list[str]:
        """The fields of the row starting at ``taken[0]``; appends continuation
        lines to ``taken``. Raises :class:`_Broken` for a bad quote."""
        sep, text, pos, fields = self.separator, taken[0].text, 0, []
        while True:
            if not text.startswith('"', pos):  # an unquoted field
                end = text.find(sep, pos)
                fields.append(text[pos:] if end < 0 else text[pos:end])
                if end < 0:
                    break
                pos = end + 1
                continue
            value, text, pos = self._quoted_field(taken, source, text, pos + 1)
            fields.append(value)
            if pos == len(text):
                break
            if text[pos] != sep:
                raise _Broken(
                    f"ends on line {taken[-1].number} with text after its closing "
                    f"quote",
                    f"text after the closing quote at character {pos} (a quote "
                    f'inside a quoted field is written "")',
                )
            pos += 1
        if len(taken) > 1 and self.width is not None and len(fields) != self.width:
            raise _Broken(
                f"runs to line {taken[-1].number} and gives {len(fields)} field(s), "
                f"not {self.width}"
            )
        return fields

    def _quoted_field(
        self, taken: list[Decoded], source: _Lines, text: str, pos: int
    ) -> tuple[str, str, int]:
        """``(value, current line's text, position after the closing quote)``."""
        parts, size = [], 0
        while True:
            quote = text.find('"', pos)
            if quote < 0:
                parts.append(text[pos:] + taken[-1].ending)
                size += len(parts[-1])
                line = source.next()
                if line is None or not taken[-1].ending:
                    raise _Broken("is not closed before the end of the input")
                taken.append(line)
                if line.problem is not None and line.text == "":
                    raise _Broken(f"runs into line {line.number}, {line.problem}")
                if self.max_chars is not None and size > self.max_chars:
                    raise _Broken(f"runs past {self.max_chars} characters")
                text, pos = line.text, 0
            elif text.startswith('"', quote + 1):  # "" is one quote
                parts.append(text[pos : quote + 1])
                pos = quote + 2
            else:
                parts.append(text[pos:quote])
                return "".join(parts), text, quote + 1


# ------------------------------------------------------------------ records
@dataclass(frozen=True)
class Record:
    """One input record: where it came from, its id, and its text or what is wrong."""

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
        encoding: Text encoding of the inputs (ASCII-compatible: UTF-8, latin-1,
            cp1252, ...).
        max_chars: Character cap of a text (``textcheck.MAX_CHARS`` by default);
            lines far beyond it are refused while they are read.
    """

    fmt: str | None = None
    column: str = "text"
    id_column: str | None = None
    header: bool = True
    encoding: str = "utf-8"
    max_chars: int = MAX_CHARS


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


def _checked(source: str, line: int, row_id: str, text: str, spec: InputSpec):
    """A record of ``text``, or of what :func:`text_problem` finds wrong with it."""
    problem = text_problem(text, spec.max_chars)
    if problem is not None:
        return Record(source, line, row_id, None, f"text {problem}")
    return Record(source, line, row_id, text)


def _cap_problem(problem: str, spec: InputSpec) -> str:
    if problem.endswith("the line cap"):
        return f"{problem} ({max_line_bytes(spec.max_chars)} bytes for --max-chars {spec.max_chars})"
    return problem


def _text_records(source: str, lines: Iterable[Decoded], spec: InputSpec):
    for d in lines:
        if d.problem is not None:
            yield Record(
                source, d.number, str(d.number), None, _cap_problem(d.problem, spec)
            )
        elif not d.text.strip():
            yield Record(source, d.number, str(d.number), None, "empty line")
        else:
            yield _checked(source, d.number, str(d.number), d.text, spec)


def _jsonl_fields(text: str, spec: InputSpec) -> tuple[str | None, object, str]:
    """``(row_id or None, value, problem)`` of one JSON line."""
    if not text.strip():
        return None, None, "empty line"
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        why = getattr(exc, "msg", "nested too deeply")
        return None, None, f"not JSON ({why}, column {getattr(exc, 'colno', 1)})"
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


def _jsonl_records(source: str, lines: Iterable[Decoded], spec: InputSpec):
    for d in lines:
        if d.problem is not None:
            yield Record(
                source, d.number, str(d.number), None, _cap_problem(d.problem, spec)
            )
            continue
        row_id, value, why = _jsonl_fields(d.text, spec)
        row_id = row_id or str(d.number)
        if why:
            yield Record(source, d.number, row_id, None, why)
        else:
            yield _checked(source, d.number, row_id, value, spec)


def column_index(source: str, header: list[str] | None, column: str) -> int:
    """0-based index of ``column`` (a name needs a header)."""
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
    source: str, lines: Iterable[Decoded], spec: InputSpec, fmt: str
) -> Iterator[Record]:
    """TSV (no quoting, as SmSA) or CSV (``"`` quoting) rows, streamed."""
    parser = TableParser(
        "\t" if fmt == "tsv" else ",", fmt == "csv", max_line_bytes(spec.max_chars)
    )
    rows = parser.rows(lines)
    header = None
    if spec.header:
        first = next(rows, None)
        if first is None:
            raise InputError(f"{source}: the file is empty (no header, no rows)")
        if first.fields is None or first.problem is not None:
            raise InputError(f"{source}, line 1 (header): {first.problem}")
        header = [name.strip() for name in first.fields]
        parser.width = len(header)
    text_at = column_index(source, header, spec.column)
    id_at = (
        None if spec.id_column is None else column_index(source, header, spec.id_column)
    )
    for row in rows:
        yield _table_record(source, row, text_at, id_at, spec)


def _table_record(
    source: str, row: Row, text_at: int, id_at: int | None, spec: InputSpec
) -> Record:
    fields, row_id = row.fields or [], str(row.line)
    if id_at is not None and id_at < len(fields):
        row_id = fields[id_at]
    if row.problem is not None:
        return Record(source, row.line, row_id, None, _cap_problem(row.problem, spec))
    if not row.text.strip():
        return Record(source, row.line, row_id, None, "empty line")
    if text_at >= len(fields):
        problem = f"{len(fields)} column(s), no column {text_at}"
        return Record(source, row.line, row_id, None, problem)
    if not fields[text_at].strip():
        return Record(source, row.line, row_id, None, "empty text")
    return _checked(source, row.line, row_id, fields[text_at], spec)


_READERS: dict[str, Callable[..., Iterator[Record]]] = {
    "text": _text_records,
    "tsv": lambda s, lines, spec: _table_records(s, lines, spec, "tsv"),
    "csv": lambda s, lines, spec: _table_records(s, lines, spec, "csv"),
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


def open_lines(
    source: str, stream: IO[bytes], spec: InputSpec
) -> tuple[LineReader, Iterator[Decoded]]:
    """The line reader of ``stream`` and its decoded lines; refuses an empty or a
    binary input as a whole (:class:`InputError`)."""
    reader = LineReader(stream, max_line_bytes(spec.max_chars))
    block = reader.first_block()
    if not block:
        raise InputError(f"{source}: the input is empty (0 bytes); nothing to score")
    why = binary_reason(block, spec.encoding)
    if why is not None:
        raise InputError(
            f"{source}: looks binary ({why}), not {spec.encoding} text; the whole "
            f"input is refused (--encoding sets the encoding; convert UTF-16 to UTF-8)"
        )
    return reader, decode_lines(reader, spec.encoding)


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
        InputError: For an unreadable, empty or binary input, an unknown format or
            a missing column.
    """
    fmt = input_format(source, spec.fmt)
    stream, close = (stream, False) if stream is not None else _open(source)
    try:
        reader, lines = open_lines(source, stream, spec)
        seen = 0
        for record in _READERS[fmt](source, lines, spec):
            if on_bytes is not None:
                on_bytes(reader.bytes_read - seen)
                seen = reader.bytes_read
            yield record
    finally:
        if close:
            stream.close()
