"""Wiring of the ``preprocessing`` pipeline.

One validate → normalise template runs per split under the namespaces
``preprocessing.train``, ``preprocessing.valid`` and ``preprocessing.test``; the splits
then meet (namespace ``preprocessing``) for duplicate/leakage checks and the
data-quality report. Namespaces group the nodes (kedro-viz, ``--namespaces``) without
renaming datasets: the catalog names below are the ones users and the ``eda`` pipeline
read.

Per split ``<s>``: ``raw_<s>`` (the chosen dataset's files, ``--params
dataset=<name>``) → ``validated_<s>`` and ``invalid_rows_<s>`` (versioned
catalog datasets, read by ``eda``'s raw view) → ``clean_<s>``.
"""

from kedro.pipeline import Node, Pipeline

from .guard import guard_near_duplicates, read_guard_references
from .nodes import (
    build_quality_report,
    deduplicate_and_check_leakage,
    normalise_texts,
)
from .sampling import subsample_held_out, subsample_train
from .sources import read_split_rows

NAMESPACE = "preprocessing"
SPLITS = ("train", "valid", "test")
LABEL_MAP = "params:model.label_map"
# Template outputs, saved per split as ``<name>_<split>``.
SPLIT_OUTPUTS = (
    "validated",
    "invalid_rows",
    "normalised",
    "normalisation_stats",
    "emptied_rows",
)


def _split_template() -> Pipeline:
    return Pipeline(
        [
            Node(
                read_split_rows,
                inputs=[
                    "raw",
                    LABEL_MAP,
                    "params:preprocessing.validation",
                    "params:dataset_spec",
                ],
                outputs=["validated", "invalid_rows"],
                name="validate_rows",
            ),
            Node(
                normalise_texts,
                inputs=["validated", LABEL_MAP, "params:preprocessing.normalisation"],
                outputs=["normalised", "normalisation_stats", "emptied_rows"],
                name="normalise_texts",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``preprocessing`` pipeline: ``raw_<split>`` → ``clean_<split>``."""
    per_split = sum(
        (
            Pipeline(
                _split_template(),
                namespace=f"{NAMESPACE}.{split}",
                prefix_datasets_with_namespace=False,
                inputs={"raw": f"raw_{split}"},
                outputs={name: f"{name}_{split}" for name in SPLIT_OUTPUTS},
            )
            for split in SPLITS
        ),
        Pipeline([]),
    )
    report_inputs = {
        f"{split}_{kind}": f"{dataset}_{split}"
        for split in SPLITS
        for kind, dataset in (
            ("invalid", "invalid_rows"),
            ("stats", "normalisation_stats"),
            ("emptied", "emptied_rows"),
            ("clean", "clean"),
        )
    }
    combine = Pipeline(
        [
            Node(
                deduplicate_and_check_leakage,
                inputs=[
                    *(f"normalised_{s}" for s in SPLITS),
                    "params:preprocessing.deduplicate",
                ],
                outputs=[
                    "exact_deduplicated_train",
                    "deduplicated_valid",
                    "deduplicated_test",
                    "exact_duplicate_report",
                    "exact_deduplicated_rows",
                ],
                name="deduplicate_and_check_leakage",
            ),
            # The dataset's leakage_guard: near-duplicates of held-out texts (guard.py).
            Node(
                read_guard_references,
                inputs=[
                    "guard_reference_lines",
                    "params:preprocessing.validation",
                    "params:preprocessing.normalisation",
                    "params:dataset_spec",
                ],
                outputs="guard_references",
                name="read_guard_references",
            ),
            Node(
                guard_near_duplicates,
                inputs=[
                    "exact_deduplicated_train",
                    "deduplicated_valid",
                    "deduplicated_test",
                    "exact_duplicate_report",
                    "exact_deduplicated_rows",
                    "params:dataset_spec",
                    "guard_references",
                ],
                outputs=["deduplicated_train", "duplicate_report", "deduplicated_rows"],
                name="guard_near_duplicates",
            ),
            Node(
                subsample_train,
                inputs=[
                    "deduplicated_train",
                    "params:preprocessing.subsample",
                    "params:dataset_spec",
                ],
                outputs=["clean_train", "subsample_report", "subsampled_rows"],
                name="subsample_train",
            ),
            Node(
                subsample_held_out,
                inputs=[
                    "deduplicated_valid",
                    "deduplicated_test",
                    "params:preprocessing.subsample",
                    "params:dataset_spec",
                ],
                outputs=[
                    "clean_valid",
                    "clean_test",
                    "held_out_subsample_report",
                    "held_out_subsampled_rows",
                ],
                name="subsample_held_out",
            ),
            Node(
                build_quality_report,
                inputs={
                    "duplicates": "duplicate_report",
                    "deduplicated": "deduplicated_rows",
                    "subsample": "subsample_report",
                    "subsampled": "subsampled_rows",
                    "held_out_subsample": "held_out_subsample_report",
                    "held_out_subsampled": "held_out_subsampled_rows",
                    **report_inputs,
                },
                outputs=["preprocessing_report", "preprocessing_dropped_rows"],
                name="build_quality_report",
            ),
        ],
        namespace=NAMESPACE,
        prefix_datasets_with_namespace=False,
    )
    return Pipeline(per_split + combine, tags=[NAMESPACE])
