"""Seeded stratified subsets and class oversampling of the training rows."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_sentiment.sampling import oversample, stratified_limit_rows, target_counts


def _train(counts=(600, 300, 60, 40)) -> pd.DataFrame:
    ids = [cls for cls, n in enumerate(counts) for _ in range(n)]
    return pd.DataFrame(
        {"text": [f"t{i}" for i in range(len(ids))], "label": ids, "label_id": ids}
    )


def _cfg(**kw):
    return {"enabled": True, "seed": 7, "strategy": "sqrt", "max_factor": 10, **kw}


def test_off_or_absent_is_identical():
    train = _train()
    assert oversample(train, None) is train
    assert oversample(train, _cfg(enabled=False)) is train


def test_oversample_is_seeded_and_deterministic():
    train = _train()
    a, b = oversample(train, _cfg()), oversample(train, _cfg())
    pd.testing.assert_frame_equal(a, b)
    assert not oversample(train, _cfg(seed=8)).equals(a)


def test_counts_per_class_and_every_row_kept():
    train = _train()
    out = oversample(train, _cfg(strategy="balanced", max_factor=20))
    assert out["label_id"].value_counts().sort_index().tolist() == [600] * 4
    assert set(out["text"]) == set(train["text"])
    out = oversample(train, _cfg(strategy="sqrt"))
    # sqrt(n * 600), never fewer than before, at most 10x.
    assert out["label_id"].value_counts().sort_index().tolist() == [600, 424, 190, 155]
    capped = oversample(train, _cfg(strategy="balanced", max_factor=2))
    assert capped["label_id"].value_counts().sort_index().tolist() == [
        600,
        600,
        120,
        80,
    ]
    ratio = target_counts(pd.Series([600, 40]), "ratio", 100, ratio=0.5)
    assert ratio.tolist() == [600, 300]


def test_bad_settings_name_the_setting():
    with pytest.raises(ValueError, match="oversample.strategy"):
        oversample(_train(), _cfg(strategy="smote"))
    with pytest.raises(ValueError, match="max_factor"):
        oversample(_train(), _cfg(max_factor=0.5))


def test_stratified_limit_rows_keeps_shares_and_is_seeded():
    train = _train()
    out = stratified_limit_rows(train, 100, seed=1)
    assert out["label_id"].value_counts().sort_index().tolist() == [60, 30, 6, 4]
    pd.testing.assert_frame_equal(out, stratified_limit_rows(train, 100, seed=1))
    assert not out.equals(stratified_limit_rows(train, 100, seed=2))
    assert stratified_limit_rows(train, None, seed=1) is train
    tiny = stratified_limit_rows(_train((97, 2, 1)), 10, seed=0)
    assert len(tiny) == 10 and set(tiny["label_id"]) == {0, 1, 2}


def test_fit_classifier_oversamples_train_only(monkeypatch):
    """The one Trainer builder applies the block to train, never to valid."""
    from quant_sentiment import training

    seen = {}

    def stop(params, max_length, label2id, train, valid):
        seen["train"], seen["valid"] = train, valid
        raise RuntimeError("stop")

    monkeypatch.setattr(training, "run_dir", stop)

    class Model:
        class config:  # noqa: N801 - stands in for a transformers config
            label2id = {"a": 0, "b": 1, "c": 2, "d": 3}

    train, valid = _train(), _train((5, 5, 5, 5))
    with pytest.raises(RuntimeError, match="stop"):
        training.fit_classifier(
            Model(),
            None,
            train,
            valid,
            {"oversample": _cfg(strategy="balanced", max_factor=20)},
            8,
        )
    assert seen["train"]["label_id"].value_counts().tolist() == [600] * 4
    assert seen["valid"] is valid


def test_quantize_qat_and_hpsearch_pass_the_block_through():
    from pathlib import Path

    import yaml

    from quant_sentiment.pipelines.quantize_qat.nodes import fit_params

    conf = Path(__file__).parents[1] / "conf" / "base"
    qat = yaml.safe_load((conf / "parameters_quantize_qat.yml").read_text())
    qat = qat["quantize_qat"]
    qat["oversample"] = _cfg()
    assert fit_params(qat, next(iter(qat["variants"])))["oversample"] == _cfg()
    finetune = yaml.safe_load((conf / "parameters_finetune.yml").read_text())
    # hpsearch trains with the finetune block (its trial values merged in).
    assert finetune["finetune"]["oversample"]["enabled"] is False
