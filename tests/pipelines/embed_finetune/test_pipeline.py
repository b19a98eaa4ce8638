"""End-to-end: ``kedro run --pipeline=embed_finetune`` with a tiny encoder on a tmp project copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from .conftest import write_jsonl

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def project_copy(tmp_path, monkeypatch) -> Path:
    """conf/ + src/ + pyproject.toml in tmp; outputs land there, not in the real data/."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    ignore = shutil.ignore_patterns("__pycache__", "local", "credentials*")
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=ignore)
    (root / "conf" / "local").mkdir()
    shutil.copytree(
        PROJECT_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.chdir(root)
    return root


def _run(root: Path, runtime_params: dict) -> None:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(root)
    with KedroSession.create(
        project_path=root, env="offline", runtime_params=runtime_params
    ) as session:
        session.run(pipeline_name="embed_finetune")


def _training(tmp_path: Path, training_args=None, **overrides) -> dict:
    """``embed_finetune.training`` overrides (deep-merged into the YAML by Kedro)."""
    cfg = {
        "early_stopping_patience": 1,
        "checkpoint_dir": str(tmp_path / "ckpt"),
        "arrow_cache_dir": str(tmp_path / "arrow"),
        "training_args": {
            "per_device_train_batch_size": 8,
            "per_device_eval_batch_size": 16,
            "num_train_epochs": 2,
            "learning_rate": 1e-3,
            "bf16": False,
            "disable_tqdm": True,
            **(training_args or {}),
        },
    }
    cfg.update(overrides)
    return cfg


def _newest(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    assert found, f"nothing matches {pattern}"
    return found[-1]


def test_parallel_pipeline_writes_both_rows_and_a_loadable_model(
    project_copy, tiny_st_dir, fake_nusax, tmp_path
):
    from sentence_transformers import SentenceTransformer

    _run(
        project_copy,
        {
            "nusax_dir": str(fake_nusax),
            "model": {"threads": 1},
            "embed_finetune": {
                "model": {"source": str(tiny_st_dir), "max_seq_length": 64},
                "pairs": {"source": "parallel"},
                "training": _training(tmp_path),
            },
        },
    )
    reports = project_copy / "data" / "08_reporting" / "sample_minilm"
    table = pd.read_csv(
        _newest(reports, "embed_retrieval_metrics.csv/*/embed_retrieval_metrics.csv")
    )
    assert list(table["model"]) == ["base", "fine-tuned"]
    assert set(table["eval_set"]) == {"javanese->indonesian"}
    assert (table["queries"] == 24).all()
    for col in ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"):
        assert table[col].between(0, 1).all()
    assert (table["recall@1"] <= table["recall@5"]).all()
    assert table.loc[1, "train_runtime_s"] > 0 and pd.isna(
        table.loc[0, "train_runtime_s"]
    )
    markdown = _newest(
        reports, "embed_retrieval_metrics.md/*/embed_retrieval_metrics.md"
    ).read_text()
    assert "fine-tuned" in markdown and "mrr@10" in markdown

    history = pd.read_csv(
        _newest(reports, "embed_training_history.csv/*/embed_training_history.csv")
    )
    assert len(history) >= 1 and history["valid_ndcg@10"].notna().all()

    folder = _newest(
        project_copy / "data" / "06_models" / "sample_minilm",
        "embed_model/*/embed_model",
    )
    model = SentenceTransformer(
        str(folder), device="cpu"
    )  # plain sentence-transformers
    emb = model.encode(["saya suka", "tidak suka"])
    assert emb.shape == (2, model.get_embedding_dimension())
    # the fine-tuned weights were saved, not the base model's
    base = SentenceTransformer(str(tiny_st_dir), device="cpu")
    assert abs(base.encode(["saya suka"]) - model.encode(["saya suka"])).max() > 1e-4
    assert not list((tmp_path / "ckpt").glob("embed_*"))  # checkpoints cleaned up


def test_corpus_pipeline_streams_jsonl(project_copy, tiny_st_dir, fake_nusax, tmp_path):
    corpus = write_jsonl(tmp_path / "docs.jsonl", 400, words=40)
    _run(
        project_copy,
        {
            "nusax_dir": str(fake_nusax),
            "embed_corpus_path": str(corpus),
            "embed_finetune": {
                "model": {"source": str(tiny_st_dir), "max_seq_length": 32},
                "pairs": {
                    "source": "corpus",
                    "corpus": {
                        "span_words": 12,
                        "min_span_words": 4,
                        "valid_fraction": 0.05,
                        "eval_fraction": 0.05,
                        "max_train_pairs": 64,
                    },
                },
                "training": _training(
                    tmp_path,
                    {
                        "num_train_epochs": 1,
                        "per_device_train_batch_size": 16,
                        **dict.fromkeys(
                            ("eval_strategy", "save_strategy", "logging_strategy"),
                            "steps",
                        ),
                        **dict.fromkeys(
                            ("eval_steps", "save_steps", "logging_steps"), 4
                        ),
                    },
                    loss="cached_mnrl",
                    cached_mini_batch_size=4,
                ),
            },
        },
    )
    reports = project_copy / "data" / "08_reporting" / "sample_minilm"
    import json

    report = json.loads(
        _newest(
            reports, "embed_pairs_report.json/*/embed_pairs_report.json"
        ).read_text()
    )
    assert report["source"] == "corpus" and report["pairs"]["train"] == 64
    assert report["leakage_check"].startswith("passed")
    table = pd.read_csv(
        _newest(reports, "embed_retrieval_metrics.csv/*/embed_retrieval_metrics.csv")
    )
    assert list(table["model"]) == ["base", "fine-tuned"] and set(
        table["eval_set"]
    ) == {"corpus"}
    summary = json.loads(
        _newest(
            reports, "embed_training_summary.json/*/embed_training_summary.json"
        ).read_text()
    )
    assert (
        summary["loss"] == "CachedMultipleNegativesRankingLoss"
        and summary["steps"] == 4
    )
    assert summary["world_size"] == 1 and summary["rank"] == 0
