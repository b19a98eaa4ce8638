"""Text normalisation steps, below the pipelines: the ``preprocessing`` pipeline
applies them to build ``clean_<split>``, and :mod:`quant_sentiment.textprep` applies
the ones a model's manifest records to raw text at prediction time.

The steps and their order come from the ``preprocessing.normalisation`` block of
``conf/base/parameters_preprocessing.yml`` (every switch is read from it): lowercase,
strip non-letters (keeps letters and whitespace), collapse whitespace, Sastrawi stop
words (minus ``stopwords_keep``, e.g. negations), Sastrawi stemming.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

_NON_LETTERS = re.compile(r"[^\w\s]|[\d_]")
_WHITESPACE = re.compile(r"\s+")


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


def normalisation_steps(
    normalisation: dict[str, Any],
) -> list[tuple[str, Callable[[str], str]]]:
    """The enabled steps of ``preprocessing.normalisation``, in order (every switch is
    read from the parameters; ``stopwords_keep`` only when stop words are removed)."""
    steps: list[tuple[str, Callable[[str], str]]] = []
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
