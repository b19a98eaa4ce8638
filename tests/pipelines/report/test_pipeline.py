"""The report pipeline through KedroSession on a project copy: the page, the summary
and the index from the catalog's newest versions; then the page in headless Chromium
(skipped where no Chromium is installed)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from quant_sentiment.bench.browser import Browser, find_chromium
from tests.conftest import PROJECT_ROOT, run_session
from tests.pipelines.report.trace import check_cells

NO_TRACKING = {"tracking.enabled": "false"}
#: Where the browser test keeps its screenshot (a CI artifact).
ARTIFACTS = Path(
    os.environ.get("TEST_ARTIFACTS", PROJECT_ROOT / "build" / "test-artifacts")
)


def _catalog(root: Path):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(root)
    session = KedroSession.create(
        project_path=root, env="offline", runtime_params=NO_TRACKING
    )
    return session.load_context().catalog


@pytest.fixture()
def reported(kedro_project, comparison, recovery, sensitivity, run_info):
    """A project copy whose catalog holds an evaluation (no explain, no seeds), after
    ``kedro run --pipelines=report``."""
    catalog = _catalog(kedro_project)
    catalog.save("evaluate_comparison_table", comparison)
    catalog.save("evaluate_recovery_table", recovery)
    catalog.save("mixed_sensitivity", sensitivity)
    catalog.save("report_run_info", run_info)
    run_session(kedro_project, pipeline="report", runtime_params=NO_TRACKING)
    return kedro_project


def _newest(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    assert found, pattern
    return found[-1]


def test_report_pipeline_writes_page_summary_and_index(reported):
    reporting = reported / "data" / "08_reporting"
    page = _newest(reporting, "sample_minilm/report/report.html/*/report.html")
    text = page.read_text()
    assert "explain has not run" in text and "No multi-seed sweep" in text
    assert "No paired comparison" not in text  # the recovery table was there
    assert "AMD EPYC 7B13" in text
    index = (reporting / "index.html").read_text()
    assert page.relative_to(reporting).as_posix() in index
    catalog = _catalog(reported)
    assert catalog.load("report_summary")["variants_evaluated"] == 5
    assert catalog.load("explain_drift_table") is None  # OptionalDataset, no version


def test_report_is_in_the_default_chain_after_evaluate():
    from quant_sentiment.pipeline_registry import DEFAULT_CHAIN

    assert DEFAULT_CHAIN.index("report") == DEFAULT_CHAIN.index("evaluate") + 1


def _links(browser: Browser) -> list[str]:
    return browser.evaluate(
        "[...document.querySelectorAll('a[href]')].map(a => a.href)"
    )


def _check_links(browser: Browser, page: Path) -> list[str]:
    """Local links must reach a file, anchors an element; returns the others."""
    external = []
    for href in _links(browser):
        url = urlparse(href)
        if url.scheme == "file":
            target = Path(unquote(url.path))
            if url.fragment and target == page:
                found = browser.evaluate(f"!!document.getElementById({url.fragment!r})")
                assert found, f"broken anchor {href}"
            else:
                assert target.is_file(), f"broken link {href}"
        else:
            external.append(href)
    return external


CELLS_JS = (
    "[...document.querySelectorAll('[data-src]')].map(e => "
    "({src: e.dataset.src, value: e.dataset.value, text: e.innerText}))"
)


@pytest.mark.slow
def test_page_in_headless_chromium(reported):
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium installed (.ci/run installs Debian's chromium)")
    reporting = reported / "data" / "08_reporting"
    page = _newest(reporting, "sample_minilm/report/report.html/*/report.html")
    catalog = _catalog(reported)
    tables = {
        "evaluate_comparison_table": (
            catalog.load("evaluate_comparison_table"),
            "variant",
        ),
        "evaluate_recovery_table": (catalog.load("evaluate_recovery_table"), "variant"),
        "mixed_sensitivity": (catalog.load("mixed_sensitivity"), "group"),
    }
    with Browser(binary) as browser:
        seconds = browser.open(page.as_uri())
        assert browser.errors() == []
        broken = browser.evaluate(
            "[...document.images].filter(i => !i.complete || !i.naturalWidth)"
            ".map(i => i.src)"
        )
        assert broken == []
        external = _check_links(browser, page)
        assert external == ["http://127.0.0.1:5000/#/experiments/1/runs/abc123"]
        shown = browser.evaluate(CELLS_JS)
        sections = {c["src"].split("|")[0] for c in shown}
        assert {"evaluate_comparison_table", "delta_vs_reference"} <= sections
        assert {"evaluate_recovery_table", "mixed_sensitivity"} <= sections
        assert check_cells(shown, tables) > 100
        assert browser.evaluate("document.querySelectorAll('svg.chart').length") == 2
        hover = browser.evaluate(
            "[...document.querySelectorAll('svg.chart g.pt > title')]"
            ".map(t => t.textContent)"
        )  # 5 evaluated variants in each chart, each with its numbers on hover
        assert len(hover) == 10 and all(" macro-F1 0." in t for t in hover), hover
        shot = browser.screenshot(ARTIFACTS / "report_top.png")
        print(f"report page: {page.stat().st_size} bytes, load {seconds:.3f} s, {shot}")  # noqa: T201
        assert page.stat().st_size < 3_000_000
        browser.open((reporting / "index.html").as_uri())
        assert browser.errors() == []
        _check_links(browser, reporting / "index.html")
        assert len(_links(browser)) == 1
