"""Wiring of the ``eda`` pipeline.

Inputs are prepared once per view: ``raw_<split>`` parsed by the preprocessing node
``validate_rows`` (view ``raw``) and ``clean_<split>`` (view ``clean``). One template
of table and figure nodes then runs under the namespaces ``eda_raw`` and
``eda_clean``; a final node compares the views and writes the report.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from . import plots
from .nodes import (
    combine_invalid_rows,
    combine_splits,
    distinctive_words,
    length_statistics,
    load_tokenizer,
    measure_lengths,
    ngram_table,
    parse_raw_split,
    preprocessing_effect,
    quality_counts,
    render_markdown_tables,
    split_label_counts,
    token_coverage,
)
from .report import SECTIONS, VIEWS, build_report

SPLITS = ("train", "valid", "test")
TABLES = (
    "split_label_counts",
    "quality",
    "length_stats",
    "token_coverage",
    "ngrams",
    "distinctive_words",
)
VIEW_TITLES = {"raw": "raw splits, validate_rows", "clean": "cleaned splits, clean_*"}
SHARED = {
    "params:eda": "params:eda",
    "params:preprocessing.label_map": "params:preprocessing.label_map",
}


def _inputs() -> Pipeline:
    """Per-view corpus (all splits stacked) and the rows dropped before the view."""
    parse = [
        Node(
            parse_raw_split,
            inputs=[
                f"raw_{s}",
                "params:preprocessing.label_map",
                "params:preprocessing.validation",
            ],
            outputs=[f"eda_parsed_{s}", f"eda_invalid_{s}"],
            name=f"eda_parse_raw_{s}",
        )
        for s in SPLITS
    ]
    return Pipeline(
        [
            *parse,
            Node(
                combine_splits,
                inputs=[f"eda_parsed_{s}" for s in SPLITS],
                outputs="eda_raw.corpus",
                name="eda_combine_raw_splits",
            ),
            Node(
                combine_invalid_rows,
                inputs=[f"eda_invalid_{s}" for s in SPLITS],
                outputs="eda_raw.dropped",
                name="eda_combine_raw_invalid_rows",
            ),
            Node(
                combine_splits,
                inputs=[f"clean_{s}" for s in SPLITS],
                outputs="eda_clean.corpus",
                name="eda_combine_clean_splits",
            ),
            Node(
                load_tokenizer,
                inputs=["params:eda", "params:finetune.model", "clean_train"],
                outputs=["eda_tokenizer", "eda_tokenizer_info"],
                name="eda_load_tokenizer",
            ),
        ]
    )


def _view_template(view: str) -> Pipeline:
    """Tables and figures of one view, from ``corpus`` and ``dropped``; ``view``
    only sets the titles of figures and the Markdown tables."""
    label_map, eda = "params:preprocessing.label_map", "params:eda"
    title = VIEW_TITLES.get(view, view)

    def titled(func):
        return update_wrapper(partial(func, view=title), func)

    return Pipeline(
        [
            Node(
                split_label_counts,
                inputs=["corpus", label_map],
                outputs="table_split_label_counts",
                name="split_label_counts",
            ),
            Node(
                quality_counts,
                inputs=["corpus", "dropped"],
                outputs="table_quality",
                name="quality_counts",
            ),
            Node(
                measure_lengths,
                inputs=["corpus", "eda_tokenizer", eda],
                outputs="lengths",
                name="measure_lengths",
            ),
            Node(
                length_statistics,
                inputs=["lengths", label_map],
                outputs="table_length_stats",
                name="length_statistics",
            ),
            Node(
                token_coverage,
                inputs=["lengths", eda],
                outputs="table_token_coverage",
                name="token_coverage",
            ),
            Node(
                ngram_table,
                inputs=["corpus", eda, label_map],
                outputs="table_ngrams",
                name="ngram_table",
            ),
            Node(
                distinctive_words,
                inputs=["corpus", eda, label_map],
                outputs="table_distinctive_words",
                name="distinctive_words",
            ),
            Node(
                titled(render_markdown_tables),
                inputs={t: f"table_{t}" for t in TABLES},
                outputs="markdown_tables",
                name="render_markdown_tables",
            ),
            Node(
                titled(plots.plot_label_distribution),
                inputs=["table_split_label_counts"],
                outputs="figure_label_distribution",
                name="plot_label_distribution",
            ),
            Node(
                titled(plots.plot_label_share),
                inputs=["table_split_label_counts"],
                outputs="figure_label_share",
                name="plot_label_share",
            ),
            Node(
                titled(plots.plot_length_histograms),
                inputs=["lengths", eda, label_map],
                outputs="figure_length_histograms",
                name="plot_length_histograms",
            ),
            Node(
                titled(plots.plot_length_boxplots),
                inputs=["lengths", label_map],
                outputs="figure_length_boxplots",
                name="plot_length_boxplots",
            ),
            Node(
                titled(plots.plot_token_coverage),
                inputs=["lengths", eda],
                outputs="figure_token_coverage",
                name="plot_token_coverage",
            ),
            Node(
                titled(plots.plot_ngrams),
                inputs=["table_ngrams", eda],
                outputs="figure_ngrams",
                name="plot_ngrams",
            ),
            Node(
                titled(plots.plot_top_words_per_class),
                inputs=["table_ngrams", eda, label_map],
                outputs="figure_top_words_per_class",
                name="plot_top_words_per_class",
            ),
            Node(
                titled(plots.plot_distinctive_words),
                inputs=["table_distinctive_words", eda, label_map],
                outputs="figure_distinctive_words",
                name="plot_distinctive_words",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``eda`` pipeline (views ``eda_raw`` and ``eda_clean``)."""
    views = sum(
        Pipeline(
            _view_template(view),
            namespace=f"eda_{view}",
            inputs={
                "eda_tokenizer": "eda_tokenizer",
                "dropped": (
                    "eda_raw.dropped" if view == "raw" else "preprocessing_dropped_rows"
                ),
            },
            parameters=SHARED,
        )
        for view in VIEWS
    )
    report_inputs = {
        f"{v}__{key}": f"eda_{v}.{key}" for v in VIEWS for key, _, _ in SECTIONS
    }
    summary = Pipeline(
        [
            Node(
                preprocessing_effect,
                inputs=[
                    *(
                        f"eda_{v}.table_{t}"
                        for t in ("quality", "length_stats", "token_coverage")
                        for v in VIEWS
                    ),
                    "params:finetune",
                ],
                outputs="eda_preprocessing_effect",
                name="eda_preprocessing_effect",
            ),
            Node(
                build_report,
                inputs={
                    "tokenizer_info": "eda_tokenizer_info",
                    "finetune": "params:finetune",
                    "eda": "params:eda",
                    "preprocessing_effect": "eda_preprocessing_effect",
                    **report_inputs,
                },
                outputs="eda_report",
                name="eda_build_report",
            ),
        ]
    )
    return Pipeline(_inputs() + views + summary, tags=["eda"])
