"""Wiring of the ``explain`` pipeline.

One template (:func:`variant_template`) is instantiated per model variant of the
registry (:data:`quant_sentiment.variants.VARIANTS`) under the namespace
``explain.<variant>`` (its datasets ``explain.<variant>.<name>``). Shared nodes draw the
sample of test texts before, and build the drift / faithfulness / cost tables, the
figure and the HTML report after. ``pipeline_registry`` passes the variants.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from quant_sentiment.variants import REFERENCE, VARIANTS, Variant

from .nodes import explain_variant, variant_faithfulness
from .report import (
    cost_markdown,
    drift_markdown,
    faithfulness_markdown,
    html_report,
    plot_drift,
)
from .sample import select_sample
from .tables import cost_table, drift_table, faithfulness_table

NAMESPACE = "explain"
MODEL = "params:model"
ATTRIBUTION = "params:explain.attribution"
#: The entry's tasks: the name of a one-head variant's head (docs/multitask.md).
DATASET = "params:dataset_spec"


def _bind(func, **kwargs):
    """``functools.partial`` that keeps the function's name and docstring (for viz)."""
    return update_wrapper(partial(func, **kwargs), func)


def variant_template(variant: Variant) -> Pipeline:
    """Per-variant nodes; free inputs ``model`` and ``explain_sample``."""
    name = variant.name
    return Pipeline(
        [
            Node(
                _bind(explain_variant, variant=name),
                inputs=["model", "explain_sample", MODEL, ATTRIBUTION, DATASET],
                outputs=["attributions", "texts", "info", "cost"],
                name="explain_variant",
            ),
            Node(
                _bind(variant_faithfulness, variant=name),
                inputs=[
                    "model",
                    "explain_sample",
                    "attributions",
                    "texts",
                    MODEL,
                    "params:explain.faithfulness",
                    ATTRIBUTION,
                    DATASET,
                ],
                outputs="faithfulness",
                name="faithfulness",
            ),
        ]
    )


def _per_variant(variant: Variant) -> Pipeline:
    template = variant_template(variant)
    return Pipeline(
        template,
        namespace=f"{NAMESPACE}.{variant.name}",
        inputs={"model": variant.dataset, "explain_sample": "explain_sample"},
        parameters={p: p for p in template.inputs() if p.startswith("params:")},
        tags=[f"variant_{variant.name}"],
    )


def _sample(reference: Variant, others: Sequence[Variant]) -> Node:
    return Node(
        _bind(select_sample, variants=[v.name for v in others]),
        inputs=[
            "params:explain.sample",
            MODEL,
            reference.test_predictions,
            *[v.test_predictions for v in others],
        ],
        outputs="explain_sample",
        name="select_sample",
        namespace=NAMESPACE,
    )


def _each(variants: Sequence[Variant], kind: str) -> list[str]:
    """The per-variant dataset ``kind`` of every variant, in order."""
    return [f"{NAMESPACE}.{v.name}.{kind}" for v in variants]


def _drift(variants: Sequence[Variant]) -> list[Node]:
    """Drift table, its Markdown and the figure."""
    return [
        Node(
            _bind(drift_table, reference=REFERENCE),
            inputs=[
                "params:explain.drift",
                *_each(variants, "info"),
                *_each(variants, "attributions"),
            ],
            outputs="explain_drift_table",
            name="drift_table",
            namespace=NAMESPACE,
        ),
        Node(
            _bind(drift_markdown, reference=REFERENCE),
            inputs=["explain_drift_table", "params:explain.drift.bootstrap.confidence"],
            outputs="explain_drift_markdown",
            name="drift_markdown",
            namespace=NAMESPACE,
        ),
        Node(
            _bind(plot_drift, reference=REFERENCE),
            inputs="explain_drift_table",
            outputs="explain_drift_figure",
            name="plot_drift",
            namespace=NAMESPACE,
        ),
    ]


def _faithfulness_and_cost(variants: Sequence[Variant]) -> list[Node]:
    """Faithfulness and cost tables with their Markdown."""
    return [
        Node(
            faithfulness_table,
            inputs=[*_each(variants, "info"), *_each(variants, "faithfulness")],
            outputs="explain_faithfulness_table",
            name="faithfulness_table",
            namespace=NAMESPACE,
        ),
        Node(
            faithfulness_markdown,
            inputs="explain_faithfulness_table",
            outputs="explain_faithfulness_markdown",
            name="faithfulness_markdown",
            namespace=NAMESPACE,
        ),
        Node(
            cost_table,
            inputs=_each(variants, "cost"),
            outputs="explain_cost_table",
            name="cost_table",
            namespace=NAMESPACE,
        ),
        Node(
            cost_markdown,
            inputs="explain_cost_table",
            outputs="explain_cost_markdown",
            name="cost_markdown",
            namespace=NAMESPACE,
        ),
    ]


def _summaries(variants: Sequence[Variant]) -> Pipeline:
    """The shared nodes after the per-variant ones: tables, figure, report."""
    report = Node(
        _bind(html_report, reference=REFERENCE),
        inputs=[
            MODEL,
            "explain_sample",
            "explain_drift_table",
            "explain_faithfulness_table",
            *_each(variants, "info"),
            *_each(variants, "texts"),
            *_each(variants, "attributions"),
        ],
        outputs="explain_report",
        name="html_report",
        namespace=NAMESPACE,
    )
    return Pipeline([*_drift(variants), *_faithfulness_and_cost(variants), report])


def create_pipeline(variants: Sequence[Variant] = VARIANTS, **kwargs) -> Pipeline:
    """Create the ``explain`` pipeline for ``variants`` (default: the registry).

    The reference (``fp32``) is always explained: drift is measured from it.
    """
    by_name = {v.name: v for v in VARIANTS}
    reference = by_name[REFERENCE]
    chosen = [reference, *[v for v in variants if v.name != REFERENCE]]
    shared = [_sample(reference, chosen[1:]), _summaries(chosen)]
    return Pipeline(
        [shared[0], *[_per_variant(v) for v in chosen], shared[1]], tags=[NAMESPACE]
    )
