"""Δ vs FP32 per class and per group (breakdown.py, breakdown_report.py) on hand-made
predictions where the variant loses on one class or one group only."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.metrics import f1_score

from quant_sentiment.pipelines.evaluate.breakdown import delta_breakdown
from quant_sentiment.pipelines.evaluate.breakdown_report import (
    breakdown_markdown,
    build_breakdown_table,
    plot_breakdown,
)

BOOT = {"n_resamples": 400, "seed": 0, "confidence": 0.95, "method": "percentile"}
OK = SimpleNamespace(manifest={"status": "ok"}, path=None)
LANGS = ["acehnese", "javanese", "sundanese"]


def _label_map(k: int) -> dict[str, int]:
    return {f"c{i}": i for i in range(k)}


def _data(k: int, supports: list[int], seed: int = 0):
    """Test rows (classes with ``supports``, three languages in turn), a reference
    right on ~90% of rows (errors spread over every class and language)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), supports)
    rng.shuffle(y)
    n = len(y)
    ref = y.copy()
    wrong = rng.random(n) < 0.1
    ref[wrong] = (y[wrong] + 1) % k
    test = pd.DataFrame(
        {
            "text": [f"text {i}" for i in range(n)],
            "label_id": y,
            "language": [LANGS[i % 3] for i in range(n)],
        }
    )
    return test, ref


def _frame(test: pd.DataFrame, pred: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"text": test["text"], "label_id": test["label_id"], "pred_id": pred}
    )


def _run(test, ref, var, k, group="language", variant="int4"):
    spec = {"name": "hand", "group": group}
    return delta_breakdown(
        OK, _frame(test, var), _frame(test, ref), test, {"label_map": _label_map(k)},
        spec, BOOT, variant,
    )  # fmt: skip


