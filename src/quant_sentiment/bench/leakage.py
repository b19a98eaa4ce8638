"""NusaX-senti vs SmSA near-duplicates (word n-gram Jaccard), with timings.

Reproduces the figures of ``../shared/data/README.md`` (word-trigram Jaccard >= 0.5:
248 of the 400 NusaX Indonesian test texts and 336 of the 500 train texts have a
near-duplicate in SmSA train), then counts, for every NusaX language, its texts with a
near-duplicate in SmSA train (translations into other languages share few word
trigrams with Indonesian), and the SmSA train rows that near-duplicate a NusaX
Indonesian valid or test text (what the guard removes from SmSA train when a run tests
on NusaX). Tokenisation and threshold rule: :mod:`quant_sentiment.leakage`.

    python -m quant_sentiment.bench.leakage --data ../shared/data --ngram 3 --threshold 0.5
"""

from __future__ import annotations

import argparse
import csv
import platform
import time
from pathlib import Path

import pandas as pd
import yaml

from quant_sentiment.leakage import guard_train, near_duplicates


def _languages(registry: Path = Path("conf/base/datasets.yml")) -> list[str]:
    """The NusaX languages, as the dataset registry declares them (run from the
    project root, like every ``quant_sentiment.bench`` module)."""
    entry = yaml.safe_load(registry.read_text())["nusax_{language}"]
    return list(entry["expand"]["language"])


def read_smsa(data: Path, split: str) -> pd.DataFrame:
    """SmSA ``<split>_preprocess.tsv`` (text, label) as the data README reads it."""
    return pd.read_csv(
        data / "smsa" / f"{split}_preprocess.tsv",
        sep="\t",
        header=None,
        names=["text", "label"],
        quoting=csv.QUOTE_NONE,
    )


def read_nusax(data: Path, language: str, split: str) -> pd.DataFrame:
    """NusaX-senti ``<language>/<split>.csv`` (id, text, label)."""
    return pd.read_csv(data / "nusax_senti" / language / f"{split}.csv")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> None:
    """Print the counts and timings (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--ngram", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    n, thr = args.ngram, args.threshold
    print(f"CPU: {_cpu()}; word {n}-gram Jaccard >= {thr}")
    smsa_train = read_smsa(args.data, "train")

    print("\nNusaX split vs SmSA train: texts with a near-duplicate")
    for language in _languages():
        cells = []
        for split in ("train", "valid", "test"):
            nusax = read_nusax(args.data, language, split)
            start = time.perf_counter()
            found = near_duplicates(nusax["text"], smsa_train["text"], n, thr)
            seconds = time.perf_counter() - start
            cells.append(
                f"{split} {found['text_index'].nunique():>3}/{len(nusax)} "
                f"({seconds:.2f} s)"
            )
        print(f"  {language:<12} " + "  ".join(cells))

    held_out = pd.concat(
        [read_nusax(args.data, "indonesian", s) for s in ("valid", "test")],
        ignore_index=True,
    )
    start = time.perf_counter()
    kept, removed, report = guard_train(
        smsa_train, {"nusax_indonesian valid+test": held_out}, n, thr
    )
    seconds = time.perf_counter() - start
    print(
        f"\nSmSA train ({len(smsa_train)}) vs NusaX indonesian valid+test "
        f"({len(held_out)}): {len(removed)} train rows removed, {len(kept)} kept "
        f"({seconds:.2f} s, guard_train)"
    )
    matched = near_duplicates(smsa_train["text"], held_out["text"], n, thr)
    print(
        f"  held-out texts with a near-duplicate in SmSA train: "
        f"{matched['reference_index'].nunique()}/{len(held_out)}"
    )
    for example in report["examples"][:3]:
        print(f"  e.g. J={example['jaccard']:.3f}")
        print(f"     smsa : {example['text'][:110]}")
        print(f"     nusax: {example['matched_text'][:110]}")

    start = time.perf_counter()
    found = near_duplicates(smsa_train["text"], smsa_train["text"][:5000], n, thr)
    seconds = time.perf_counter() - start
    print(
        f"\nScale: SmSA train 11,000 x first 5,000 (self-pairs included): "
        f"{len(found)} pairs in {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
