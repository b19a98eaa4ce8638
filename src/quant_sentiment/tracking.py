"""Experiment tracking with kedro-mlflow: the project's switch, run name and log list.

kedro-mlflow's own hook does the MLflow work (store and experiment from
``conf/<env>/mlflow.yml``, one MLflow run per ``kedro run``, every ``params:`` input
of a node logged, flattened). :class:`TrackingHook` subclasses it and adds what this
project needs on top (settings in ``conf/base/parameters_tracking.yml``):

- ``tracking.enabled``: the one switch. ``--params tracking.enabled=false`` runs
  without MLflow, and the store is not even opened.
- The run name carries the environment and the pipelines (``scratch:finetune+evaluate``).
- A relative SQLite store path is taken from the project root, not the working
  directory, and a store that cannot be written stops the run with the setting's name.
- Datasets named in ``tracking.metrics`` have their numbers logged as MLflow metrics
  when saved (a history table with an ``epoch`` column as one step per row), those
  in ``tracking.artifacts`` their content as artifacts (figures as PNG/HTML, tables
  as CSV, text as Markdown, dicts as JSON). Names are ``fnmatch`` patterns, so
  ``evaluate.*.summary`` covers every variant.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook

from quant_sentiment.hooks import is_main_process

logger = logging.getLogger(__name__)

SETTING = "tracking"  # conf/base/parameters_tracking.yml
STORE_SETTING = "server.mlflow_tracking_uri (conf/<env>/mlflow.yml)"
_KEYS = {"enabled", "metrics", "artifacts", "tags"}


def tracking_settings(params: dict[str, Any]) -> dict[str, Any]:
    """Validate ``params:tracking`` and return it (``enabled``, ``metrics``,
    ``artifacts``, ``tags``); a bad value raises ``ValueError`` naming the key."""
    block = params.get(SETTING)
    if not isinstance(block, dict):
        raise ValueError(
            f"{SETTING} must be a mapping (conf/base/parameters_tracking.yml), "
            f"got {block!r}"
        )
    unknown = sorted(set(block) - _KEYS)
    if unknown:
        raise ValueError(
            f"{SETTING}: unknown key(s) {unknown}; expected {sorted(_KEYS)}"
        )
    enabled = block.get("enabled", True)
    if isinstance(enabled, str) and enabled.lower() in {"true", "false"}:
        enabled = enabled.lower() == "true"  # --params tracking.enabled=false
    if not isinstance(enabled, bool):
        raise ValueError(f"{SETTING}.enabled must be true or false, got {enabled!r}")
    for key in ("metrics", "artifacts"):
        names = block.get(key) or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"{SETTING}.{key} must be a list of dataset names or patterns, "
                f"got {names!r}"
            )
    tags = block.get("tags") or {}
    if not isinstance(tags, dict):
        raise ValueError(f"{SETTING}.tags must be a mapping, got {tags!r}")
    return {
        "enabled": enabled,
        "metrics": list(block.get("metrics") or []),
        "artifacts": list(block.get("artifacts") or []),
        "tags": {str(k): str(v) for k, v in tags.items()},
    }


def resolve_store_uri(
    uri: str | None, project_path: Path, setting: str = STORE_SETTING
) -> str | None:
    """Make a relative ``sqlite:///`` path absolute under ``project_path`` and check
    that its folder can be written (created if missing); errors name ``setting``."""
    if not uri or not uri.startswith("sqlite:///"):
        return uri
    path = Path(uri[len("sqlite:///") :])  # "sqlite:////abs" -> "/abs"
    if not path.is_absolute():
        path = Path(project_path) / path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"{setting}: cannot create the folder of the store "
            f"{path}: {err}. Point it to a writable place"
        ) from err
    if not os.access(path.parent, os.W_OK) or (
        path.exists() and not os.access(path, os.W_OK)
    ):
        raise ValueError(
            f"{setting}: the store {path} is not writable. Point it to a writable place"
        )
    return f"sqlite:///{path}"


def matches(name: str, patterns: list[str]) -> bool:
    """Whether a dataset name matches one of the ``fnmatch`` patterns."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def numeric_leaves(data: Any, prefix: str) -> dict[str, float]:
    """Finite numbers of a nested dict as ``{"prefix.a.b": value}`` (bools skipped)."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(numeric_leaves(value, f"{prefix}.{key}"))
    elif isinstance(data, int | float) and not isinstance(data, bool):
        if math.isfinite(float(data)):
            out[prefix] = float(data)
    return out


def metric_batch(name: str, data: Any) -> list[tuple[str, float, int]]:
    """``(key, value, step)`` of a dataset's numbers: a dict's numeric leaves (step 0),
    each row of a table with an ``epoch`` column (step = row number), or each row of
    a table with a ``variant`` column (``<name>.<variant>.<column>``, step 0)."""
    import pandas as pd

    if isinstance(data, dict):
        return [(k, v, 0) for k, v in numeric_leaves(data, name).items()]
    if isinstance(data, pd.DataFrame) and "epoch" in data.columns:
        numeric = data.select_dtypes("number")
        rows = []
        for step, (_, row) in enumerate(numeric.iterrows(), start=1):
            for column, value in row.items():
                if column != "epoch" and math.isfinite(float(value)):
                    rows.append((f"{name}.{column}", float(value), step))
        return rows
    if isinstance(data, pd.DataFrame) and "variant" in data.columns:
        numeric = data.select_dtypes("number")
        return [
            (f"{name}.{variant}.{column}", float(value), 0)
            for variant, (_, row) in zip(
                data["variant"], numeric.iterrows(), strict=True
            )
            for column, value in row.items()
            if math.isfinite(float(value))
        ]
    return []


def log_artifact(client, run_id: str, name: str, data: Any) -> str | None:
    """Log one saved dataset's content as an artifact; returns its artifact path."""
    import pandas as pd

    stem = name.replace(".", "/")
    if isinstance(data, pd.DataFrame):
        path = f"{stem}.csv"
        client.log_text(run_id, data.to_csv(index=False), path)
    elif hasattr(data, "savefig"):  # matplotlib Figure
        path = f"{stem}.png"
        client.log_figure(run_id, data, path)
    elif hasattr(data, "to_html") and hasattr(data, "to_dict"):  # plotly Figure
        path = f"{stem}.html"
        client.log_figure(run_id, data, path)
    elif isinstance(data, str):
        html = data.lstrip().lower().startswith(("<!doctype", "<html"))
        path = f"{stem}.{'html' if html else 'md'}"
        client.log_text(run_id, data, path)
    elif isinstance(data, dict | list):
        path = f"{stem}.json"
        client.log_dict(run_id, data, path)
    else:
        logger.debug("tracking: %s (%s) is not logged", name, type(data).__name__)
        return None
    return path


