"""Slang → formal Indonesian, word by word, from a two-column dictionary file.

The dictionary is the hate-speech corpus's ``new_kamusalay.csv`` (15,167 ``slang,formal``
pairs, no header, latin-1). The ``slang`` block of ``preprocessing.normalisation``
names it and pins it: ``{enabled, path, sha256}``. The same block is recorded in every
model's manifest, so :class:`quant_sentiment.textprep.TextPrep` replays it at
prediction time; the file is read and its SHA-256 checked against ``sha256`` both at
preprocessing and at replay, and a missing file, a missing ``sha256`` or a different
hash stops with a message naming the path and both hashes (a model must never see a
dictionary other than the one it was trained with).

Replacement is word-level: every run of word characters (``\\w+``) whose lower-case
form is a single-word key is replaced by its formal form. Keys of several words or
with punctuation (93 of the shipped file's entries, e.g. ``tgg jwb``) are not used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

_WORD = re.compile(r"\w+")
_SETTING = "preprocessing.normalisation.slang"
_FIELDS = 2  # slang, formal


class SlangDictionaryError(ValueError):
    """The slang dictionary is missing, unpinned or not the pinned file."""


def file_sha256(path: str | Path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_dictionary(data: bytes, source: str) -> dict[str, str]:
    """``slang → formal`` of single-word keys from the file's bytes (latin-1, no header).

    Raises:
        SlangDictionaryError: For a row without exactly two fields, naming file and row.
    """
    pairs: dict[str, str] = {}
    text = data.decode("latin-1")
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        if len(row) != _FIELDS:
            raise SlangDictionaryError(
                f"{source}: row {number} has {len(row)} field(s), expected 2 "
                f"(slang,formal): {row!r}"
            )
        slang, formal = row[0].strip().lower(), row[1].strip()
        if _WORD.fullmatch(slang):
            pairs.setdefault(slang, formal)
    return pairs


def load_pinned(path: str | None, sha256: str | None) -> dict[str, str]:
    """The dictionary at ``path`` after checking its bytes against ``sha256``.

    Raises:
        SlangDictionaryError: If ``path`` is unset or missing, ``sha256`` is unset, or
            the file's hash differs.
    """
    if not path:
        raise SlangDictionaryError(f"{_SETTING}.path is not set")
    file = Path(path)
    if not file.is_file():
        raise SlangDictionaryError(
            f"{_SETTING}.path: {path} not found (from {Path.cwd()}); the model was "
            "trained with this slang dictionary and cannot be replayed without it: "
            "put the file there, or run from the project root."
        )
    data = file.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if not sha256:
        raise SlangDictionaryError(
            f"{_SETTING}.sha256 is not set; pin the dictionary by setting it to "
            f"{actual} (the SHA-256 of {path})."
        )
    if actual != sha256:
        raise SlangDictionaryError(
            f"{_SETTING}: {path} has SHA-256 {actual}, but {sha256} is recorded; "
            "this is not the dictionary the settings (or the model) were made with."
        )
    return read_dictionary(data, str(path))


@cache
def _replacer(path: str, sha256: str, mtime_ns: int) -> Callable[[str], str]:
    pairs = load_pinned(path, sha256)

    def replace(text: str) -> str:
        return _WORD.sub(lambda m: pairs.get(m.group(0).lower(), m.group(0)), text)

    return replace


def slang_replacer(path: str | None, sha256: str | None) -> Callable[[str], str]:
    """A text → text function replacing slang words, the dictionary checked first.

    Raises:
        SlangDictionaryError: As :func:`load_pinned`.
    """
    if not path or not Path(path).is_file() or not sha256:
        load_pinned(path, sha256)  # raises with the message for the case
    return _replacer(str(path), str(sha256), Path(path).stat().st_mtime_ns)
