"""The scoring tests' tiny model folder, shared with the predict pipeline tests."""

from tests.scoring.conftest import model_folder, predictor  # noqa: F401