@pytest.mark.parametrize("k", [2, 3, 4])
def test_loss_on_one_class_only_shows_on_that_class(k):
    supports = [400] * (k - 1) + [80]  # the last class is the rare one
    test, ref = _data(k, supports)
    var = ref.copy()
    rare = np.flatnonzero((test["label_id"] == k - 1).to_numpy() & (ref == k - 1))
    var[rare[: len(rare) // 2]] = 0  # the variant misses half the rare class
    out = _run(test, ref, var, k)
    classes = {c["class"]: c for c in out["classes"]}
    hurt = classes[f"c{k - 1}"]
    assert hurt["support"] == 80
    assert hurt["delta"] < -0.2 and hurt["ci_high"] < 0 and hurt["p_value"] < 0.01
    assert hurt["excess_ci_high"] < 0  # loses more than the average
    for name, c in classes.items():
        if name != f"c{k - 1}":
            assert abs(c["delta"]) < 0.06, (name, c)
            assert c["excess_ci_low"] > 0  # loses less than the average
    sk = f1_score(test["label_id"], var, labels=list(range(k)), average=None)
    assert [c["f1_variant"] for c in classes.values()] == pytest.approx(sk)
    macro = out["overall"]["macro_f1_delta"]
    assert macro == pytest.approx(np.mean([c["delta"] for c in classes.values()]))
    assert macro < 0 and out["overall"]["accuracy_delta"] < 0

    table = build_breakdown_table(out)
    markdown = breakdown_markdown(table, reference="fp32")
    finding = next(line for line in markdown.splitlines() if "**int4**" in line)
    assert f"largest loss: class `c{k - 1}` (n = 80)" in finding
    assert "loses **more** than the average" in finding
    assert finding.count("loses **more**") == 1
    assert isinstance(plot_breakdown(table, reference="fp32"), Figure)


def test_loss_in_one_group_only_shows_in_that_group():
    test, ref = _data(3, [300, 300, 300])
    var = ref.copy()
    java = np.flatnonzero((test["language"] == "javanese").to_numpy())
    var[java[::3]] = (test["label_id"].to_numpy()[java[::3]] + 2) % 3  # wrong there
    out = _run(test, ref, var, 3)
    assert out["group_column"] == "language"
    groups = {g["group"]: g for g in out["groups"]}
    assert list(groups) == LANGS and groups["javanese"]["n"] == 300
    hurt = groups["javanese"]
    assert hurt["macro_f1_delta"] < -0.1 and hurt["macro_f1_ci_high"] < 0
    assert hurt["accuracy_delta"] < -0.1 and hurt["accuracy_ci_high"] < 0
    assert hurt["macro_f1_excess_ci_high"] < 0
    for name in ("acehnese", "sundanese"):  # same predictions there: Δ exactly 0
        g = groups[name]
        assert (g["macro_f1_delta"], g["macro_f1_ci_low"], g["macro_f1_ci_high"]) == (
            0.0,
            0.0,
            0.0,
        )
        assert g["accuracy_delta"] == 0.0 and g["accuracy_p_value"] == 1.0
    table = build_breakdown_table(out)
    rows = table[(table["breakdown"] == "group") & (table["metric"] == "macro_f1")]
    assert rows.set_index("key")["ci_excludes_0"].to_dict() == {
        "acehnese": False,
        "javanese": True,
        "sundanese": False,
    }
    markdown = breakdown_markdown(table, reference="fp32")
    assert "largest loss: language (Δ macro-F1) `javanese`" in markdown
    assert "## Δ macro-F1 per language" in markdown


def test_no_group_column_gives_one_group_all():
    test, ref = _data(2, [100, 60])
    var = ref.copy()
    var[:20] = 1 - var[:20]
    out = _run(test.drop(columns="language"), ref, var, 2, group=None)
    assert out["group_column"] is None
    assert [g["group"] for g in out["groups"]] == ["all"]
    (g,) = out["groups"]
    assert g["n"] == len(test)
    assert g["macro_f1_delta"] == pytest.approx(out["overall"]["macro_f1_delta"])
    assert g["accuracy_delta"] == pytest.approx(out["overall"]["accuracy_delta"])
    markdown = breakdown_markdown(build_breakdown_table(out), reference="fp32")
    assert "no group column in this dataset (one group `all`)" in markdown


def test_identical_predictions_give_zero_deltas_and_p_one():
    test, ref = _data(3, [50, 50, 50])
    out = _run(test, ref, ref.copy(), 3, variant="fp32")
    for c in out["classes"]:
        assert (c["delta"], c["ci_low"], c["ci_high"], c["p_value"]) == (0, 0, 0, 1)
    # the reference's own rows are left out of findings and figure
    table = build_breakdown_table(out)
    assert "**fp32**" not in breakdown_markdown(table, reference="fp32")


def test_predictions_not_in_clean_test_order_stop_with_a_message():
    test, ref = _data(3, [30, 30, 30])
    shuffled = test.sample(frac=1, random_state=0).reset_index(drop=True)
    with pytest.raises(ValueError, match="not in clean_test row order"):
        delta_breakdown(
            OK, _frame(test, ref), _frame(test, ref), shuffled,
            {"label_map": _label_map(3)}, {"group": "language"}, BOOT, "int8",
        )  # fmt: skip


def test_missing_or_empty_group_column_named():
    test, ref = _data(3, [30, 30, 30])
    with pytest.raises(ValueError, match="group column 'region'"):
        _run(test, ref, ref, 3, group="region")
    test.loc[[4, 7], "language"] = ""
    with pytest.raises(ValueError, match=r"'language' is empty in 2 rows.*\[4, 7\]"):
        _run(test, ref, ref, 3)


def test_skipped_variant_is_one_table_row():
    skipped = SimpleNamespace(manifest={"status": "skipped", "reason": "needs CUDA"})
    test, ref = _data(3, [30, 30, 30])
    out = delta_breakdown(
        skipped, _frame(test, ref).iloc[0:0], _frame(test, ref), test,
        {"label_map": _label_map(3)}, {"group": "language"}, BOOT, "bnb_nf4",
    )  # fmt: skip
    assert out == {"variant": "bnb_nf4", "status": "skipped", "reason": "needs CUDA"}
    table = build_breakdown_table(out)
    assert table["status"].tolist() == ["skipped: needs CUDA"]
    assert "- `bnb_nf4`: skipped: needs CUDA" in breakdown_markdown(table, "fp32")
    assert isinstance(plot_breakdown(table, "fp32"), Figure)


def test_table_round_trips_through_csv(tmp_path):
    test, ref = _data(3, [100, 100, 40])
    var = ref.copy()
    var[:30] = 0
    table = build_breakdown_table(
        _run(test, ref, ref.copy(), 3, variant="fp32"), _run(test, ref, var, 3)
    )
    path = tmp_path / "b.csv"
    table.to_csv(path, index=False)
    loaded = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert breakdown_markdown(loaded, "fp32") == breakdown_markdown(table, "fp32")
    assert isinstance(plot_breakdown(loaded, "fp32"), Figure)


def test_pipeline_nodes_with_a_group_column(tmp_path):
    """The per-variant nodes and the gathering step, run by Kedro on memory datasets:
    the group comes from params:dataset_spec and clean_test's column."""
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner
    from kedro_datasets.pandas import CSVDataset

    from quant_sentiment.pipelines.evaluate import create_pipeline
    from quant_sentiment.variants import get_variant

    test, ref = _data(3, [200, 200, 60])
    var = ref.copy()
    jav = np.flatnonzero((test["language"] == "javanese").to_numpy())
    var[jav[::2]] = (test["label_id"].to_numpy()[jav[::2]] + 1) % 3
    pipe = create_pipeline([get_variant(v) for v in ("fp32", "int8_ort")])
    wanted = [
        n.name
        for n in pipe.nodes
        if n.name.endswith(".delta_breakdown") or "breakdown" in n.name.split(".")[-1]
    ]
    pipe = pipe.filter(node_names=wanted)
    memory = {
        "evaluate.fp32.model": OK,
        "evaluate.int8_ort.model": OK,
        "finetune_test_predictions": _frame(test, ref),
        "eval_int8_ort_test_predictions": _frame(test, var),
        "clean_test": test,
        "params:model": {"label_map": _label_map(3)},
        "params:dataset_spec": {"name": "hand", "group": "language"},
        "params:evaluate.bootstrap": BOOT,
    }
    catalog = DataCatalog({k: MemoryDataset(v, copy_mode="assign") for k, v in memory.items()})  # fmt: skip
    for name in pipe.all_outputs():
        catalog[name] = MemoryDataset(copy_mode="assign")
    catalog["evaluate_breakdown_table"] = CSVDataset(  # as in catalog_evaluate.yml
        filepath=str(tmp_path / "breakdown.csv"),
        load_args={"keep_default_na": False, "na_values": [""]},
    )
    SequentialRunner().run(pipe, catalog)
    table = catalog.load("evaluate_breakdown_table")
    groups = table[(table["breakdown"] == "group") & (table["metric"] == "macro_f1")]
    int8 = groups[groups["variant"] == "int8_ort"].set_index("key")
    assert int8.loc["javanese", "ci_high"] < 0
    assert (int8.loc[["acehnese", "sundanese"], "delta"] == 0).all()
    markdown = catalog.load("evaluate_breakdown_markdown")
    assert "- `int8_ort`: " in markdown and "language `javanese`" in markdown
    assert isinstance(catalog.load("evaluate_breakdown_figure"), Figure)
