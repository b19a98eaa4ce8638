"""Wiring of the ``evaluate`` pipeline.

One template (:func:`variant_template`) is instantiated per model variant of the
registry (:data:`quant_sentiment.variants.VARIANTS`) under the namespace
``evaluate.<variant>`` (kedro-viz shows one group per variant inside one ``evaluate``
group; the variant's datasets are ``evaluate.<variant>.<name>``). A final step joins the per-variant
summaries into the comparison table and figures. ``pipeline_registry`` passes the
variants; nothing here lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from quant_sentiment.variants import REFERENCE, VARIANTS, Variant

from .breakdown import delta_breakdown
from .breakdown_report import breakdown_markdown, build_breakdown_table, plot_breakdown
from .diagnostics_wiring import combined_nodes, template_nodes
from .published import published_markdown, published_table
from .quality import (
    classification_report_text,
    compare_with_paired,
    compare_with_reference,
    misclassified_examples,
    plot_variant_confusion_matrix,
    predict_test_split,
    quality_metrics,
)
from .report import (
    build_comparison_table,
    build_recovery_table,
    comparison_markdown,
    plot_f1_vs_latency,
    plot_f1_vs_size,
    recovery_markdown,
    summarise_variant,
)
from .single_task import build_task_table_with_baselines
from .sources import check_source, reference_source
from .speed import benchmark_variant
from .tasks import task_predictions, task_table_markdown

NAMESPACE = "evaluate"
MODEL = "params:model"


def _bind(func, **kwargs):
    """``functools.partial`` that keeps the function's name and docstring (for viz)."""
    return update_wrapper(partial(func, **kwargs), func)


def _predict(variant: Variant) -> list[Node]:
    """The test-prediction node, unless the producer already predicts the test split."""
    if variant.predictions:
        return []
    return [
        Node(
            predict_test_split,
            inputs=["model", "clean_test", MODEL, "params:evaluate.predict"],
            outputs="test_predictions",
            name="predict_test_split",
        )
    ]


def _paired(variant: Variant) -> list[Node]:
    """The comparison with ``variant.compare_with`` (free input ``paired_predictions``)."""
    if not variant.compare_with:
        return []
    return [
        Node(
            _bind(
                compare_with_paired, variant=variant.name, paired=variant.compare_with
            ),
            inputs=[
                "model",
                "test_predictions",
                "paired_predictions",
                MODEL,
                "params:evaluate.bootstrap",
            ],
            outputs="recovery",
            name="compare_with_paired",
        )
    ]


def _source(variant: Variant) -> Node:
    """The first node: the folder (free input ``source_model``) becomes ``model`` only
    if it was made from the FP32 version evaluated (free input ``reference_source``;
    the reference's own node records that version); see ``sources.py``."""
    if variant.name == REFERENCE:
        return Node(
            _bind(reference_source, variant=variant.name),
            inputs="source_model",
            outputs=["model", "source"],
            name="check_source",
        )
    return Node(
        _bind(check_source, variant=variant.name),
        inputs=["source_model", "reference_source", "params:evaluate.sources"],
        outputs=["model", "source"],
        name="check_source",
    )


