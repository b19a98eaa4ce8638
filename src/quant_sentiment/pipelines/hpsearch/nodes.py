"""Nodes of the ``hpsearch`` pipeline: an Optuna study over the ``finetune`` recipe.

Every trial trains through the shared Trainer builder
(:func:`quant_sentiment.training.fit_classifier`) on the train split (or a seeded
subset) and is scored by its best **validation** macro-F1; the test split is not an
input of this pipeline, so it cannot leak into the selection. A median (or
Hyperband) pruner stops a trial whose per-epoch validation score trails the others;
the study lives in an SQLite file, so an interrupted search resumes where it stopped
(trials that were running when the process died are retried once, via Optuna's
heartbeat).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from transformers import TrainerCallback

from quant_sentiment.modeling import load_model_source
from quant_sentiment.tracking import resolve_store_uri
from quant_sentiment.training import fit_classifier, limit_rows

logger = logging.getLogger(__name__)

SETTING = "hpsearch"

#: Search-space keys -> where the value goes. ``training_args`` keys go to
#: ``finetune.training_args``; ``loss`` picks one of :data:`LOSS_CHOICES`;
#: ``focal_gamma`` is ``finetune.loss.focal_gamma``; ``max_length`` is the model's.
TRAINING_ARGS = (
    "learning_rate",
    "per_device_train_batch_size",
    "num_train_epochs",
    "warmup_steps",
    "weight_decay",
)
LOSS_CHOICES: dict[str, dict[str, Any]] = {
    "cross_entropy": {"kind": "cross_entropy", "class_weights": "none"},
    "class_weighted": {"kind": "cross_entropy", "class_weights": "balanced"},
    "focal": {"kind": "focal", "class_weights": "none"},
}
SPACE_KEYS = (*TRAINING_ARGS, "loss", "focal_gamma", "max_length")
DISTRIBUTIONS = ("float", "int", "categorical")
PRUNERS = ("median", "hyperband", "none")
MIN_TRIALS_FOR_IMPORTANCE = 2


def _space(space: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate ``hpsearch.space``: known keys, one distribution each."""
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{SETTING}.space must be a non-empty mapping, got {space!r}")
    for key, spec in space.items():
        where = f"{SETTING}.space.{key}"
        if key not in SPACE_KEYS:
            raise ValueError(
                f"{where}: unknown search-space key; known keys: {list(SPACE_KEYS)}"
            )
        if not isinstance(spec, dict) or spec.get("type") not in DISTRIBUTIONS:
            raise ValueError(
                f"{where}.type must be one of {list(DISTRIBUTIONS)}, got {spec!r}"
            )
        if spec["type"] == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ValueError(f"{where}.choices must be a non-empty list")
            if key == "loss" and set(choices) - set(LOSS_CHOICES):
                raise ValueError(
                    f"{where}.choices: unknown loss {sorted(set(choices) - set(LOSS_CHOICES))}; "
                    f"choose from {list(LOSS_CHOICES)}"
                )
        else:
            if key == "loss":
                raise ValueError(f"{where}.type must be categorical")
            low, high = spec.get("low"), spec.get("high")
            if low is None or high is None or float(low) > float(high):
                raise ValueError(f"{where}: needs low <= high, got {low!r}, {high!r}")
    return space


