"""Wiring of the ``eda`` pipeline.

Everything runs under one namespace, ``eda``: the nodes of each view under ``eda.raw``
and ``eda.clean``, the tokenizer and the report under ``eda``. Nothing is parsed
twice: the raw view reads what the preprocessing pipeline saved, ``validated_<split>``
(rows ``validate_rows`` accepted) and ``invalid_rows_<split>`` (rows it rejected); the
cleaned view reads ``clean_<split>`` and ``preprocessing_dropped_rows``. One template of
table and figure nodes runs per view; its datasets are named ``eda.<view>.<name>``
(e.g. ``eda.raw.table_quality``); a final node compares the views and writes
``eda_report``.
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
    preprocessing_effect,
    quality_counts,
    render_markdown_tables,
    split_label_counts,
    token_coverage,
)
from .report import SECTIONS, VIEWS, build_report

NAMESPACE = "eda"
SPLITS = ("train", "valid", "test")
TABLES = (
    "split_label_counts",
    "quality",
    "length_stats",
    "token_coverage",
    "ngrams",
    "distinctive_words",
)
VIEW_TITLES = {"raw": "raw splits, validated_*", "clean": "cleaned splits, clean_*"}
LABEL_MAP = "params:model.label_map"
SHARED_PARAMETERS = {"params:eda", LABEL_MAP}


def view_dataset(view: str, name: str) -> str:
    """Catalog name of a dataset of one view, e.g. ``eda.raw.table_quality``."""
    return f"{NAMESPACE}.{view}.{name}"


def _view_sources(view: str) -> tuple[Pipeline, dict[str, str]]:
    """Nodes making the view's ``corpus`` (all splits stacked) and ``dropped`` (rows
    removed before the view), and the mapping of the template's free inputs."""
    if view == "raw":
        validated = [f"validated_{s}" for s in SPLITS]
        invalid = [f"invalid_rows_{s}" for s in SPLITS]
        nodes = [
            Node(combine_splits, validated, "corpus", name="combine_splits"),
            Node(combine_invalid_rows, invalid, "dropped", name="combine_invalid_rows"),
        ]
        return Pipeline(nodes), {name: name for name in validated + invalid}
    clean = [f"clean_{s}" for s in SPLITS]
    nodes = [Node(combine_splits, clean, "corpus", name="combine_splits")]
    return Pipeline(nodes), {
        **{name: name for name in clean},
        "dropped": "preprocessing_dropped_rows",
    }


def _view_template(view: str) -> Pipeline:
    """Tables and figures of one view, from ``corpus`` and ``dropped``; ``view``
    only sets the titles of figures and the Markdown tables."""
    label_map, eda = LABEL_MAP, "params:eda"
    title = VIEW_TITLES[view]

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


def _view(view: str) -> Pipeline:
    sources, inputs = _view_sources(view)
    return Pipeline(
        sources + _view_template(view),
        namespace=f"{NAMESPACE}.{view}",
        inputs={**inputs, "eda_tokenizer": "eda_tokenizer"},
        parameters=SHARED_PARAMETERS,
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Create the ``eda`` pipeline (views ``eda.raw`` and ``eda.clean``)."""
    views = sum((_view(view) for view in VIEWS), Pipeline([]))
    report_inputs = {
        f"{v}__{key}": view_dataset(v, key) for v in VIEWS for key, _, _ in SECTIONS
    }
    # Node-level namespace (not Pipeline(namespace=...)): the nodes join the ``eda``
    # group while their datasets keep their catalog names.
    summary = Pipeline(
        [
            Node(
                load_tokenizer,
                inputs=["params:eda", "params:finetune.model", "clean_train"],
                outputs=["eda_tokenizer", "eda_tokenizer_info"],
                name="load_tokenizer",
                namespace=NAMESPACE,
            ),
            Node(
                preprocessing_effect,
                inputs=[
                    *(
                        view_dataset(v, f"table_{t}")
                        for t in ("quality", "length_stats", "token_coverage")
                        for v in VIEWS
                    ),
                    "params:model.max_length",
                ],
                outputs="eda_preprocessing_effect",
                name="preprocessing_effect",
                namespace=NAMESPACE,
            ),
            Node(
                build_report,
                inputs={
                    "tokenizer_info": "eda_tokenizer_info",
                    "max_length": "params:model.max_length",
                    "eda": "params:eda",
                    "preprocessing_effect": "eda_preprocessing_effect",
                    **report_inputs,
                },
                outputs="eda_report",
                name="build_report",
                namespace=NAMESPACE,
            ),
        ]
    )
    return Pipeline(views + summary, tags=[NAMESPACE])
