"""The HTTP service through FastAPI's ``TestClient``: endpoints, limits, bad requests."""

from __future__ import annotations

import json
import threading

import anyio
import pytest
from fastapi.testclient import TestClient

from quant_sentiment.scoring.batcher import MicroBatcher, Overloaded
from quant_sentiment.scoring.limits import ServiceLimits
from quant_sentiment.scoring.service import create_app

LIMITS = ServiceLimits(max_texts=4, max_chars=50, max_body_bytes=600, max_pending=2)
LABELS = {"positive", "neutral", "negative"}

#: (name, body bytes, status, words of the message) - every malformed request tried.
MALFORMED = [
    ("malformed JSON", b'{"text": "bagus"', 400, "malformed JSON"),
    ("not JSON at all", b"bagus sekali", 400, "malformed JSON"),
    ("empty body", b"", 400, "malformed JSON"),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}', 400, "not valid UTF-8"),
    ("text is a number", b'{"text": 5}', 422, "text: Input should be a valid string"),
    ("text is null", b'{"text": null}', 422, "exactly one of"),
    ("texts is a string", b'{"texts": "bagus"}', 422, "texts: Input should be"),
    ("texts holds numbers", b'{"texts": ["a", 2]}', 422, "texts.1: Input should be"),
    ("texts is empty", b'{"texts": []}', 422, "'texts' is an empty list"),
    ("both text and texts", b'{"text": "a", "texts": ["b"]}', 422, "exactly one"),
    ("neither", b"{}", 422, "exactly one of"),
    ("unknown field", b'{"text": "a", "lang": "id"}', 422, "lang: Extra inputs"),
    ("top-level list", b'["bagus"]', 422, "body: Input should be"),
    ("empty text", b'{"text": "   "}', 422, "text 0 is empty"),
    ("ideographic space only", b'{"text": "\\u3000"}', 422, "text 0 is empty"),
    ("too many texts", json.dumps({"texts": ["a"] * 5}).encode(), 413, "at most 4"),
    ("text too long", json.dumps({"text": "a" * 51}).encode(), 413, "at most 50"),
    ("body too large", json.dumps({"text": "a" * 700}).encode(), 413, "exceeds 600"),
]


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(predictor, LIMITS)) as client:
        yield client


def test_health_model_and_docs(client, predictor):
    health = client.get("/health").json()
    assert health == {
        "status": "ok",
        "variant": "fp32",
        "pending": 0,
        "reading": 0,
        "queued_texts": 0,
        "dropped": 0,
        "max_batch_texts": LIMITS.max_batch_texts,
        "batch_curve": None,  # measured by `serve --max-batch-texts auto` only
    }
    model = client.get("/model").json()
    assert model["manifest"]["normalisation"] == predictor.manifest["normalisation"]
    assert model["manifest"]["max_length"] == 64
    assert model["limits"]["max_texts"] == 4
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]
    assert set(body["content"]["application/json"]["schema"]["properties"]) == {
        "text",
        "texts",
    }