def _suggest(trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One value per search-space key from the trial."""
    values = {}
    for key, spec in space.items():
        if spec["type"] == "categorical":
            values[key] = trial.suggest_categorical(key, spec["choices"])
        elif spec["type"] == "int":
            values[key] = trial.suggest_int(
                key,
                int(spec["low"]),
                int(spec["high"]),
                step=int(spec.get("step", 1)),
                log=bool(spec.get("log", False)),
            )
        else:
            values[key] = trial.suggest_float(
                key,
                float(spec["low"]),
                float(spec["high"]),
                log=bool(spec.get("log", False)),
            )
    return values


def apply_values(
    values: dict[str, Any], finetune: dict[str, Any], max_length: int
) -> tuple[dict[str, Any], int]:
    """``(finetune block, max_length)`` with a trial's (or the best) values applied:
    the :func:`overrides` a ``kedro run`` would get, merged into the block."""
    from omegaconf import OmegaConf

    tree = overrides(values)
    params = OmegaConf.to_container(OmegaConf.merge(finetune, tree.get("finetune", {})))
    return params, int(tree.get("model", {}).get("max_length", max_length))


def overrides(values: dict[str, Any]) -> dict[str, Any]:
    """The runtime-parameter overrides (``finetune.*``, ``model.max_length``) that
    reproduce ``values`` in a ``kedro run``."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in TRAINING_ARGS:
            out.setdefault("finetune", {}).setdefault("training_args", {})[key] = value
        elif key == "loss":
            out.setdefault("finetune", {}).setdefault("loss", {}).update(
                LOSS_CHOICES[value]
            )
        elif key == "focal_gamma":
            out.setdefault("finetune", {}).setdefault("loss", {})["focal_gamma"] = value
        elif key == "max_length":
            out["model"] = {"max_length": int(value)}
    return out


def dotlist(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """``["a.b=1", ...]`` of a nested mapping (the ``--params`` syntax)."""
    items = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            items.extend(dotlist(value, f"{name}."))
        else:
            items.append(f"{name}={value}")
    return items


class PruningCallback(TrainerCallback):
    """Report each epoch's validation macro-F1 to the trial; stop it if pruned."""

    def __init__(self, trial) -> None:
        self.trial = trial

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        """``trial.report`` the score; raise ``TrialPruned`` when the pruner says so."""
        import optuna

        if metrics and "eval_macro_f1" in metrics:
            step = round(state.epoch or state.global_step)
            self.trial.report(float(metrics["eval_macro_f1"]), step)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {step}")


def _pruner(cfg: dict[str, Any]):
    import optuna

    kind = cfg.get("kind")
    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=int(cfg["n_startup_trials"]),
            n_warmup_steps=int(cfg["n_warmup_steps"]),
        )
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(
        f"{SETTING}.pruner.kind must be one of {list(PRUNERS)}, got {kind!r}"
    )


def _check(hpsearch: dict[str, Any]) -> None:
    """Validate the study settings (counts, budget) before any training starts."""
    n_trials = hpsearch.get("n_trials")
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(
            f"{SETTING}.n_trials must be an integer >= 1, got {n_trials!r}"
        )
    timeout = hpsearch.get("timeout_s")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise ValueError(
            f"{SETTING}.timeout_s must be > 0 seconds or null, got {timeout!r}"
        )
    if not hpsearch.get("study_name"):
        raise ValueError(f"{SETTING}.study_name must be set")
    _space(hpsearch.get("space"))
    _pruner(hpsearch.get("pruner") or {})


def open_study(hpsearch: dict[str, Any]):
    """Create or load the study in ``hpsearch.storage`` (maximise, seeded TPE, the
    pruner); trials that were running when a process died are retried once."""
    import optuna

    from quant_sentiment.scale.search import JOURNAL_PREFIX, journal_storage

    if str(hpsearch["storage"]).startswith(JOURNAL_PREFIX):
        # Several processes on one machine: an append-only journal with a file lock.
        storage = journal_storage(hpsearch["storage"], f"{SETTING}.storage")
    else:
        storage_uri = resolve_store_uri(
            hpsearch["storage"], Path.cwd(), f"{SETTING}.storage"
        )
        with warnings.catch_warnings():  # the heartbeat API is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                storage_uri,
                heartbeat_interval=60,
                grace_period=180,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=1
                ),
            )
    return optuna.create_study(
        study_name=str(hpsearch["study_name"]),
        storage=storage,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=int(hpsearch["sampler_seed"])),
        pruner=_pruner(hpsearch["pruner"]),
    )


def make_objective(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    model: dict[str, Any],
    finetune: dict[str, Any],
    hpsearch: dict[str, Any],
):
    """The trial function: fine-tune with the trial's values, return the best
    validation macro-F1 (per-epoch scores go to the pruner)."""
    from transformers import set_seed

    space = _space(hpsearch["space"])
    seed = int(finetune["training_args"]["seed"])
    checkpoints = Path(hpsearch["checkpoint_dir"])

    def objective(trial) -> float:
        values = _suggest(trial, space)
        params, max_length = apply_values(values, finetune, int(model["max_length"]))
        folder = checkpoints / f"trial_{trial.number}"
        params.update(checkpoint_dir=str(folder), resume=False, keep_checkpoints=False)
        logger.info("Trial %d: %s", trial.number, values)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        set_seed(seed)
        classifier, tokenizer = load_model_source(
            str(params["model"]["source"]),
            model["label_map"],
            train["text"].tolist(),
            scratch=params["model"]["scratch"],
            revision=params["model"]["revision"],
        )
        start = time.perf_counter()
        try:
            run = fit_classifier(
                classifier,
                tokenizer,
                train,
                valid,
                params,
                max_length,
                callbacks=(PruningCallback(trial),),
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 1))
        trial.set_user_attr("epochs", len(run.history))
        return float(run.best_metric)

    return objective


