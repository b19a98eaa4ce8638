"""quant_sentiment file for ensuring the package is executable
as `quant-sentiment` and `python -m quant_sentiment`
"""

import sys
from pathlib import Path
from typing import Any

#: Sub-commands of quant_sentiment.scoring.cli (using a saved model); the rest of
#: ``quant-sentiment ...`` is Kedro's ``run``.
SCORING_COMMANDS = ("predict", "serve", "loadtest")
#: Experiment commands (quant_sentiment.experiments): several Kedro runs in one.
EXPERIMENT_COMMANDS = ("seeds",)
#: Scale-out commands (quant_sentiment.scale): the study grid on Dask, parallel search.
SCALE_COMMANDS = ("grid", "hpsearch")


def main(*args, **kwargs) -> Any:
    if len(sys.argv) > 1 and sys.argv[1] in SCORING_COMMANDS:
        from quant_sentiment.scoring.cli import cli

        return cli(*args, **kwargs)
    if len(sys.argv) > 1 and sys.argv[1] in EXPERIMENT_COMMANDS:
        from quant_sentiment.experiments import cli

        return cli(*args, **kwargs)
    if len(sys.argv) > 1 and sys.argv[1] in SCALE_COMMANDS:
        from quant_sentiment.scale.cli import cli

        return cli(*args, **kwargs)
    # Imported here: importing Kedro's project module configures logging to stdout,
    # where the scoring commands write their output.
    from kedro.framework.cli.utils import find_run_command
    from kedro.framework.project import configure_project

    package_name = Path(__file__).parent.name
    configure_project(package_name)

    interactive = hasattr(sys, "ps1")
    kwargs["standalone_mode"] = not interactive

    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
