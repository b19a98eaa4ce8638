"""Admission control and micro-batching of the service's model calls.

Requests wait in one queue; a single loop takes whatever is queued when the model is
free (up to ``max_batch_texts`` texts) and scores it in one call in a worker thread.
Under concurrency this turns many one-text calls into a few batched ones (a batch of
8 texts costs far less than 8 single calls on a CPU), and with one client it adds no
delay: nothing waits for a batch to fill. At most ``max_pending`` requests are
admitted at once, queued or running; the next gets :class:`Overloaded` (503), so the
queue, and memory, stay bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

#: ``(texts of each request) -> (result or exception of each request)``, blocking.
BatchFunction = Callable[[list[list[str]]], list[Any]]


class Overloaded(Exception):
    """No room: ``max_pending`` requests are already queued or running."""


class MicroBatcher:
    """One queue, one scoring loop; start it inside the serving event loop."""

    def __init__(
        self, run_batch: BatchFunction, max_pending: int, max_batch_texts: int
    ) -> None:
        self.run_batch = run_batch
        self.max_pending = max_pending
        self.max_batch_texts = max_batch_texts
        self.pending = 0
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the scoring loop in the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the scoring loop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def submit(self, texts: list[str]) -> Any:
        """Queue one request's texts and wait for its result.

        Raises:
            Overloaded: When ``max_pending`` requests are already in the service.
        """
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if self.pending >= self.max_pending:
            raise Overloaded(f"overloaded: {self.pending} requests in progress")
        self.pending += 1
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((texts, future))
        try:
            return await future
        finally:
            self.pending -= 1

    def _take(self, first: tuple) -> list[tuple]:
        """``first`` plus whatever is queued, up to ``max_batch_texts`` texts."""
        batch, size = [first], len(first[0])
        while size < self.max_batch_texts and not self._queue.empty():
            item = self._queue.get_nowait()
            batch.append(item)
            size += len(item[0])
        return batch

    async def _loop(self) -> None:
        import anyio

        while True:
            batch = self._take(await self._queue.get())
            try:
                results = await anyio.to_thread.run_sync(
                    self.run_batch, [texts for texts, _ in batch]
                )
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results):
                if future.done():  # the client went away
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