def variant_template(variant: Variant) -> Pipeline:
    """Per-variant nodes; free inputs ``source_model`` (the folder, checked into
    ``model`` by :func:`_source`), ``reference_source``, ``reference_predictions``,
    ``clean_test`` (and ``test_predictions`` when the producer made them; and
    ``reference_benchmark``, the reference's own benchmark result, whose folder the
    variant is timed against, for every variant but the reference)."""
    name = variant.name
    both = ["model", "test_predictions"]
    return Pipeline(
        [
            _source(variant),
            *_predict(variant),
            Node(
                _bind(quality_metrics, variant=name),
                inputs=[*both, MODEL],
                outputs="metrics",
                name="quality_metrics",
            ),
            Node(
                _bind(classification_report_text, variant=name),
                inputs=[*both, MODEL],
                outputs="classification_report",
                name="classification_report",
            ),
            Node(
                _bind(plot_variant_confusion_matrix, variant=name),
                inputs=[*both, MODEL],
                outputs="confusion_matrix",
                name="plot_confusion_matrix",
            ),
            Node(
                _bind(misclassified_examples, variant=name),
                inputs=[*both, "reference_predictions", MODEL],
                outputs="misclassified",
                name="misclassified_examples",
            ),
            Node(
                _bind(compare_with_reference, variant=name),
                inputs=[
                    *both,
                    "reference_predictions",
                    MODEL,
                    "params:evaluate.bootstrap",
                ],
                outputs="comparison",
                name="compare_with_reference",
            ),
            Node(
                _bind(delta_breakdown, variant=name),
                inputs=[
                    *both,
                    "reference_predictions",
                    "clean_test",
                    MODEL,
                    "params:dataset_spec",
                    "params:evaluate.bootstrap",
                ],
                outputs="breakdown",
                name="delta_breakdown",
            ),
            Node(
                _bind(benchmark_variant, variant=name),
                inputs=[
                    "model",
                    "clean_test",
                    "params:evaluate.benchmark",
                    MODEL,
                    *([] if name == REFERENCE else ["reference_benchmark"]),
                ],
                outputs="benchmark",
                name="benchmark",
            ),
            Node(
                _bind(summarise_variant, variant=name),
                inputs=["model", "metrics", "comparison", "benchmark"],
                outputs="summary",
                name="summarise",
            ),
            Node(
                _bind(task_predictions, variant=name),
                inputs=[
                    *both,
                    "clean_test",
                    "params:dataset_spec",
                    "params:evaluate.predict",
                ],
                outputs="task_predictions",
                name="task_predictions",
            ),
            *template_nodes(name),
            *_paired(variant),
        ]
    )


def _per_variant(
    variant: Variant, reference: Variant, paired: Variant | None = None
) -> Pipeline:
    """``variant_template`` under ``evaluate.<name>``; with ``paired`` (the variant of
    ``compare_with``, when it is evaluated too) also the paired comparison."""
    inputs = {
        "source_model": variant.dataset,
        "clean_test": "clean_test",
        "reference_predictions": reference.predictions,
    }
    if variant.name != reference.name:
        inputs["reference_benchmark"] = f"{NAMESPACE}.{reference.name}.benchmark"
        inputs["reference_source"] = f"{NAMESPACE}.{reference.name}.source"
    outputs = {}
    if variant.predictions:
        inputs["test_predictions"] = variant.predictions
    else:  # made here; named without a dot, since other pipelines read it
        outputs["test_predictions"] = variant.test_predictions
    if paired is None:
        variant = replace(variant, compare_with=None)
    else:
        inputs["paired_predictions"] = paired.test_predictions
    template = variant_template(variant)
    return Pipeline(
        template,
        namespace=f"{NAMESPACE}.{variant.name}",
        inputs=inputs,
        outputs=outputs,
        parameters={p: p for p in template.inputs() if p.startswith("params:")},
        tags=[f"variant_{variant.name}"],
    )


def _recovery(recoveries: list[str]) -> list[Node]:
    """The table of paired comparisons (none when no variant has a pair)."""
    if not recoveries:
        return []
    return [
        Node(
            build_recovery_table,
            inputs=recoveries,
            outputs="evaluate_recovery_table",
            name="build_recovery_table",
            namespace=NAMESPACE,
        ),
        Node(
            recovery_markdown,
            inputs="evaluate_recovery_table",
            outputs="evaluate_recovery_markdown",
            name="recovery_markdown",
            namespace=NAMESPACE,
        ),
    ]


def _breakdown(breakdowns: list[str]) -> list[Node]:
    """Δ per class / per group across variants: table, Markdown findings, heatmap."""
    return [
        Node(
            build_breakdown_table,
            inputs=breakdowns,
            outputs="evaluate_breakdown_table",
            name="build_breakdown_table",
            namespace=NAMESPACE,
        ),
        Node(
            _bind(breakdown_markdown, reference=REFERENCE),
            inputs="evaluate_breakdown_table",
            outputs="evaluate_breakdown_markdown",
            name="breakdown_markdown",
            namespace=NAMESPACE,
        ),
        Node(
            _bind(plot_breakdown, reference=REFERENCE),
            inputs="evaluate_breakdown_table",
            outputs="evaluate_breakdown_figure",
            name="plot_breakdown",
            namespace=NAMESPACE,
        ),
        Node(
            published_table,
            inputs=[
                "evaluate_breakdown_table",
                "params:references",
                "params:dataset_spec",
            ],
            outputs="evaluate_published_table",
            name="published_table",
            namespace=NAMESPACE,
        ),
        Node(
            published_markdown,
            inputs=["evaluate_published_table", "params:dataset_spec"],
            outputs="evaluate_published_markdown",
            name="published_markdown",
            namespace=NAMESPACE,
        ),
    ]


