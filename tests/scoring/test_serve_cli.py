"""``quant-sentiment serve`` options reach the service: threads default to the cores
available, the body timeout becomes a limit."""

from __future__ import annotations

import os

from click.testing import CliRunner

from quant_sentiment.scoring import cli


def test_serve_threads_default_to_the_cores_available(monkeypatch):
    seen = {}
    monkeypatch.setattr(
        cli, "_load_predictor", lambda model, env, threads: seen.update(threads=threads)
    )
    monkeypatch.setattr(
        "quant_sentiment.scoring.service.create_app",
        lambda predictor, limits: seen.update(limits=limits),
    )
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: None)
    result = CliRunner().invoke(
        cli.cli, ["serve", "--model", "x", "--body-timeout", "2.5"]
    )
    assert result.exit_code == 0, result.output
    assert seen["threads"] == len(os.sched_getaffinity(0))
    assert seen["limits"].body_timeout_s == 2.5
    CliRunner().invoke(cli.cli, ["serve", "--model", "x", "--threads", "1"])
    assert seen["threads"] == 1
