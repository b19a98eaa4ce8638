"""Wiring of the ``evaluate`` pipeline.

One template pipeline (:func:`variant_template`) is instantiated per model variant
under the namespace ``eval_<variant>``; a final step joins the per-variant summaries
into the comparison table and figures. The variants evaluated, and the catalog
entries each one reads, are listed once, in :data:`VARIANT_SOURCES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import (
    benchmark_variant,
    build_comparison_table,
    classification_report_text,
    compare_with_reference,
    comparison_markdown,
    misclassified_examples,
    plot_f1_vs_latency,
    plot_f1_vs_size,
    plot_variant_confusion_matrix,
    predict_with_variant,
    quality_metrics,
    reference_handle,
    summarise_variant,
    train_tfidf_logreg,
)

REFERENCE = "fp32"
#: Variant names produced by ``quantize_ptq`` (catalog: ``ptq_<V>_model``,
#: ``ptq_<V>_test_predictions``).
PTQ_VARIANTS = [
    "fp16",
    "bf16",
    "int8_torchao",
    "int8_ort",
    "int4",
    "bnb_int8",
    "bnb_nf4",
]
#: variant -> (model folder dataset, test predictions dataset). Add a variant here
#: (e.g. ``quantize_qat``'s) and it is evaluated and joins the comparison.
VARIANT_SOURCES: dict[str, tuple[str, str]] = {
    REFERENCE: ("fp32_model_handle", "finetune_test_predictions"),
    **{v: (f"ptq_{v}_model", f"ptq_{v}_test_predictions") for v in PTQ_VARIANTS},
    "tfidf_logreg": ("tfidf_logreg_model", "tfidf_logreg_test_predictions"),
}


def _bind(func, **kwargs):
    """``functools.partial`` that keeps the function's name and docstring (for viz)."""
    return update_wrapper(partial(func, **kwargs), func)


def variant_template(variant: str) -> Pipeline:
    """Per-variant nodes; free inputs ``model``, ``test_predictions``,
    ``reference_predictions``, ``clean_test`` and the ``evaluate`` parameters."""
    labels = "params:preprocessing.label_map"
    return Pipeline(
        [
            Node(
                _bind(quality_metrics, variant=variant),
                inputs=["model", "test_predictions", labels],
                outputs="metrics",
                name="quality_metrics",
            ),
            Node(
                _bind(classification_report_text, variant=variant),
                inputs=["model", "test_predictions", labels],
                outputs="classification_report",
                name="classification_report",
            ),
            Node(
                _bind(plot_variant_confusion_matrix, variant=variant),
                inputs=["model", "test_predictions", labels],
                outputs="confusion_matrix",
                name="plot_confusion_matrix",
            ),
            Node(
                _bind(misclassified_examples, variant=variant),
                inputs=["model", "test_predictions", "reference_predictions", labels],
                outputs="misclassified",
                name="misclassified_examples",
            ),
            Node(
                _bind(compare_with_reference, variant=variant),
                inputs=[
                    "model",
                    "test_predictions",
                    "reference_predictions",
                    labels,
                    "params:evaluate.bootstrap",
                ],
                outputs="comparison",
                name="compare_with_reference",
            ),
            Node(
                _bind(benchmark_variant, variant=variant),
                inputs=["model", "clean_test", "params:evaluate.benchmark"],
                outputs="benchmark",
                name="benchmark",
            ),
            Node(
                _bind(summarise_variant, variant=variant),
                inputs=["model", "metrics", "comparison", "benchmark"],
                outputs="summary",
                name="summarise",
            ),
        ]
    )


def baseline_pipeline() -> Pipeline:
    """Train the TF-IDF + logistic regression reference and predict the test split."""
    return Pipeline(
        [
            Node(
                train_tfidf_logreg,
                inputs=[
                    "clean_train",
                    "params:preprocessing.label_map",
                    "params:evaluate.tfidf_logreg",
                ],
                outputs="tfidf_logreg_model",
                name="train_tfidf_logreg",
            ),
            Node(
                predict_with_variant,
                inputs=[
                    "tfidf_logreg_model",
                    "clean_test",
                    "params:evaluate.tfidf_logreg",
                ],
                outputs="tfidf_logreg_test_predictions",
                name="predict_tfidf_logreg",
            ),
        ],
        tags=["baseline"],
    )


def create_pipeline(variants: Sequence[str] | None = None, **kwargs) -> Pipeline:
    """Create the ``evaluate`` pipeline.

    Args:
        variants: Names from :data:`VARIANT_SOURCES` to evaluate (default: all). The
            reference (``fp32``) is always included.
    """
    names = list(VARIANT_SOURCES) if variants is None else list(variants)
    unknown = sorted(set(names) - set(VARIANT_SOURCES))
    if unknown:
        raise ValueError(f"Unknown variants {unknown}; known: {list(VARIANT_SOURCES)}")
    if REFERENCE not in names:
        names.insert(0, REFERENCE)
    ref_predictions = VARIANT_SOURCES[REFERENCE][1]
    shared_params = {
        "params:preprocessing.label_map": "params:preprocessing.label_map",
        "params:evaluate.bootstrap": "params:evaluate.bootstrap",
        "params:evaluate.benchmark": "params:evaluate.benchmark",
    }
    parts = []
    for name in names:
        model, predictions = VARIANT_SOURCES[name]
        parts.append(
            Pipeline(
                variant_template(name),
                namespace=f"eval_{name}",
                inputs={
                    "model": model,
                    "test_predictions": predictions,
                    "reference_predictions": ref_predictions,
                    "clean_test": "clean_test",
                },
                outputs={"summary": f"eval_{name}_summary"},
                parameters=shared_params,
                tags=[f"variant_{name}"],
            )
        )
    if "tfidf_logreg" in names:
        parts.append(baseline_pipeline())
    summaries = [f"eval_{name}_summary" for name in names]
    reference = Pipeline(
        [
            Node(
                reference_handle,
                inputs="finetuned_model",
                outputs=VARIANT_SOURCES[REFERENCE][0],
                name="reference_model_handle",
            ),
        ]
    )
    comparison = Pipeline(
        [
            Node(
                _bind(build_comparison_table, reference=REFERENCE),
                inputs=summaries,
                outputs="evaluate_comparison_table",
                name="build_comparison_table",
            ),
            Node(
                _bind(comparison_markdown, reference=REFERENCE),
                inputs="evaluate_comparison_table",
                outputs="evaluate_comparison_markdown",
                name="comparison_markdown",
            ),
            Node(
                plot_f1_vs_latency,
                inputs="evaluate_comparison_table",
                outputs="evaluate_f1_vs_latency",
                name="plot_f1_vs_latency",
            ),
            Node(
                plot_f1_vs_size,
                inputs="evaluate_comparison_table",
                outputs="evaluate_f1_vs_size",
                name="plot_f1_vs_size",
            ),
        ]
    )
    return Pipeline([reference, *parts, comparison], tags=["evaluate"])
