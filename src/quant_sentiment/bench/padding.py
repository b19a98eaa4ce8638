"""Training throughput: dynamic padding vs padding every batch to ``max_length``.

Runs ``train_classifier`` (the finetune node) several times in one process on the
catalog's ``clean_train`` / ``clean_valid`` of an environment, identical settings
except the padding / batching mode, capped at ``--steps`` optimizer steps, and prints
the pure training samples/s of each (evaluation excluded) and the ratios. Nothing is
saved to the catalog.

    python -m quant_sentiment.bench.padding --env minilm --steps 30
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

#: ``(finetune.padding, finetune.training_args.train_sampling_strategy)`` per mode.
MODES = {
    "pad to max_length": ("max_length", "random"),
    "dynamic": ("dynamic", "random"),
    "dynamic + group_by_length": ("dynamic", "group_by_length"),
}


def main() -> None:
    """Parse arguments, run each mode, print a Markdown table."""
    import torch
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from quant_sentiment.hooks import set_threads
    from quant_sentiment.pipelines.finetune.nodes import train_classifier

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="minilm")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--source", default=None, help="override finetune.model.source")
    parser.add_argument("--bf16", choices=["config", "on", "off"], default="config")
    args = parser.parse_args()

    bootstrap_project(Path.cwd())
    with KedroSession.create(env=args.env) as session:
        context = session.load_context()
        catalog = context.catalog
        train, valid = catalog.load("clean_train"), catalog.load("clean_valid")
        params = dict(context.params["finetune"])
        model = context.params["model"]  # label_map, max_length, threads (hook)
    set_threads(model["threads"])  # what the project hook does for `kedro run`
    if args.source:
        params["model"] = {**params["model"], "source": args.source}
    training_args = dict(params["training_args"], max_steps=args.steps)
    training_args["disable_tqdm"] = True
    if args.bf16 != "config":
        training_args["bf16"] = args.bf16 == "on"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (padding, sampling) in MODES.items():
            run = {
                **params,
                "padding": padding,
                "training_args": {
                    **training_args,
                    "train_sampling_strategy": sampling,
                },
                "max_eval_samples": 64,
                "checkpoint_dir": tmp,
                "resume": False,
                "early_stopping_patience": 1,
            }
            _, history = train_classifier(train, valid, model, run)
            first = history.iloc[0]
            rows.append(
                (name, first["train_seconds"], first["train_samples_per_second"])
            )
    base = rows[0][2]
    print(
        f"\nenv={args.env} model={params['model']['source']} "
        f"bf16={training_args['bf16']} steps={args.steps} "
        f"batch={training_args['per_device_train_batch_size']} "
        f"max_length={model['max_length']} threads={torch.get_num_threads()}"
    )
    print("| mode | train seconds | samples/s | vs pad-to-max_length |")
    print("|---|---|---|---|")
    for name, seconds, sps in rows:
        print(f"| {name} | {seconds:.1f} | {sps:.1f} | {sps / base:.2f}x |")


if __name__ == "__main__":
    main()
