"""Stop a run whose inputs have no version yet, with one line naming what to run first.

``kedro run --pipelines=finetune`` on a fresh clone would otherwise fail deep in the
runner with a ``DatasetError`` traceback about a missing ``clean_train`` version.
:class:`PrerequisitesHook` checks, before the run, the pipeline's free inputs (not
produced inside it, not parameters) and, for each versioned one with no version,
names the smallest registered pipeline that produces it:

    finetune needs clean_train, clean_valid, clean_test, which have no version yet:
    run `kedro run --pipelines=preprocessing` first (same --env/--params).

Only versioned datasets are checked ("no version yet" is the condition): raw files
(fetched from mirrors when missing), user-supplied inputs, :class:`OptionalDataset`
(loads ``None``) and in-memory datasets are left to the run. An input that no
registered pipeline produces is left to the run as well.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import click
from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset, DatasetError
from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)

#: Pipelines never suggested as "run this first" while a smaller producer exists.
COMPOSITE = ("__default__",)


class MissingInputsError(click.ClickException):
    """A pipeline's inputs have no version yet. Kedro's CLI (click) prints it as one
    ``Error: <message>`` line and exits with code 1, without a traceback."""


def is_free_dataset(name: str) -> bool:
    """Whether ``name`` is a dataset (not ``parameters`` / ``params:...``)."""
    return name != "parameters" and not name.startswith("params:")


def has_no_version(catalog, name: str) -> bool:
    """Whether ``name`` is a versioned catalog dataset of which no version exists.

    Anything else (unversioned, optional, in memory, unknown, or an error while
    looking) is ``False``: the run reports it as it would today.
    """
    try:
        dataset = catalog.get(name)
    except Exception:  # noqa: BLE001 - a broken entry fails later, by name
        return False
    if (
        not isinstance(dataset, AbstractVersionedDataset)
        or getattr(dataset, "_version", None) is None
    ):
        return False
    try:
        return not dataset.exists()
    except DatasetError:
        return True
    except Exception:  # noqa: BLE001 - not ours to judge here
        return False


def missing_inputs(pipeline: Pipeline, catalog) -> list[str]:
    """The pipeline's free inputs without a version, in the order its nodes read them."""
    free = pipeline.inputs()
    ordered = dict.fromkeys(
        name for node in pipeline.nodes for name in node.inputs if name in free
    )
    return [
        name
        for name in ordered
        if is_free_dataset(name) and has_no_version(catalog, name)
    ]


def producer_of(name: str, registered: Mapping[str, Pipeline]) -> str | None:
    """The registered pipeline with the fewest nodes whose outputs include ``name``
    (``__default__`` only when nothing smaller produces it)."""
    found = [
        (key in COMPOSITE, len(pipe.nodes), key)
        for key, pipe in registered.items()
        if name in pipe.all_outputs()
    ]
    return min(found)[2] if found else None


def prerequisites(
    pipeline: Pipeline, catalog, registered: Mapping[str, Pipeline]
) -> tuple[list[str], list[str]]:
    """``(missing inputs that some pipeline produces, pipelines to run first)``.

    The pipelines to run first are closed over their own missing inputs (``evaluate``
    on a fresh clone needs ``finetune``, which needs ``preprocessing``) and ordered as
    Kedro would run them together.
    """
    missing = [
        n for n in missing_inputs(pipeline, catalog) if producer_of(n, registered)
    ]
    chosen: list[str] = []
    queue = [producer_of(n, registered) for n in missing]
    while queue:
        name = queue.pop(0)
        if name in chosen:
            continue
        chosen.append(name)
        for upstream in missing_inputs(registered[name], catalog):
            producer = producer_of(upstream, registered)
            if producer and producer not in chosen:
                queue.append(producer)
    return missing, run_order(chosen, registered)


def run_order(names: Iterable[str], registered: Mapping[str, Pipeline]) -> list[str]:
    """``names`` with each pipeline after those whose outputs it reads (ties: the
    order of their first nodes in Kedro's topological sort of them all)."""
    names = list(names)
    if not names:
        return []
    combined = sum((registered[n] for n in names), Pipeline([]))
    position = {node.name: i for i, node in enumerate(combined.nodes)}
    first = {
        name: min(position[node.name] for node in registered[name].nodes)
        for name in names
    }
    needs = {
        name: {
            other
            for other in names
            if other != name
            and registered[name].inputs() & registered[other].all_outputs()
        }
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and needs[n] <= set(ordered)] or [
            n for n in names if n not in ordered
        ]  # a cycle: node order decides
        ordered.append(min(ready, key=first.__getitem__))
    return ordered


def message(chosen: str, missing: list[str], first: list[str]) -> str:
    """The one line the user sees."""
    which = "which has" if len(missing) == 1 else "which have"
    return (
        f"{chosen} needs {', '.join(missing)}, {which} no version yet: run "
        f"`kedro run --pipelines={','.join(first)}` first (same --env/--params)."
    )


def all_pipelines() -> dict[str, Pipeline]:
    """Every registered pipeline, whatever the command asked for.

    Kedro 1.7 loads only the requested pipelines (``pipelines.set_requested``); the
    filter is lifted for this look-up and put back after.
    """
    from kedro.framework.project import pipelines

    requested = pipelines._requested_pipelines
    pipelines.set_requested(None)
    try:
        return dict(pipelines.items())
    finally:
        pipelines.set_requested(requested)


class PrerequisitesHook:
    """Before a run, stop with one line when the pipeline's inputs have no version."""

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog
    ) -> None:
        """Raise :class:`MissingInputsError` naming the pipelines to run first."""
        if not missing_inputs(pipeline, catalog):
            return
        registered = all_pipelines()
        missing, first = prerequisites(pipeline, catalog, registered)
        if not missing:
            return
        chosen = ",".join(run_params.get("pipeline_names") or ["__default__"])
        raise MissingInputsError(message(chosen, missing, first))
