"""The eda pipeline end to end on the sample corpus (offline env, tiny tokenizer).

The project (conf, src, pyproject, sample corpus) is copied to a temporary folder so
that the run's versioned outputs never land in the real ``data/`` folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from quant_sentiment.datasets.matplotlib_png import PNG_SIGNATURE
from quant_sentiment.pipelines.eda.report import SECTIONS, VIEWS

from ...conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def eda_run(tmp_path_factory, tiny_model_dir):
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = tmp_path_factory.mktemp("project")
    for name in ("conf", "src"):
        shutil.copytree(
            PROJECT_ROOT / name,
            root / name,
            ignore=shutil.ignore_patterns("__pycache__", "local"),
        )
    (root / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    shutil.copytree(
        PROJECT_ROOT / "data" / "01_raw" / "sample", root / "data" / "01_raw" / "sample"
    )
    bootstrap_project(root)
    runtime = {"eda": {"tokenizer": str(tiny_model_dir)}}
    with KedroSession.create(
        project_path=root, env="offline", runtime_params=runtime
    ) as session:
        context = session.load_context()
        session.run(pipeline_names=["preprocessing", "eda"])
    return root, context.catalog, pipelines["eda"]


@pytest.mark.slow
def test_every_declared_output_exists(eda_run):
    root, catalog, pipeline = eda_run
    declared = sorted(
        name
        for name in pipeline.datasets()
        if not name.startswith("params:")
        and name in catalog
        and type(catalog[name]).__name__ != "MemoryDataset"
    )
    outputs = pipeline.all_outputs()
    produced = [name for name in declared if name in outputs]
    assert (
        len(produced) == 2 * (len(SECTIONS) + 1) + 2
    )  # per view + markdown, effect, report
    missing = [name for name in produced if not catalog.exists(name)]
    assert not missing
    files = list((root / "data" / "08_reporting").rglob("*.*"))
    assert all(str(f).startswith(str(root)) for f in files)


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
    assert catalog.load("eda_clean.figure_label_share").startswith(PNG_SIGNATURE)


@pytest.mark.slow
def test_tables_and_report_content(eda_run):
    _, catalog, _ = eda_run
    counts = catalog.load("eda_clean.table_split_label_counts")
    per_split = counts[counts["label"] != "all"].groupby("split")["count"].sum()
    assert per_split.to_dict() == {"all": 360, "test": 60, "train": 240, "valid": 60}
    coverage = catalog.load("eda_raw.table_token_coverage")
    assert sorted(coverage["max_length"].unique()) == [32, 64, 128, 256]
    effect = catalog.load("eda_preprocessing_effect")
    assert set(effect["view"]) == set(VIEWS)
    report = catalog.load("eda_report")
    assert report.count("data:image/png;base64,") == 2 * sum(
        key.startswith("figure_") for key, _, _ in SECTIONS
    )
    assert "<h3>raw</h3>" in report and "<h3>clean</h3>" in report
    markdown = catalog.load("eda_raw.markdown_tables")
    assert "## distinctive words" in markdown and "|" in markdown
    assert isinstance(catalog.load("eda_raw.table_ngrams"), pd.DataFrame)


def test_pipeline_structure():
    from quant_sentiment.pipelines.eda import create_pipeline

    pipeline = create_pipeline()
    names = {n.name for n in pipeline.nodes}
    assert {
        "eda_raw.measure_lengths",
        "eda_clean.measure_lengths",
        "eda_build_report",
    } <= names
    assert {
        "raw_train",
        "clean_train",
        "preprocessing_dropped_rows",
    } <= pipeline.inputs()
    assert "eda_report" in pipeline.outputs()
    assert Path(PROJECT_ROOT / "conf" / "base" / "catalog_eda.yml").is_file()
