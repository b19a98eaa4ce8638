"""Shared fixtures: the tracked sample corpus and a tiny BERT classifier.

The tiny model (2 layers, hidden 32, WordPiece vocabulary trained on the sample
corpus) is built in seconds and stands in for a fine-tuned model in unit tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = PROJECT_ROOT / "data" / "01_raw" / "sample"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
LABEL_MAP = {"positive": 0, "neutral": 1, "negative": 2}
TINY_SCRATCH = {
    "vocab_size": 600,
    "min_frequency": 1,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
}


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def label_map() -> dict[str, int]:
    return dict(LABEL_MAP)


def read_sample_split(split: str) -> pd.DataFrame:
    """A sample-corpus split as a clean frame (``text``, ``label``, ``label_id``)."""
    frame = pd.read_csv(
        SAMPLE_DIR / f"{split}.tsv",
        sep="\t",
        header=None,
        names=["text", "label"],
        quoting=3,
    )
    frame["label_id"] = frame["label"].map(LABEL_MAP)
    return frame


@pytest.fixture(scope="session")
def sample_splits() -> dict[str, pd.DataFrame]:
    return {s: read_sample_split(s) for s in ("train", "valid", "test")}


@pytest.fixture(scope="session")
def tiny_bundle(sample_splits):
    """An untrained tiny BERT classifier with a tokenizer trained on the sample corpus."""
    import torch

    from quant_sentiment.modeling import ModelBundle, build_scratch_model

    torch.manual_seed(0)
    model, tokenizer = build_scratch_model(
        sample_splits["train"]["text"].tolist(), LABEL_MAP, TINY_SCRATCH
    )
    return ModelBundle(
        model=model.eval(),
        tokenizer=tokenizer,
        metadata={"label_map": LABEL_MAP, "model_source": "scratch"},
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_bundle, tmp_path_factory) -> Path:
    """The tiny model saved as a Hugging Face folder (like ``finetuned_model``)."""
    path = tmp_path_factory.mktemp("tiny_model")
    tiny_bundle.model.save_pretrained(path)
    tiny_bundle.tokenizer.save_pretrained(path)
    from quant_sentiment.manifest import write_manifest  # records the files' hashes

    write_manifest(path, {"format": "hf", "status": "ok"})
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture()
def kedro_project(tmp_path, monkeypatch) -> Path:
    """A throw-away copy of the project (conf, src, sample corpus) as the working dir.

    Runs through ``KedroSession`` write their versioned artifacts into this copy, not
    into the real ``data/`` folder.
    """
    import shutil

    root = tmp_path / "project"
    root.mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        if (PROJECT_ROOT / name).exists():
            shutil.copy(PROJECT_ROOT / name, root / name)
    shutil.copytree(
        PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local")
    )
    (root / "conf" / "local").mkdir()
    shutil.copytree(
        PROJECT_ROOT / "src",
        root / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    shutil.copytree(SAMPLE_DIR, root / "data" / "01_raw" / "sample")
    monkeypatch.chdir(root)
    return root


def run_session(
    root: Path,
    pipeline: str | None = None,
    env: str = "offline",
    runtime_params: dict | None = None,
) -> None:
    """Run a pipeline of the project copy at ``root`` through ``KedroSession``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(root)
    with KedroSession.create(
        project_path=root, env=env, runtime_params=runtime_params or {}
    ) as session:
        session.run(pipeline_name=pipeline)


def tiny_finetune_params(training_args: dict | None = None, **overrides) -> dict:
    """Runtime params that make ``finetune`` train the tiny scratch BERT quickly.

    ``training_args`` update ``finetune.training_args`` (TrainingArguments keywords),
    ``overrides`` the other ``finetune`` keys; ``model`` holds the model-level
    settings (``params:model``: 64 tokens, one thread).
    """
    params = {
        "model": {"source": "scratch", "scratch": dict(TINY_SCRATCH)},
        "training_args": {
            "num_train_epochs": 1,
            "learning_rate": 1e-3,
            "per_device_train_batch_size": 16,
            "bf16": False,
            "disable_tqdm": True,
            **(training_args or {}),
        },
    }
    params.update(overrides)
    return {"finetune": params, "model": {"max_length": 64, "threads": 1}}


def base_normalisation() -> dict:
    """``preprocessing.normalisation`` exactly as in conf/base/parameters_preprocessing.yml."""
    import yaml

    path = PROJECT_ROOT / "conf" / "base" / "parameters_preprocessing.yml"
    return yaml.safe_load(path.read_text())["preprocessing"]["normalisation"]


def project_config(env: str = "offline"):
    """The project's own configuration (``conf/base`` + ``conf/<env>``), loaded with
    the settings ``kedro run`` uses."""
    from quant_sentiment.config import ProjectConfigLoader
    from quant_sentiment.settings import CONFIG_LOADER_ARGS

    return ProjectConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        **{**CONFIG_LOADER_ARGS, "default_run_env": env},
    )


class CopyWithManifest:
    """A VariantArtifact: an HF folder plus a manifest (e.g. ``torch_dtype: bfloat16``)."""

    def __init__(self, source: Path | None, manifest: dict) -> None:
        self.source, self.manifest = source, manifest

    def save(self, folder: Path) -> None:
        """Copy the source folder (if any) and write the manifest."""
        import shutil

        if self.source is not None:
            shutil.copytree(self.source, folder, dirs_exist_ok=True)
        from quant_sentiment.manifest import write_manifest  # with the files' hashes

        write_manifest(folder, self.manifest)
