"""Unit tests of the cross-lingual transfer table, Markdown and heatmap (issue 21)."""

import numpy as np
import pandas as pd
import pytest

from quant_sentiment.transfer import (
    plot_transfer_heatmap,
    transfer_markdown,
    transfer_table,
)

PARAMS = {"reference": "fp32", "n_resamples": 200, "seed": 0}


def _rows(language, variant, truth, pred, ids=None):
    ids = list(range(len(truth))) if ids is None else ids
    return pd.DataFrame(
        {
            "language": language,
            "variant": variant,
            "id": ids,
            "label_id": truth,
            "pred": pred,
        }
    )


def _predictions():
    truth = [0, 1, 2, 0, 1, 2, 0, 1]
    return pd.concat(
        [
            _rows("indonesian", "fp32", truth, truth),
            _rows("indonesian", "int8_ort", truth, [0, 1, 2, 0, 1, 2, 0, 0]),
            _rows("javanese", "fp32", truth, [0, 1, 2, 0, 1, 2, 1, 1]),
            # same predictions as javanese fp32 but in shuffled row order: pairs by id
            _rows(
                "javanese",
                "int4_weight_only",
                [1, 0, 2, 1, 0, 2, 1, 0],
                [1, 1, 2, 1, 0, 2, 1, 0],
                ids=[7, 6, 5, 4, 3, 2, 1, 0],
            ),
        ],
        ignore_index=True,
    )


def test_table_scores_pairs_by_id_and_deltas():
    table = transfer_table(_predictions(), n_labels=3, params=PARAMS)
    assert list(table[["language", "variant"]].itertuples(index=False, name=None)) == [
        ("indonesian", "fp32"),
        ("indonesian", "int8_ort"),
        ("javanese", "fp32"),
        ("javanese", "int4_weight_only"),
    ]
    row = table.set_index(["language", "variant"])
    assert row.loc[("indonesian", "fp32"), "macro_f1"] == pytest.approx(1.0)
    assert row.loc[("indonesian", "fp32"), "accuracy"] == pytest.approx(1.0)
    assert row.loc[("indonesian", "int8_ort"), "accuracy"] == pytest.approx(7 / 8)
    assert (table["n"] == 8).all()
    # int8: one class-1 text predicted 0 -> F1 per class (0.857, 0.8, 1.0)
    expected = np.mean([6 / 7, 0.8, 1.0])
    assert row.loc[("indonesian", "int8_ort"), "macro_f1"] == pytest.approx(expected)
    assert row.loc[("indonesian", "int8_ort"), "delta_vs_reference"] == pytest.approx(
        expected - 1.0
    )
    # identical predictions once paired by id: Δ and its CI are exactly 0
    j = row.loc[("javanese", "int4_weight_only")]
    assert j["delta_vs_reference"] == pytest.approx(0.0)
    assert (j["delta_ci_low"], j["delta_ci_high"]) == (0.0, 0.0)
    assert j["macro_f1"] == pytest.approx(row.loc[("javanese", "fp32"), "macro_f1"])
    ok = table["macro_f1_ci_low"] <= table["macro_f1"] + 1e-9
    assert ok.all() and (table["macro_f1"] <= table["macro_f1_ci_high"] + 1e-9).all()


def test_missing_reference_is_named():
    frame = _predictions()
    frame = frame[~((frame["language"] == "javanese") & (frame["variant"] == "fp32"))]
    with pytest.raises(ValueError, match="'javanese'.*'fp32'"):
        transfer_table(frame, n_labels=3, params=PARAMS)


def test_mismatched_ids_and_duplicates_are_named():
    frame = _predictions()
    frame.loc[frame.index[-1], "id"] = 99
    with pytest.raises(ValueError, match="int4_weight_only.*same test ids"):
        transfer_table(frame, n_labels=3, params=PARAMS)
    frame = _predictions()
    frame.loc[frame.index[-1], "id"] = 1
    with pytest.raises(ValueError, match="predicts id .1. more than once"):
        transfer_table(frame, n_labels=3, params=PARAMS)
    with pytest.raises(ValueError, match=r"lack column\(s\) \['pred'\]"):
        transfer_table(frame.drop(columns="pred"), n_labels=3, params=PARAMS)


def test_markdown_and_heatmap():
    table = transfer_table(_predictions(), n_labels=3, params=PARAMS)
    text = transfer_markdown(table)
    header = next(line for line in text.splitlines() if line.startswith("| language |"))
    assert header == "| language | fp32 | int4_weight_only | int8_ort |"
    assert "| indonesian | 1.0000 | nan | 0.8857 |" in text
    assert "| javanese | int4_weight_only | 8 |" in text
    fig = plot_transfer_heatmap(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["indonesian", "javanese"]
    assert len(ax.texts) == 6
    import matplotlib.pyplot as plt

    plt.close(fig)


class _FakeClassifier:
    """Predicts class 0 for texts containing 'baik', else class 2."""

    def predict_logits(self, texts, batch_size):
        return np.array(
            [[1.0, 0.0, 0.0] if "baik" in t else [0.0, 0.0, 1.0] for t in texts]
        )


class _Handle:
    def __init__(self, manifest):
        self.manifest = manifest
        self.loaded = False

    def load(self):
        self.loaded = True
        return _FakeClassifier()


def test_predict_targets_normalises_skips_and_reports_empty(caplog):
    from quant_sentiment.textprep import MANIFEST_KEY
    from quant_sentiment.transfer import predict_targets

    norm = {
        MANIFEST_KEY: {
            "lowercase": True,
            "strip_non_letters": True,
            "collapse_whitespace": True,
            "remove_stopwords": False,
            "stem": False,
        }
    }
    targets = {
        "indonesian": pd.DataFrame(
            {
                "id": [10, 11, 12],
                "text": ["BAIK sekali", "buruk", "123 !!"],
                "label_id": [0, 2, 1],
            }
        ),
        "javanese": pd.DataFrame({"id": [10], "text": ["Apik, BAIK"], "label_id": [0]}),
    }
    skipped = _Handle({"status": "skipped", "reason": "no GPU", **norm})
    handles = {
        "fp32": _Handle(dict(norm)),
        "int8_ort": _Handle(dict(norm)),
        "int4": skipped,
    }
    with caplog.at_level("WARNING"):
        out = predict_targets(targets, handles, batch_size=2)
    assert not skipped.loaded
    assert sorted(set(out["variant"])) == ["fp32", "int8_ort"]
    ind = out[(out["language"] == "indonesian") & (out["variant"] == "fp32")]
    # "BAIK" only matches after lowercasing; "123 !!" is empty after normalisation
    assert ind["id"].tolist() == [10, 11] and ind["pred"].tolist() == [0, 2]
    assert "empty after normalisation" in caplog.text and "[12]" in caplog.text
    table = transfer_table(out, n_labels=3, params=PARAMS)
    assert set(table["language"]) == {"indonesian", "javanese"}
    one = table[table["language"] == "javanese"]  # one text: no bootstrap, NaN CI
    assert (one["n"] == 1).all() and one["macro_f1_ci_low"].isna().all()
    with pytest.raises(ValueError, match="every one was skipped"):
        predict_targets(targets, {"int4": skipped})
