"""quant_sentiment file for ensuring the package is executable
as `quant-sentiment` and `python -m quant_sentiment`
"""

import sys
from pathlib import Path
from typing import Any

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project


def main(*args, **kwargs) -> Any:
    if len(sys.argv) > 1 and sys.argv[1] in ("predict", "serve"):
        # Using a saved model (quant_sentiment.scoring.cli); the rest is Kedro's run.
        from quant_sentiment.scoring.cli import cli

        return cli(*args, **kwargs)
    package_name = Path(__file__).parent.name
    configure_project(package_name)

    interactive = hasattr(sys, "ps1")
    kwargs["standalone_mode"] = not interactive

    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
