"""The shared raw-text rules (service, predict command, preprocessing)."""

import pytest

from quant_sentiment.textcheck import TextProblem, check_text, text_problem


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("bagus \ud800 sekali", "lone surrogate U+D800 at character 6"),
        ("a\x00b", "control character U+0000 at character 1"),
        ("ok\x1b[31m", "control character U+001B at character 2"),
        ("", "is empty"),
        ("  \t\n ", "is empty"),
        ("\u200b\u200d\u200f\ufeff", "is empty"),
        ("\u202e", "is empty"),
        (b"bytes", "is not a string (got bytes)"),
        (None, "is not a string (got NoneType)"),
        ("x" * 101, "has 101 characters; at most 100"),
    ],
)
def test_problems_are_named(text, phrase):
    assert phrase in text_problem(text, max_chars=100)


@pytest.mark.parametrize(
    "text",
    [
        "bagus sekali",
        "tab\tand\r\nnewlines",
        "vt\x0bff\x0cnel\x85",
        "emoji 😂 ok",
        "\u200bkata",
        "x" * 10,
    ],
)
def test_usable_texts_pass(text):
    assert text_problem(text, max_chars=10 if len(text) == 10 else 100) is None


def test_check_text_names_where():
    with pytest.raises(TextProblem, match=r"^text 3 contains a lone surrogate"):
        check_text("a\udfffb", "text 3")
    assert check_text("fine", "text 0") == "fine"


def test_no_cap_when_none():
    assert text_problem("x" * 100_000, max_chars=None) is None


def test_the_fast_path_agrees_with_the_character_walk(monkeypatch):
    """Texts the regular-expression shortcut accepts are those the walk accepts."""
    import random
    import re

    from quant_sentiment import textcheck

    pool = ["a", " ", "\t", "\x00", "\x1b", "\x85", "\x9f", "\ud800", "\u200b"]
    pool += ["\u202e", "é", "€", "😀", "\u3000", "!"]
    rng = random.Random(0)
    texts = ["".join(rng.choices(pool, k=rng.randint(1, 6))) for _ in range(3000)]
    fast = [text_problem(t) for t in texts]
    monkeypatch.setattr(textcheck, "_SUSPECT", re.compile("."))  # always walk
    assert fast == [text_problem(t) for t in texts]
