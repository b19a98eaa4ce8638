"""Peak memory of ``quant-sentiment serve`` under many slow clients with ~1 MB bodies.

Starts the service (its own child process) on a model folder, a catalog model or a
tiny BERT built on the sample corpus (``--tiny``), warms it up, then opens
``--clients`` connections at once; each sends a valid ``/predict`` body of about
``--max-body-bytes`` (64 texts of multi-byte characters) slowly, in 64 KiB pieces
over ``--send-seconds``. The service's resident memory is sampled every 20 ms from
``/proc``; printed: RSS before, peak RSS, the growth, the answers by status, and the
documented bound on the growth, ``max_pending × (max_body_bytes`` + the 64 KiB
uvicorn reads ahead) + one request being parsed + one batch (the model is in the
RSS before).

    python -m quant_sentiment.bench.service_memory --tiny --clients 400
    python -m quant_sentiment.bench.service_memory --model ptq_int8_ort_model \\
        --env offline --clients 400

Linux only (``/proc``). The figure depends little on machine load, but say whether
the machine was busy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

CHUNK = 65_536
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def big_body(max_body_bytes: int, n_texts: int, max_chars: int) -> bytes:
    """A valid body of ``n_texts`` texts, as close to ``max_body_bytes`` as the
    character cap allows (two- and three-byte characters)."""
    unit = "enak €€€ "
    chars = max_chars
    while True:
        text = (unit * (chars // len(unit) + 1))[:chars]
        body = json.dumps({"texts": [text] * n_texts}, ensure_ascii=False).encode()
        if len(body) <= max_body_bytes:
            return body
        chars -= max(1, (len(body) - max_body_bytes) // (2 * n_texts))


def tiny_model(folder: Path) -> Path:
    """A tiny BERT (2 layers, hidden 32) on the sample corpus, saved as ``finetune``
    saves a model; the project's normalisation in its manifest."""
    import pandas as pd
    import torch
    import yaml
    from kedro.io import Version

    from quant_sentiment.datasets import HFModelFolderDataset
    from quant_sentiment.modeling import ModelBundle, build_scratch_model

    labels = {"positive": 0, "neutral": 1, "negative": 2}
    texts = pd.read_csv(
        "data/01_raw/sample/train.tsv", sep="\t", header=None, quoting=3
    )[0].tolist()
    scratch = {"vocab_size": 600, "min_frequency": 1, "hidden_size": 32}
    scratch |= {"num_hidden_layers": 2, "num_attention_heads": 2}
    scratch |= {"intermediate_size": 64, "max_position_embeddings": 128}
    torch.manual_seed(0)
    model, tokenizer = build_scratch_model(texts, labels, scratch)
    params = yaml.safe_load(Path("conf/base/parameters_preprocessing.yml").read_text())
    metadata = {"label_map": labels, "model_source": "scratch", "variant": "fp32"}
    metadata |= {"max_length": 64}
    metadata["normalisation"] = params["preprocessing"]["normalisation"]
    root = folder / "finetuned_model"
    HFModelFolderDataset(str(root), version=Version(None, None)).save(
        ModelBundle(model.eval(), tokenizer, metadata)
    )
    return next(root.glob("*/finetuned_model"))


async def slow_client(port: int, body: bytes, seconds: float, answers: Counter):
    """Send ``body`` in pieces over ``seconds``; count the answer's status."""
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
        f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    pieces = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        answers[f"connect {type(exc).__name__}"] += 1
        return
    try:
        writer.write(head)
        for piece in pieces:
            await asyncio.sleep(seconds / len(pieces))
            writer.write(piece)
            await writer.drain()
        status = (await asyncio.wait_for(reader.readline(), 300)).split()
        answers[status[1].decode() if len(status) > 1 else "closed"] += 1
    except OSError:  # answered (503) and closed before the body was sent
        answers["closed while sending (refused)"] += 1
    except asyncio.TimeoutError:
        answers["no answer in 300 s"] += 1
    finally:
        writer.close()


def batch_footprint(folder: str) -> int:
    """Peak memory (bytes) that scoring the largest request adds to a process that
    holds ``folder``'s model (its decoded texts, their tokenisation, the forward
    pass), measured in this process: run it in a fresh one (``--batch-of``)."""
    from quant_sentiment.scoring.model import Predictor
    from quant_sentiment.scoring.service import return_large_buffers_to_the_os

    return_large_buffers_to_the_os()
    predictor = Predictor(folder, threads=2)
    clean = predictor.prep.many(json.loads(big_body(1_000_000, 64, 10_000))["texts"])
    predictor.probabilities(clean[:1])
    stop, peak = threading.Event(), {}
    before = rss_bytes(os.getpid())
    sampler = threading.Thread(target=sample_peak, args=(os.getpid(), stop, peak))
    sampler.start()
    predictor.probabilities(clean, 32)
    stop.set()
    sampler.join()
    return max(peak["peak"], rss_bytes(os.getpid())) - before


def sample_peak(pid: int, stop: threading.Event, out: dict) -> None:
    while not stop.is_set():
        out["peak"] = max(out.get("peak", 0), rss_bytes(pid))
        time.sleep(0.02)