#: Tags recording which process owns a run, so a later start can tell it was killed.
PID_TAG, HOST_TAG = "quant_sentiment.pid", "quant_sentiment.host"


def fail_orphaned_runs(
    client, experiment_ids: list[str], keep: str | None
) -> list[str]:
    """Mark FAILED the runs still RUNNING whose process (``PID_TAG`` on this host,
    ``HOST_TAG``) is gone: a ``kedro run`` killed before it could end its run.

    Runs of other hosts, of live processes and without the tags are left alone.
    Returns the ids of the runs marked.
    """
    import socket

    from quant_sentiment.atomic import pid_alive

    host = socket.gethostname()
    marked = []
    runs = client.search_runs(experiment_ids, "attributes.status = 'RUNNING'")
    for run in runs:
        tags = run.data.tags
        pid = tags.get(PID_TAG, "")
        if run.info.run_id == keep or tags.get(HOST_TAG) != host:
            continue
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        client.set_terminated(run.info.run_id, "FAILED")
        marked.append(run.info.run_id)
        logger.warning(
            "MLflow run %s (%s) was left RUNNING by process %s, which is gone "
            "(killed): marked FAILED",
            run.info.run_id,
            run.info.run_name,
            pid,
        )
    return marked


class TrackingHook(MlflowHook):
    """kedro-mlflow's hook with the project's switch, run name and log list."""

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[str, Any] = {"enabled": False}
        self._env = "local"
        self._node_name = ""

    @hook_impl
    def after_context_created(self, context) -> None:
        """Read ``params:tracking``; when on, set up kedro-mlflow's store and
        experiment (relative SQLite path taken from the project root)."""
        self._settings = tracking_settings(context.params)
        self._env = context.env or "local"
        self._close_own_run()
        self.run_id = None
        if not self._settings["enabled"] or not is_main_process():
            self._is_mlflow_enabled = False
            logger.info("MLflow tracking is off (%s.enabled)", SETTING)
            return
        from kedro.config import MissingConfigException

        loader = context.config_loader
        if "mlflow" not in loader.config_patterns:
            loader.config_patterns["mlflow"] = [
                "mlflow*",
                "mlflow*/**",
                "**/mlflow*",
            ]
        try:
            conf = dict(loader["mlflow"])
        except MissingConfigException:
            conf = {}
        server = dict(conf.get("server") or {})
        server["mlflow_tracking_uri"] = resolve_store_uri(
            server.get("mlflow_tracking_uri"), Path(context.project_path)
        )
        conf["server"] = server
        loader["mlflow"] = conf
        super().after_context_created(context)
        self._is_mlflow_enabled = True
        self._default_name = self.mlflow_config.tracking.run.name is None

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog):
        """Start the MLflow run, named ``<env>:<pipelines>``, with ``tracking.tags``."""
        if not self._settings["enabled"] or not is_main_process():
            self._is_mlflow_enabled = False
            return
        names = run_params.get("pipeline_names") or ["__default__"]
        names = [names] if isinstance(names, str) else list(names)
        if self._default_name:
            self.mlflow_config.tracking.run.name = f"{self._env}:{'+'.join(names)}"
        super().before_pipeline_run(run_params, pipeline, catalog)
        if self._is_mlflow_enabled and self.run_id:
            client = self.mlflow_config.server._mlflow_client
            client.set_tag(self.run_id, "env", self._env)
            for key, value in self._settings["tags"].items():
                client.set_tag(self.run_id, key, value)
            import socket

            client.set_tag(self.run_id, PID_TAG, str(os.getpid()))
            client.set_tag(self.run_id, HOST_TAG, socket.gethostname())
            run = client.get_run(self.run_id)
            fail_orphaned_runs(client, [run.info.experiment_id], keep=self.run_id)

    @hook_impl
    def after_pipeline_run(self, run_params, pipeline, catalog) -> None:
        """End the run (kedro-mlflow), and drop it from this thread's active-run stack:
        nodes re-open it in the runner's worker thread, which leaves it "active" here,
        and the next session in this process would otherwise log into it."""
        super().after_pipeline_run(run_params, pipeline, catalog)
        self._close_own_run()

    def _close_own_run(self) -> None:
        if not self.run_id:
            return
        import mlflow

        while (active := mlflow.active_run()) and active.info.run_id == self.run_id:
            mlflow.end_run()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        """Close the run as FAILED, in every thread, so the next session in this
        process (a multi-seed sweep, a notebook) starts a fresh one."""
        if not (self._is_mlflow_enabled and self.run_id):
            return
        import mlflow

        while mlflow.active_run():
            mlflow.end_run("FAILED")
        self.mlflow_config.server._mlflow_client.set_terminated(self.run_id, "FAILED")
        self.run_id = None

    def _log_param(self, name: str, value: Any) -> None:
        """Log a node's parameter; a name that two nodes see with different values
        (a namespaced template's own settings) is logged once more per node."""
        from mlflow.exceptions import MlflowException

        try:
            super()._log_param(name, value)
        except MlflowException as err:
            if "Changing param values is not allowed" not in str(err):
                raise
            super()._log_param(f"{self._node_name}:{name}", value)

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async) -> None:
        """Log the node's ``params:`` inputs (kedro-mlflow), keyed by the node's name
        where they differ from another node's."""
        self._node_name = node.name
        super().before_node_run(node, catalog, inputs, is_async)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        """Log the dataset's numbers and/or content when ``tracking`` names it."""
        if not (self._is_mlflow_enabled and self.run_id):
            return
        try:
            self._log_dataset(dataset_name, data)
        except Exception as err:  # noqa: BLE001 - tracking never fails a run
            logger.warning("MLflow: could not log %s: %s", dataset_name, err)

    def _log_dataset(self, dataset_name: str, data: Any) -> None:
        client = self.mlflow_config.server._mlflow_client
        if matches(dataset_name, self._settings["metrics"]):
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            batch = [
                Metric(key, value, now, step)
                for key, value, step in metric_batch(dataset_name, data)
            ]
            for start in range(0, len(batch), 1000):  # MLflow's batch limit
                client.log_batch(self.run_id, metrics=batch[start : start + 1000])
        if matches(dataset_name, self._settings["artifacts"]):
            log_artifact(client, self.run_id, dataset_name, data)
