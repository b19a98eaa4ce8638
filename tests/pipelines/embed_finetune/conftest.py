"""Fixtures of the embed_finetune tests: a tiny sentence encoder and synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

LANGUAGES = ("indonesian", "javanese", "sundanese")


def reverse_words(text: str) -> str:
    """A deterministic stand-in "translation" that a tiny encoder can learn."""
    return " ".join(reversed(text.split()))


@pytest.fixture(scope="session")
def tiny_st_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The shared tiny BERT as a SentenceTransformer folder (mean pooling)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    encoder = Transformer(str(tiny_model_dir), max_seq_length=64)
    pooling = Pooling(encoder.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[encoder, pooling], device="cpu")
    path = tmp_path_factory.mktemp("tiny_st")
    model.save(str(path))
    return path


@pytest.fixture(scope="session")
def fake_nusax(sample_splits, tmp_path_factory) -> Path:
    """A NusaX-shaped folder: 3 "languages" aligned by id, ids disjoint across splits.

    Indonesian texts come from the sample corpus; the other languages reverse the
    word order (Sundanese also upper-cases). Sizes: train 60, valid 16, test 24.
    """
    root = tmp_path_factory.mktemp("nusax")
    texts = pd.concat([sample_splits[s]["text"] for s in ("train", "valid", "test")])
    texts = texts.drop_duplicates().reset_index(drop=True)
    sizes = {"train": 60, "valid": 16, "test": 24}
    start = 0
    for split, n in sizes.items():
        ids = list(
            range(start * 3 + 7, start * 3 + 7 + 3 * n, 3)
        )  # not 0..n: ids are labels
        base = texts.iloc[start : start + n].tolist()
        start += n
        for lang in LANGUAGES:
            if lang == "indonesian":
                col = base
            elif lang == "javanese":
                col = [reverse_words(t) for t in base]
            else:
                col = [reverse_words(t).upper() for t in base]
            (root / lang).mkdir(exist_ok=True)
            pd.DataFrame({"id": ids, "text": col, "label": "neutral"}).to_csv(
                root / lang / f"{split}.csv", index=False
            )
    return root


def write_jsonl(
    path: Path, n_docs: int, words: int = 40, extra: list[str] | None = None
) -> Path:
    """A JSON-Lines corpus of ``n_docs`` synthetic documents (distinct texts)."""
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n_docs):
            text = " ".join(
                f"w{(i * 7 + j * 13) % 997}x{i}" if j % 5 == 0 else f"kata{j % 50}"
                for j in range(words)
            )
            handle.write(json.dumps({"id": f"doc-{i}", "text": text}) + "\n")
        for line in extra or []:
            handle.write(line + "\n")
    return path
