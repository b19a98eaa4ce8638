"""Load test of the HTTP service (a benchmark command, not a test): asyncio + httpx.

For each concurrency level, ``clients`` coroutines send ``POST /predict`` with one
text each (texts cycled from a file) until ``requests`` answers or ``max_seconds``;
latencies are measured per request. Reported per level: requests, errors (non-200
or transport failures, by kind), p50 / p95 / p99 latency and throughput, and
whether ``/health`` still answers afterwards. Only loopback addresses are accepted:
this measures the service on this machine, it does not load anything else.

Timings depend on the machine and on anything else running on it: measure on an
idle machine (the CPU model and load average are printed with the table).
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LevelResult:
    """One concurrency level's outcome."""

    clients: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    healthy: bool = False

    def row(self) -> dict[str, object]:
        """The table row: counts, percentiles (ms), throughput (requests/s)."""
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        done = len(self.latencies_ms) + sum(self.errors.values())
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        return {
            "clients": self.clients,
            "requests": done,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors) or "",
            "p50_ms": round(float(p50), 2),
            "p95_ms": round(float(p95), 2),
            "p99_ms": round(float(p99), 2),
            "throughput_rps": round(done / self.seconds, 1) if self.seconds else 0.0,
            "healthy_after": self.healthy,
        }


def check_loopback(url: str) -> str:
    """``url`` without a trailing slash, if its host is a loopback address."""
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise ValueError(
            f"--url host {host!r} is not a loopback address ({sorted(LOOPBACK)}): "
            "the load test only runs against a service on this machine"
        )
    return url.rstrip("/")


async def _client(client, url, texts, state, result: LevelResult) -> None:
    """Send requests until the shared budget or deadline is used up."""
    while state["left"] > 0 and time.perf_counter() < state["deadline"]:
        state["left"] -= 1
        i = state["next"] = state["next"] + 1
        start = time.perf_counter()
        try:
            response = await client.post(url, json={"text": texts[i % len(texts)]})
        except Exception as exc:  # noqa: BLE001 - every failure is counted, by kind
            result.errors[type(exc).__name__] += 1
            continue
        elapsed = (time.perf_counter() - start) * 1000
        if response.status_code == 200:  # noqa: PLR2004 - HTTP OK
            result.latencies_ms.append(elapsed)
        else:
            result.errors[f"HTTP {response.status_code}"] += 1


async def run_level(  # noqa: PLR0913 - the knobs of one level
    base: str, texts: list[str], clients: int, requests: int, max_seconds: float,
    warmup: int,
) -> LevelResult:  # fmt: skip
    """Run one concurrency level (after ``warmup`` uncounted requests)."""
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        for text in texts[:warmup]:
            await client.post(f"{base}/predict", json={"text": text})
        result = LevelResult(clients)
        state = {"left": requests, "next": -1}
        state["deadline"] = time.perf_counter() + max_seconds
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _client(client, f"{base}/predict", texts, state, result)
                for _ in range(clients)
            )
        )
        result.seconds = time.perf_counter() - start
        health = await client.get(f"{base}/health")
        result.healthy = health.status_code == 200  # noqa: PLR2004 - HTTP OK
    return result


def machine_line() -> str:
    """CPU model, core count and load average, printed with every table."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(
                line.split(":", 1)[1].strip()
                for line in info
                if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"CPU: {model}; {os.cpu_count()} cores; load average {load}"


@contextmanager
def spawned_service(model: str | None, env: str | None, threads, url: str):
    """Start ``quant-sentiment serve`` for ``model`` (when given), wait for
    ``/health``, and stop it (this process's own child, by its id) afterwards."""
    if model is None:
        yield
        return
    import subprocess
    import time
    from urllib.parse import urlsplit

    import httpx

    parts = urlsplit(url)
    command = [sys.executable, "-m", "quant_sentiment", "serve", "--model", model,
               "--host", parts.hostname, "--port", str(parts.port or 80),
               "--no-access-log"]  # fmt: skip
    command += ["--env", env] if env else []
    command += ["--threads", str(threads)] if threads else []
    process = subprocess.Popen(command)  # noqa: S603 - our own command
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:  # noqa: PLR2004
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            raise RuntimeError("serve did not answer /health within 180 s")
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)
