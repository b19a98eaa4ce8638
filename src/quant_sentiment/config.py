"""The project's configuration loader: Kedro's ``OmegaConfigLoader`` plus two rules.

- ``--params dataset=<name>`` chooses an entry of the dataset registry
  (``conf/base/datasets.yml``, :mod:`quant_sentiment.corpora`); the default is
  ``globals.dataset``. The loader resolves the entry once and puts it in the globals
  (``globals.dataset_spec``: the raw catalog entries read its files), sets
  ``globals.model.label_map`` from its labels, and ``globals.run`` to
  ``<dataset>_<encoder>`` (``globals.encoder`` comes from the environment, e.g.
  ``minilm`` in ``conf/offline``), so artifacts of different datasets and encoders
  never mix their versions. The entry's ``normalisation`` switches are applied to
  ``preprocessing.normalisation`` (a ``--params`` value still wins).
- ``--params run=<name>`` (a runtime parameter named ``run``) replaces ``globals.run``.
  Kedro does not allow the ``runtime_params:`` resolver inside ``globals.yml``, so
  without this a run folder could only be chosen by an environment. The study grid
  (``quant_sentiment.scale``) gives every cell its own folder this way:
  ``grid/<name>/<dataset>/<model>/seed_<s>``.
- ``--params transfer_target=<name>`` chooses the registry entry whose test split the
  ``transfer`` pipeline scores the run's models on (default
  ``globals.transfer_target``, ``nusax_all``: every NusaX language); it is resolved
  like the dataset, into ``globals.transfer_spec``.
"""

from __future__ import annotations

import copy
from typing import Any

from kedro.config import OmegaConfigLoader

from quant_sentiment import corpora

#: The runtime parameter that replaces ``globals.run``.
RUN_KEY = "run"
#: The runtime parameter (and globals key) naming the cross-lingual test entry.
TRANSFER_KEY = "transfer_target"


def _run_folder(run: Any) -> str:
    if not isinstance(run, str) or not run.strip() or ".." in run.split("/"):
        raise ValueError(
            f"--params {RUN_KEY}=...: a relative folder name is needed "
            f"(e.g. grid/study/smsa/minilm/seed_42), got {run!r}"
        )
    return run.strip("/")


class ProjectConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` with the dataset switch and the ``run`` folder rule."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Kedro's loader, plus the registry's pattern (``datasets*``)."""
        patterns = dict(kwargs.pop("config_patterns", None) or {})
        patterns.setdefault(corpora.REGISTRY_KEY, ["datasets*", "datasets*/**"])
        super().__init__(*args, config_patterns=patterns, **kwargs)

    def __getitem__(self, key: str) -> dict[str, Any]:
        """Load ``key``; ``globals`` and ``parameters`` get the chosen dataset."""
        config = super().__getitem__(key)
        if key == "globals":
            return self._globals_with_dataset(config)
        if key == "parameters":
            return self._parameters_with_dataset(config)
        return config

    def _dataset_name(self, config: dict[str, Any]) -> str:
        runtime = self.runtime_params or {}
        return runtime.get(corpora.SWITCH) or config.get(corpora.SWITCH) or "smsa"

    def _globals_with_dataset(self, config: dict[str, Any]) -> dict[str, Any]:
        config = copy.deepcopy(config)
        name = self._dataset_name(config)
        registry = super().__getitem__(corpora.REGISTRY_KEY)
        spec = corpora.resolve(name, registry, self.runtime_params)
        config[corpora.SWITCH] = name
        config["dataset_spec"] = spec
        target = (self.runtime_params or {}).get(TRANSFER_KEY) or config.get(
            TRANSFER_KEY
        )
        if target:
            config[TRANSFER_KEY] = target
            config["transfer_spec"] = corpora.resolve(
                target, registry, self.runtime_params, switch=TRANSFER_KEY
            )
        model = config.setdefault("model", {})
        model["label_map"] = {label: i for i, label in enumerate(spec["labels"])}
        encoder = config.get("encoder", "model")
        run = (self.runtime_params or {}).get(RUN_KEY)
        config[RUN_KEY] = _run_folder(run) if run is not None else f"{name}_{encoder}"
        return config

    def _parameters_with_dataset(self, config: dict[str, Any]) -> dict[str, Any]:
        spec = (self._globals or {}).get("dataset_spec")
        normalisation = (config.get("preprocessing") or {}).get("normalisation")
        if not spec or not spec["normalisation"] or normalisation is None:
            return config
        config = copy.deepcopy(config)
        given = ((self.runtime_params or {}).get("preprocessing") or {}).get(
            "normalisation"
        ) or {}
        merged = config["preprocessing"]["normalisation"]
        for setting, value in spec["normalisation"].items():
            if setting not in merged:
                raise corpora.DatasetConfigError(
                    f"datasets.{spec['name']}.normalisation.{setting}: no such "
                    f"switch in preprocessing.normalisation ({sorted(merged)})"
                )
            if setting in given:
                continue
            if isinstance(value, dict) and isinstance(merged[setting], dict):
                merged[setting] = {**merged[setting], **value}  # e.g. slang.enabled
            else:
                merged[setting] = value
        return config
