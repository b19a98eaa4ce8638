"""The eda pipeline end to end on the sample corpus (offline env, tiny tokenizer).

``preprocessing`` and ``eda`` run in two separate ``KedroSession`` runs, as
``kedro run --pipelines=preprocessing`` then ``kedro run --pipelines=eda`` would: eda
reads the versioned catalog datasets preprocessing saved (``validated_<split>``,
``invalid_rows_<split>``, ``clean_<split>``, ``preprocessing_dropped_rows``) and never
parses the raw files itself. One raw file is corrupted on purpose so that the raw
view has invalid rows to count. The project (conf, src, pyproject, sample corpus) is
copied to a temporary folder so that the run's outputs never land in ``data/``.
"""

from __future__ import annotations

import html
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from quant_sentiment.datasets.matplotlib_png import PNG_SIGNATURE
from quant_sentiment.pipelines.eda.report import SECTIONS, VIEWS

from ...conftest import PROJECT_ROOT, SAMPLE_DIR, run_session

SPLITS = ("train", "valid", "test")
SIZES = {"train": 720, "valid": 180, "test": 180}
# Appended to valid.tsv: one row without a label column, one with an unknown label.
CORRUPT_LINES = b"ulasan tanpa label\nbagus sekali\tmaybe\n"


def sample_label_counts(split: str) -> dict[str, int]:
    """Label counts of a sample split, read from the TSV directly."""
    frame = pd.read_csv(
        SAMPLE_DIR / f"{split}.tsv",
        sep="\t",
        header=None,
        names=["text", "label"],
        quoting=3,
        keep_default_na=False,
    )
    return frame["label"].value_counts().to_dict()


