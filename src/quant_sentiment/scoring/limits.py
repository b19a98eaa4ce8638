"""The HTTP service's limits, declared once (the ``serve`` options default to them)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; ``taskset`` narrows it),
    the default of ``serve --threads``."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ServiceLimits:
    """The service's limits (``quant-sentiment serve --max-...`` overrides them).

    Attributes:
        max_texts: Texts per request (more: 413).
        max_chars: Characters per text (more: 413).
        max_body_bytes: Request body bytes (more: 413).
        max_pending: Requests admitted at once, counted from their arrival (before
            the body is read) until answered (more: 503). With ``max_body_bytes``
            it bounds the memory requests take.
        max_batch_texts: Texts of queued requests scored together in one model
            call (micro-batching; one call runs at a time).
        batch_size: Texts per forward pass within a model call (by length).
        body_timeout_s: Seconds to receive a whole body (more: 408).
        max_json_depth: Nesting levels of JSON arrays / objects (more: 400).
        max_number_digits: Digits of a JSON integer (more: 400).
    """

    max_texts: int = 64
    max_chars: int = 10_000
    max_body_bytes: int = 1_000_000
    max_pending: int = 64
    max_batch_texts: int = 64
    batch_size: int = 32
    body_timeout_s: float = 30.0
    max_json_depth: int = 16
    max_number_digits: int = 100