def start_service(args: argparse.Namespace, model: str) -> subprocess.Popen:
    """``quant-sentiment serve`` for ``model``, answering ``/health``."""
    import httpx

    command = [sys.executable, "-m", "quant_sentiment", "serve", "--model", model]
    command += ["--port", str(args.port), "--no-access-log", "--threads", "2"]
    command += ["--max-pending", str(args.max_pending)]
    command += ["--max-body-bytes", str(args.max_body_bytes)]
    command += ["--env", args.env] if args.env else []
    process = subprocess.Popen(command)  # noqa: S603 - our own command
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            health = httpx.get(f"http://127.0.0.1:{args.port}/health", timeout=1)
            if health.status_code == 200:  # noqa: PLR2004 - HTTP OK
                return process
        except httpx.TransportError:
            time.sleep(0.5)
    stop_service(process)
    raise RuntimeError("serve did not start")


def stop_service(process: subprocess.Popen) -> None:
    """Stop our own child: SIGTERM, then SIGKILL after 30 s (a service still
    scoring for clients who left does not stop at once)."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


def load(args: argparse.Namespace, process: subprocess.Popen, body: bytes) -> dict:
    """Warm the service up, run the slow clients; RSS before and peak, answers."""
    import httpx

    url = f"http://127.0.0.1:{args.port}"
    for _ in range(3):  # warm up: the largest body, scored
        httpx.post(f"{url}/predict", content=body, timeout=300).raise_for_status()
    figures = {"before": rss_bytes(process.pid), "answers": Counter()}
    stop, peak = threading.Event(), {}
    sampler = threading.Thread(target=sample_peak, args=(process.pid, stop, peak))
    sampler.start()

    async def clients():
        await asyncio.gather(
            *(
                slow_client(args.port, body, args.send_seconds, figures["answers"])
                for _ in range(args.clients)
            )
        )

    start = time.perf_counter()
    try:
        asyncio.run(clients())
    finally:
        stop.set()
        sampler.join()
    figures["elapsed"], figures["peak"] = time.perf_counter() - start, peak["peak"]
    figures["health"] = httpx.get(f"{url}/health", timeout=30).json()
    return figures


def run(args: argparse.Namespace, model: str, folder: str) -> None:
    """Start the service, load it, print the figures against the bound."""
    body = big_body(args.max_body_bytes, 64, 10_000)
    process = start_service(args, model)
    try:
        figures = load(args, process, body)
    finally:
        stop_service(process)
    # a request's texts as Python strings: at most 4 bytes a character (UCS-4)
    one_parse = args.max_body_bytes + 2 * 64 * 10_000 * 4  # body, raw, clean texts
    one_batch = int(
        subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "-m", __spec__.name, "--batch-of", folder],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
    )
    from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT

    buffers = args.max_pending * HIGH_WATER_LIMIT  # what uvicorn reads ahead
    bound = args.max_pending * args.max_body_bytes + buffers + one_parse + one_batch
    before, peak = figures["before"], figures["peak"]
    print(f"service_memory: {args.clients} clients, body {len(body):,} bytes each")
    print(
        f"  sent over {args.send_seconds:g} s each; answered in {figures['elapsed']:.1f} s"
    )
    print(f"  answers by status: {dict(sorted(figures['answers'].items()))}")
    print(f"  RSS before: {before / MIB:.1f} MiB; peak: {peak / MIB:.1f} MiB")
    print(
        f"  growth: {(peak - before) / MIB:.1f} MiB; bound: max_pending × "
        f"(max_body_bytes + 64 KiB read ahead) + one parse + one batch = "
        f"{bound / MIB:.1f} MiB: {'within' if peak - before <= bound else 'OVER'}"
    )
    print(
        f"  (bodies {args.max_pending * args.max_body_bytes / MIB:.1f} MiB, read "
        f"ahead {buffers / MIB:.1f} MiB, one parse {one_parse / MIB:.1f} MiB, one "
        f"batch {one_batch / MIB:.1f} MiB measured alone in a fresh process)"
    )
    print(f"  /health afterwards: {figures['health']}")


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="folder or catalog name")
    parser.add_argument("--tiny", action="store_true", help="a tiny BERT instead")
    parser.add_argument("--env", default=None)
    parser.add_argument("--clients", type=int, default=400)
    parser.add_argument("--send-seconds", type=float, default=5.0)
    parser.add_argument("--max-pending", type=int, default=64)
    parser.add_argument("--max-body-bytes", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--batch-of", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch_of is not None:  # the child measuring one batch
        print(batch_footprint(args.batch_of))
        return
    if args.tiny == (args.model is not None):
        parser.error("give exactly one of --model and --tiny")
    with tempfile.TemporaryDirectory() as tmp:
        model = str(tiny_model(Path(tmp))) if args.tiny else args.model
        folder = model
        if not args.tiny:
            from quant_sentiment.scoring.model import resolve_model

            folder = str(resolve_model(model, args.env))
        run(args, model, folder)


if __name__ == "__main__":
    main()
