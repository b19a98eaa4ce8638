"""The project's configuration loader: Kedro's ``OmegaConfigLoader`` plus one rule.

``--params run=<name>`` (a runtime parameter named ``run``) replaces ``globals.run``,
the data sub-folder every catalog path is grouped by. Kedro does not allow the
``runtime_params:`` resolver inside ``globals.yml``, so without this a run folder could
only be chosen by an environment. The study grid (``quant_sentiment.scale``) gives every
cell its own folder this way: ``grid/<name>/<dataset>/<model>/seed_<s>``.
"""

from __future__ import annotations

from typing import Any

from kedro.config import OmegaConfigLoader

#: The runtime parameter that replaces ``globals.run``.
RUN_KEY = "run"


class ProjectConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` whose ``globals.run`` follows a runtime parameter ``run``."""

    def __getitem__(self, key: str) -> dict[str, Any]:
        """Load ``key``; for ``globals``, apply ``runtime_params["run"]`` when given."""
        config = super().__getitem__(key)
        run = (self.runtime_params or {}).get(RUN_KEY)
        if key == "globals" and run is not None:
            if not isinstance(run, str) or not run.strip() or ".." in run.split("/"):
                raise ValueError(
                    f"--params {RUN_KEY}=...: a relative folder name is needed "
                    f"(e.g. grid/study/smsa/minilm/seed_42), got {run!r}"
                )
            config = {**config, RUN_KEY: run.strip("/")}
        return config
