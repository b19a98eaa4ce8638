"""Raw-text validation shared by every entry point: the service, the ``predict``
command and pipeline, and preprocessing.

One rule set, so a text refused by one entry point is refused by all of them, with
the same words:

- it must be a ``str`` (not bytes, a number, ``None``);
- no lone surrogate code points (``"\\ud800"``: valid in Python strings, not
  encodable as UTF-8, and they crash tokenisers);
- no control characters other than whitespace ones (tab, line feed, carriage
  return, vertical tab, form feed, NEL, the information separators): NUL, ESC, DEL,
  … are refused;
- at most ``max_chars`` characters (a cap, so one huge text cannot take the
  memory of a whole batch);
- something visible: a text of only whitespace and invisible format characters
  (zero-width space, zero-width joiner, bidirectional marks, BOM) is empty.

:func:`text_problem` returns the problem as a short phrase (``None`` when the text
is fine); callers prefix it with where the text came from (``text 3``, ``reviews.csv
line 12``) and decide to refuse the request, skip the row or stop.
"""

from __future__ import annotations

import re
import unicodedata

#: Default character cap, shared by the service (``ServiceLimits.max_chars``), the
#: ``predict`` command (``--max-chars``) and preprocessing.
MAX_CHARS = 10_000

#: Every control (Cc) and surrogate (Cs) code point: a text without any of them and
#: with a visible ASCII character is fine, without the per-character walk (long
#: texts of the service: ~0.5 µs per character saved).
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ASCII_VISIBLE = re.compile("[!-~]")


class TextProblem(ValueError):
    """A text that cannot be scored, with what is wrong with it."""


def _code_point(char: str) -> str:
    return f"U+{ord(char):04X}"


def _is_invisible(char: str) -> bool:
    """Whitespace or an invisible format character (category Cf, e.g. U+200B)."""
    return char.isspace() or unicodedata.category(char) == "Cf"


def text_problem(text: object, max_chars: int | None = MAX_CHARS) -> str | None:
    """What makes ``text`` unusable as a model input, or ``None`` when it is fine.

    Args:
        text: The raw text.
        max_chars: The character cap (``None``: no cap).

    Returns:
        A short phrase naming the problem and, where it applies, the character
        position (0-based) and code point, e.g. ``"contains a lone surrogate
        U+D800 at character 6"``.
    """
    if not isinstance(text, str):
        return f"is not a string (got {type(text).__name__})"
    if max_chars is not None and len(text) > max_chars:
        return f"has {len(text)} characters; at most {max_chars}"
    if _SUSPECT.search(text) is None and _ASCII_VISIBLE.search(text) is not None:
        return None
    return _character_problem(text)


def _character_problem(text: str) -> str | None:
    """:func:`text_problem`'s character rules, character by character."""
    visible = False
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category == "Cs":
            return (
                f"contains a lone surrogate {_code_point(char)} at character {position}"
            )
        if category == "Cc" and not char.isspace():
            return (
                f"contains the control character {_code_point(char)} "
                f"at character {position}"
            )
        if not visible and not _is_invisible(char):
            visible = True
    if not visible:
        return "is empty (only whitespace or invisible characters)"
    return None


def check_text(text: object, where: str, max_chars: int | None = MAX_CHARS) -> str:
    """``text`` itself when usable, else :class:`TextProblem` naming ``where``.

    Example: ``check_text(t, "text 3")`` raises ``TextProblem("text 3 contains a
    lone surrogate U+D800 at character 6")``.
    """
    problem = text_problem(text, max_chars)
    if problem is not None:
        raise TextProblem(f"{where} {problem}")
    return text  # type: ignore[return-value]
