"""Atomic writes: build a file or folder elsewhere, then move it into place.

A writer that is killed (``kill -9``, out of memory, a power cut of the process)
must never leave a half-written file or folder where a reader looks. Everything the
project writes that later steps read goes through here:

- :func:`staging_path` names a sibling of the target, ``<name>.partial-<pid>-<id>``,
  that no reader matches (Kedro's versioned loads glob ``<version>/<name>`` exactly);
- :func:`atomic_folder` / :func:`atomic_file` fill it and ``os.replace`` it onto the
  target, a single rename on the same filesystem;
- :func:`clean_leftovers` removes the staging paths of writers that are no longer
  alive (their process id is recorded in the name), on the next run.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

#: ``<name>.partial-<pid>-<8 hex>``: a staging path and the process that writes it.
STAGING_RE = re.compile(r"^(?P<name>.+)\.partial-(?P<pid>\d+)-(?P<id>[0-9a-f]{8})$")


def staging_path(target: str | Path, pid: int | None = None) -> Path:
    """A fresh sibling of ``target`` for this process to write into."""
    target = Path(target)
    pid = os.getpid() if pid is None else pid
    return target.with_name(f"{target.name}.partial-{pid}-{uuid.uuid4().hex[:8]}")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def replace_folder(staged: Path, target: Path) -> None:
    """Move the complete folder ``staged`` onto ``target``.

    A new target (every versioned save) is one ``os.replace``. An existing target
    (an unversioned folder saved again) is first renamed aside, so a reader sees the
    old folder or the new one, never a mix, and the old one is then removed.
    """
    if target.exists():
        old = staging_path(target)
        os.replace(target, old)
        os.replace(staged, target)
        _remove(old)
    else:
        os.replace(staged, target)


def atomic_folder(target: str | Path, write: Callable[[Path], None]) -> Path:
    """Let ``write(folder)`` fill a staging folder, then move it onto ``target``.

    If ``write`` raises, the staging folder is removed and nothing changes at
    ``target``; if the process is killed, the staging folder stays behind under a
    name no reader matches until :func:`clean_leftovers` removes it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = staging_path(target)
    staged.mkdir()
    try:
        write(staged)
        replace_folder(staged, target)
    except BaseException:
        _remove(staged)
        raise
    return target


@contextmanager
def atomic_file(target: str | Path) -> Iterator[Path]:
    """``with atomic_file(path) as tmp:`` write ``tmp``; on success it replaces ``path``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = staging_path(target)
    try:
        yield staged
        os.replace(staged, target)
    except BaseException:
        _remove(staged)
        raise


def write_bytes_atomic(target: str | Path, payload: bytes) -> None:
    """Write ``payload`` to ``target`` in one rename."""
    with atomic_file(target) as tmp:
        tmp.write_bytes(payload)


def copy_file_atomic(source: str | Path, target: str | Path) -> None:
    """Copy ``source`` to ``target`` in one rename (``target`` never half-copied)."""
    with atomic_file(target) as tmp:
        shutil.copyfile(source, tmp)


def _scan(root: Path, depth: int) -> Iterator[Path]:
    """Paths whose name is a staging name, at most ``depth`` levels below ``root``."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        if STAGING_RE.match(entry.name):
            yield path
        elif depth > 1 and entry.is_dir(follow_symlinks=False):
            yield from _scan(path, depth - 1)


def clean_leftovers(root: str | Path, depth: int = 2) -> list[Path]:
    """Remove the staging paths under ``root`` whose writer process is gone.

    ``depth`` 2 covers a versioned dataset's base folder
    (``<filepath>/<version>/<name>.partial-…``). A version folder left empty by the
    removal is removed too. Staging paths of live processes (a concurrent run) are
    kept. Each removal is logged with the path and the dead writer's id.

    Returns:
        The removed paths.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    removed = []
    for path in _scan(root, depth):
        pid = int(STAGING_RE.match(path.name)["pid"])
        if pid_alive(pid):  # a live writer (this process or a concurrent run)
            continue
        _remove(path)
        removed.append(path)
        logger.warning(
            "Removed the leftover of an interrupted write (process %d is gone): %s",
            pid,
            path,
        )
        parent = path.parent
        if parent != root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
    return removed
