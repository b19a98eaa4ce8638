"""The tiny multi-task folder of the scoring tests (tests/scoring/multitask_folder.py)."""

from tests.scoring.multitask_folder import multitask_folder  # noqa: F401
