"""What a model folder must prove before anything in it is read.

A folder's ``manifest.json`` records the SHA-256 and size of every file in it at
write time (:func:`file_records`, called by :func:`quant_sentiment.manifest.
write_manifest`). :func:`check_files` compares the folder with that record before any
loader opens a file: a missing, changed or escaping file, and an unlisted file that
could run code (a pickle, a script, a shared library, anything executable), is refused
with :class:`ModelIntegrityError` naming it. :func:`inside` keeps every path a
manifest names inside its folder.

The record proves that a folder is the one its producer wrote, not who wrote it: a
foreign folder can carry a matching record. That is why the loaders also read only
formats that cannot run code (safetensors, ONNX, OpenVINO IR, skops with its default
trusted types, ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path, PurePosixPath
from typing import Any

logger = logging.getLogger(__name__)

#: Manifest key of the file record: ``{relative path: {"sha256", "size"}}``.
FILES_KEY = "files"
#: Suffixes of files that can run code when opened (pickles, scripts, libraries).
CODE_SUFFIXES = frozenset(
    {
        ".pkl",
        ".pickle",
        ".joblib",
        ".pt",
        ".pth",
        ".bin",
        ".ckpt",
        ".npy",
        ".npz",
        ".py",
        ".pyc",
        ".so",
        ".dll",
        ".dylib",
        ".sh",
        ".exe",
    }
)
_CHUNK = 1 << 20


class ModelIntegrityError(ValueError):
    """A model folder that does not match its manifest, or a path that escapes it."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _listing(folder: Path, exclude: str) -> list[str]:
    """Relative POSIX paths of every file below ``folder`` but ``exclude``."""
    names = (p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    return sorted(n for n in names if n != exclude and (folder / n).is_file())


def file_records(folder: str | Path, exclude: str) -> dict[str, dict[str, Any]]:
    """``{relative path: {"sha256", "size"}}`` of every file in ``folder`` but
    ``exclude`` (the manifest itself)."""
    folder = Path(folder)
    return {
        name: {
            "sha256": sha256_of(folder / name),
            "size": (folder / name).stat().st_size,
        }
        for name in _listing(folder, exclude)
    }


def inside(folder: str | Path, name: str) -> Path:
    """``folder / name``, refused unless it stays inside ``folder``.

    Raises:
        ModelIntegrityError: For an absolute path, a ``..`` segment, or a path
            (through a symbolic link) that resolves outside the folder.
    """
    folder = Path(folder)
    text = str(name)
    pure = PurePosixPath(text.replace("\\", "/"))
    if not text or pure.is_absolute() or Path(text).is_absolute() or ".." in pure.parts:
        raise ModelIntegrityError(
            f"'{folder}': the manifest names {text!r}, a path outside the model folder"
        )
    path = folder / pure
    if not path.resolve().is_relative_to(folder.resolve()):
        raise ModelIntegrityError(
            f"'{folder}': {text!r} is a link that leads outside the model folder "
            f"(to '{path.resolve()}')"
        )
    return path


def _could_run_code(path: Path) -> bool:
    return path.suffix.lower() in CODE_SUFFIXES or bool(path.stat().st_mode & 0o111)


def check_files(folder: Path, manifest: dict[str, Any], exclude: str) -> None:
    """Compare ``folder`` with the manifest's file record (see the module docstring).

    Raises:
        ModelIntegrityError: Naming the first missing, resized, changed, escaping or
            unlisted code file.
    """
    record = manifest[FILES_KEY]
    for name, expected in sorted(record.items()):
        path = inside(folder, name)
        if not path.is_file():
            raise ModelIntegrityError(
                f"'{folder}': {name} is listed in its manifest but missing"
            )
        size = path.stat().st_size
        if size != expected["size"] or sha256_of(path) != expected["sha256"]:
            raise ModelIntegrityError(
                f"'{folder}': {name} has changed since the folder was written "
                f"({size} bytes, manifest: {expected['size']}; SHA-256 differs)"
            )
    unlisted = [n for n in _listing(folder, exclude) if n not in record]
    code = [n for n in unlisted if _could_run_code(folder / n)]
    if code:
        raise ModelIntegrityError(
            f"'{folder}': {', '.join(code)} not listed in its manifest and could run "
            "code when opened; remove it or rebuild the folder"
        )
    if unlisted:
        logger.warning("'%s': ignoring files not in its manifest: %s", folder, unlisted)


def named_paths(manifest: dict[str, Any]) -> list[str]:
    """Every path the manifest names besides its file record (``*_file`` keys)."""
    return [str(v) for k, v in manifest.items() if k.endswith("_file") and v]
