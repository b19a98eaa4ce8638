"""Reading and checking a ``POST /predict`` request, before any model work.

Every refusal is a :class:`RequestError` with its HTTP status and a message naming
the problem (and the text's index), never a server error:

- the body is read in chunks within ``body_timeout_s`` (408) and refused as soon as
  it passes ``max_body_bytes`` (413); a client that leaves while sending it: 499;
- the JSON is checked before it is parsed: nesting deeper than ``max_json_depth``
  (400; Python's parser would recurse until ``RecursionError``); while parsing, an
  integer longer than ``max_number_digits`` (400; Python refuses past 4,300 digits
  with a ``ValueError``) and a key repeated in one object (422: which one is meant
  is ambiguous) are refused;
- the payload's shape (pydantic, 422), the number of texts and each text's length
  (413), then each text by :func:`quant_sentiment.textcheck.text_problem`, the rule
  set shared with the ``predict`` command and preprocessing: lone surrogates,
  control characters, only whitespace / invisible characters (422);
- after the model's normalisation, a text with nothing left (422).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from quant_sentiment.textcheck import text_problem

from .limits import ServiceLimits

#: A JSON string (escapes included); UTF-8 continuation bytes never hold ``"``/``\``.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


class RequestError(Exception):
    """A request the service refuses, with its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


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


async def read_body(request, limits: ServiceLimits) -> bytearray:
    """The body, read in chunks within ``limits.body_timeout_s``.

    Raises:
        RequestError: 413 as soon as it passes ``max_body_bytes`` (or declares
            more), 408 when not received in time, 499 when the client left.
    """
    import anyio
    from starlette.requests import ClientDisconnect

    limit = limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"body of {declared} bytes exceeds {limit} bytes")
    body = bytearray()
    try:
        with anyio.fail_after(limits.body_timeout_s):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise RequestError(413, f"body exceeds {limit} bytes")
    except TimeoutError as exc:
        raise RequestError(
            408, f"body not received within {limits.body_timeout_s:g} s"
        ) from exc
    except ClientDisconnect as exc:
        raise RequestError(499, "client disconnected while sending the body") from exc
    return body


def json_depth(body: bytes | bytearray) -> int:
    """Deepest nesting of arrays / objects in a JSON text, strings skipped
    (brackets of an unterminated string count: such a body is malformed anyway)."""
    structure = _STRING.sub(b"", body)
    steps = _STEP[np.frombuffer(structure, dtype=np.uint8)]
    steps = steps[steps != 0]
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def load_json(body: bytes | bytearray, limits: ServiceLimits) -> Any:
    """Decode and parse ``body`` within the JSON limits, or :class:`RequestError`."""
    if body.count(b"[") + body.count(b"{") > limits.max_json_depth:
        depth = json_depth(body)
        if depth > limits.max_json_depth:
            raise RequestError(
                400, f"JSON nested {depth} levels deep; at most {limits.max_json_depth}"
            )
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(400, f"body is not valid UTF-8 (byte {exc.start})") from exc

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.max_number_digits:
            raise RequestError(
                400,
                f"a JSON integer has {len(digits.lstrip('-'))} digits; "
                f"at most {limits.max_number_digits}",
            )
        return int(digits)

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RequestError(422, f"duplicate key {key!r} in a JSON object")
            seen.add(key)
        return dict(pairs)

    try:
        return json.loads(decoded, parse_int=parse_int, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"malformed JSON: {exc.msg} at {exc.pos}") from exc
    except (RecursionError, ValueError) as exc:  # past the checks above: still 4xx
        raise RequestError(400, f"JSON refused: {str(exc)[:200]}") from exc


def parse_request(body: bytes | bytearray, limits: ServiceLimits) -> list[str]:
    """Decode, parse and check a ``/predict`` body; the raw texts, or RequestError."""
    try:
        texts = PredictRequest.model_validate(load_json(body, limits)).all_texts()
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
        problem = text_problem(text, max_chars=None)
        if problem is not None:
            raise RequestError(422, f"text {i} {problem}")
    return texts


def prepare(body: bytes | bytearray, limits: ServiceLimits, prep) -> list[str]:
    """:func:`parse_request`, then each text normalised by ``prep`` (the model's
    :class:`~quant_sentiment.textprep.TextPrep`); 422 for a text left empty."""
    clean = prep.many(parse_request(body, limits))
    for i, text in enumerate(clean):
        if not text.strip():
            raise RequestError(422, f"text {i} is empty after normalisation")
    return clean
