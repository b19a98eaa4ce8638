"""Slang normalisation's effect on the TF-IDF baseline, hate-speech severity task.

Reads ``re_dataset.csv`` (latin-1), derives the 4-class severity label (``none`` where
HS = 0, else the one of HS_Weak / HS_Moderate / HS_Strong set), drops every row of a
text whose labels disagree (``drop_all``, judged on the lower-cased, whitespace-collapsed
text), splits 80/10/10 stratified with a seed (the same rows for every setting), then
for each setting normalises the texts with the project's steps
(:class:`quant_sentiment.textprep.TextPrep`, the steps of
:mod:`quant_sentiment.normalise`), fits the baseline's own model
(:func:`quant_sentiment.pipelines.baseline.nodes.build_tfidf_logreg`, settings from
``conf/base/parameters_baseline.yml``) on train and prints macro-F1 and per-class F1 on
valid and test. Settings: ``base`` (base normalisation), ``quirks`` (the tweet-corpus
steps on: ``\\n`` escapes, byte escapes, ``RT``, ``USER``/``URL`` removed, mojibake
removed) and ``quirks+slang`` (and ``new_kamusalay.csv``, pinned by its SHA-256).

    python -m quant_sentiment.bench.slang
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

SEVERITY = ("none", "weak", "moderate", "strong")
_ROOT = Path(__file__).resolve().parents[3]
_DATA = _ROOT.parent / "shared" / "data" / "id_multilabel_hate_speech"


def severity(frame: pd.DataFrame) -> pd.Series:
    """``none`` where HS = 0, else the severity column set (checked to be one)."""
    levels = frame[["HS_Weak", "HS_Moderate", "HS_Strong"]]
    bad = (frame["HS"] == 1) != (levels.sum(axis=1) == 1)
    if bad.any():
        raise ValueError(f"rows {list(frame.index[bad][:5])}: severity columns invalid")
    named = levels.idxmax(axis=1).str.removeprefix("HS_").str.lower()
    return named.where(frame["HS"] == 1, "none")


def split(frame: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """A seeded, stratified 80/10/10 split."""
    from sklearn.model_selection import train_test_split

    train, rest = train_test_split(
        frame, test_size=0.2, stratify=frame["label"], random_state=seed
    )
    valid, test = train_test_split(
        rest, test_size=0.5, stratify=rest["label"], random_state=seed
    )
    return {"train": train, "valid": valid, "test": test}


def settings(kamus: Path) -> dict[str, dict[str, Any]]:
    """The three normalisation settings compared."""
    from quant_sentiment.slang import file_sha256

    conf = _ROOT / "conf" / "base" / "parameters_preprocessing.yml"
    base = yaml.safe_load(conf.read_text())["preprocessing"]["normalisation"]
    quirks = {
        **base,
        "newline_escapes": True,
        "byte_escapes": True,
        "retweet_marker": True,
        "placeholders": "remove",
        "mangled_bytes": True,
    }
    slang = {"enabled": True, "path": str(kamus), "sha256": file_sha256(kamus)}
    return {"base": base, "quirks": quirks, "quirks+slang": {**quirks, "slang": slang}}


def score(parts: dict[str, pd.DataFrame], normalisation: dict) -> dict[str, Any]:
    """Fit the baseline on normalised train; F1 on valid and test."""
    from sklearn.metrics import f1_score

    from quant_sentiment.pipelines.baseline.nodes import build_tfidf_logreg
    from quant_sentiment.textprep import TextPrep

    def prep(texts: pd.Series) -> list[str]:
        return TextPrep(normalisation).many(texts.tolist())

    conf = _ROOT / "conf" / "base" / "parameters_baseline.yml"
    params = yaml.safe_load(conf.read_text())["baseline"]["tfidf_logreg"]
    model = build_tfidf_logreg(params)
    model.fit(prep(parts["train"]["text"]), parts["train"]["label"])
    result: dict[str, Any] = {}
    for name in ("valid", "test"):
        predicted = model.predict(prep(parts[name]["text"]))
        truth = parts[name]["label"]
        per_class = f1_score(truth, predicted, labels=list(SEVERITY), average=None)
        result[name] = {
            "macro_f1": float(f1_score(truth, predicted, average="macro")),
            **{f"f1_{c}": float(v) for c, v in zip(SEVERITY, per_class, strict=True)},
        }
    return result


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=_DATA / "re_dataset.csv")
    parser.add_argument("--kamus", type=Path, default=_DATA / "new_kamusalay.csv")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    raw = pd.read_csv(args.data, encoding="latin-1")
    frame = pd.DataFrame({"text": raw["Tweet"].astype(str), "label": severity(raw)})
    key = frame["text"].str.lower().str.split().str.join(" ")
    conflicting = frame.groupby(key)["label"].transform("nunique") > 1
    print(
        f"{len(frame)} rows; {int(conflicting.sum())} rows of texts with conflicting "
        f"labels dropped; labels {frame.loc[~conflicting, 'label'].value_counts().to_dict()}"
    )
    parts = split(frame[~conflicting], args.seed)
    rows = []
    for name, normalisation in settings(args.kamus).items():
        start = time.perf_counter()
        result = score(parts, normalisation)
        seconds = time.perf_counter() - start
        for part, figures in result.items():
            rows.append({"setting": name, "split": part, **figures, "seconds": seconds})
        print(
            f"{name}: test macro-F1 {result['test']['macro_f1']:.4f} ({seconds:.0f} s)"
        )
    table = pd.DataFrame(rows).round(4)
    print(table.to_markdown(index=False))
    return table


if __name__ == "__main__":
    main()