def run_study(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    model: dict[str, Any],
    finetune: dict[str, Any],
    hpsearch: dict[str, Any],
):
    """Run (or resume) the Optuna study; returns the ``optuna.Study``.

    Each trial fine-tunes ``finetune.model`` with the trial's values on
    ``hpsearch.max_train_samples`` train rows and returns its best validation macro-F1
    (``hpsearch.max_eval_samples`` rows). The study stops at ``n_trials`` finished
    trials (counting those of earlier, interrupted runs) or after ``timeout_s``.
    """
    import optuna

    _check(hpsearch)
    seed = int(finetune["training_args"]["seed"])
    train = limit_rows(train, hpsearch["max_train_samples"], seed)
    valid = limit_rows(valid, hpsearch["max_eval_samples"], seed)
    study = open_study(hpsearch)
    if hpsearch["enqueue_defaults"] and not study.trials:
        # Trial 0 = the configured values: the improvement is measured on the same
        # rows and protocol as every other trial.
        study.enqueue_trial(
            default_values(finetune, model, hpsearch["space"]),
            user_attrs={"defaults": True},
        )
    finished = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED
    done = len(study.get_trials(deepcopy=False, states=finished))
    remaining = int(hpsearch["n_trials"]) - done
    logger.info(
        "Optuna study %r: %d trial(s) done, %d to run; %d train / %d valid rows",
        study.study_name,
        done,
        max(remaining, 0),
        len(train),
        len(valid),
    )
    if remaining > 0:
        study.optimize(
            make_objective(train, valid, model, finetune, hpsearch),
            n_trials=remaining,
            timeout=hpsearch["timeout_s"],
            gc_after_trial=True,
            # Other processes may share the study (quant-sentiment hpsearch --workers):
            # stop when the study as a whole has n_trials finished trials.
            callbacks=[
                optuna.study.MaxTrialsCallback(int(hpsearch["n_trials"]), finished)
            ],
        )
    complete = (optuna.trial.TrialState.COMPLETE,)
    if not study.get_trials(deepcopy=False, states=complete):
        raise RuntimeError(
            f"{SETTING}: the study {study.study_name!r} has no completed trial; "
            f"raise {SETTING}.n_trials or {SETTING}.timeout_s"
        )
    return study


def trials_table(study) -> pd.DataFrame:
    """Every trial: number, state, validation macro-F1, values, seconds, epochs."""
    frame = study.trials_dataframe(
        attrs=("number", "state", "value", "params", "user_attrs", "duration")
    )
    frame["duration"] = frame["duration"].dt.total_seconds().round(1)
    return frame.rename(
        columns=lambda c: c.removeprefix("params_").replace("user_attrs_", "")
    ).rename(columns={"value": "valid_macro_f1"})


def trials_markdown(trials: pd.DataFrame) -> str:
    """The trials table, best first, as Markdown."""
    ordered = trials.sort_values("valid_macro_f1", ascending=False, na_position="last")
    return ordered.to_markdown(index=False, floatfmt=".4g") + "\n"


def best_parameters(
    study, hpsearch: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(run config, summary)`` of the best trial.

    The run config is a ``kedro run --config`` file (``run: {params: ...}``); the
    summary holds the best and default validation macro-F1 (the default is the trial
    ``hpsearch.enqueue_defaults`` queued first with the configured values), the same
    values as a ``--params`` string and the trial counts.
    """
    import optuna

    best = study.best_trial
    params = overrides(best.params)
    states = pd.Series([t.state.name for t in study.trials]).value_counts()
    # The defaults' trial (a retried copy keeps the user attribute).
    defaults = [
        t
        for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        if t.user_attrs.get("defaults")
    ]
    default = float(defaults[0].value) if defaults else None
    summary = {
        "study_name": study.study_name,
        "best_trial": best.number,
        "best_valid_macro_f1": float(best.value),
        "default_valid_macro_f1": default,
        "improvement": None if default is None else float(best.value) - default,
        "best_params": dict(best.params),
        "params_cli": ",".join(dotlist(params)),
        "trials": {str(k): int(v) for k, v in states.items()},
        "train_rows": hpsearch["max_train_samples"],
        "valid_rows": hpsearch["max_eval_samples"],
    }
    return {"run": {"params": params}}, summary


def default_values(
    finetune: dict[str, Any], model: dict[str, Any], space: dict[str, Any]
) -> dict[str, Any]:
    """The configured (default) value of every search-space key, as a trial's."""
    loss = finetune["loss"]
    current_loss = next(
        (
            name
            for name, cfg in LOSS_CHOICES.items()
            if cfg["kind"] == loss["kind"]
            and cfg["class_weights"] == loss["class_weights"]
        ),
        None,
    )
    values = {
        **{k: finetune["training_args"][k] for k in TRAINING_ARGS},
        "loss": current_loss,
        "focal_gamma": loss["focal_gamma"],
        "max_length": int(model["max_length"]),
    }
    return {k: values[k] for k in space if values.get(k) is not None}


def plot_history(study):
    """Optuna's optimization history (validation macro-F1 per trial, best so far)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_optimization_history(study)
    ax.set_ylabel("validation macro-F1")
    figure = ax.figure
    figure.set_size_inches(7, 4)
    figure.tight_layout()
    return figure


def plot_importance(study):
    """Optuna's parameter importances (its default evaluator) of the completed trials."""
    import matplotlib.pyplot as plt
    import optuna

    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        figure, ax = plt.subplots(figsize=(7, 4))
        ax.text(
            0.5,
            0.5,
            f"{len(complete)} completed trial(s): no importances",
            ha="center",
            va="center",
        )
        ax.set_axis_off()
        return figure
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_param_importances(study)
    figure = ax.figure
    figure.set_size_inches(7, 4)
    figure.tight_layout()
    return figure
