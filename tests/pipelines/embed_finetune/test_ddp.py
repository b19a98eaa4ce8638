"""``embed_finetune`` under ``torchrun --nproc_per_node=2`` on CPU (gloo): both ranks
train (world size 2 in the training summary), rank 0 alone writes the model and the
reports, and the saved model is the fine-tuned one."""

from __future__ import annotations

import json

import pytest

from tests.scale.helpers import dotlist, torchrun

RUN = "sample_minilm"


@pytest.mark.long
@pytest.mark.slow  # a tiny sentence encoder fine-tuned on 2 processes
def test_embed_finetune_on_two_processes(
    kedro_project, tiny_st_dir, fake_nusax, tmp_path
):
    from sentence_transformers import SentenceTransformer

    params = {
        "nusax_dir": str(fake_nusax),
        "model": {"threads": 1},
        "tracking": {"enabled": False},
        "embed_finetune": {
            "model": {"source": str(tiny_st_dir), "max_seq_length": 64},
            "pairs": {"source": "parallel"},
            "training": {
                "early_stopping_patience": 1,
                "checkpoint_dir": str(tmp_path / "ckpt"),
                "arrow_cache_dir": str(tmp_path / "arrow"),
                "training_args": {
                    "per_device_train_batch_size": 4,
                    "per_device_eval_batch_size": 16,
                    "num_train_epochs": 2,
                    "learning_rate": 1e-3,
                    "bf16": False,
                    "disable_tqdm": True,
                },
            },
        },
    }
    result = torchrun(kedro_project, "embed_finetune", dotlist(params))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Rank 1:" in result.stderr + result.stdout  # outputs kept in memory there
    reports = kedro_project / "data/08_reporting" / RUN
    (summary_file,) = (reports / "embed_training_summary.json").glob("*/*.json")
    summary = json.loads(summary_file.read_text())
    assert summary["world_size"] == 2 and summary["rank"] == 0
    assert summary["per_device_batch_size"] == 4
    assert len(list((reports / "embed_retrieval_metrics.csv").iterdir())) == 1
    (version,) = (kedro_project / "data/06_models" / RUN / "embed_model").iterdir()
    model = SentenceTransformer(str(version / "embed_model"), device="cpu")
    base = SentenceTransformer(str(tiny_st_dir), device="cpu")
    assert abs(base.encode(["saya suka"]) - model.encode(["saya suka"])).max() > 1e-4
    assert not list((tmp_path / "ckpt").glob("embed_*"))  # rank 0 cleaned up
