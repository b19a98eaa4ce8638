"""Custom Kedro datasets of the project."""

from quant_sentiment.datasets.hf_model_folder import HFModelFolderDataset
from quant_sentiment.datasets.matplotlib_png import MatplotlibPNGDataset
from quant_sentiment.datasets.raw_lines import RawLinesDataset

__all__ = ["HFModelFolderDataset", "MatplotlibPNGDataset", "RawLinesDataset"]
