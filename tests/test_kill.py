"""kill -9 at several points of finetune, quantize_ptq and evaluate, then rerun
(issue 26): every rerun succeeds and no later step reads a partial version.

Each ``kedro run`` is a real process (a copy of the project, offline environment, tiny
scratch model). A driver (``_DRIVER``) patches one place so that the process sends
itself SIGKILL there, deterministically:

- ``checkpoint``: the Trainer's N-th checkpoint, after the weights, before the
  optimizer and ``trainer_state.json`` (what the issue found: ``checkpoint-N`` with
  only part of its files);
- ``folder``: the N-th model-folder save, its staging folder filled, before the rename;
- ``dataset``: the moment the runner saves the named dataset.

Run with ``pytest tests/test_kill.py -m slow -s`` to see the kill matrix.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TINY_SCRATCH

pytestmark = [pytest.mark.slow, pytest.mark.long]

_DRIVER = r"""
import os, signal, sys

point = os.environ.get("QS_KILL_AT", "")
nth = int(os.environ.get("QS_KILL_NTH", "1"))
calls = [0]


def die_on_nth():
    calls[0] += 1
    if calls[0] == nth:
        print(f"QS_KILL: SIGKILL at {point} #{nth}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


if point == "checkpoint":
    from transformers import Trainer

    save = Trainer._save_optimizer_and_scheduler

    def patched(self, output_dir):
        die_on_nth()
        return save(self, output_dir)

    Trainer._save_optimizer_and_scheduler = patched
elif point == "folder":
    import quant_sentiment.atomic as atomic

    replace = atomic.replace_folder

    def patched(staged, target):
        die_on_nth()
        return replace(staged, target)

    atomic.replace_folder = patched
elif point == "dataset":
    from kedro.io import DataCatalog

    save = DataCatalog.save
    target = os.environ["QS_KILL_DATASET"]

    def patched(self, name, data):
        if name == target:
            die_on_nth()
        return save(self, name, data)

    DataCatalog.save = patched

from kedro.framework.cli import main

sys.argv = ["kedro", *sys.argv[1:]]
main()
"""

RUN = "sample_minilm"
VARIANTS = ("fp16", "int8_ort")


def _params() -> str:
    settings = {
        "finetune.model.source": "scratch",
        **{f"finetune.model.scratch.{k}": v for k, v in TINY_SCRATCH.items()},
        "finetune.training_args.num_train_epochs": 2,  # two checkpoints
        "finetune.training_args.learning_rate": 1e-3,
        "finetune.training_args.per_device_train_batch_size": 16,
        "finetune.training_args.bf16": "false",
        "finetune.training_args.disable_tqdm": "true",
        "model.max_length": 64,
        "model.threads": 1,
        "evaluate.benchmark.n_texts": 8,
        "evaluate.benchmark.warmup": 1,
        "evaluate.benchmark.rounds": 2,
        "evaluate.benchmark.calls_per_round": 2,
        "evaluate.benchmark.idle_sample_s": 0.05,
        "evaluate.benchmark.throughput_batches": 1,
        "evaluate.benchmark.progress": "false",
        "evaluate.bootstrap.n_resamples": 100,
    }
    return ",".join(f"{k}={v}" for k, v in settings.items())


class Project:
    """The project copy and ``kedro run`` in a subprocess, killed where told."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.driver = root / "kill_driver.py"
        self.driver.write_text(_DRIVER)
        self.matrix: list[dict] = []

    def run(self, args: list[str], **kill: str) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "PYTHONPATH": str(self.root / "src"),
            "KEDRO_DISABLE_TELEMETRY": "true",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "COLUMNS": "1000",  # log lines unwrapped
            **kill,
        }
        log = self.root / "info.log"  # the project's plain-text log (conf/logging.yml)
        start = log.stat().st_size if log.exists() else 0
        cmd = [sys.executable, str(self.driver), "run", "--env", "offline"]
        proc = subprocess.Popen(
            [*cmd, *args, "--params", _params()],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its benchmark children die with it
        )
        try:
            out, _ = proc.communicate(timeout=900)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        with log.open(errors="replace") as stream:
            stream.seek(start)
            out += "\n" + stream.read()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")

    def killed(self, label: str, args: list[str], **kill: str) -> str:
        result = self.run(args, **kill)
        assert result.returncode == -signal.SIGKILL, result.stdout[-4000:]
        assert "QS_KILL: SIGKILL" in result.stdout
        self.matrix.append({"kill point": label, "killed": "SIGKILL"})
        return result.stdout

    def ok(self, args: list[str], label: str | None = None) -> str:
        result = self.run(args)
        assert result.returncode == 0, result.stdout[-6000:]
        if label:
            self.matrix[-1]["rerun"] = "ok"
        return result.stdout

    def versions(self, name: str) -> list[str]:
        base = self.root / "data" / "06_models" / RUN / name
        return sorted(p.parent.name for p in base.glob(f"*/{name}"))

    def leftovers(self) -> list[Path]:
        return sorted((self.root / "data").rglob("*.partial-*"))


