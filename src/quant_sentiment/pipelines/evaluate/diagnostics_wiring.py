"""Wiring of the per-head diagnostics (``diagnostics.py``) into ``evaluate``: three
nodes in every ``evaluate.<V>`` template, two in the comparison step."""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node

from .diagnostics import (
    contradiction_markdown,
    contradiction_rows,
    contradiction_table,
    plot_task_confusion,
    task_confusion,
)

NAMESPACE = "evaluate"


def _bind(func, **kwargs):
    """``functools.partial`` that keeps the function's name and docstring (for viz)."""
    return update_wrapper(partial(func, **kwargs), func)


def template_nodes(name: str) -> list[Node]:
    """The variant's confusion per head (table + figure) and contradiction rows,
    from the heads its ``task_predictions`` node predicted."""
    inputs = ["model", "task_predictions", "clean_test", "params:dataset_spec"]
    return [
        Node(
            _bind(task_confusion, variant=name),
            inputs=inputs,
            outputs="task_confusion",
            name="task_confusion",
        ),
        Node(
            _bind(plot_task_confusion, variant=name),
            inputs=["task_confusion", "params:dataset_spec"],
            outputs="task_confusion_figure",
            name="plot_task_confusion",
        ),
        Node(
            _bind(contradiction_rows, variant=name),
            inputs=inputs,
            outputs=["contradictions", "contradiction_counts"],
            name="contradiction_rows",
        ),
    ]


def combined_nodes(variants: list[str]) -> list[Node]:
    """The contradiction counts of every variant (and of the true labels)."""
    return [
        Node(
            contradiction_table,
            inputs=[
                "clean_test",
                "params:dataset_spec",
                *[f"{NAMESPACE}.{v}.contradiction_counts" for v in variants],
            ],
            outputs="evaluate_contradiction_table",
            name="contradiction_table",
            namespace=NAMESPACE,
        ),
        Node(
            contradiction_markdown,
            inputs="evaluate_contradiction_table",
            outputs="evaluate_contradiction_markdown",
            name="contradiction_markdown",
            namespace=NAMESPACE,
        ),
    ]
