"""Words, the unit every attribution is reported in.

A text's words are its whitespace-separated pieces (the preprocessed texts are
space-normalised), so sub-word scores of different tokenizers, LIME's features and
occlusion's removed pieces all refer to the same positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def split_words(text: str) -> list[str]:
    """The words of ``text`` (whitespace-separated, in order)."""
    return str(text).split()


def join_words(words: Sequence[str]) -> str:
    """The text made of ``words`` (single spaces)."""
    return " ".join(words)


def char_to_word(words: Sequence[str]) -> np.ndarray:
    """For :func:`join_words` of ``words``: the word index of every character
    (``-1`` for the separating spaces)."""
    out: list[int] = []
    for i, word in enumerate(words):
        if i:
            out.append(-1)
        out.extend([i] * len(word))
    return np.asarray(out, dtype=int)


def token_scores_to_words(
    offsets: Sequence[tuple[int, int]], scores: np.ndarray, words: Sequence[str]
) -> np.ndarray:
    """Sum sub-word token scores into word scores.

    Args:
        offsets: Character span of every token in :func:`join_words` of ``words``
            (a fast tokenizer's ``offset_mapping``); empty spans (special tokens)
            belong to no word.
        scores: One score per token.
        words: The words of the text.

    Returns:
        One score per word (``0`` for words cut off by truncation).
    """
    owner = char_to_word(words)
    out = np.zeros(len(words), dtype=np.float64)
    for (start, end), score in zip(offsets, scores, strict=True):
        if end <= start:
            continue
        word = owner[start] if start < len(owner) else -1
        if word < 0:  # a token starting on a space: take the next character's word
            word = owner[min(start + 1, len(owner) - 1)]
        out[word] += float(score)
    return out
