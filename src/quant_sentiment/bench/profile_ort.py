"""Profile ONNX Runtime variants at batch 1: time per op type, and the tokenizer apart.

Usage (from a project that ran ``kedro run --env=<env>``)::

    python -m quant_sentiment.bench.profile_ort --env offline \\
        --variant ptq_fp32_ort_model --variant ptq_int8_ort_model \\
        --texts ../shared/data/smsa/test_preprocess.tsv --n 150 --threads 2

Each variant is opened as ``evaluate`` opens it (``formats.load_classifier``), warmed
up, then every text is run once with ONNX Runtime's profiler on. The profile's node
events are summed per op type; the tokenizer is timed on the same texts separately.
Prints one Markdown table per variant plus the mean token count and the MACs per
text of the encoder's linear layers (for the share of the machine's peak).
Only meaningful on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd


def _folder(env: str, dataset: str) -> Path:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(Path.cwd())
    with KedroSession.create(env=env) as session:
        catalog = session.load_context().catalog
        return catalog.load(dataset).path


def _op_times(profile: Path) -> dict[str, float]:
    """Microseconds per op type summed over the profile's node events."""
    totals: dict[str, float] = defaultdict(float)
    for event in json.loads(profile.read_text()):
        args = event.get("args", {})
        if event.get("cat") == "Node" and "op_name" in args:
            totals[args["op_name"]] += float(event.get("dur", 0))
    return dict(totals)


def profile_variant(folder: Path, texts: list[str], threads: int) -> pd.DataFrame:
    """Op-type times (ms per text) of one ONNX variant, plus tokenizer and total."""
    import onnxruntime as ort

    from quant_sentiment.formats import load_classifier

    clf = load_classifier(folder, threads=threads)
    for text in texts[:10]:
        clf.predict_logits([text], batch_size=1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(folder.parent / f"profile_{folder.name}")
    clf.session = ort.InferenceSession(
        str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    start = time.perf_counter()
    for text in texts:
        clf.predict_logits([text], batch_size=1)
    total_ms = (time.perf_counter() - start) * 1000 / len(texts)
    ops = _op_times(Path(clf.session.end_profiling()))
    start = time.perf_counter()
    for text in texts:
        clf.tokenizer([text], truncation=True, max_length=clf.max_length)
    token_ms = (time.perf_counter() - start) * 1000 / len(texts)
    rows = [{"op": op, "ms_per_text": us / 1000 / len(texts)} for op, us in ops.items()]
    frame = pd.DataFrame(rows).sort_values("ms_per_text", ascending=False)
    frame = pd.concat(
        [
            frame,
            pd.DataFrame(
                [
                    {"op": "(tokenizer)", "ms_per_text": token_ms},
                    {"op": "(wall, predict_logits)", "ms_per_text": total_ms},
                ]
            ),
        ]
    )
    frame["share_of_wall"] = frame["ms_per_text"] / total_ms
    return frame.reset_index(drop=True)


def encoder_macs(folder: Path, tokens: float) -> float:
    """Multiply-accumulates of the encoder's linear layers for one text of ``tokens``."""
    from transformers import AutoConfig

    config = AutoConfig.for_model(
        **json.loads((folder / "model_config.json").read_text())
    )
    hidden, ffn = config.hidden_size, config.intermediate_size
    per_token = config.num_hidden_layers * (4 * hidden * hidden + 2 * hidden * ffn)
    return per_token * tokens


def main() -> None:
    """Print the profile tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="offline")
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--texts", required=True, help="TSV, text in column 0")
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    frame = pd.read_csv(args.texts, sep="\t", header=None, quoting=3, dtype=str)
    texts = frame[0].sample(n=args.n, random_state=0).tolist()
    folders = [Path(_folder(args.env, dataset)) for dataset in args.variant]
    for dataset, folder in zip(args.variant, folders, strict=True):
        print(f"## {dataset}\n")
        table = profile_variant(folder, texts, args.threads)
        print(table.to_markdown(index=False, floatfmt=".3f"), end="\n\n")
    from quant_sentiment.formats import load_classifier

    clf = load_classifier(folders[0])
    enc = clf.tokenizer(texts, truncation=True, max_length=clf.max_length)
    tokens = float(np.mean([len(ids) for ids in enc["input_ids"]]))
    print(f"mean tokens per text: {tokens:.1f}")
    print(
        f"encoder linear MACs per text: {encoder_macs(folders[0], tokens) / 1e9:.3f} G"
    )


if __name__ == "__main__":
    main()