@pytest.fixture(scope="module")
def eda_run(tmp_path_factory, tiny_model_dir):
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession

    root = tmp_path_factory.mktemp("project")
    for name in ("conf", "src"):
        shutil.copytree(
            PROJECT_ROOT / name,
            root / name,
            ignore=shutil.ignore_patterns("__pycache__", "local", "*.egg-info"),
        )
    (root / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    raw = root / "data" / "01_raw" / "sample"
    shutil.copytree(SAMPLE_DIR, raw)
    with (raw / "valid.tsv").open("ab") as f:
        f.write(CORRUPT_LINES)
    runtime = {"eda": {"tokenizer": str(tiny_model_dir)}}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # hooks and logs (.viz/, info.log) write to the working dir
        run_session(
            root,
            "preprocessing",
            runtime_params={"preprocessing": {"validation": {"on_invalid": "drop"}}},
        )
        run_session(root, "eda", runtime_params=runtime)  # separate run: catalog only
        with KedroSession.create(
            project_path=root, env="offline", runtime_params=runtime
        ) as session:
            catalog = session.load_context().catalog
    return root, catalog, pipelines["eda"]


# ------------------------------------------------------------------ structure (fast)
def test_structure_one_eda_namespace_and_no_reparsing():
    from kedro.pipeline import Node

    from quant_sentiment.pipelines.eda import create_pipeline

    setattr(Node, "__dotted_dataset_name_warned__", False)  # kedro warns once only
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "dataset names contain '.'"
        pipeline = create_pipeline()
    names = [n.name for n in pipeline.nodes]
    assert all(name.startswith("eda.") for name in names), names
    assert {n.namespace for n in pipeline.nodes} == {"eda", "eda.raw", "eda.clean"}
    assert {"eda.raw.measure_lengths", "eda.clean.measure_lengths"} <= set(names)
    assert "eda.build_report" in names
    assert {
        "eda_report",
        "eda_preprocessing_effect",
        "eda.raw.table_quality",
        "eda.clean.figure_token_coverage",
    } <= pipeline.all_outputs()
    # the raw view reads what preprocessing saved; raw files are not parsed again
    assert pipeline.inputs() == {
        *(
            f"{name}_{s}"
            for name in ("validated", "invalid_rows", "clean")
            for s in SPLITS
        ),
        "preprocessing_dropped_rows",
        "params:eda",
        "params:finetune.model",
        "params:model.label_map",
        "params:model.max_length",
    }
    funcs = {n.func.__name__ for n in pipeline.nodes}
    assert "validate_rows" not in funcs and "parse_raw_split" not in funcs


def test_catalog_factories_resolve_view_datasets():
    from kedro.io import DataCatalog

    from quant_sentiment.config import ProjectConfigLoader
    from quant_sentiment.settings import CONFIG_LOADER_ARGS

    loader = ProjectConfigLoader(
        str(PROJECT_ROOT / "conf"), env="offline", **CONFIG_LOADER_ARGS
    )
    catalog = DataCatalog.from_config(loader["catalog"])
    for name in (
        "eda.raw.table_quality",
        "eda.clean.figure_label_share",
        "eda.raw.markdown_tables",
        "validated_train",
        "invalid_rows_test",
    ):
        assert name in catalog, name
    quality = str(catalog["eda.raw.table_quality"]._filepath)
    assert quality.endswith("eda/raw/quality.csv")
    assert type(catalog["validated_valid"]).__name__ == "ParquetDataset"


# ------------------------------------------------------------- values (one real run)
@pytest.mark.slow
def test_preprocessing_saved_the_inputs_eda_read(eda_run):
    root, catalog, _ = eda_run
    inter = root / "data" / "02_intermediate" / "sample_minilm"
    for s in SPLITS:
        assert list(inter.glob(f"validated_{s}.parquet/*/validated_{s}.parquet"))
    invalid = catalog.load("invalid_rows_valid")
    assert invalid[["line", "check"]].values.tolist() == [
        [181, "column_count"],
        [182, "unknown_label"],
    ]


@pytest.mark.slow
def test_split_label_counts_equal_the_sample_files(eda_run):
    _, catalog, _ = eda_run
    for view in VIEWS:
        table = catalog.load(f"eda.{view}.table_split_label_counts")
        per_split = table[table["split"] != "all"].groupby("split")["count"].sum()
        assert per_split.to_dict() == SIZES, view
        for split in SPLITS:
            part = table[table["split"] == split].set_index("label")["count"]
            assert part.to_dict() == sample_label_counts(split), (view, split)
            assert table.loc[table["split"] == split, "share"].sum() == pytest.approx(1)
        everything = table[table["split"] == "all"].set_index("label")["count"]
        assert everything.sum() == sum(SIZES.values())


@pytest.mark.slow
def test_quality_table_counts_the_corrupted_rows(eda_run):
    _, catalog, _ = eda_run
    for view in VIEWS:  # clean: the same rows, via preprocessing_dropped_rows
        quality = catalog.load(f"eda.{view}.table_quality").set_index("split")
        assert quality["rows"].to_dict() == {**SIZES, "all": 1080}, view
        assert quality.loc["valid", "dropped_upstream"] == 2
        assert quality.loc["valid", "dropped_column_count"] == 1
        assert quality.loc["valid", "dropped_unknown_label"] == 1
        assert quality.loc["train", "dropped_upstream"] == 0
        assert quality.loc["test", "dropped_upstream"] == 0
        assert quality.loc["all", "dropped_upstream"] == 2
    effect = catalog.load("eda_preprocessing_effect")
    assert set(effect["view"]) == set(VIEWS)
    valid = effect[effect["split"] == "valid"].set_index("view")
    assert valid["dropped_upstream"].to_dict() == {"raw": 2, "clean": 2}
    assert "truncated_share_at_128" in effect.columns  # params:model.max_length


@pytest.mark.slow
def test_token_coverage_shares_are_bounded_monotone_and_exact(eda_run, tiny_model_dir):
    from transformers import AutoTokenizer

    _, catalog, _ = eda_run
    coverage = catalog.load("eda.raw.table_token_coverage")
    assert sorted(coverage["max_length"].unique()) == [32, 64, 128, 256]
    for column in ("truncated_share", "tokens_lost_share"):
        assert coverage[column].between(0, 1).all(), column
    for _, group in coverage.groupby(["split", "label"]):
        ordered = group.sort_values("max_length")
        assert (np.diff(ordered["truncated_share"]) <= 0).all()
        assert (np.diff(ordered["tokens_lost_share"]) <= 0).all()
        assert (np.diff(ordered["truncated"]) <= 0).all()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    texts = catalog.load("validated_train")["text"].tolist()
    n_tokens = np.array([len(ids) for ids in tokenizer(texts)["input_ids"]])
    train = coverage[(coverage["split"] == "train") & (coverage["label"] == "all")]
    for limit, truncated in train[["max_length", "truncated"]].itertuples(index=False):
        assert truncated == int((n_tokens > limit).sum()), limit
    assert train["texts"].unique().tolist() == [720]


@pytest.mark.slow
def test_figures_are_valid_pngs(eda_run):
    root, catalog, _ = eda_run
    pngs = sorted((root / "data" / "08_reporting").rglob("*.png/*/*.png"))
    expected = {
        key.removeprefix("figure_")
        for key, _, _ in SECTIONS
        if key.startswith("figure_")
    }
    assert {p.name.removesuffix(".png") for p in pngs} == expected
    assert len(pngs) == 2 * len(expected)
    for path in pngs:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        with Image.open(path) as image:
            image.verify()
            assert image.size[0] > 300 and image.size[1] > 200
    assert catalog.load("eda.clean.figure_label_share").startswith(PNG_SIGNATURE)


@pytest.mark.slow
def test_every_declared_output_exists(eda_run):
    root, catalog, pipeline = eda_run
    produced = sorted(
        name
        for name in pipeline.all_outputs()
        if name in catalog and type(catalog[name]).__name__ != "MemoryDataset"
    )
    # per view: every section + markdown tables; then the comparison and the report
    assert len(produced) == 2 * (len(SECTIONS) + 1) + 2
    assert not [name for name in produced if not catalog.exists(name)]
    files = list((root / "data" / "08_reporting").rglob("*.*"))
    assert all(str(f).startswith(str(root)) for f in files)


@pytest.mark.slow
def test_report_html_has_every_section_for_both_views(eda_run):
    _, catalog, _ = eda_run
    report = catalog.load("eda_report")
    assert report.startswith("<!DOCTYPE html>") and report.rstrip().endswith("</html>")
    for _, heading, _ in SECTIONS:
        assert f"<h2>{html.escape(heading)}</h2>" in report, heading
    assert "<h2>Effect of preprocessing (raw vs clean)</h2>" in report
    assert (
        report.count("<h3>raw</h3>") == report.count("<h3>clean</h3>") > len(SECTIONS)
    )
    assert report.count("data:image/png;base64,") == 2 * sum(
        key.startswith("figure_") for key, _, _ in SECTIONS
    )
    assert "model.max_length = 128 truncates" in report
    assert "<b>run</b>: sample_minilm" in report
    markdown = catalog.load("eda.raw.markdown_tables")
    assert "## distinctive words" in markdown and "|" in markdown
