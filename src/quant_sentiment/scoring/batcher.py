"""Admission control and micro-batching of the service's model calls.

Admission: at most ``max_pending`` requests are in the service at once, counted from
the moment they arrive (before their body is read) until they are answered; the next
gets :class:`Overloaded` (503). Memory for requests is therefore bounded by about
``max_pending × max_body_bytes``, whatever the number of connections.

Batching: admitted requests' texts wait in one queue; a single loop takes what is
queued when the model is free and scores it in one call in a worker thread. How
much it takes follows the queue depth (:func:`batch_size_for`): everything queued up
to ``cap`` texts; a deeper queue is split into equal batches of at most ``cap``
(set ``cap`` from the variant's batch curve: the batch size past which throughput
stops growing; ``1`` scores each request alone). With one client nothing waits for
a batch to fill.

Isolation: when a batch call raises, each request is scored alone, and a request
that still fails has its texts scored one by one; the text that fails alone fails
its own request with :class:`TextFailed` (its index in the request), every other
request gets its answer. A request whose caller went away (its awaiting task
cancelled, e.g. the client disconnected) is dropped from the queue unscored.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: ``texts -> one result per text`` (blocking); may raise.
ScoreTexts = Callable[[list[str]], Sequence[Any]]
#: Longest part of a failure's message repeated to the client.
MAX_REASON = 200


class Overloaded(Exception):
    """No room: ``max_pending`` requests are already in the service."""


class TextFailed(Exception):
    """Text ``index`` of a request failed when scored alone (the cause attached)."""

    def __init__(self, index: int, cause: BaseException) -> None:
        reason = f"{type(cause).__name__}: {cause}"[:MAX_REASON]
        super().__init__(f"text {index} could not be scored ({reason})")
        self.index, self.cause = index, cause


def _failure(exc: BaseException) -> bool:
    """A scoring failure to isolate (not an interpreter exit or a cancellation).

    Rust extensions (``tokenizers``) raise ``PanicException``, a ``BaseException``.
    """
    return not isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit)


def batch_size_for(depth: int, cap: int) -> int:
    """Texts to take when ``depth`` texts are queued: all of them up to ``cap``;
    a deeper queue in equal batches (``ceil(depth / n)`` with ``n`` the fewest
    batches of at most ``cap``), so no batch is a small remainder."""
    if depth <= cap:
        return max(depth, 1)
    return math.ceil(depth / math.ceil(depth / cap))


@dataclass(eq=False)
class _Item:
    texts: list[str]
    future: asyncio.Future


class MicroBatcher:
    """One queue, one scoring loop; start it inside the serving event loop.

    Attributes:
        pending: Requests admitted and not yet answered (reading their body,
            being checked, queued or being scored).
        queued_texts: Texts waiting in the queue.
        dropped: Queued requests dropped because their caller went away.
        isolated: Batch calls that failed and were rescored request by request.
    """

    def __init__(self, score_texts: ScoreTexts, max_pending: int, cap: int) -> None:
        self.score_texts = score_texts
        self.max_pending, self.cap = max_pending, cap
        self.pending = self.queued_texts = self.dropped = self.isolated = 0
        self._queue: deque[_Item] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the scoring loop in the running event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the scoring loop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of the ``max_pending`` places for the ``with`` block.

        Raises:
            Overloaded: When every place is taken.
        """
        if self.pending >= self.max_pending:
            raise Overloaded(f"overloaded: {self.pending} requests in progress")
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1

    async def score(self, texts: Sequence[str]) -> list[Any]:
        """Queue one (admitted) request's texts; their results, in order.

        Cancelling the awaiting task drops the request from the queue.

        Raises:
            TextFailed: When one of ``texts`` fails when scored alone.
        """
        if self._wake is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        item = _Item(list(texts), asyncio.get_running_loop().create_future())
        self._queue.append(item)
        self.queued_texts += len(item.texts)
        self._wake.set()
        try:
            return await item.future
        except asyncio.CancelledError:
            if item in self._queue:  # not taken yet: never scored
                self._queue.remove(item)
                self.queued_texts -= len(item.texts)
                self.dropped += 1
            raise

    async def submit(self, texts: Sequence[str]) -> list[Any]:
        """:meth:`admit` and :meth:`score` in one call."""
        with self.admit():
            return await self.score(texts)

    def _take(self) -> list[_Item]:
        """The next batch (sized by the queue depth); cancelled requests dropped."""
        live = [item for item in self._queue if not item.future.done()]
        self.dropped += len(self._queue) - len(live)
        self._queue = deque(live)
        self.queued_texts = sum(len(item.texts) for item in live)
        size, batch, taken = batch_size_for(self.queued_texts, self.cap), [], 0
        while self._queue and (not batch or taken + len(self._queue[0].texts) <= size):
            item = self._queue.popleft()
            batch.append(item)
            taken += len(item.texts)
        self.queued_texts -= taken
        return batch

    async def _loop(self) -> None:
        import anyio

        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            batch = self._take()
            if not batch:
                continue
            results = await anyio.to_thread.run_sync(
                self._score_isolated, [item.texts for item in batch]
            )
            for item, result in zip(batch, results):
                if item.future.done():  # the caller went away while it was scored
                    continue
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    item.future.set_result(result)

    def _call(self, texts: list[str]) -> list[Any]:
        results = list(self.score_texts(texts))
        if len(results) != len(texts):
            raise RuntimeError(f"{len(results)} results for {len(texts)} texts")
        return results

    def _score_isolated(self, requests: list[list[str]]) -> list[Any]:
        """Each request's results, or the exception that request fails with."""
        try:
            results = iter(self._call([text for texts in requests for text in texts]))
        except BaseException as exc:
            if not _failure(exc):
                raise
            if len(requests) == 1:
                return [self._find_text(requests[0], exc)]
            self.isolated += 1
            logger.warning(
                "A batch of %d requests failed (%s: %s); scoring each alone",
                len(requests),
                type(exc).__name__,
                str(exc)[:MAX_REASON],
            )
            return [self._score_alone(texts) for texts in requests]
        return [[next(results) for _ in texts] for texts in requests]

    def _score_alone(self, texts: list[str]) -> Any:
        try:
            return self._call(texts)
        except BaseException as exc:
            if not _failure(exc):
                raise
            return self._find_text(texts, exc)

    def _find_text(self, texts: list[str], exc: BaseException) -> BaseException:
        """:class:`TextFailed` for the first text that fails alone; ``exc`` itself
        when none does (the request fails as a whole: a server error)."""
        if len(texts) == 1:
            failed: BaseException = TextFailed(0, exc)
        else:
            failed = exc
            for index, text in enumerate(texts):
                try:
                    self._call([text])
                except BaseException as single:
                    if not _failure(single):
                        raise
                    failed = TextFailed(index, single)
                    break
        logger.error("Scoring failed: %s", failed, exc_info=exc)
        if not isinstance(failed, Exception):  # e.g. a Rust panic
            failed = RuntimeError(f"{type(failed).__name__}: {failed}"[:MAX_REASON])
        return failed
