"""The HTTP service's limits, declared once (the ``serve`` options default to them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceLimits:
    """The service's limits (``quant-sentiment serve --max-...`` overrides them).

    Attributes:
        max_texts: Texts per request (more: 413).
        max_chars: Characters per text (more: 413).
        max_body_bytes: Request body bytes (more: 413).
        max_pending: Requests admitted at once, running or waiting (more: 503).
        workers: Model calls running at once (threads; 1 suits 2 cores).
        batch_size: Texts per model call within a request.
    """

    max_texts: int = 64
    max_chars: int = 10_000
    max_body_bytes: int = 1_000_000
    max_pending: int = 64
    workers: int = 1
    batch_size: int = 32
