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


def dotlist(tree: dict, prefix: str = "") -> list[str]:
    """``--params`` items (``a.b=c``) of a nested runtime-parameters dict."""
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out += dotlist(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={'null' if value is None else value}")
    return out


def torchrun(root, pipeline: str, items: list[str], nproc: int = 2):
    """``torchrun --standalone --nproc_per_node=<nproc> -m quant_sentiment`` running
    ``pipeline`` (offline env) in the project copy ``root``, one thread per process;
    the completed process (stdout and stderr captured). Skips where torchrun is not on
    PATH."""
    import os
    import shutil
    import subprocess
    import sys

    import pytest

    from tests.conftest import PROJECT_ROOT

    if shutil.which("torchrun") is None:
        pytest.skip("torchrun is not on PATH")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), *sys.path]),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        [
            "torchrun",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "quant_sentiment",
            "--env=offline",
            f"--pipelines={pipeline}",
            f"--params={','.join(items)}",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