def _task_table(variants: list[str]) -> list[Node]:
    """Per-task macro-F1 [CI], per-class F1 and Δ vs FP32 of every variant
    (``tasks.py``; a single-task entry is the one-task case), plus the single-task
    baseline per head when ``finetune_per_task`` ran (``single_task.py``)."""
    return [
        Node(
            _bind(
                build_task_table_with_baselines,
                variants=variants,
                reference=REFERENCE,
            ),
            inputs=[
                "clean_test",
                "params:dataset_spec",
                "params:evaluate.bootstrap",
                "single_task_test_predictions",
                *[f"{NAMESPACE}.{v}.task_predictions" for v in variants],
            ],
            outputs="evaluate_task_table",
            name="build_task_table",
            namespace=NAMESPACE,
        ),
        Node(
            task_table_markdown,
            inputs="evaluate_task_table",
            outputs="evaluate_task_markdown",
            name="task_table_markdown",
            namespace=NAMESPACE,
        ),
    ]


def _comparison(
    summaries: list[str], recoveries: list[str], breakdowns: list[str]
) -> Pipeline:
    """Join the per-variant summaries (namespace ``evaluate``, datasets unprefixed)."""
    variants = [s.split(".")[1] for s in summaries]
    return Pipeline(
        [
            *_recovery(recoveries),
            *_breakdown(breakdowns),
            *_task_table(variants),
            *combined_nodes(variants),
            Node(
                _bind(build_comparison_table, reference=REFERENCE),
                inputs=summaries,
                outputs="evaluate_comparison_table",
                name="build_comparison_table",
                namespace=NAMESPACE,
            ),
            Node(
                _bind(comparison_markdown, reference=REFERENCE),
                inputs="evaluate_comparison_table",
                outputs="evaluate_comparison_markdown",
                name="comparison_markdown",
                namespace=NAMESPACE,
            ),
            Node(
                plot_f1_vs_latency,
                inputs="evaluate_comparison_table",
                outputs="evaluate_f1_vs_latency",
                name="plot_f1_vs_latency",
                namespace=NAMESPACE,
            ),
            Node(
                plot_f1_vs_size,
                inputs="evaluate_comparison_table",
                outputs="evaluate_f1_vs_size",
                name="plot_f1_vs_size",
                namespace=NAMESPACE,
            ),
        ]
    )


def create_pipeline(variants: Sequence[Variant] = VARIANTS, **kwargs) -> Pipeline:
    """Create the ``evaluate`` pipeline for ``variants`` (default: the registry).

    The reference (``fp32``) is always evaluated: every other variant is compared
    with its test predictions. A variant with ``compare_with`` (QAT variants: the
    PTQ variant of the same bits) is also compared with that variant when it is
    evaluated too (``evaluate.<V>.recovery``, ``evaluate_recovery_table``). Every
    variant's Δ vs the reference per class and per group of test rows
    (``params:dataset_spec``'s ``group``) is ``evaluate.<V>.breakdown``, gathered in
    ``evaluate_breakdown_table`` / ``_markdown`` / ``_figure``.
    """
    by_name = {v.name: v for v in VARIANTS}
    chosen = [v for v in variants if v.name != REFERENCE]
    reference = by_name[REFERENCE]
    evaluated = {v.name: v for v in [reference, *chosen]}
    parts = [
        _per_variant(v, reference, evaluated.get(v.compare_with or ""))
        for v in evaluated.values()
    ]
    summaries = [f"{NAMESPACE}.{name}.summary" for name in evaluated]
    recoveries = [
        f"{NAMESPACE}.{v.name}.recovery"
        for v in evaluated.values()
        if v.compare_with in evaluated
    ]
    breakdowns = [f"{NAMESPACE}.{name}.breakdown" for name in evaluated]
    return Pipeline(
        [*parts, _comparison(summaries, recoveries, breakdowns)], tags=[NAMESPACE]
    )
