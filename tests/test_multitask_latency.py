"""``bench.multitask_latency``: multi-task vs single-task INT8 at batch 1 (the
issue's 1.2x goal), a smoke run on tiny folders and the ratio's arithmetic."""

from __future__ import annotations

import pytest
import yaml

from quant_sentiment.bench import multitask_latency
from quant_sentiment.datasets import VariantFolderDataset
from quant_sentiment.modeling import ModelBundle
from quant_sentiment.pipelines.quantize_ptq.nodes import quantize_variant
from tests.conftest import PROJECT_ROOT
from tests.pipelines.quantize_ptq.test_quantize_ptq import MODEL, PARAMS
from tests.scoring.multitask_folder import multitask_model

#: As few timed calls as give a CI (two rounds).
QUICK = [
    "--warmup=1",
    "--rounds=2",
    "--calls-per-round=2",
    "--throughput-batches=1",
    "--timeout-s=300",
]


def _int8(bundle, folder):
    dataset = VariantFolderDataset(str(folder))
    dataset.save(quantize_variant(bundle, PARAMS, MODEL, "int8_ort"))
    return dataset.load()


@pytest.mark.slow  # two benchmark child processes: ~40 s on the busy 2-core box
def test_smoke_on_tiny_int8_folders(tiny_bundle, sample_splits, tmp_path, capsys):
    metadata = {"max_length": 64, "model_source": "scratch"}
    mt = ModelBundle(multitask_model(tiny_bundle), tiny_bundle.tokenizer, metadata)
    st = ModelBundle(tiny_bundle.model, tiny_bundle.tokenizer, metadata)
    multi, single = _int8(mt, tmp_path / "mt"), _int8(st, tmp_path / "st")
    assert multi.manifest["format"] == "onnx_multitask"
    assert single.manifest["format"] == "onnx"
    texts = tmp_path / "texts.csv"
    sample_splits["test"].head(6)[["text"]].to_csv(texts, index=False)
    result = multitask_latency.main(
        [str(multi.path), str(single.path), "--texts", str(texts), *QUICK]
    )
    assert result["ratio"] > 0
    assert result["ratio_ci_low"] <= result["ratio"] <= result["ratio_ci_high"]
    assert result["rounds"] == 2 and result["threads"] == 1
    printed = capsys.readouterr().out
    assert "multi-task / single-task latency at batch 1" in printed
    assert "CPU: " in printed


def test_ratio_is_the_inverse_speed_up(monkeypatch):
    from quant_sentiment import benchmark

    def fake(variant, folder, texts, threads, settings, reference):
        assert (variant, folder, reference) == ("multitask", "mt", ("single", "st"))
        return {
            "speedup_p50_vs_ref": 0.8,  # multi-task slower: 1.25x the latency
            "speedup_ci_low": 0.75,
            "speedup_ci_high": 0.9,
            "latency_p50_ms": 5.0,
            "reference": {"latency_p50_ms": 4.0},
            "rounds": 2,
            "calls_per_round": 2,
            "idle": False,
            "machine": {"cpu_model": "AMD EPYC"},
        }

    monkeypatch.setattr(benchmark, "benchmark_in_processes", fake)
    settings = multitask_latency.benchmark_settings({"rounds": None, "confidence": 0.9})
    shipped = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_evaluate.yml").read_text()
    )["evaluate"]["benchmark"]
    assert settings["rounds"] == shipped["rounds"]  # None: the project's default kept
    result = multitask_latency.latency_ratio("mt", "st", ["a"], 1, settings)
    assert result["ratio"] == pytest.approx(1.25)
    assert result["ratio_ci_low"] == pytest.approx(1 / 0.9)
    assert result["ratio_ci_high"] == pytest.approx(1 / 0.75)
    assert result["meets_goal"] is False and result["confidence"] == 0.9
    text = multitask_latency.describe(result)
    assert "does not meet" in text and "busy: rerun idle" in text
