"""Filter known-harmless library noise, each message precisely, in one place.

:func:`quiet_library_noise` is called early in every process the project starts:
``settings.py`` (every ``kedro`` command, the Kedro IPython extension) and the
benchmark child (``python -m quant_sentiment.benchmark``). Each filter matches one
message from one source (a ``warnings`` category, or one logger), so every other
warning, the project's own included, still shows.

Filtered, and why it is harmless here:

- OmegaConf 2.4's ``UserWarning`` ``register_new_resolver() is deprecated``, raised
  from Kedro's own config loader (``kedro.config.omegaconf_config``) four times per
  ``kedro`` command: Kedro's call, not the project's (``settings.py`` passes its
  resolver through ``CONFIG_LOADER_ARGS``).
- The same OmegaConf warning from kedro-mlflow's hook (it registers
  ``km.random_name``), and MLflow's ``Add type hints to the `predict` method``
  ``UserWarning``, raised when ``mlflow.pyfunc`` is imported (filtered on the
  ``py.warnings`` logger, where Kedro sends warnings): the project logs no pyfunc
  model.
- torchao (logger ``torchao``): ``Failed to load .../torchao/_C_mxfp8...so`` and
  ``_C_cutlass_90a...so``: CUDA-only kernels that a CPU torch cannot load; the CPU
  int8 route does not use them.
- torchao (logger ``torchao.kernel.intmm``): ``Detected no triton``: Triton is a
  GPU compiler; CPU kernels do not need it.
- torch (logger ``torch.utils._pytree``, printed as ``W... _pytree.py:630] <enum
  'KernelPreference'> is an Enum subclass ... register_constant() ...``): torchao
  registers its enums the old way when imported; nothing to do for a user.
- ONNX Runtime (the root logger, via ``logging.warning``): ``Please consider to run
  pre-processing before quantization``: ``quant_pre_process`` only folds shapes for
  static quantization; ``quantize_dynamic`` and the INT4 quantizer do not need it.
"""

from __future__ import annotations

import logging
import re
import warnings

#: ``(message regex, category, module regex)`` for :func:`warnings.filterwarnings`.
WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    (
        r"register_new_resolver\(\) is deprecated",
        UserWarning,
        r"kedro\.config\.omegaconf_config",
    ),
    # kedro-mlflow registers its ``km.random_name`` resolver the same old way.
    (
        r"register_new_resolver\(\) is deprecated",
        UserWarning,
        r"kedro_mlflow\.framework\.hooks\.mlflow_hook",
    ),
)

#: Logger name -> regexes (``re.search`` on the formatted message) dropped there. A
#: logger's filter sees only the records that logger creates itself ("" = root:
#: ``logging.warning(...)`` calls), not those of its children.
LOG_MESSAGES: dict[str, tuple[str, ...]] = {
    "torchao": (r"^Failed to load \S*torchao[/\\]_C\w*\.\S*\.so\b",),
    "torchao.kernel.intmm": (r"Detected no triton",),
    "torch.utils._pytree": (
        r"is an Enum subclass and is now natively supported by torch\.compile",
    ),
    # MLflow warns inside its own ``catch_warnings(simplefilter("once"))``, which
    # overrides any warnings filter; Kedro routes warnings to this logger.
    "py.warnings": (r"Add type hints to the `predict` method",),
    "": (r"^Please consider to run pre-processing before quantization",),
}


class MessageFilter(logging.Filter):
    """Drop the records whose message matches one of ``patterns``."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        """Compile ``patterns`` (regular expressions, searched in the message)."""
        super().__init__()
        self.patterns = tuple(re.compile(p) for p in patterns)

    def filter(self, record: logging.LogRecord) -> bool:
        """``False`` (drop) when the record's message matches a pattern."""
        message = record.getMessage()
        return not any(p.search(message) for p in self.patterns)


def quiet_library_noise() -> None:
    """Install the filters above in this process (idempotent).

    Call it before the libraries are imported: the warnings filters and logger
    filters then catch the messages those imports emit.
    """
    for message, category, module in WARNINGS:
        warnings.filterwarnings(
            "ignore", message=message, category=category, module=module
        )
    for name, patterns in LOG_MESSAGES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, MessageFilter) for f in logger.filters):
            logger.addFilter(MessageFilter(patterns))
