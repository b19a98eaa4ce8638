"""Model formats: one module per format, each holding its writer(s) and its loader.

=========  ==================================  =====================================
format     module                              files
=========  ==================================  =====================================
``hf``     :mod:`~quant_sentiment.formats.hf`  ``save_pretrained`` folder (any dtype)
``onnx``   :mod:`.onnx`                        ``model.onnx`` + tokenizer
``torchao`` :mod:`.torchao`                    ``torchao_state_dict.pt`` + tokenizer
``bnb``    :mod:`.bnb`                         bitsandbytes ``save_pretrained`` folder
``sklearn`` :mod:`.sklearn`                    ``model.skops`` (no pickle)
``quanto`` :mod:`.quanto`                      ``quanto_model.safetensors`` + map
``openvino`` :mod:`.openvino`                  ``model.xml`` / ``model.bin`` + tokenizer
=========  ==================================  =====================================

:mod:`.multitask` holds the multi-task formats (``hf_multitask``, ``onnx_multitask``:
one head per task, docs/multitask.md).

:data:`LOADERS` is the explicit registry of loaders by format name (no registration
by import side effect); :func:`load_classifier` opens any folder through it. Every
folder carries a ``manifest.json`` (:mod:`quant_sentiment.manifest`). Adding a format
is one module with ``write*`` and ``load`` functions plus one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from quant_sentiment.manifest import read_manifest, verified_manifest

from . import bnb, hf, multitask, onnx, openvino, quanto, sklearn, torchao
from ._base import Classifier, HFClassifier
from .errors import VariantUnavailable

Loader = Callable[[Path, dict[str, Any], int | None], Classifier]

LOADERS: dict[str, Loader] = {
    hf.FORMAT: hf.load,
    onnx.FORMAT: onnx.load,
    torchao.FORMAT: torchao.load,
    bnb.FORMAT: bnb.load,
    sklearn.FORMAT: sklearn.load,
    quanto.FORMAT: quanto.load,
    openvino.FORMAT: openvino.load,
    multitask.FORMAT_HF: multitask.load_hf,  # one head per task (docs/multitask.md)
    multitask.FORMAT_ONNX: multitask.load_onnx,
}
SKIPPED = "skipped"


def load_classifier(folder: str | Path, threads: int | None = None) -> Classifier:
    """Open a saved model folder (any format) as a :class:`Classifier`.

    Args:
        folder: A folder written by the project (its ``manifest.json`` names the
            format and records every file's SHA-256; a folder without one is refused).
        threads: Intra-op threads for runtimes that take them per session (ONNX
            Runtime); ``None`` keeps the runtime's default. PyTorch threads are
            process-wide and set by the caller.

    Raises:
        ValueError: For a skipped variant (with its reason) or an unknown format.
        quant_sentiment.integrity.ModelIntegrityError: (a ``ValueError``) If the
            folder does not match its manifest's file record
            (:func:`~quant_sentiment.manifest.verified_manifest`, checked before the
            format's loader reads anything).
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest["format"] == SKIPPED or manifest["status"] != "ok":
        raise ValueError(
            f"Variant {manifest.get('variant')!r} in '{folder}' was not built: "
            f"{manifest.get('reason', 'no reason recorded')}"
        )
    manifest = verified_manifest(folder)  # before any loader opens a file
    fmt = manifest["format"]
    if fmt not in LOADERS:
        raise ValueError(
            f"Unknown format {fmt!r} in '{folder}'; known: {sorted(LOADERS)}"
        )
    return LOADERS[fmt](folder, manifest, threads)


__all__ = [
    "LOADERS",
    "SKIPPED",
    "Classifier",
    "HFClassifier",
    "VariantUnavailable",
    "bnb",
    "hf",
    "load_classifier",
    "onnx",
    "quanto",
    "sklearn",
    "torchao",
]
