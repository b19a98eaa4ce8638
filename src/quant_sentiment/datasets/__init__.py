"""Custom Kedro datasets of the project."""

from quant_sentiment.datasets.hf_model_folder import HFModelFolderDataset
from quant_sentiment.datasets.jsonl_stream import JSONLinesDataset, JSONLinesStream
from quant_sentiment.datasets.matplotlib_png import MatplotlibPNGDataset
from quant_sentiment.datasets.model_set_folder import ModelSetFolderDataset
from quant_sentiment.datasets.optional import OptionalDataset
from quant_sentiment.datasets.raw_lines import RawLinesDataset
from quant_sentiment.datasets.run_reports import RunReportsDataset
from quant_sentiment.datasets.sentence_transformer_folder import (
    SentenceTransformerFolderDataset,
)
from quant_sentiment.datasets.source_lines import SourceLinesDataset
from quant_sentiment.datasets.variant_folder import VariantFolderDataset

__all__ = [
    "HFModelFolderDataset",
    "JSONLinesDataset",
    "JSONLinesStream",
    "MatplotlibPNGDataset",
    "ModelSetFolderDataset",
    "OptionalDataset",
    "RawLinesDataset",
    "RunReportsDataset",
    "SentenceTransformerFolderDataset",
    "SourceLinesDataset",
    "VariantFolderDataset",
]
