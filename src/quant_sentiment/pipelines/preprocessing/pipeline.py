"""Wiring of the ``preprocessing`` pipeline.

One validate → normalise template runs per split under the namespaces ``train``,
``valid`` and ``test``; the splits then meet for duplicate/leakage checks and the
data-quality report.
"""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_quality_report,
    deduplicate_and_check_leakage,
    normalise_texts,
    validate_rows,
)

SPLITS = ("train", "valid", "test")
SPLIT_OUTPUTS = ("invalid_rows", "normalised", "normalisation_stats", "emptied_rows")


def _split_template() -> Pipeline:
    return Pipeline(
        [
            Node(
                validate_rows,
                inputs=[
                    "raw",
                    "params:preprocessing.label_map",
                    "params:preprocessing.validation",
                ],
                outputs=["validated", "invalid_rows"],
                name="validate_rows",
            ),
            Node(
                normalise_texts,
                inputs=[
                    "validated",
                    "params:preprocessing.label_map",
                    "params:preprocessing.normalisation",
                ],
                outputs=["normalised", "normalisation_stats", "emptied_rows"],
                name="normalise_texts",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``preprocessing`` pipeline: ``raw_<split>`` → ``clean_<split>``."""
    per_split = sum(
        Pipeline(
            _split_template(),
            namespace=split,
            inputs={"raw": f"raw_{split}"},
            outputs={name: f"{name}_{split}" for name in SPLIT_OUTPUTS},
            parameters={
                "params:preprocessing.label_map": "params:preprocessing.label_map",
                "params:preprocessing.validation": "params:preprocessing.validation",
                "params:preprocessing.normalisation": "params:preprocessing.normalisation",
            },
        )
        for split in SPLITS
    )
    combine = Pipeline(
        [
            Node(
                deduplicate_and_check_leakage,
                inputs=[
                    *(f"normalised_{s}" for s in SPLITS),
                    "params:preprocessing.deduplicate",
                ],
                outputs=[
                    *(f"clean_{s}" for s in SPLITS),
                    "duplicate_report",
                    "deduplicated_rows",
                ],
                name="deduplicate_and_check_leakage",
            ),
            Node(
                build_quality_report,
                inputs=[
                    *(f"invalid_rows_{s}" for s in SPLITS),
                    *(f"normalisation_stats_{s}" for s in SPLITS),
                    *(f"emptied_rows_{s}" for s in SPLITS),
                    "duplicate_report",
                    "deduplicated_rows",
                    *(f"clean_{s}" for s in SPLITS),
                ],
                outputs=["preprocessing_report", "preprocessing_dropped_rows"],
                name="build_quality_report",
            ),
        ]
    )
    return Pipeline(per_split + combine, tags=["preprocessing"])
