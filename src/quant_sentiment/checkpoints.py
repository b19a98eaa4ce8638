"""Resume only from complete Trainer checkpoints.

The Trainer writes ``checkpoint-<step>/`` in place: model weights first, then the
optimizer, scheduler and RNG state, and ``trainer_state.json`` last. A run killed
in between leaves a folder that ``transformers.trainer_utils.get_last_checkpoint``
still returns, and every later resume fails with "Can't find a valid checkpoint".
:func:`newest_complete_checkpoint` checks each ``checkpoint-*`` from the newest down:
one that is incomplete is named in a warning (with what it lacks) and removed, and
the newest complete one is returned (or ``None``: training starts over).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
#: The Trainer's state, written last: its presence (parsed) marks the end of a save.
STATE_FILE = "trainer_state.json"
#: One of these holds the weights (safetensors, torch, sharded index, PEFT adapter).
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.safetensors",
    "adapter_model.bin",
)


def checkpoint_problem(folder: str | Path) -> str | None:
    """What makes ``folder`` unusable for a resume, or ``None`` when it is complete."""
    folder = Path(folder)
    state = folder / STATE_FILE
    if not state.is_file():
        return f"no {STATE_FILE} (the save was interrupted)"
    try:
        json.loads(state.read_text())
    except (OSError, ValueError) as err:
        return f"{STATE_FILE} is unreadable ({err})"
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        return f"no model weights (none of {', '.join(WEIGHT_FILES)})"
    return None


def checkpoints(output_dir: str | Path) -> list[Path]:
    """The ``checkpoint-<step>`` folders of ``output_dir``, newest (highest step) first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = [
        (int(m[1]), p)
        for p in output_dir.iterdir()
        if p.is_dir() and (m := _CHECKPOINT_RE.match(p.name))
    ]
    return [p for _, p in sorted(found, reverse=True)]


def newest_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest complete checkpoint of ``output_dir``; incomplete newer ones are
    removed, each with a warning naming it and what it lacks."""
    for folder in checkpoints(output_dir):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        logger.warning(
            "Skipping incomplete checkpoint %s: %s; it is removed, and training "
            "resumes from the newest complete checkpoint (or starts over)",
            folder,
            problem,
        )
        shutil.rmtree(folder, ignore_errors=True)
    return None
