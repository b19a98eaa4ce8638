"""Text normalisation steps, below the pipelines: the ``preprocessing`` pipeline
applies them to build ``clean_<split>``, and :mod:`quant_sentiment.textprep` applies
the ones a model's manifest records to raw text at prediction time.

The steps and their order come from the ``preprocessing.normalisation`` block of
``conf/base/parameters_preprocessing.yml`` (every switch is read from it). First the
tweet-corpus steps (all off in base; the hate-speech entries switch them on): literal
``\\n`` escapes → space, byte escapes (``\\xf0\\x9f\\x98\\x82``) decoded as UTF-8,
leading ``RT`` removed, ``USER`` / ``URL`` placeholders kept / removed / replaced,
mangled-byte runs (``â??``) removed. Then lowercase, strip non-letters (keeps letters
and whitespace), collapse whitespace, slang → formal words (:mod:`quant_sentiment.slang`,
a dictionary pinned by SHA-256), Sastrawi stop words (minus ``stopwords_keep``, e.g.
negations), Sastrawi stemming. A switch missing from the settings (a manifest written
before it existed) means off.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from quant_sentiment.slang import slang_replacer

_NON_LETTERS = re.compile(r"[^\w\s]|[\d_]")
_WHITESPACE = re.compile(r"\s+")
#: A literal backslash + ``n`` (not a real newline), e.g. ``AKU\\n\\nKU``.
_NEWLINE_ESCAPE = re.compile(r"\\n")
#: A run of byte escapes ``\\xhh`` (emoji stored as text: ``\\xf0\\x9f\\x98\\x82``).
_BYTE_ESCAPES = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
#: An escape cut off at the end of a (truncated) tweet: ``\\x``, ``\\xa``.
_TRUNCATED_ESCAPE = re.compile(r"\\x[0-9a-fA-F]?$")
_RETWEET = re.compile(r"^\s*RT\b:?\s*")
#: Mojibake: a latin-1 lead byte followed by continuation bytes or the ``?`` that
#: replaced a lost byte (``â??``, ``ð???``, ``Â²``).
_MANGLED = re.compile(r"[\u00c2-\u00f4][\u0080-\u00bf?]+")
#: ``placeholders`` modes for the corpus's ``USER`` / ``URL`` tokens.
PLACEHOLDER_MODES = ("keep", "remove", "replace")
_PLACEHOLDERS = ("USER", "URL")


@cache
def _stopword_remover(keep: tuple[str, ...]) -> Callable[[str], str]:
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


def _decode_run(match: re.Match) -> str:
    """One run of ``\\xhh`` escapes → its UTF-8 characters; the undecodable bytes of a
    broken run are dropped (``errors="ignore"``), so a run with none valid vanishes."""
    data = bytes.fromhex(match.group(0).replace("\\x", "").replace("\\X", ""))
    return data.decode("utf-8", errors="ignore")


def decode_byte_escapes(text: str) -> str:
    """Emoji (and other characters) stored as escape text, decoded as UTF-8; an
    escape cut off at the end of the text (``\\xa``) is removed."""
    return _TRUNCATED_ESCAPE.sub("", _BYTE_ESCAPES.sub(_decode_run, text))


def undecodable_escape_runs(text: str) -> int:
    """How many ``\\xhh`` runs of a text are not valid UTF-8 (partly dropped),
    counting an escape cut off at the end of the text."""
    bad = int(bool(_TRUNCATED_ESCAPE.search(text)))
    for run in _BYTE_ESCAPES.findall(text):
        try:
            bytes.fromhex(run.replace("\\x", "").replace("\\X", "")).decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
    return bad


def _placeholder_step(normalisation: dict[str, Any]) -> Callable[[str], str] | None:
    """``USER`` / ``URL`` as whole words: kept, removed or replaced by
    ``placeholder_tokens`` (``USERNAME`` or ``myURL`` are other words, left alone)."""
    mode = normalisation.get("placeholders", "keep")
    if mode not in PLACEHOLDER_MODES:
        raise ValueError(
            f"preprocessing.normalisation.placeholders: {mode!r} is not one of "
            f"{list(PLACEHOLDER_MODES)}"
        )
    if mode == "keep":
        return None
    tokens = dict(normalisation.get("placeholder_tokens") or {})
    if mode == "replace" and sorted(tokens) != sorted(_PLACEHOLDERS):
        raise ValueError(
            "preprocessing.normalisation.placeholder_tokens must give a token for "
            f"each of {list(_PLACEHOLDERS)} when placeholders is 'replace' (got "
            f"{sorted(tokens)})"
        )
    pattern = re.compile(r"\b(" + "|".join(_PLACEHOLDERS) + r")\b")
    if mode == "remove":
        return lambda t: pattern.sub(" ", t)
    return lambda t: pattern.sub(lambda m: tokens[m.group(1)], t)


def _tweet_steps(
    normalisation: dict[str, Any],
) -> list[tuple[str, Callable[[str], str]]]:
    """The tweet-corpus steps, run before lowercasing (``RT``, ``USER`` and ``URL``
    are upper case in the corpus)."""
    steps: list[tuple[str, Callable[[str], str]]] = []
    if normalisation.get("newline_escapes", False):
        steps.append(("newline_escapes", lambda t: _NEWLINE_ESCAPE.sub(" ", t)))
    if normalisation.get("byte_escapes", False):
        steps.append(("byte_escapes", decode_byte_escapes))
    if normalisation.get("retweet_marker", False):
        steps.append(("retweet_marker", lambda t: _RETWEET.sub("", t, count=1)))
    placeholders = _placeholder_step(normalisation)
    if placeholders is not None:
        steps.append(("placeholders", placeholders))
    if normalisation.get("mangled_bytes", False):
        steps.append(("mangled_bytes", lambda t: _MANGLED.sub(" ", t)))
    return steps


def quirk_counts(texts: list[str]) -> dict[str, int]:
    """Texts showing each tweet-corpus quirk, before any step (reported whether or
    not the step that handles it is on)."""
    counts = {
        "newline_escapes": 0,
        "byte_escapes": 0,
        "undecodable_byte_escapes": 0,
        "retweet_marker": 0,
        "USER": 0,
        "URL": 0,
        "mangled_bytes": 0,
    }
    words = {p: re.compile(rf"\b{p}\b") for p in _PLACEHOLDERS}
    for text in texts:
        counts["newline_escapes"] += bool(_NEWLINE_ESCAPE.search(text))
        counts["byte_escapes"] += bool(
            _BYTE_ESCAPES.search(text) or _TRUNCATED_ESCAPE.search(text)
        )
        counts["undecodable_byte_escapes"] += undecodable_escape_runs(text) > 0
        counts["retweet_marker"] += bool(_RETWEET.match(text))
        for name, word in words.items():
            counts[name] += bool(word.search(text))
        counts["mangled_bytes"] += bool(_MANGLED.search(text))
    return counts


def normalisation_steps(
    normalisation: dict[str, Any],
) -> list[tuple[str, Callable[[str], str]]]:
    """The enabled steps of ``preprocessing.normalisation``, in order (every switch is
    read from the parameters; ``stopwords_keep`` only when stop words are removed).

    Raises:
        ValueError: For an unknown ``placeholders`` mode.
        SlangDictionaryError: When ``slang`` is enabled and its file is missing or its
            SHA-256 differs from ``slang.sha256``.
    """
    steps = _tweet_steps(normalisation)
    if normalisation["lowercase"]:
        steps.append(("lowercase", str.lower))
    if normalisation["strip_non_letters"]:
        steps.append(("strip_non_letters", lambda t: _NON_LETTERS.sub(" ", t)))
    if normalisation["collapse_whitespace"]:
        steps.append(("collapse_whitespace", lambda t: _WHITESPACE.sub(" ", t).strip()))
    slang = normalisation.get("slang") or {}
    if slang.get("enabled", False):
        steps.append(("slang", slang_replacer(slang.get("path"), slang.get("sha256"))))
    if normalisation["remove_stopwords"]:
        remover = _stopword_remover(tuple(normalisation["stopwords_keep"]))
        steps.append(("remove_stopwords", remover))
    if normalisation["stem"]:
        steps.append(("stem", _stemmer().stem))
    return steps
