"""Wiring of ``quantize_ptq``: fine-tuned FP32 model → one versioned folder per variant."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    VARIANTS,
    make_variant_node_func,
    measure_fp32_reference,
    render_summary,
    summarize_variants,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``quantize_ptq`` pipeline.

    For every variant V in :data:`~.nodes.VARIANTS` a node ``quantize_V`` writes
    ``ptq_V_model`` (folder), ``ptq_V_manifest`` (JSON) and ``ptq_V_test_predictions``
    (CSV); disabled or impossible variants write a ``skipped`` manifest instead.
    """
    nodes = [
        Node(
            measure_fp32_reference,
            inputs=["finetuned_model", "clean_test", "params:quantize_ptq"],
            outputs="ptq_fp32_reference",
            name="measure_fp32_reference",
        )
    ]
    for variant in VARIANTS:
        nodes.append(
            Node(
                make_variant_node_func(variant),
                inputs=[
                    "finetuned_model",
                    "clean_test",
                    "ptq_fp32_reference",
                    "params:quantize_ptq",
                ],
                outputs=[
                    f"ptq_{variant}_model",
                    f"ptq_{variant}_manifest",
                    f"ptq_{variant}_test_predictions",
                ],
                name=f"quantize_{variant}",
            )
        )
    nodes += [
        Node(
            summarize_variants,
            inputs=[f"ptq_{variant}_manifest" for variant in VARIANTS],
            outputs="ptq_summary",
            name="summarize_ptq_variants",
        ),
        Node(
            render_summary,
            inputs="ptq_summary",
            outputs="ptq_summary_md",
            name="render_ptq_summary",
        ),
    ]
    return Pipeline(nodes, tags=["quantize_ptq"])
