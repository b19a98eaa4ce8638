"""The HTTP service: FastAPI app around one :class:`~.model.Predictor`.

Endpoints: ``POST /predict`` (``{"text": ...}`` or ``{"texts": [...]}``),
``GET /health``, ``GET /model`` (the manifest, without absolute paths),
``/docs`` and ``/openapi.json``. A multi-task model answers every head of each text
(``tasks``, :class:`Prediction`) from the same batched model call.

Every request is answered, never the process taken down. A ``/predict`` request is
admitted (one of ``max_pending`` places, else 503 with ``Retry-After``) *before* its
body is read, so the bodies in memory are bounded by ``max_pending ×
max_body_bytes`` whatever the number of connections; then its body is read (408,
413, 499) and checked (400, 413, 422: :mod:`.parsing`), and its normalised texts are
micro-batched with other requests' (:mod:`.batcher`, one model call at a time in a
worker thread). While it waits, the client's disconnection is watched: a request
whose client left is dropped from the queue (logged as 499), so the model never
works for nobody.

FastAPI is imported at module level (its route signatures are resolved from this
module's names); only ``quant-sentiment serve`` and the tests import this module.
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from .batcher import MicroBatcher, Overloaded, TextFailed
from .limits import ServiceLimits
from .model import Predictor
from .parsing import PredictRequest, RequestError, prepare, read_body

logger = logging.getLogger(__name__)

OVERLOADED = 503
#: Status logged for a request whose client left (nginx's "client closed request").
CLIENT_GONE = 499
#: Bodies up to this size are checked in the event loop; larger ones in a thread,
#: one at a time.
INLINE_BYTES = 16_384
#: A POSIX, home-relative, Windows drive or UNC absolute path.
_ABSOLUTE = re.compile(r"^(/|~|[A-Za-z]:[\\/]|\\\\)")

__all__ = [
    "RequestError",
    "create_app",
    "public_manifest",
    "return_large_buffers_to_the_os",
]


class TaskPrediction(BaseModel):
    """One head's answer: ``label`` (single_label: the most probable class, softmax
    probabilities) or ``labels`` (multi_label: every class whose sigmoid probability
    exceeds 0.5, in class order, possibly none; one probability per class)."""

    label: str | None = None
    labels: list[str] | None = None
    probabilities: dict[str, float]


class Prediction(BaseModel):
    """Label and class probabilities of one text (a multi-task model: its primary
    head's), and for a multi-task model every head under ``tasks``, in task order.
    A single-task model's answer has no ``tasks`` key."""

    label: str
    probabilities: dict[str, float]
    tasks: dict[str, TaskPrediction] | None = None


class PredictResponse(BaseModel):
    """Predictions in request order."""

    variant: str
    predictions: list[Prediction]


_OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}


def public_manifest(value: Any, folder: Path) -> Any:
    """``value`` (a manifest) with every absolute path made relative: to ``folder``
    when inside it, else the file or folder name alone."""
    if isinstance(value, dict):
        return {key: public_manifest(item, folder) for key, item in value.items()}
    if isinstance(value, list):
        return [public_manifest(item, folder) for item in value]
    if isinstance(value, str) and _ABSOLUTE.match(value):
        path = PurePosixPath(value.replace("\\", "/"))
        for base in {folder.absolute().as_posix(), folder.resolve().as_posix()}:
            if path.is_relative_to(base):
                return path.relative_to(base).as_posix()
        return path.name
    return value


