"""The ``manifest.json`` every model folder carries: written and read here only.

A manifest records what a folder is (``format``, ``variant``, ``status``), how it was
made (method, library and version, bits, group size, quantized modules, parameters),
the model-level settings it needs to be used (``max_length``, ``id2label``) and its
size on disk (``size_bytes``, the whole folder, manifest included). Loaders read the
format from it; ``evaluate`` reads size and description from it. It also records the
SHA-256 and size of every other file (``files``), and :func:`verified_manifest`
checks them before any loader reads the folder (:mod:`quant_sentiment.integrity`).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from quant_sentiment.integrity import (
    FILES_KEY,
    ModelIntegrityError,
    check_files,
    file_records,
    inside,
    named_paths,
)

MANIFEST_FILE = "manifest.json"
#: A size that does not settle after this many rewrites is a bug.
_MAX_SIZE_PASSES = 5


def folder_size(folder: str | Path) -> int:
    """Bytes of all regular files below ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def now_utc() -> str:
    """ISO-8601 UTC timestamp (seconds) for manifests."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or ``None`` when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Python's version and those of the named distributions that are installed."""
    versions = {"python": platform.python_version()}
    versions.update({n: v for n in names if (v := package_version(n)) is not None})
    return versions


def size_columns(manifest: dict[str, Any]) -> dict[str, float | None]:
    """``size_mb`` and ``pct_of_fp32`` of a built variant's manifest (``None`` for a
    skipped one, or without a recorded FP32 size), for summary tables."""
    if manifest["status"] != "ok":
        return {"size_mb": None, "pct_of_fp32": None}
    fp32 = manifest.get("fp32_size_bytes")
    return {
        "size_mb": round(manifest["size_bytes"] / 1e6, 2),
        "pct_of_fp32": round(100 * manifest["size_bytes"] / fp32, 1) if fp32 else None,
    }


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest.json`` with ``size_bytes`` = the whole folder, manifest included,
    and ``files``: the SHA-256 and size of every other file in the folder.

    The manifest's own length depends on the number it contains, so it is rewritten
    until the recorded size equals the folder size (two or three passes).

    Returns:
        The manifest as written.
    """
    folder = Path(folder)
    manifest = {"created_at": now_utc(), **manifest}
    manifest[FILES_KEY] = file_records(folder, exclude=MANIFEST_FILE)
    path = folder / MANIFEST_FILE
    manifest["size_bytes"] = folder_size(folder)
    for _ in range(_MAX_SIZE_PASSES):
        path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        actual = folder_size(folder)
        if actual == manifest["size_bytes"]:
            return manifest
        manifest["size_bytes"] = actual
    raise RuntimeError(f"size of '{folder}' does not settle")  # pragma: no cover


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The folder's ``manifest.json``.

    A plain Hugging Face folder without one (e.g. a model saved by hand) reads as
    ``{"format": "hf", "status": "ok"}``.

    Raises:
        FileNotFoundError: If the folder has neither a manifest nor ``config.json``.
    """
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if path.is_file():
        return json.loads(path.read_text())
    if (folder / "config.json").is_file():
        return {"format": "hf", "status": "ok"}
    raise FileNotFoundError(f"'{folder}' has neither {MANIFEST_FILE} nor config.json")


def rebuild_hint(manifest: dict[str, Any]) -> str:
    """How to get a folder this project trusts: rerun its producer."""
    producer = manifest.get("producer")
    if producer:
        return f"rebuild it with `kedro run --pipelines={producer}`"
    return (
        "rebuild it with the pipeline that produced it; for a folder you made "
        "yourself and trust, record its files with "
        "`quant_sentiment.manifest.write_manifest(<folder>, {...})`"
    )


def verified_manifest(folder: str | Path) -> dict[str, Any]:
    """The folder's manifest, once every file it lists matches its SHA-256 and size.

    Call before reading anything else in the folder (``formats.load_classifier``
    does).

    Raises:
        ModelIntegrityError: Naming the file: missing, changed, an unlisted file that
            could run code, a path (``weights_file`` …) outside the folder or not in
            the record; or a folder without a manifest or without a file record
            (written before files were recorded), with the command that rebuilds it.
    """
    folder = Path(folder)
    if not (folder / MANIFEST_FILE).is_file():
        raise ModelIntegrityError(
            f"'{folder}' has no {MANIFEST_FILE}, so nothing proves its files; "
            + rebuild_hint({})
        )
    manifest = read_manifest(folder)
    if not isinstance(manifest.get(FILES_KEY), dict):
        raise ModelIntegrityError(
            f"'{folder}': its {MANIFEST_FILE} records no file hashes (written before "
            "they were recorded); " + rebuild_hint(manifest)
        )
    for name in named_paths(manifest):
        inside(folder, name)
        if name not in manifest[FILES_KEY]:
            raise ModelIntegrityError(
                f"'{folder}': the manifest names {name!r}, which its file record "
                "does not list"
            )
    check_files(folder, manifest, exclude=MANIFEST_FILE)
    return manifest
