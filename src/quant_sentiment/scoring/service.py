"""The HTTP service: FastAPI app around one :class:`~.model.Predictor`.

Endpoints: ``POST /predict`` (``{"text": ...}`` or ``{"texts": [...]}``),
``GET /health``, ``GET /model`` (the manifest), ``/docs`` and ``/openapi.json``.

Every request is answered, never the process taken down: the body is read with a
size cap (413), decoded (400 for invalid UTF-8 or malformed JSON), validated (422
for wrong types, empty lists or texts, 413 for too many or too long texts). Model
calls are micro-batched across concurrent requests and run in a worker thread
(:mod:`.batcher`); at most ``max_pending`` requests are admitted at once (queued or
running) and the rest get 503 with ``Retry-After``, so memory stays bounded under
overload.

FastAPI is imported at module level (its route signatures are resolved from this
module's names); only ``quant-sentiment serve`` and the tests import this module.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .batcher import MicroBatcher, Overloaded
from .limits import ServiceLimits
from .model import Predictor

OVERLOADED = 503


class PredictRequest(BaseModel):
    """One text (``text``) or several (``texts``), not both."""

    model_config = ConfigDict(extra="forbid", strict=True)
    text: str | None = Field(default=None, description="One raw text.")
    texts: list[str] | None = Field(default=None, description="Several raw texts.")

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError(
                "give exactly one of 'text' (a string) or 'texts' (a list)"
            )
        if self.texts is not None and not self.texts:
            raise ValueError("'texts' is an empty list")
        return self

    def all_texts(self) -> list[str]:
        """The texts in request order."""
        return [self.text] if self.text is not None else list(self.texts)


class Prediction(BaseModel):
    """Label and class probabilities of one text."""

    label: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    """Predictions in request order."""

    variant: str
    predictions: list[Prediction]


class RequestError(Exception):
    """A request the service refuses, with its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def _read_body(request, limit: int) -> bytes:
    """The body, read in chunks and refused (413) as soon as it passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"body of {declared} bytes exceeds {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(413, f"body exceeds {limit} bytes")
    return bytes(body)


def parse_request(body: bytes, limits: ServiceLimits) -> list[str]:
    """Decode, parse and check a ``/predict`` body; the raw texts, or RequestError."""
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(400, f"body is not valid UTF-8 (byte {exc.start})") from exc
    try:
        payload = json.loads(decoded)
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"malformed JSON: {exc.msg} at {exc.pos}") from exc
    try:
        texts = PredictRequest.model_validate(payload).all_texts()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
            for e in exc.errors()
        )
        raise RequestError(422, problems) from exc
    if len(texts) > limits.max_texts:
        raise RequestError(413, f"{len(texts)} texts; at most {limits.max_texts}")
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            raise RequestError(
                413, f"text {i} has {len(text)} characters; at most {limits.max_chars}"
            )
        if not text.strip():
            raise RequestError(422, f"text {i} is empty")
    return texts


_OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}


def score_requests(
    predictor: Predictor, requests: list[list[str]], batch_size: int
) -> list[dict[str, Any] | RequestError]:
    """Score several requests' raw texts in one model call (blocking).

    Each request's texts are normalised; a request with a text empty after
    normalisation gets a 422 :class:`RequestError` instead of predictions.
    """
    cleaned = [predictor.prep.many(texts) for texts in requests]
    results: list[Any] = []
    for clean in cleaned:
        empty = [i for i, text in enumerate(clean) if not text.strip()]
        error = f"text(s) {empty} are empty after normalisation"
        results.append(RequestError(422, error) if empty else None)
    scored = [c for c, r in zip(cleaned, results) if r is None]
    probs = iter(predictor.probabilities([t for c in scored for t in c], batch_size))
    for i, clean in enumerate(cleaned):
        if results[i] is None:
            rows = [predictor.row(next(probs)) for _ in clean]
            results[i] = {"variant": predictor.variant, "predictions": rows}
    return results


def create_app(predictor: Predictor, limits: ServiceLimits | None = None):
    """The FastAPI app serving ``predictor`` under ``limits``."""
    limits = limits or ServiceLimits()
    batcher = MicroBatcher(
        lambda requests: score_requests(predictor, requests, limits.batch_size),
        limits.max_pending,
        limits.max_batch_texts,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
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
        headers = {"Retry-After": "1"} if exc.status == OVERLOADED else None
        return JSONResponse({"detail": exc.message}, exc.status, headers=headers)

    @app.post(
        "/predict",
        response_model=PredictResponse,
        openapi_extra=_OPENAPI_BODY,
        responses={400: {}, 413: {}, 422: {}, 503: {}},
    )
    async def predict(request: Request) -> dict[str, Any]:
        """Label and class probabilities of one text or a list of texts (raw: the
        model's own normalisation is applied)."""
        texts = parse_request(await _read_body(request, limits.max_body_bytes), limits)
        try:
            return await batcher.submit(texts)
        except Overloaded as exc:
            raise RequestError(OVERLOADED, f"{exc}; retry later") from exc

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness, the variant served and the requests in progress."""
        return {
            "status": "ok",
            "variant": predictor.variant,
            "pending": batcher.pending,
        }

    @app.get("/model")
    async def model() -> dict[str, Any]:
        """The served folder's ``manifest.json`` and the service limits."""
        return {"manifest": predictor.manifest, "limits": asdict(limits)}

    return app