def return_large_buffers_to_the_os(threshold: int = 131_072) -> bool:
    """Have glibc allocate blocks of ``threshold`` bytes or more with ``mmap``, so
    a freed request body goes back to the OS at once (``mallopt(M_MMAP_THRESHOLD)``).

    By default glibc raises that threshold to the size of the first such block
    freed, after which bodies of ~1 MB stay in its heap and the service's resident
    memory grows past the bound of the limits (measured: +66 MiB under 400 slow
    1 MB bodies). ``False`` where the C library is not glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return bool(ctypes.CDLL(name).mallopt(-3, threshold))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError, TypeError):
        return False


async def _until_disconnected(receive) -> None:
    """Return when the client has gone (the ASGI ``http.disconnect`` message)."""
    while (await receive())["type"] != "http.disconnect":
        await asyncio.sleep(0.01)  # a server repeating empty body messages


async def _score_while_connected(
    batcher: MicroBatcher, texts: list[str], receive
) -> list[Any]:
    """The request's results; :class:`RequestError` 499 (its queued texts dropped)
    when the client disconnects first."""
    scoring = asyncio.ensure_future(batcher.score(texts))
    watch = asyncio.ensure_future(_until_disconnected(receive))
    try:
        await asyncio.wait({scoring, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not scoring.done():
            scoring.cancel()
            await asyncio.gather(scoring, return_exceptions=True)
            raise RequestError(CLIENT_GONE, "client disconnected; request dropped")
    return scoring.result()


def create_app(predictor: Predictor, limits: ServiceLimits | None = None):
    """The FastAPI app serving ``predictor`` under ``limits``."""
    limits = limits or ServiceLimits()
    batcher = MicroBatcher(
        # every head of a batch from one model call (Predictor.rows)
        lambda encoded: predictor.rows(
            [text.decode("utf-8") for text in encoded], limits.batch_size
        ),
        limits.max_pending,
        limits.max_batch_texts,
    )
    reading = {"bodies": 0}
    parsing: dict[str, Any] = {}  # one large body parsed at a time (memory bound)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio

        parsing["limiter"] = anyio.CapacityLimiter(1)
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="quant_sentiment",
        summary=f"Sentiment of Indonesian text: {predictor.variant}",
        version=str(predictor.manifest.get("created_at", "")),
        lifespan=lifespan,
    )
    app.state.batcher = batcher

    @app.exception_handler(RequestError)
    async def _refused(request: Request, exc: RequestError) -> JSONResponse:
        if exc.status == CLIENT_GONE:
            logger.info("POST %s: %s (499)", request.url.path, exc.message)
        headers = {"Retry-After": "1"} if exc.status == OVERLOADED else None
        return JSONResponse({"detail": exc.message}, exc.status, headers=headers)

    def _compact(body: bytearray) -> list[bytes]:
        """The normalised texts, UTF-8 encoded while they wait: no larger than the
        body (a Python string of ASCII and one emoji takes 4 bytes a character)."""
        return [text.encode("utf-8") for text in prepare(body, limits, predictor.prep)]

    async def _texts(request: Request) -> list[bytes]:
        reading["bodies"] += 1
        try:
            body = await read_body(request, limits)
        finally:
            reading["bodies"] -= 1
        if len(body) <= INLINE_BYTES:
            return _compact(body)
        import anyio

        return await anyio.to_thread.run_sync(
            _compact, body, limiter=parsing["limiter"]
        )

    @app.post(
        "/predict",
        response_model=PredictResponse,
        response_model_exclude_none=True,  # no `tasks` (single-task), one of label(s)
        openapi_extra=_OPENAPI_BODY,
        responses={400: {}, 408: {}, 413: {}, 422: {}, 503: {}},
    )
    async def predict(request: Request) -> dict[str, Any]:
        """Label and class probabilities of one text or a list of texts (raw: the
        model's own normalisation is applied); a multi-task model adds every head
        under `tasks` (docs/predict.md, "Multi-task models")."""
        try:
            with batcher.admit():
                texts = await _texts(request)
                rows = await _score_while_connected(batcher, texts, request.receive)
        except Overloaded as exc:
            raise RequestError(OVERLOADED, f"{exc}; retry later") from exc
        except TextFailed as exc:
            raise RequestError(422, str(exc)) from exc
        return {"variant": predictor.variant, "predictions": rows}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness, the variant served and the requests in progress: ``pending``
        counts every admitted request, ``reading`` those whose body is arriving."""
        return {
            "status": "ok",
            "variant": predictor.variant,
            "pending": batcher.pending,
            "reading": reading["bodies"],
            "queued_texts": batcher.queued_texts,
            "dropped": batcher.dropped,
            "max_batch_texts": batcher.cap,
            "batch_curve": getattr(app.state, "batch_curve", None),
        }

    @app.get("/model")
    async def model() -> dict[str, Any]:
        """The served folder's ``manifest.json`` (paths relative) and the limits."""
        return {
            "manifest": public_manifest(predictor.manifest, predictor.folder),
            "limits": asdict(limits),
        }

    return app
