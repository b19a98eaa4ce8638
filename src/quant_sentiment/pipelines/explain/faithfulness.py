"""Faithfulness of an explanation to its own model (ERASER, DeYoung et al. 2020).

With the words ranked by attribution (most supporting the target first) and ``k`` the
top ``fraction`` of them (at least one):

- comprehensiveness = ``p(target | text) - p(target | text without the top k)``
  (high: the words the explanation names were needed);
- sufficiency = ``p(target | text) - p(target | only the top k)``
  (low: those words alone suffice);
- AOPC: each averaged over the fractions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .attribution import probabilities
from .words import join_words


def top_count(n_words: int, fraction: float) -> int:
    """How many words the top ``fraction`` is: ``ceil(fraction * n)``, at least 1."""
    if not 0 < fraction <= 1:
        raise ValueError(
            f"explain.faithfulness.fractions must lie in (0, 1], got {fraction}"
        )
    return max(1, int(np.ceil(fraction * n_words)))


def erasures(
    words: Sequence[str], scores: np.ndarray, fractions: Sequence[float]
) -> tuple[list[str], list[str]]:
    """Texts without the top-k words and texts of only the top-k words, per fraction
    (words keep their order)."""
    ranked = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    without, only = [], []
    for fraction in fractions:
        top = set(ranked[: top_count(len(words), fraction)].tolist())
        without.append(join_words([w for i, w in enumerate(words) if i not in top]))
        only.append(join_words([w for i, w in enumerate(words) if i in top]))
    return without, only


def text_faithfulness(
    clf: Any,
    words: Sequence[str],
    scores: np.ndarray,
    target: int,
    fractions: Sequence[float],
    batch_size: int,
) -> list[dict[str, float]]:
    """Comprehensiveness and sufficiency of one explanation at every fraction."""
    without, only = erasures(words, scores, fractions)
    texts = [join_words(words), *without, *only]
    p = probabilities(clf, texts, batch_size)[:, target]
    n = len(fractions)
    return [
        {
            "fraction": float(fraction),
            "k": top_count(len(words), fraction),
            "comprehensiveness": float(p[0] - p[1 + i]),
            "sufficiency": float(p[0] - p[1 + n + i]),
        }
        for i, fraction in enumerate(fractions)
    ]
