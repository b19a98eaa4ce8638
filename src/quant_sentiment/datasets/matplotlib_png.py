"""A matplotlib figure dataset that can also be loaded back, as PNG bytes."""

from __future__ import annotations

from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets.matplotlib import MatplotlibDataset

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class MatplotlibPNGDataset(MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` for single PNG figures, loadable as bytes.

    Saving is exactly ``MatplotlibDataset.save`` (one figure, ``savefig`` to the
    versioned path, then ``plt.close("all")``). Loading, which ``MatplotlibDataset``
    does not support, returns the saved file's bytes, so a downstream node (e.g. a
    report) can embed the very images a run saved, through the catalog.

    Example catalog entry::

        eda_{view}.figure_{name}:
          type: quant_sentiment.datasets.MatplotlibPNGDataset
          filepath: data/08_reporting/eda/{view}/{name}.png
          versioned: true
    """

    def load(self) -> bytes:  # type: ignore[override]
        """Return the PNG file's bytes.

        Raises:
            DatasetError: If the file is missing or is not a PNG (e.g. a folder written
                from a list or dict of figures, or ``save_args: {format: pdf}``).
        """
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        if not self._fs.isfile(load_path):
            raise DatasetError(
                f"'{load_path}' is not a file: {type(self).__name__} loads single PNG "
                "figures only."
            )
        with self._fs.open(load_path, mode="rb") as handle:
            payload = handle.read()
        if not payload.startswith(PNG_SIGNATURE):
            raise DatasetError(f"'{load_path}' is not a PNG file.")
        return payload
