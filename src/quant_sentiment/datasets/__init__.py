"""Custom Kedro datasets of the project."""

from quant_sentiment.datasets.hf_model_folder import HFModelFolderDataset
from quant_sentiment.datasets.jsonl_stream import JSONLinesDataset, JSONLinesStream
from quant_sentiment.datasets.raw_lines import RawLinesDataset
from quant_sentiment.datasets.sentence_transformer_folder import (
    SentenceTransformerFolderDataset,
)

__all__ = [
    "HFModelFolderDataset",
    "JSONLinesDataset",
    "JSONLinesStream",
    "RawLinesDataset",
    "SentenceTransformerFolderDataset",
]
