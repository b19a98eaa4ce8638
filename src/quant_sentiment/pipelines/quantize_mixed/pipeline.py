"""Wiring of ``quantize_mixed``: FP32 ONNX export → INT4 sensitivity per group →
validation scan of the mixed candidates → one versioned folder per mixed variant."""

from kedro.pipeline import Node, Pipeline

from quant_sentiment.variants import produced_by

from .nodes import (
    PRODUCER,
    candidates_markdown,
    make_variant_node_func,
    scan_candidates,
)
from .sensitivity import (
    export_graph,
    group_sensitivity,
    plot_sensitivity,
    predict_fp32_valid,
    select_validation,
    sensitivity_markdown,
)

GRAPH, MODEL, PARAMS = "mixed_fp32_graph", "finetuned_model", "params:quantize_mixed"
VALID = ["mixed_valid", "mixed_fp32_valid_logits"]


def _analysis_nodes() -> list[Node]:
    """Export, FP32 reference, sensitivity ranking and candidate scan."""
    return [
        Node(export_graph, [MODEL, PARAMS], GRAPH, name="export_fp32_graph"),
        Node(
            select_validation,
            ["clean_valid", PARAMS],
            "mixed_valid",
            name="select_validation",
        ),
        Node(
            predict_fp32_valid,
            [GRAPH, MODEL, "mixed_valid", PARAMS, "params:model"],
            "mixed_fp32_valid_logits",
            name="predict_fp32_valid",
        ),
        Node(
            group_sensitivity,
            [GRAPH, MODEL, *VALID, PARAMS, "params:model"],
            "mixed_sensitivity",
            name="group_sensitivity",
        ),
        Node(
            sensitivity_markdown,
            "mixed_sensitivity",
            "mixed_sensitivity_md",
            name="render_sensitivity",
        ),
        Node(
            plot_sensitivity,
            "mixed_sensitivity",
            "mixed_sensitivity_plot",
            name="plot_sensitivity",
        ),
        Node(
            scan_candidates,
            [GRAPH, MODEL, *VALID, "mixed_sensitivity", PARAMS, "params:model"],
            "mixed_candidates",
            name="scan_candidates",
        ),
        Node(
            candidates_markdown,
            "mixed_candidates",
            "mixed_candidates_md",
            name="render_candidates",
        ),
    ]


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``quantize_mixed`` pipeline (namespace ``quantize_mixed``).

    The FP32 graph is exported once and its validation logits computed once; the
    sensitivity table ranks the groups; every variant V registered with
    ``producer="quantize_mixed"`` gets a node ``quantize_V`` writing ``V_model``
    (catalog factory ``mixed_{name}_model``).
    """
    nodes = _analysis_nodes() + [
        Node(
            make_variant_node_func(v.name),
            [
                GRAPH,
                MODEL,
                "mixed_sensitivity",
                "mixed_candidates",
                PARAMS,
                "params:model",
            ],
            v.dataset,
            name=f"quantize_{v.name}",
        )
        for v in produced_by(PRODUCER)
    ]
    return Pipeline(
        nodes, namespace=PRODUCER, prefix_datasets_with_namespace=False, tags=[PRODUCER]
    )
