"""``quant-sentiment serve`` options reach the service: threads default to the cores
available, the body timeout becomes a limit, the micro-batch cap is measured from the
model's batch curve unless given."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from quant_sentiment.scoring import batch_curve, cli


class FakePredictor:
    """Scores a batch in ``overhead + per_text * n`` simulated seconds."""

    def __init__(self, clock, overhead: float, per_text: float) -> None:
        self.clock, self.overhead, self.per_text = clock, overhead, per_text
        self.batches: list[int] = []

    def probabilities(self, texts, batch_size=32):
        self.batches.append(len(texts))
        self.clock.now += self.overhead + self.per_text * len(texts)
        return np.full((len(texts), 2), 0.5)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def _serve(monkeypatch, predictor, *args):
    seen = {}

    def load(model, env, threads):
        seen.update(threads=threads)
        return predictor

    def create_app(predictor, limits):
        seen.update(limits=limits)
        seen["app"] = SimpleNamespace(state=SimpleNamespace())
        return seen["app"]

    monkeypatch.setattr(cli, "_load_predictor", load)
    monkeypatch.setattr("quant_sentiment.scoring.service.create_app", create_app)
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: None)
    result = CliRunner().invoke(cli.cli, ["serve", "--model", "x", *args])
    assert result.exit_code == 0, result.output
    return seen


def test_serve_threads_default_to_the_cores_available(monkeypatch):
    seen = _serve(monkeypatch, None, "--body-timeout", "2.5", "--max-batch-texts", "8")
    assert seen["threads"] == len(os.sched_getaffinity(0))
    assert seen["limits"].body_timeout_s == 2.5
    assert seen["limits"].max_batch_texts == 8
    assert seen["app"].state.batch_curve is None
    seen = _serve(monkeypatch, None, "--threads", "1", "--max-batch-texts", "8")
    assert seen["threads"] == 1


def test_auto_cap_comes_from_the_measured_batch_curve(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(batch_curve.time, "perf_counter", clock)
    # 5 ms per call + 1 ms per text: 167 texts/s at 1, 762 at 16, 865 at 32, 928 at
    # 64; the smallest within 90 % of the best (835) is 32
    predictor = FakePredictor(clock, overhead=0.005, per_text=0.001)
    seen = _serve(monkeypatch, predictor)
    curve = seen["app"].state.batch_curve
    rates = {int(k): v for k, v in curve["texts_per_s"].items()}
    assert list(rates) == [1, 2, 4, 8, 16, 32, 64]
    best = max(rates.values())
    expected = min(size for size, rate in rates.items() if rate >= 0.9 * best)
    assert seen["limits"].max_batch_texts == curve["cap"] == expected
    assert 1 < expected < 64  # throughput grows, then flattens
    assert set(predictor.batches) == set(rates)


def test_a_flat_curve_scores_each_request_alone(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(batch_curve.time, "perf_counter", clock)
    # per-text execution (dynamic INT8): no fixed cost to share, throughput is flat
    seen = _serve(monkeypatch, FakePredictor(clock, overhead=0.0, per_text=0.002))
    assert seen["limits"].max_batch_texts == 1


@pytest.mark.parametrize("value", ["0", "many", "-3"])
def test_bad_cap_is_refused(value, monkeypatch):
    monkeypatch.setattr(cli, "_load_predictor", lambda *a: pytest.fail("loaded"))
    result = CliRunner().invoke(
        cli.cli, ["serve", "--model", "x", "--max-batch-texts", value]
    )
    assert result.exit_code == 2
    assert "must be 'auto' or an integer >= 1" in result.output


def test_choose_cap_and_its_errors():
    assert batch_curve.choose_cap([1, 2, 4], [10.0, 18.0, 19.0], 0.9) == 2
    assert batch_curve.choose_cap([1, 2, 4], [10.0, 18.0, 19.0], 1.0) == 4
    with pytest.raises(ValueError, match="share must be in"):
        batch_curve.choose_cap([1], [1.0], 0)
    with pytest.raises(ValueError, match="one throughput per batch size"):
        batch_curve.choose_cap([1, 2], [1.0], 0.9)


def test_probe_texts_are_deterministic_and_of_typical_length():
    texts = batch_curve.probe_texts(64)
    assert texts == batch_curve.probe_texts(64)
    assert {12, 36} <= {len(t.split()) for t in texts}
    assert all(12 <= len(t.split()) <= 36 for t in texts)