def _ptq_nodes() -> list[str]:
    return ["--pipelines", "quantize_ptq", "--nodes"] + [
        ",".join(f"quantize_ptq.quantize_{v}" for v in VARIANTS)
    ]


def _evaluate(*variants: str) -> list[str]:
    return [
        "--pipelines",
        "evaluate",
        "--tags",
        ",".join(f"variant_{v}" for v in variants),
    ]


def _checkpoints(root: Path) -> list[Path]:
    return sorted((root / "data").rglob("checkpoint-*"))


def test_kill_anywhere_then_rerun(kedro_project):
    p = Project(kedro_project)
    finetune = ["--pipelines", "finetune"]
    p.ok(["--pipelines", "preprocessing"])

    # K1: finetune, mid-checkpoint (the 2nd), before the optimizer and trainer state.
    p.killed(
        "finetune: 2nd checkpoint half-written",
        finetune,
        QS_KILL_AT="checkpoint",
        QS_KILL_NTH="2",
    )
    broken = [
        c
        for c in _checkpoints(kedro_project)
        if not (c / "trainer_state.json").exists()
    ]
    assert broken, _checkpoints(kedro_project)  # the state the issue found
    assert p.versions("finetuned_model") == []  # nothing readable
    out = p.ok(finetune, label="rerun")
    skipped = broken[0].relative_to(kedro_project)  # checkpoint_dir is relative
    assert f"Skipping incomplete checkpoint {skipped}: no trainer_state.json" in out
    assert "Resuming from checkpoint" in out
    (version_a,) = p.versions("finetuned_model")
    p.ok(_ptq_nodes())

    # K2: finetune, model folder staged but not yet renamed into place.
    p.killed("finetune: model folder write", finetune, QS_KILL_AT="folder")
    (staged,) = p.leftovers()
    assert staged.name.startswith("finetuned_model.partial-")
    assert p.versions("finetuned_model") == [version_a]  # the partial is not a version
    out = p.ok(finetune, label="rerun")
    assert "Removed the leftover of an interrupted write" in out
    assert staged.name in out
    assert p.leftovers() == []
    version_b = p.versions("finetuned_model")[-1]
    assert version_b != version_a

    # K3: quantize_ptq, 2nd variant folder staged; the other is already of FP32 B.
    p.killed(
        "quantize_ptq: 2nd variant folder write",
        _ptq_nodes(),
        QS_KILL_AT="folder",
        QS_KILL_NTH="2",
    )
    assert len(p.leftovers()) == 1
    refused = p.run(_evaluate("fp32", *VARIANTS))  # a mix of FP32 A and B variants
    assert refused.returncode != 0
    assert "evaluate would mix variants of different FP32 models" in refused.stdout
    assert version_a in refused.stdout and version_b in refused.stdout
    p.matrix[-1]["between"] = "evaluate refused the mix, naming both versions"
    p.ok(_ptq_nodes(), label="rerun")
    assert p.leftovers() == []

    # K4: evaluate, mid-run (the moment int8_ort's test predictions are saved).
    p.killed(
        "evaluate: mid-run (int8_ort predictions)",
        _evaluate("fp32", "int8_ort"),
        QS_KILL_AT="dataset",
        QS_KILL_DATASET="eval_int8_ort_test_predictions",
    )
    p.ok(_evaluate("fp32", "int8_ort"), label="rerun")
    reports = kedro_project / "data" / "08_reporting" / RUN / "evaluate"
    rows = [  # each variant's row of the comparison (the tagged run has no table)
        json.loads(sorted((reports / v / "summary.json").glob("*/*"))[-1].read_text())
        for v in ("fp32", "int8_ort")
    ]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert {r["fp32_version"] for r in rows} == {version_b}  # one consistent set
    source = sorted((reports / "int8_ort" / "source.json").glob("*/*"))[-1]
    assert json.loads(source.read_text())["mixed"] is False

    # Every run a kill left RUNNING in MLflow was marked FAILED by a later start.
    db = kedro_project / "data" / "09_tracking" / "mlflow.db"
    with sqlite3.connect(db) as con:
        status = dict(con.execute("select status, count(*) from runs group by status"))
    assert "RUNNING" not in status, status
    assert status.get("FAILED", 0) >= 4, status

    matrix = pd.DataFrame(p.matrix).fillna("").to_markdown(index=False)
    print(f"\nKill matrix (every rerun succeeded):\n{matrix}")  # noqa: T201
