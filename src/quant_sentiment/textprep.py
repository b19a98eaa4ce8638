"""Raw text → the text a model was trained on, from the model folder's manifest.

Every model folder records the preprocessing normalisation it was trained with
(``preprocessing.normalisation`` of ``conf/base/parameters_preprocessing.yml``) under
the manifest key :data:`MANIFEST_KEY`, next to ``max_length`` and ``id2label``.
:class:`TextPrep` applies exactly that to raw text, through the step functions the
``preprocessing`` pipeline uses (:mod:`quant_sentiment.normalise`, nothing is
reimplemented here), so the CLI, the HTTP
service and the batch ``predict`` pipeline see texts as ``clean_<split>`` holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Manifest key of the normalisation settings (the ``preprocessing.normalisation`` block).
MANIFEST_KEY = "normalisation"


class MissingNormalisation(ValueError):
    """The manifest does not say how its model's training texts were normalised."""


def normalisation_of(manifest: dict[str, Any], where: str = "the model") -> dict:
    """The normalisation settings recorded in a manifest.

    Raises:
        MissingNormalisation: For a folder written before normalisation was recorded
            (or a Hugging Face folder saved by hand), naming the folder.
    """
    if MANIFEST_KEY not in manifest:
        raise MissingNormalisation(
            f"{where}: manifest.json has no {MANIFEST_KEY!r} block, so the text "
            "normalisation the model was trained with is unknown; rebuild the folder "
            "with the current finetune / quantize_ptq / baseline pipelines (they "
            "record preprocessing.normalisation)."
        )
    return dict(manifest[MANIFEST_KEY])


class TextPrep:
    """Raw text → normalised text, as ``preprocessing`` does for ``clean_<split>``.

    Steps: the tweet-corpus steps, lowercase, strip non-letters, collapse whitespace,
    slang (the dictionary file's SHA-256 checked against the recorded one:
    :class:`quant_sentiment.slang.SlangDictionaryError` when missing or different),
    stop words, stemming, each as switched in the recorded settings (a switch the
    manifest predates is off). A text that is empty after them is
    not scored (the ``preprocessing`` pipeline drops such rows too): callers report it.
    """

    def __init__(self, normalisation: dict[str, Any]) -> None:
        from quant_sentiment.normalise import normalisation_steps

        self.settings = dict(normalisation)
        self._steps: list[Callable[[str], str]] = [
            func for _, func in normalisation_steps(self.settings)
        ]

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], where: str = "the model"):
        """The normalisation recorded in a model folder's manifest."""
        return cls(normalisation_of(manifest, where))

    def __call__(self, text: str) -> str:
        """One raw text, normalised."""
        for step in self._steps:
            text = step(text)
        return text

    def many(self, texts: list[str]) -> list[str]:
        """Several raw texts, normalised, in order."""
        return [self(t) for t in texts]
