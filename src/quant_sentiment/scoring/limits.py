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
        max_pending: Requests admitted at once, queued or running (more: 503).
        max_batch_texts: Texts of queued requests scored together in one model
            call (micro-batching; one call runs at a time).
        batch_size: Texts per forward pass within a model call (by length).
    """

    max_texts: int = 64
    max_chars: int = 10_000
    max_body_bytes: int = 1_000_000
    max_pending: int = 64
    max_batch_texts: int = 64
    batch_size: int = 32