def test_predict_one_and_many(client, predictor):
    one = client.post("/predict", json={"text": "Makanannya ENAK!"})
    assert one.status_code == 200
    [pred] = one.json()["predictions"]
    assert set(pred["probabilities"]) == LABELS
    assert pred["label"] == max(pred["probabilities"], key=pred["probabilities"].get)
    assert sum(pred["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    texts = ["Makanannya ENAK!", "pelayanan   lambat", "biasa saja"]
    many = client.post("/predict", json={"texts": texts}).json()
    assert many["variant"] == "fp32"
    assert many["predictions"][0] == pred  # normalised the same way, same result
    assert many["predictions"] == predictor.predict_raw(texts)


@pytest.mark.parametrize(("name", "body", "status", "message"), MALFORMED)
def test_malformed_requests_get_a_4xx_and_the_service_stays_up(
    client, name, body, status, message
):
    response = client.post(
        "/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, (name, response.text)
    assert message in response.json()["detail"], (name, response.text)
    assert client.get("/health").json()["status"] == "ok"
    assert client.post("/predict", json={"text": "bagus"}).status_code == 200


def test_wrong_method_and_path(client):
    assert client.get("/predict").status_code == 405
    assert client.post("/nowhere", json={}).status_code == 404


def test_batcher_batches_queued_requests_and_refuses_when_full():
    """While one call runs, queued requests are scored together in the next call;
    past ``max_pending`` requests in the service, the next is refused."""
    release = threading.Event()
    calls: list[list[str]] = []

    def run_batch(texts):
        calls.append(texts)
        release.wait(5)
        return [t.upper() for t in texts]

    batcher = MicroBatcher(run_batch, max_pending=4, cap=64)
    results, refused = {}, []

    async def call(name, texts):
        try:
            results[name] = await batcher.submit(texts)
        except Overloaded as exc:
            refused.append((name, str(exc)))

    async def main():
        batcher.start()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(call, "a", ["a"])
            await anyio.sleep(0.05)  # "a" is running
            for name, texts in [("b", ["b"]), ("c", ["c1", "c2"]), ("d", ["d"])]:
                tasks.start_soon(call, name, texts)
            await anyio.sleep(0.05)
            assert batcher.pending == 4
            await call("e", ["e"])  # a fifth request: no room
            release.set()
        await batcher.stop()

    anyio.run(main)
    assert calls == [["a"], ["b", "c1", "c2", "d"]]
    assert results == {"a": ["A"], "b": ["B"], "c": ["C1", "C2"], "d": ["D"]}
    assert refused == [("e", "overloaded: 4 requests in progress")]
    assert batcher.pending == 0


def test_concurrent_requests_get_their_own_predictions(predictor):
    """Requests scored in one batched call are split back to the right callers."""
    import concurrent.futures

    texts = [f"teks nomor {i} bagus" if i % 2 else f"jelek {i}" for i in range(12)]
    app = create_app(predictor, ServiceLimits(max_pending=16))
    with TestClient(app) as client, concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda t: client.post("/predict", json={"text": t}), texts)
        )
    expected = predictor.predict_raw(texts)
    for answer, want in zip(answers, expected):
        assert answer.status_code == 200
        [got] = answer.json()["predictions"]
        assert got["label"] == want["label"]
        for label, p in want["probabilities"].items():
            assert got["probabilities"][label] == pytest.approx(p, abs=1e-5)


def test_overload_through_http(predictor):
    """With no room left the endpoint answers 503 with Retry-After, then recovers."""
    app = create_app(predictor, ServiceLimits(max_pending=1))
    with TestClient(app) as client:
        batcher = app.state.batcher
        batcher.pending = 1  # one request in progress
        busy = client.post("/predict", json={"text": "bagus"})
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert "overloaded" in busy.json()["detail"]
        batcher.pending = 0
        assert client.post("/predict", json={"text": "bagus"}).status_code == 200


def test_a_request_empty_after_normalisation_fails_alone(predictor, monkeypatch):
    """A request whose text normalises to nothing gets 422 naming the text; the
    others get their predictions."""
    from quant_sentiment.textprep import TextPrep

    strict = TextPrep({**predictor.prep.settings, "strip_non_letters": True})
    monkeypatch.setattr(predictor, "prep", strict)
    with TestClient(create_app(predictor, LIMITS)) as client:
        bad = client.post("/predict", json={"texts": ["bagus", "123 !!"]})
        good = client.post("/predict", json={"text": "bagus"})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "text 1 is empty after normalisation"
    assert good.json()["predictions"][0]["label"] in LABELS


def test_max_batch_texts_one_scores_each_request_alone():
    calls: list[list[str]] = []

    def run_batch(texts):
        calls.append(texts)
        return [len(text) for text in texts]

    batcher = MicroBatcher(run_batch, max_pending=8, cap=1)

    async def main():
        batcher.start()
        async with anyio.create_task_group() as tasks:
            for texts in (["a"], ["b", "c"], ["d"]):
                tasks.start_soon(batcher.submit, texts)
        await batcher.stop()

    anyio.run(main)
    assert calls == [["a"], ["b", "c"], ["d"]]
