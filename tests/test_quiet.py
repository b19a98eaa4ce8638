"""Known-harmless library noise is filtered; the project's own warnings still show.

A child process does what ``kedro run`` and the benchmark child do: loads the project
settings (which install the filters), builds Kedro's config loader with a custom
resolver, imports torchao, quantizes a tiny ONNX graph with ONNX Runtime, then raises
a project warning and logs a project warning. The control run without the settings
shows that each filtered line is really emitted by the installed libraries.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import quant_sentiment

SCRIPT = """
import logging, sys, warnings
if sys.argv[1] == "quiet":
    import quant_sentiment.settings  # noqa: F401  (installs the filters)
logging.basicConfig(level=logging.WARNING)
from kedro.config import OmegaConfigLoader
OmegaConfigLoader(sys.argv[2], custom_resolvers={"two": lambda: 2})
import numpy as np, onnx
from onnx import TensorProto, helper, numpy_helper
import torchao.quantization, torchao.kernel.intmm  # noqa: F401
from onnxruntime.quantization import quantize_dynamic
w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.save(model, "m.onnx")
quantize_dynamic("m.onnx", "q.onnx")
warnings.warn("project warning: keep me")
logging.getLogger("quant_sentiment.test").warning("project log: keep me")
"""
NOISE = (
    "register_new_resolver() is deprecated",
    "Failed to load",
    "_C_mxfp8",
    "Detected no triton",
    "register_constant()",
    "Please consider to run pre-processing before quantization",
)
KEPT = ("UserWarning: project warning: keep me", "project log: keep me")


def _run(tmp_path: Path, mode: str) -> str:
    """Output of the script (``quiet``: with the project settings imported first)."""
    (tmp_path / "conf" / "base").mkdir(parents=True, exist_ok=True)
    (tmp_path / "noise.py").write_text(textwrap.dedent(SCRIPT))
    src = str(Path(quant_sentiment.__file__).resolve().parents[1])
    # Importing the settings configures Kedro's rich logging (kedro-mlflow imports
    # kedro.framework.project): a wide console keeps each message on one line.
    env = {
        **os.environ,
        "PYTHONPATH": src,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "COLUMNS": "400",
    }
    proc = subprocess.run(
        [sys.executable, "noise.py", mode, str(tmp_path / "conf")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr + proc.stdout  # Kedro's rich handler may print to stdout


def test_library_noise_filtered_project_warnings_kept(tmp_path):
    stderr = _run(tmp_path, "quiet")
    for line in NOISE:
        assert line not in stderr, stderr
    for line in KEPT:
        assert line in stderr, stderr


@pytest.mark.slow
def test_library_noise_emitted_without_the_filters(tmp_path):
    """Control: the filtered lines are real output of the pinned libraries."""
    stderr = _run(tmp_path, "loud")
    for line in (*NOISE, *KEPT):
        assert line in stderr, stderr


def test_benchmark_child_is_quiet_on_a_torchao_variant(tiny_bundle, tmp_path):
    """A ``python -m quant_sentiment.benchmark`` child on an int8 torchao folder
    (imports torchao, hence torch's Enum ``register_constant`` lines), driven
    through its stdin protocol, prints no noise."""
    import json

    import yaml

    from quant_sentiment.benchmark import THREAD_ENV_VARS
    from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
    from quant_sentiment.pipelines.quantize_ptq.nodes import quantize_variant

    root = Path(__file__).resolve().parents[1]
    params = yaml.safe_load(
        (root / "conf/base/parameters_quantize_ptq.yml").read_text()
    )["quantize_ptq"]
    params["variants"]["int8_torchao"]["on_cpu"] = True  # shipped CUDA-only
    fp32 = HFModelFolderDataset(str(tmp_path / "fp32"))
    fp32.save(tiny_bundle)
    model = {"label_map": tiny_bundle.metadata["label_map"], "max_length": 32}
    folder = VariantFolderDataset(str(tmp_path / "int8_torchao"))
    folder.save(quantize_variant(fp32.load(), params, model, "int8_torchao"))
    settings = {
        "warmup": 0,
        "throughput_batches": 1,
        "batch_size": 2,
        "progress": False,
    }
    texts = ["enak sekali", "buruk"]
    requests = [
        {"cmd": "warmup", "texts": texts},
        {"cmd": "round", "texts": texts},
        {"cmd": "throughput", "texts": texts, "settings": settings},
        {"cmd": "info"},
        {"cmd": "exit"},
    ]
    src = str(Path(quant_sentiment.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src, **dict.fromkeys(THREAD_ENV_VARS, "1")}
    proc = subprocess.run(
        [sys.executable, "-m", "quant_sentiment.benchmark", str(folder.load().path)]
        + ["--threads", "1"],
        input="".join(json.dumps(r) + "\n" for r in requests),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # stdout is the protocol only: one JSON line per answer, library output elsewhere
    ready, warm, timed, rate, info = map(json.loads, proc.stdout.splitlines())
    assert ready["event"] == "ready" and ready["format"] == "torchao"
    assert warm == {"ok": True} and len(timed["latencies_ms"]) == 2
    assert rate["throughput_texts_per_s"] > 0 and info["machine"]["threads"] == 1
    for line in NOISE:
        assert line not in proc.stderr, proc.stderr
