"""Hostile but fair clients (issue 26): a bad text fails only its own request, JSON
limits hold before parsing, bodies are admitted before they are read, work for a
client who left is dropped, ``/model`` shows no absolute path, and no case gets a
5xx, for every format the tiny fixtures can serve."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest
from fastapi.testclient import TestClient

from quant_sentiment.scoring.limits import ServiceLimits
from quant_sentiment.scoring.service import create_app
from tests.scoring.asgi_client import HandDrivenRequest

SURROGATE = b'{"text": "bagus \\ud800 sekali"}'
GOOD = ["makanannya enak", "pelayanan lambat", "biasa saja", "mantap sekali"]

#: (name, body, status, words of the message): each must get a 4xx, never a 5xx.
HOSTILE = [
    ("lone surrogate", SURROGATE, 422, "text 0 contains a lone surrogate U+D800"),
    (
        "surrogate in a list",
        b'{"texts": ["bagus", "a \\udfff b"]}',
        422,
        "text 1 contains a lone surrogate",
    ),
    ("100k-deep JSON", b"[" * 100_000 + b"]" * 100_000, 400, "levels deep"),
    (
        "100k-deep inside a field",
        b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        400,
        "levels deep",
    ),
    ("5,000-digit integer", b'{"text": ' + b"7" * 5000 + b"}", 400, "5000 digits"),
    ("duplicate key", b'{"text": "bagus", "text": "jelek"}', 422, "duplicate key"),
    ("zero-width only", '{"text": "\u200b\u200c\u2060"}'.encode(), 422, "is empty"),
    ("RTL marks only", '{"text": "\u200f\u202e\u200e"}'.encode(), 422, "is empty"),
    ("BOM only", '{"text": "\ufeff"}'.encode(), 422, "is empty"),
    ("NUL only", b'{"text": "\\u0000"}', 422, "control character U+0000"),
    ("escape character", b'{"text": "bagus \\u001b[31m"}', 422, "U+001B"),
]


@pytest.fixture()
def gate(predictor, monkeypatch):
    """Holds the first model call until ``gate.release`` is set; records the texts
    of every model call."""

    class Gate:
        calls: list[list[str]] = []
        release = threading.Event()

    original = predictor.head_probabilities  # the one model call of every answer

    def head_probabilities(texts, batch_size=32):
        Gate.calls.append(list(texts))
        if len(Gate.calls) == 1:
            Gate.release.wait(10)
        return original(texts, batch_size)

    monkeypatch.setattr(predictor, "head_probabilities", head_probabilities)
    yield Gate
    Gate.release.set()


async def _until(condition, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def _post(client: httpx.AsyncClient, body: bytes):
    headers = {"content-type": "application/json"}
    return asyncio.ensure_future(client.post("/predict", content=body, headers=headers))


def _run_app(app, main) -> None:
    """Run ``main(client)`` with the app started and an ASGI ``httpx`` client."""

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test"
            ) as client:
                await main(client)

    asyncio.run(run())


def test_a_bad_text_in_a_coalesced_batch_fails_only_its_request(predictor, gate):
    """While the model is busy, good requests and a surrogate one queue together;
    the surrogate request gets 422 naming its text, the others their answers."""
    app = create_app(predictor, ServiceLimits(max_pending=16))
    answers = {}

    async def main(client):
        first = _post(client, json.dumps({"text": "pertama"}).encode())
        await _until(lambda: len(gate.calls) == 1)
        posts = {t: _post(client, json.dumps({"text": t}).encode()) for t in GOOD}
        posts["surrogate"] = _post(client, SURROGATE)
        await asyncio.sleep(0.2)  # all of them parsed and queued
        gate.release.set()
        answers.update({key: await post for key, post in posts.items()})
        assert (await first).status_code == 200

    _run_app(app, main)
    bad = answers.pop("surrogate")
    assert bad.status_code == 422, bad.text
    assert "text 0 contains a lone surrogate U+D800" in bad.json()["detail"]
    alone = predictor.predict_raw(GOOD)
    for text, want in zip(GOOD, alone):
        assert answers[text].status_code == 200, answers[text].text
        assert answers[text].json()["predictions"][0]["label"] == want["label"]
    assert gate.calls[1] == [predictor.prep(t) for t in GOOD]  # one batch


def test_batcher_isolates_a_failing_text_with_the_real_model(predictor):
    """Past the request checks, a text the tokenizer cannot take (a lone
    surrogate) still fails only its own request, naming its index."""
    from quant_sentiment.scoring.batcher import MicroBatcher, TextFailed

    def score(texts):
        return [predictor.row(p) for p in predictor.probabilities(texts)]

    batcher = MicroBatcher(score, max_pending=8, cap=64)
    requests = [["enak"], ["bagus", "bagus \ud800 sekali"], ["jelek"]]

    async def main():
        batcher.start()
        try:
            return await asyncio.gather(
                *(batcher.submit(texts) for texts in requests), return_exceptions=True
            )
        finally:
            await batcher.stop()

    first, failed, last = asyncio.run(main())
    assert isinstance(failed, TextFailed) and failed.index == 1
    assert str(failed).startswith("text 1 could not be scored")
    assert [first[0]["label"], last[0]["label"]] == [
        r["label"] for r in predictor.predict_raw(["enak", "jelek"])
    ]
    assert batcher.isolated == 1


def test_batch_size_follows_the_queue_depth():
    from quant_sentiment.scoring.batcher import batch_size_for

    assert [batch_size_for(d, 32) for d in (0, 1, 7, 32)] == [1, 1, 7, 32]
    assert batch_size_for(40, 32) == 20  # two equal batches, not 32 + 8
    assert batch_size_for(65, 32) == 22
    assert batch_size_for(5, 1) == 1


@pytest.mark.parametrize(
    ("name", "body", "status", "words"), HOSTILE, ids=[case[0] for case in HOSTILE]
)
def test_hostile_bodies_get_a_4xx_naming_the_problem(
    predictor, name, body, status, words
):
    with TestClient(create_app(predictor)) as client:
        response = client.post(
            "/predict", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == status, (name, response.text)
        assert words in response.json()["detail"], (name, response.text)
        assert client.post("/predict", json={"text": "bagus"}).status_code == 200


def test_brackets_inside_strings_are_not_nesting(predictor):
    text = "[" * 3000 + '{ "bagus" }' + "]" * 3000  # escaped quotes inside
    body = json.dumps({"text": text}).encode()
    with TestClient(create_app(predictor)) as client:
        response = client.post("/predict", content=body)
    assert response.status_code == 200, response.text


def test_admission_counts_a_request_before_its_body_is_read(predictor):
    """Requests whose body is still arriving hold their place (``/health`` shows
    them); past ``max_pending`` the next is refused without reading its body."""
    app = create_app(predictor, ServiceLimits(max_pending=2))
    body = json.dumps({"text": "bagus sekali"}).encode()

    async def main(client):
        slow = [
            HandDrivenRequest(app, content_length=len(body)).start() for _ in range(2)
        ]
        for request in slow:
            request.push(body[:5])
        await _until(lambda: all(r.received for r in slow))
        health = (await client.get("/health")).json()
        assert (health["pending"], health["reading"]) == (2, 2)
        refused = HandDrivenRequest(app, content_length=len(body)).start()
        status, answer = await refused.response()
        assert status == 503 and "overloaded" in answer["detail"]
        assert refused.received == 0  # its body was never read
        for request in slow:
            request.push(body[5:], more=False)
        assert [(await r.response())[0] for r in slow] == [200, 200]
        assert (await client.get("/health")).json()["pending"] == 0

    _run_app(app, main)


def test_a_body_not_sent_in_time_gets_408(predictor):
    app = create_app(predictor, ServiceLimits(body_timeout_s=0.2))

    async def main(client):
        request = HandDrivenRequest(app, content_length=100).start()
        request.push(b'{"text": "ba')
        status, answer = await request.response()
        assert status == 408 and "not received within 0.2 s" in answer["detail"]
        assert (await client.get("/health")).json()["pending"] == 0

    _run_app(app, main)


def test_work_for_a_client_who_left_is_dropped(predictor, gate):
    """A queued request whose client disconnects is never scored."""
    app = create_app(predictor, ServiceLimits(max_pending=8))
    body = json.dumps({"text": "yang pergi"}).encode()

    async def main(client):
        first = _post(client, json.dumps({"text": "pertama"}).encode())
        await _until(lambda: len(gate.calls) == 1)
        leaving = HandDrivenRequest(app, content_length=len(body)).start()
        leaving.push(body, more=False)
        await _until(lambda: app.state.batcher.pending == 2)
        await asyncio.sleep(0.05)
        leaving.disconnect()
        status, _ = await leaving.response()
        assert status == 499
        gate.release.set()
        assert (await first).status_code == 200
        later = await client.post("/predict", json={"text": "berikutnya"})
        assert later.status_code == 200
        assert (await client.get("/health")).json()["dropped"] == 1

    _run_app(app, main)
    assert gate.calls == [["pertama"], ["berikutnya"]]


def test_model_endpoint_shows_no_absolute_path(predictor, monkeypatch):
    folder = predictor.folder.resolve()
    monkeypatch.setitem(predictor.manifest, "model_source", "/home/someone/indobert")
    monkeypatch.setitem(predictor.manifest, "weights", str(folder / "model.onnx"))
    with TestClient(create_app(predictor)) as client:
        text = client.get("/model").text
    manifest = json.loads(text)["manifest"]
    assert manifest["model_source"] == "indobert"
    assert manifest["weights"] == "model.onnx"
    assert str(folder) not in text and "/home/" not in text


@pytest.fixture(scope="module")
def served_folders(model_folder, sample_splits, tmp_path_factory):
    """The formats the tiny fixtures serve: hf (FP32), onnx (int8_ort), sklearn."""
    from kedro.io import Version

    from quant_sentiment.datasets import HFModelFolderDataset, VariantFolderDataset
    from quant_sentiment.pipelines.baseline.nodes import train_tfidf_logreg
    from quant_sentiment.pipelines.quantize_ptq.nodes import quantize_variant
    from tests.conftest import base_normalisation
    from tests.scoring.test_formats import BASELINE, MODEL, PTQ

    root = tmp_path_factory.mktemp("hostile")
    bundle = HFModelFolderDataset(
        str(model_folder.parents[1]), version=Version(None, None)
    ).load()
    staged = {
        "int8_ort": quantize_variant(bundle, PTQ, MODEL, "int8_ort"),
        "tfidf": train_tfidf_logreg(
            sample_splits["train"], MODEL, BASELINE, base_normalisation()
        ),
    }
    folders = {"fp32": model_folder}
    for name, artifact in staged.items():
        dataset = VariantFolderDataset(str(root / name))
        dataset.save(artifact)
        folders[name] = dataset.load().path
    return folders


@pytest.mark.parametrize("fmt", ["fp32", "int8_ort", "tfidf"])
def test_no_hostile_case_gets_a_5xx_in_any_served_format(served_folders, fmt):
    from quant_sentiment.scoring.model import Predictor

    predictor = Predictor(served_folders[fmt])
    limits = ServiceLimits(max_texts=8, max_chars=2000)
    extra = [
        ("emoji only", '{"text": "\U0001f600\U0001f44d"}'.encode()),
        ("digits only", b'{"text": "12345"}'),
        ("longest text", json.dumps({"text": "kata " * 400}).encode()),
        ("too long", json.dumps({"text": "a" * 2001}).encode()),
        ("mixed list", json.dumps({"texts": ["bagus", "\u200b", "x"]}).encode()),
    ]
    statuses = {}
    with TestClient(create_app(predictor, limits)) as client:
        for name, body, *_ in [*HOSTILE, *extra]:
            statuses[name] = client.post("/predict", content=body).status_code
        assert client.get("/model").status_code == 200
    assert all(status < 500 for status in statuses.values()), statuses
    assert statuses["longest text"] == 200
