"""``predict`` through ``KedroSession``: raw text scored as the pipeline scored it.

``preprocessing`` and ``finetune`` (tiny scratch BERT) run on the sample corpus; the
raw test lines, re-cased and re-spaced, are placed as two partitions in
``data/01_raw/predict``. Because the model folder records the normalisation it was
trained with, the ``predict`` pipeline and ``quant-sentiment predict`` both give the
labels that ``finetune`` gave the clean test split.
"""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from quant_sentiment.scoring.cli import cli
from tests.conftest import SAMPLE_DIR, run_session, tiny_finetune_params

PROBS = ["prob_positive", "prob_neutral", "prob_negative"]


def newest(root, pattern):
    found = sorted(root.glob(pattern))
    assert found, f"nothing matches {pattern}"
    return found[-1]


def raw_test_lines() -> list[str]:
    return (SAMPLE_DIR / "test.tsv").read_text(encoding="utf-8").splitlines()


def write_partitions(root) -> list[str]:
    """Two partitions of raw test texts, changed where normalisation undoes it."""
    texts = [line.split("\t")[0] for line in raw_test_lines()]
    shouted = [t.upper() for t in texts[:30]]
    spaced = ["  " + t.replace(" ", "   ") + " " for t in texts[30:]]
    folder = root / "data" / "01_raw" / "predict"
    folder.mkdir(parents=True)
    ids = [f"a{i}" for i in range(30)]
    frame = pd.DataFrame({"id": ids, "text": shouted})
    frame.to_csv(folder / "part_a.csv", index=False)
    with (folder / "part_b.jsonl").open("w", encoding="utf-8") as out:
        for i, text in enumerate(spaced):
            out.write(json.dumps({"id": f"b{i}", "text": text}) + "\n")
        out.write("\n")  # one empty line: skipped and listed
    return texts


@pytest.mark.slow
def test_predict_pipeline_and_cli_match_the_finetune_predictions(kedro_project):
    run_session(kedro_project, pipeline="preprocessing")
    run_session(
        kedro_project, pipeline="finetune", runtime_params=tiny_finetune_params()
    )
    texts = write_partitions(kedro_project)
    by_id = {"predict": {"input": {"id_column": "id"}}}
    run_session(kedro_project, pipeline="predict", runtime_params=by_id)

    data = kedro_project / "data"
    reference = pd.read_csv(
        newest(data, "07_model_output/*/finetune_test_predictions.csv/*/*.csv"),
        keep_default_na=False,
    )
    predicted = pd.read_csv(
        newest(data, "07_model_output/*/predict_predictions.csv/*/*.csv"),
        keep_default_na=False,
        dtype={"row_id": str},
    )
    assert len(reference) == len(predicted) == len(texts) == 180
    assert (
        predicted["partition"].tolist() == ["part_a.csv"] * 30 + ["part_b.jsonl"] * 150
    )
    ids = [f"a{i}" for i in range(30)] + [f"b{i}" for i in range(150)]
    assert predicted["row_id"].tolist() == ids
    assert predicted["label"].tolist() == reference["pred_label"].tolist()
    np.testing.assert_allclose(predicted[PROBS], reference[PROBS], atol=1e-5)
    skipped = pd.read_csv(
        newest(data, "08_reporting/*/predict_skipped_rows.csv/*/*.csv")
    )
    assert skipped[["partition", "line", "reason"]].values.tolist() == [
        ["part_b.jsonl", 151, "empty line"]
    ]
    summary = json.loads(
        newest(data, "08_reporting/*/predict_summary.json/*/*.json").read_text()
    )
    assert summary["variant"] == "fp32" and summary["format"] == "hf"

    # The CLI, given the catalog name, scores the raw TSV lines the same way.
    result = CliRunner().invoke(
        cli,
        ["predict", "--model", "finetuned_model", "--env", "offline",
         str(SAMPLE_DIR / "test.tsv"), "--format", "tsv", "--no-header",
         "--column", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    cli_out = pd.read_csv(StringIO(result.stdout), keep_default_na=False)
    assert cli_out["label"].tolist() == reference["pred_label"].tolist()
    np.testing.assert_allclose(cli_out[PROBS], reference[PROBS], atol=1e-5)
