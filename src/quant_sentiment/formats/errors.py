"""Exceptions shared by the format writers."""


class VariantUnavailable(RuntimeError):
    """A variant that cannot be built on this machine (e.g. bitsandbytes without CUDA).

    The producer records it as a ``status: skipped`` manifest with this reason.
    """
