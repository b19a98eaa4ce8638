"""Runtime parameters of tiny grid cells and searches (scratch BERT, cheap evaluate)."""

from __future__ import annotations

from tests.conftest import tiny_finetune_params


def tiny_cell_params(epochs: int = 2) -> dict:
    """A cell that fine-tunes the tiny scratch BERT and evaluates FP32 only, with the
    benchmark and bootstrap cut to their minimum and tracking off."""
    params = tiny_finetune_params(training_args={"num_train_epochs": epochs})
    params["evaluate"] = {
        "benchmark": {
            "n_texts": 8,
            "warmup": 1,
            "rounds": 2,
            "calls_per_round": 2,
            "idle_sample_s": 0.05,
            "throughput_batches": 1,
        },
        "bootstrap": {"n_resamples": 100},
    }
    params["multiseed"] = {"variants": [], "pipelines": ["finetune", "evaluate"]}
    params["tracking"] = {"enabled": False}
    return params
