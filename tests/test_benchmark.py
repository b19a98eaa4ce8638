"""The benchmark driver: idle check, interleaved rounds, the speed-up interval, the
children's failures. Fake children and readers stand in where timing is not the
point; the real children run on tiny folders (a missing weights file, a TF-IDF model).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from quant_sentiment import benchmark
from quant_sentiment.benchmark import (
    CPU_FLAGS,
    benchmark_in_processes,
    cpu_flags,
    describe_idle,
    idle_check,
    run_rounds,
    speedup_interval,
)

IDLE = {"idle_max_load": 1.5, "idle_max_other_cpus": 0.25, "idle_sample_s": 0.5}
SETTINGS = {
    **IDLE,
    "warmup": 2,
    "rounds": 12,
    "calls_per_round": 3,
    "confidence": 0.95,
    "throughput_batches": 1,
    "batch_size": 2,
    "progress": False,
    "timeout_s": 120,
}


def fake_machine(monkeypatch, load=(0.2, 0.2, 0.2), trainer_cpus=0.0, cpus=4):
    """Readers of a machine with ``cpus`` CPUs where a process 'trainer' uses
    ``trainer_cpus`` CPUs; this process and its child are busy too (not counted)."""
    me = os.getpid()
    snapshots = iter(
        [
            {1: ("trainer", 0, 100.0), me: ("pytest", 1, 5.0), 77: ("kid", me, 1.0)},
            {
                1: ("trainer", 0, 100.0 + trainer_cpus * IDLE["idle_sample_s"]),
                me: ("pytest", 1, 6.0),
                77: ("kid", me, 2.0),
                88: ("grandkid", 77, 1.0),
            },
        ]
    )
    monkeypatch.setattr(benchmark, "_process_cpu_seconds", lambda: next(snapshots))
    monkeypatch.setattr(benchmark, "_load_average", lambda: load)
    monkeypatch.setattr(benchmark.time, "sleep", lambda s: None)
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)


def test_idle_check_on_an_idle_machine(monkeypatch):
    fake_machine(monkeypatch, trainer_cpus=0.1)
    check = idle_check(IDLE)
    assert check["idle"] is True and check["reasons"] == []
    assert check["load_avg"] == [0.2, 0.2, 0.2]
    assert check["logical_cpus"] == 4
    assert check["other_busy_cpus"] == pytest.approx(0.1)
    assert check["other_busy_share"] == pytest.approx(0.025)
    # this process and its descendants are not "other processes"
    assert [p["name"] for p in check["busy_processes"]] == ["trainer"]
    assert check["busy_processes"][0]["cpu_percent"] == pytest.approx(10.0)
    assert check["sample_s"] == 0.5
    assert check["idle_max_load"] == 1.5 and check["idle_max_other_cpus"] == 0.25


def test_idle_check_flags_busy_processes(monkeypatch):
    fake_machine(monkeypatch, trainer_cpus=1.9)
    check = idle_check(IDLE)
    assert check["idle"] is False
    assert check["reasons"] == ["other processes used 1.90 CPUs over 0.5 s (> 0.25)"]
    assert check["busy_processes"] == [
        {"pid": 1, "name": "trainer", "cpu_percent": pytest.approx(190.0)}
    ]
    assert "trainer (pid 1, 190% CPU)" in describe_idle(check)


def test_idle_check_flags_a_high_load_average(monkeypatch):
    fake_machine(monkeypatch, load=(8.0, 6.0, 3.0))
    check = idle_check(IDLE)
    assert check["idle"] is False
    assert check["reasons"] == [
        "1-min load average 8.00 on 4 logical CPUs (> 1.5 per CPU)"
    ]
    assert describe_idle(check).endswith("busiest others: none seen")


def test_real_readers_see_this_process():
    me = os.getpid()
    for reader in (benchmark._process_cpu_seconds, benchmark._proc_cpu_seconds):
        snapshot = reader()
        name, ppid, cpu = snapshot[me]
        assert name and ppid == os.getppid() and cpu > 0
    assert len(benchmark._load_average()) == 3
    assert set(cpu_flags()) <= set(CPU_FLAGS)


class FakeProcess:
    """Answers ``round`` requests with latencies ``ms(round index)``; logs the order."""

    def __init__(self, name, log, ms):
        self.name, self.log, self.ms = name, log, ms
        self.rounds = 0

    def request(self, cmd, **fields):
        assert cmd == "round"
        self.log.append((self.name, fields["texts"]))
        self.rounds += 1
        return {"latencies_ms": [self.ms(self.rounds)] * len(fields["texts"])}


def test_rounds_alternate_on_the_same_texts():
    log = []
    a, b = FakeProcess("A", log, lambda r: 1.0), FakeProcess("B", log, lambda r: 2.0)
    timed = run_rounds([a, b], ["t0", "t1", "t2"], rounds=3, calls_per_round=2)
    assert log == [
        ("A", ["t0", "t1"]),
        ("B", ["t0", "t1"]),
        ("A", ["t2", "t0"]),
        ("B", ["t2", "t0"]),
        ("A", ["t1", "t2"]),
        ("B", ["t1", "t2"]),
    ]
    assert timed == [[[1.0, 1.0]] * 3, [[2.0, 2.0]] * 3]


def _synthetic_rounds(rng, rounds, ratio):
    """Per-round medians of a variant ``ratio`` times faster than the reference,
    under a drift both share (machine load) and independent noise."""
    drift = np.exp(np.cumsum(rng.normal(0, 0.05, rounds)))
    variant = 5.0 * drift * rng.lognormal(0, 0.08, rounds)
    reference = ratio * 5.0 * drift * rng.lognormal(0, 0.08, rounds)
    return variant, reference


def test_speedup_interval_covers_the_true_ratio():
    rng = np.random.default_rng(0)
    variant, reference = _synthetic_rounds(rng, 20, 2.0)
    one = speedup_interval(variant, reference, 0.95)
    assert one["speedup_ci_low"] < 2.0 < one["speedup_ci_high"]
    assert one["speedup_ci_low"] < one["speedup_p50_vs_ref"] < one["speedup_ci_high"]
    covered = 0
    for _ in range(400):
        variant, reference = _synthetic_rounds(rng, 8, 1.6)
        ci = speedup_interval(variant, reference, 0.95)
        covered += ci["speedup_ci_low"] <= 1.6 <= ci["speedup_ci_high"]
    assert 0.90 <= covered / 400 <= 0.99  # a 95 % interval, calibrated
    same = speedup_interval([3.0, 4.0], [3.0, 4.0], 0.95)
    assert same == {
        "speedup_p50_vs_ref": 1.0,
        "speedup_ci_low": 1.0,
        "speedup_ci_high": 1.0,
    }
    with pytest.raises(ValueError, match="two or more paired rounds"):
        speedup_interval([1.0], [2.0], 0.95)


class FakeChild(FakeProcess):
    """Stands in for :class:`benchmark.BenchmarkProcess` in the driver."""

    log: list = []
    started: list = []  # roles, in order of start
    speed = {}  # folder -> ms per call

    def __init__(self, role, folder, threads, deadline):
        rng = np.random.default_rng(len(role))
        mean = self.speed[str(folder)]
        super().__init__(role, self.log, lambda r: mean * rng.lognormal(0, 0.05))
        self.ready = {"format": "hf", "load_s": 0.5, "peak_rss_before_load_mb": 10.0}
        self.started.append(role)
        self._closed = False
        self.proc = type("Proc", (), {"poll": staticmethod(lambda: None)})()

    @property
    def role(self):
        return self.name

    @role.setter
    def role(self, value):
        self.name = value

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._closed = True
        self.log.append((self.name, "closed"))

    def request(self, cmd, **fields):
        if cmd == "round":
            return super().request(cmd, **fields)
        self.log.append((self.name, cmd))
        return {
            "warmup": {"ok": True},
            "throughput": {"throughput_texts_per_s": 100.0},
            "info": {
                "peak_rss_mb": 50.0,
                "machine": {"cpu_flags": ["avx2"], "threads": 1},
            },
        }[cmd]


def test_driver_interleaves_variant_and_reference(monkeypatch):
    fake_machine(monkeypatch, trainer_cpus=1.0)
    FakeChild.log.clear()
    FakeChild.started.clear()
    FakeChild.speed.update({"var": 2.0, "ref": 5.0})
    monkeypatch.setattr(benchmark, "BenchmarkProcess", FakeChild)
    texts = ["a", "bb", "ccc"]
    result = benchmark_in_processes(
        "int8", "var", texts, 1, SETTINGS, reference=("fp32", "ref")
    )
    rounds = [entry[0] for entry in FakeChild.log if isinstance(entry[1], list)]
    assert (
        rounds
        == ["variant 'int8'", "reference 'fp32' (timed with variant 'int8')"] * 12
    )
    assert result["rounds"] == 12 and result["calls_per_round"] == 3
    assert result["speedup_ci_low"] < 2.5 < result["speedup_ci_high"]
    assert result["reference"]["variant"] == "fp32"
    assert result["reference"]["latency_p50_ms"] > result["latency_p50_ms"]
    assert len(result["round_medians_ms"]) == 12
    assert result["idle"] is False and result["idle_check"]["busy_processes"]
    assert result["machine"]["cpu_flags"] == ["avx2"]
    assert result["settings"]["rounds"] == 12
    # the variant's child ends; the reference stays for the next variant
    order = [e for e in FakeChild.log if not isinstance(e[1], list)]
    assert ("variant 'int8'", "closed") in order
    assert not any(e[1] == "closed" and e[0].startswith("reference") for e in order)
    # A second variant is timed against the same reference child: no new start.
    FakeChild.speed.update({"var2": 3.0})
    fake_machine(monkeypatch)
    second = benchmark_in_processes(
        "int4", "var2", texts, 1, SETTINGS, reference=("fp32", "ref")
    )
    assert FakeChild.started == [
        "variant 'int8'",
        "reference 'fp32' (timed with variant 'int8')",
        "variant 'int4'",
    ]
    assert second["speedup_ci_low"] < 5 / 3 < second["speedup_ci_high"]
    benchmark.close_references()
    assert FakeChild.log[-1] == (
        "reference 'fp32' (timed with variant 'int4')",
        "closed",
    )
    assert not benchmark._REFERENCES


def test_a_reference_that_fails_is_not_reused(monkeypatch):
    fake_machine(monkeypatch)
    FakeChild.log.clear()
    FakeChild.started.clear()
    FakeChild.speed.update({"var": 2.0, "ref": 5.0})
    monkeypatch.setattr(benchmark, "BenchmarkProcess", FakeChild)
    calls = {"n": 0}
    original = FakeChild.request

    def fail_once(self, cmd, **fields):
        if self.name.startswith("reference") and cmd == "round" and not calls["n"]:
            calls["n"] += 1
            raise RuntimeError("reference crashed")
        return original(self, cmd, **fields)

    monkeypatch.setattr(FakeChild, "request", fail_once)
    with pytest.raises(RuntimeError, match="reference crashed"):
        benchmark_in_processes("int8", "var", ["a"], 1, SETTINGS, ("fp32", "ref"))
    assert ("reference 'fp32' (timed with variant 'int8')", "closed") in FakeChild.log
    assert not benchmark._REFERENCES
    fake_machine(monkeypatch)
    benchmark_in_processes("int8", "var", ["a"], 1, SETTINGS, ("fp32", "ref"))
    assert [r for r in FakeChild.started if r.startswith("reference")] == [
        "reference 'fp32' (timed with variant 'int8')"
    ] * 2
    benchmark.close_references()


def test_driver_times_the_reference_alone_with_speedup_one(monkeypatch):
    fake_machine(monkeypatch)
    FakeChild.log.clear()
    FakeChild.speed.update({"ref": 5.0})
    monkeypatch.setattr(benchmark, "BenchmarkProcess", FakeChild)
    result = benchmark_in_processes("fp32", "ref", ["a"], 1, SETTINGS)
    assert {e[0] for e in FakeChild.log} == {"variant 'fp32'"}
    assert (
        result["speedup_p50_vs_ref"],
        result["speedup_ci_low"],
        result["speedup_ci_high"],
    ) == (1.0, 1.0, 1.0)
    assert result["reference"] is None and result["idle"] is True
    with pytest.raises(ValueError, match="rounds >= 2"):
        benchmark_in_processes("fp32", "ref", ["a"], 1, {**SETTINGS, "rounds": 1})


def _broken_folder(tmp_path):
    """A folder that says sklearn but has no model.skops: its child fails loading."""
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "manifest.json").write_text(
        json.dumps({"format": "sklearn", "status": "ok", "id2label": {"0": "a"}})
    )
    return folder


def _quick(**overrides):
    return {**SETTINGS, "idle_sample_s": 0.01, **overrides}


def test_a_crashed_child_names_the_variant_and_folder(tmp_path):
    folder = _broken_folder(tmp_path)
    with pytest.raises(RuntimeError) as error:
        benchmark_in_processes("int8_ort", folder, ["a"], 1, _quick())
    message = str(error.value)
    assert "variant 'int8_ort'" in message and str(folder) in message
    assert "exited with code 1" in message and "loading the model" in message
    with pytest.raises(RuntimeError, match="timed out .*timeout_s"):
        benchmark_in_processes("int8_ort", folder, ["a"], 1, _quick(timeout_s=0))


def test_a_crashed_reference_names_it_and_the_variant(
    tmp_path, sample_splits, label_map
):
    from kedro.io import Version

    from quant_sentiment.datasets import VariantFolderDataset
    from quant_sentiment.pipelines.baseline.nodes import train_tfidf_logreg
    from tests.conftest import base_normalisation

    params = {
        "word_ngram_range": [1, 1],
        "char_ngram_range": [2, 3],
        "min_df": 1,
        "sublinear_tf": True,
        "max_features": 500,
        "C": 1.0,
        "class_weight": "balanced",
        "max_iter": 200,
        "seed": 0,
    }
    model = {"label_map": label_map, "max_length": 32, "threads": 1}
    artifact = train_tfidf_logreg(
        sample_splits["train"], model, params, base_normalisation()
    )
    dataset = VariantFolderDataset(str(tmp_path / "tfidf"), version=Version(None, None))
    dataset.save(artifact)
    tfidf = dataset.load().path
    broken = _broken_folder(tmp_path)
    with pytest.raises(RuntimeError) as error:
        benchmark_in_processes(
            "tfidf_logreg", tfidf, ["a b"], 1, _quick(), reference=("fp32", broken)
        )
    message = str(error.value)
    assert "reference 'fp32' (timed with variant 'tfidf_logreg')" in message
    assert str(broken) in message
