"""The ``transfer`` nodes on hand-made inputs, the target switch, and the
``crosslingual`` command end to end on real NusaX / SmSA slices (tiny scratch BERT)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from quant_sentiment.corpora import DatasetConfigError
from quant_sentiment.pipelines.transfer.nodes import (
    gather_predictions,
    read_transfer_targets,
    score_variant,
)
from tests.conftest import PROJECT_ROOT, SHARED_DATA, run_session
from tests.test_registry_chain import PTQ_OFF, chain_params

SENTIMENT = {"positive": 0, "neutral": 1, "negative": 2}


def _spec(labels, group="language", meta=("id", "language")):
    part = {
        "entry": "toy",
        "files": {"test": "toy.csv"},
        "split": None,
        "reader": {
            "encoding": "utf-8",
            "separator": ",",
            "quoted": True,
            "header": True,
        },
        "text": "text",
        "label": {"column": "label"},
        "columns": ["id"],
        "meta": {"language": "toy"},
    }
    return {
        "name": "toy",
        "labels": list(labels),
        "group": group,
        "meta_columns": list(meta),
        "parts": [part],
    }


def test_target_with_other_labels_is_refused():
    spec = _spec(["none", "weak"])
    with pytest.raises(ValueError, match=r"target 'toy' has labels \['none', 'weak'\]"):
        read_transfer_targets(pd.DataFrame(), {"label_map": SENTIMENT}, {}, spec)


def test_no_target_is_refused():
    with pytest.raises(ValueError, match="transfer_target"):
        read_transfer_targets(pd.DataFrame(), {"label_map": SENTIMENT}, {}, None)


class _Skipped:
    manifest = {"status": "skipped", "reason": "needs CUDA"}

    def load(self):  # pragma: no cover - must not be called
        raise AssertionError("a skipped variant is not loaded")


def test_unselected_and_skipped_variants_score_nothing():
    rows = pd.DataFrame(
        {"language": ["a"], "id": ["1"], "text": ["x"], "label_id": [0]}
    )
    params = {"variants": ["fp32", "bnb_nf4"], "batch_size": 4}
    assert score_variant(_Skipped(), rows, params, "int4").empty
    assert score_variant(_Skipped(), rows, params, "bnb_nf4").empty
    with pytest.raises(ValueError, match="no variant was scored"):
        gather_predictions(
            score_variant(_Skipped(), rows, params, "bnb_nf4"), pd.DataFrame()
        )


def test_unknown_transfer_target_names_the_switch():
    from quant_sentiment.config import ProjectConfigLoader

    with pytest.raises(DatasetConfigError, match="--params transfer_target=nusax_kl"):
        ProjectConfigLoader(
            conf_source=str(PROJECT_ROOT / "conf"),
            base_env="base",
            default_run_env="offline",
            runtime_params={"transfer_target": "nusax_klingon"},
        )


def test_default_target_is_every_nusax_language():
    from quant_sentiment.config import ProjectConfigLoader

    loader = ProjectConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env="offline",
        runtime_params={"dataset": "nusax_indonesian"},
    )
    spec = loader["globals"]["transfer_spec"]
    assert spec["name"] == "nusax_all"
    assert spec["group"] == "language"
    assert len(spec["parts"]) == 12


def _newest(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    assert found, f"nothing matches {pattern}"
    return found[-1]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"{SHARED_DATA} is absent")
@pytest.mark.slow  # a tiny crosslingual run from SmSA (leakage-guarded) to 12 languages
def test_crosslingual_from_guarded_smsa(kedro_project, tmp_path):
    (tmp_path / "shared").symlink_to(PROJECT_ROOT.parent / "shared")
    params = chain_params("smsa_for_nusax")
    params["transfer"] = {
        "variants": ["fp32", "int8_ort", "int4", "bnb_nf4"],
        "bootstrap": {"n_resamples": 100},
    }
    run_session(kedro_project, pipeline="crosslingual", runtime_params=params)
    reporting = kedro_project / "data" / "08_reporting" / "smsa_for_nusax_minilm"

    report = json.loads(
        _newest(reporting, "preprocessing_report.json/*/*.json").read_text()
    )
    assert "leakage_guard" in json.dumps(report)
    dropped = pd.read_csv(_newest(reporting, "preprocessing_dropped_rows.csv/*/*.csv"))
    assert dropped["reason"].astype(str).str.contains("nusax_indonesian").any()

    table = pd.read_csv(
        _newest(reporting, "transfer_nusax_all/table.csv/*/*.csv"),
        keep_default_na=False,
    )
    assert table["language"].nunique() == 12
    # bnb_nf4 needs CUDA (skipped); the PTQ_OFF routes were not built
    assert set(table["variant"]) == {"fp32", "int8_ort", "int4"}
    assert not set(PTQ_OFF) & set(table["variant"])
    assert (table["n"] == 400).all()
    fp32 = table[table["variant"] == "fp32"]
    assert (fp32["delta_vs_reference"] == 0).all()
    assert table["macro_f1"].between(0, 1).all()
    markdown = _newest(reporting, "transfer_nusax_all/table.md/*/*.md").read_text()
    assert "| javanese |" in markdown
    assert _newest(reporting, "transfer_nusax_all/heatmap.png/*/*.png").stat().st_size
