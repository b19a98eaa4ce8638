"""Wiring of the ``report`` pipeline: the run's page and summary, then the index.

Runs after ``evaluate`` in the default chain and alone (``kedro run
--pipelines=report``) on the newest versions of its inputs. The optional inputs
(``evaluate_recovery_table``, ``evaluate_breakdown_table``, ``mixed_sensitivity``, ``explain_*_table``,
``multiseed_summary``, ``report_run_info``) are ``OptionalDataset`` entries: absent,
they load ``None`` and their section shows a note.
"""

from kedro.pipeline import Node, Pipeline

from .nodes import build_index, build_report


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``report`` pipeline."""
    return Pipeline(
        [
            Node(
                build_report,
                inputs=[
                    "evaluate_comparison_table",
                    "evaluate_recovery_table",
                    "evaluate_breakdown_table",
                    "mixed_sensitivity",
                    "explain_drift_table",
                    "explain_faithfulness_table",
                    "multiseed_summary",
                    "report_run_info",
                    "params:report",
                ],
                outputs=["report_page", "report_summary"],
                name="build_report",
            ),
            Node(
                build_index,
                inputs=["report_runs", "report_summary"],
                outputs="report_index",
                name="build_index",
            ),
        ],
        namespace="report",
        prefix_datasets_with_namespace=False,
        tags=["report"],
    )
