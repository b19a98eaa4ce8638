"""Time a saved model variant against the reference, each in its own process.

The caller's side is :func:`benchmark_in_processes` (used by the ``evaluate``
pipeline). Before timing it checks that the machine is idle (:func:`idle_check`: load
average and the CPU use of other processes; a WARNING names the busy ones). It then
starts one long-lived child process per model, ``python -m quant_sentiment.benchmark
<folder> --threads N``: the variant and, for any variant but the reference itself,
the reference (FP32). Each child pins its thread count before importing torch
(``OMP_NUM_THREADS``, ``torch.set_num_threads``, ONNX Runtime intra-op threads),
loads its model once and then answers one request at a time. The driver runs them in
turn, never together:

1. ``warmup``: untimed batch-1 calls in each child;
2. ``rounds`` interleaved rounds: variant, reference, variant, reference, … each
   round times ``calls_per_round`` batch-1 calls on the same texts in both children
   (the texts at their real lengths, consecutive slices of the sample, cycled);
3. the variant's batch-32 throughput (the reference child is closed first), its
   peak resident memory (``ru_maxrss``) and the machine (CPU model, CPU flags,
   threads, library versions).

The speed-up over the reference and its confidence interval come from the per-round
medians (:func:`speedup_interval`): a t-interval on the per-round log ratios
``log(median_ref / median_variant)``, so that slow drifts of the machine, which hit
both models of a round alike, cancel out. For the reference itself the ratio is 1.

Protocol of the child (one JSON object per line; the child's own fd 1 is redirected
to stderr so that no library output can mix with it): on start it loads the folder
and writes ``{"event": "ready", "format", "load_s", "peak_rss_before_load_mb"}``;
then it reads requests from stdin and answers each with one line:
``{"cmd": "warmup", "texts": [...]}``, ``{"cmd": "round", "texts": [...]}`` →
``{"latencies_ms": [...]}``, ``{"cmd": "throughput", "texts": [...], "settings":
{...}}`` → ``{"throughput_texts_per_s"}``, ``{"cmd": "info"}`` → ``{"peak_rss_mb",
"machine"}``, ``{"cmd": "exit"}`` (or end of input) ends it. Size on disk is not
measured here: it is the ``size_bytes`` of the folder's manifest.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import math
import os
import platform
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
LIBRARIES = (
    "torch",
    "transformers",
    "tokenizers",
    "onnxruntime",
    "torchao",
    "optimum-quanto",
    "bitsandbytes",
    "scikit-learn",
    "numpy",
)
#: CPU flags (``/proc/cpuinfo``) that decide which kernels the runtimes can use.
CPU_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)
#: A confidence interval of the speed-up needs two rounds or more.
MIN_ROUNDS = 2
#: Keys of the ``evaluate.benchmark`` block recorded with each result.
SETTINGS = (
    "warmup",
    "rounds",
    "calls_per_round",
    "confidence",
    "throughput_batches",
    "batch_size",
    "progress",
    "idle_max_load",
    "idle_max_other_cpus",
    "idle_sample_s",
)


# ---------------------------------------------------------------- the machine


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (falls back to ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """Which of :data:`CPU_FLAGS` the CPU has (``/proc/cpuinfo``; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                return [flag for flag in CPU_FLAGS if flag in present]
    except OSError:
        pass
    return []


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """CPU model and flags, logical CPUs, thread setting, Python and library versions."""
    from quant_sentiment.manifest import library_versions

    return {
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "versions": library_versions(LIBRARIES),
    }


# ---------------------------------------------------------------- the idle check


def _load_average() -> tuple[float, float, float]:
    """1-, 5- and 15-minute load averages."""
    return os.getloadavg()


def _proc_cpu_seconds() -> dict[int, tuple[str, int, float]]:
    """:func:`_process_cpu_seconds` from ``/proc/<pid>/stat`` (no psutil)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on
        cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        found[int(entry.name)] = (name, int(fields[1]), cpu)
    return found


def _process_cpu_seconds() -> dict[int, tuple[str, int, float]]:
    """pid → (name, parent pid, user + system CPU seconds so far) of every process
    that can be read (psutil when installed, else ``/proc``)."""
    try:
        import psutil
    except ImportError:
        return _proc_cpu_seconds()
    found = {}
    for proc in psutil.process_iter(["name", "ppid", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is not None:
            name = proc.info["name"] or "?"
            found[proc.pid] = (name, proc.info["ppid"] or 0, times.user + times.system)
    return found


def _own_tree(snapshot: dict[int, tuple[str, int, float]]) -> set[int]:
    """This process and its descendants (its benchmark children are not 'others')."""
    own, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, (_, ppid, _) in snapshot.items() if ppid in own}
        grew = not more <= own
        own |= more
    return own


def idle_check(settings: dict[str, Any], top: int = 5) -> dict[str, Any]:
    """Is the machine idle enough to time on? Checked before timing.

    Reads the load averages and samples the CPU use of every other process (all but
    this one and its descendants; those that exist at both ends of the sample) over
    ``idle_sample_s`` seconds. Not idle when the
    1-minute load average per logical CPU exceeds ``idle_max_load`` or the other
    processes used more than ``idle_max_other_cpus`` CPUs (1.0 = one core busy).

    Returns:
        ``idle``, ``reasons`` (empty when idle), the load averages, ``logical_cpus``,
        ``other_busy_cpus`` and ``other_busy_share`` (of all CPUs), ``busy_processes``
        (the ``top`` busiest others: pid, name, %CPU of one core), the thresholds.
    """
    sample_s = float(settings["idle_sample_s"])
    before = _process_cpu_seconds()
    start = time.monotonic()
    time.sleep(sample_s)
    after = _process_cpu_seconds()
    elapsed = max(time.monotonic() - start, sample_s, 1e-9)
    own = _own_tree(after)
    busy = []
    for pid, (name, _, cpu) in after.items():
        if pid in own or pid not in before:  # started during the sample: unknown
            continue
        used = (cpu - before[pid][2]) / elapsed
        if used > 0:
            busy.append({"pid": pid, "name": name, "cpu_percent": 100.0 * used})
    busy.sort(key=lambda p: -p["cpu_percent"])
    other = sum(p["cpu_percent"] for p in busy) / 100.0
    cpus = os.cpu_count() or 1
    load = _load_average()
    reasons = []
    if load[0] / cpus > settings["idle_max_load"]:
        reasons.append(
            f"1-min load average {load[0]:.2f} on {cpus} logical CPUs "
            f"(> {settings['idle_max_load']:g} per CPU)"
        )
    if other > settings["idle_max_other_cpus"]:
        reasons.append(
            f"other processes used {other:.2f} CPUs over {sample_s:g} s "
            f"(> {settings['idle_max_other_cpus']:g})"
        )
    return {
        "idle": not reasons,
        "reasons": reasons,
        "load_avg": [float(x) for x in load],
        "logical_cpus": cpus,
        "other_busy_cpus": other,
        "other_busy_share": other / cpus,
        "busy_processes": [p for p in busy[:top] if p["cpu_percent"] >= 1.0],
        "sample_s": sample_s,
        "idle_max_load": settings["idle_max_load"],
        "idle_max_other_cpus": settings["idle_max_other_cpus"],
    }


def describe_idle(check: dict[str, Any]) -> str:
    """One line: why the machine is not idle and the busiest other processes."""
    procs = ", ".join(
        f"{p['name']} (pid {p['pid']}, {p['cpu_percent']:.0f}% CPU)"
        for p in check["busy_processes"]
    )
    return "; ".join(check["reasons"]) + f"; busiest others: {procs or 'none seen'}"


# ---------------------------------------------------------------- the child's side


def _percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def _cycled(texts: Sequence[str], n: int, offset: int = 0) -> list[str]:
    return [texts[(offset + i) % len(texts)] for i in range(n)]


def _time_calls(clf, texts: Sequence[str]) -> list[float]:
    """One batch-1 call per text, each timed (ms)."""
    latencies = []
    for text in texts:
        start = time.perf_counter()
        clf.predict_logits([text], batch_size=1)
        latencies.append((time.perf_counter() - start) * 1000.0)
    return latencies


def _time_batches(clf, texts: Sequence[str], settings: dict[str, Any], label: str):
    """Texts per second over ``throughput_batches`` batches (after ``warmup``)."""
    from tqdm.auto import tqdm

    size, warmup = settings["batch_size"], settings["warmup"]
    batches = [
        _cycled(texts, size, offset=i * size)
        for i in range(warmup + settings["throughput_batches"])
    ]
    for batch in batches[:warmup]:
        clf.predict_logits(batch, batch_size=size)
    start = time.perf_counter()
    for batch in tqdm(
        batches[warmup:],
        desc=f"batch-{size} {label}",
        disable=not settings["progress"],
        leave=False,
    ):
        clf.predict_logits(batch, batch_size=size)
    return size * settings["throughput_batches"] / (time.perf_counter() - start)


def _load(folder: Path, threads: int) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Load the folder in this process: (classifier, ready message, machine info)."""
    import resource

    from quant_sentiment.formats import load_classifier
    from quant_sentiment.manifest import read_manifest

    manifest = read_manifest(folder)
    info = machine_info(threads)
    if manifest["format"] != "sklearn":  # the scikit-learn baseline never needs torch
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        info["torch_threads"] = torch.get_num_threads()
    rss_before_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    clf = load_classifier(folder, threads=threads)
    ready = {
        "event": "ready",
        "format": manifest["format"],
        "load_s": time.perf_counter() - start,
        "peak_rss_before_load_mb": rss_before_load / 1024.0,  # Linux: KiB
    }
    return clf, ready, info


def serve(folder: Path, threads: int, requests: IO[str], replies: IO[str]) -> None:
    """Load ``folder`` once, then answer requests (see the module docstring)."""
    import resource

    def send(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    clf, ready, info = _load(Path(folder), threads)
    label = Path(folder).name
    send(ready)
    for line in requests:
        request = json.loads(line)
        cmd = request["cmd"]
        if cmd == "exit":
            return
        if cmd == "warmup":
            _time_calls(clf, request["texts"])
            send({"ok": True})
        elif cmd == "round":
            send({"latencies_ms": _time_calls(clf, request["texts"])})
        elif cmd == "throughput":
            rate = _time_batches(clf, request["texts"], request["settings"], label)
            send({"throughput_texts_per_s": rate})
        elif cmd == "info":
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
            send({"peak_rss_mb": peak, "machine": info})
        else:
            raise ValueError(f"unknown benchmark request {cmd!r}")


# ---------------------------------------------------------------- the driver's side


class BenchmarkProcess:
    """One long-lived child (``python -m quant_sentiment.benchmark``), driven by
    :meth:`request`. Entering it starts the child and waits until its model is
    loaded (``ready``); leaving it ends the child.

    Args:
        role: Who it is, for messages (e.g. ``variant 'int8_ort'``).
        folder: The model folder.
        threads: Thread count of the child.
        deadline: ``time.monotonic()`` value after which any wait is a timeout.
    """

    def __init__(self, role: str, folder: str | Path, threads: int, deadline: float):
        self.role, self.folder = role, str(folder)
        self.threads, self.deadline = threads, deadline
        self.proc: subprocess.Popen | None = None
        self.ready: dict[str, Any] = {}
        self._lines: queue.Queue = queue.Queue()
        self._pump_thread: threading.Thread | None = None
        self._closed = False

    def __enter__(self) -> BenchmarkProcess:
        package_root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH")) if p
        )
        env.update({var: str(self.threads) for var in THREAD_ENV_VARS})
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        cmd = [sys.executable, "-m", "quant_sentiment.benchmark", self.folder]
        self.proc = subprocess.Popen(
            [*cmd, "--threads", str(self.threads)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )  # stderr inherited: progress bars and tracebacks show
        self._pump_thread = threading.Thread(
            target=self._pump, args=(self.proc.stdout,), daemon=True
        )
        self._pump_thread.start()
        try:
            self.ready = self._receive("loading the model")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)  # end of output: the child ended

    def _failure(self, during: str, why: str) -> RuntimeError:
        return RuntimeError(
            f"Benchmark of {self.role} (folder '{self.folder}') failed while "
            f"{during}: {why}; its error output is above."
        )

    def _receive(self, during: str) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=max(self.deadline - time.monotonic(), 0))
        except queue.Empty:
            self.close(kill=True)
            raise self._failure(during, "timed out (evaluate.benchmark.timeout_s)")
        if line is None:
            code = self._exit_code()
            raise self._failure(during, f"its process exited with code {code}")
        return json.loads(line)

    def _exit_code(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.close(kill=True)
            return self.proc.returncode

    def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its answer (until the deadline)."""
        if self._closed:
            raise self._failure(cmd, "it was already ended")
        try:
            self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
            self.proc.stdin.flush()
        except OSError:  # BrokenPipeError: the child is gone
            code = self._exit_code()
            raise self._failure(cmd, f"its process exited with code {code}") from None
        return self._receive(cmd)

    def close(self, kill: bool = False) -> None:
        """End the child (politely unless ``kill``); safe to call twice."""
        proc = self.proc
        if proc is None or self._closed:
            return
        self._closed = True
        if not kill and proc.poll() is None:
            try:
                proc.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
                proc.stdin.close()
                proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._pump_thread.join(timeout=5)  # it ends at the closed pipe's end
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


#: Reference children kept alive between the benchmarks of one run, by (folder,
#: threads): every variant is timed against the same FP32 reference, so starting it
#: once (not once per variant) saves a process start and model load per variant.
_REFERENCES: dict[tuple[str, int], BenchmarkProcess] = {}


def _reference_process(
    role: str, folder: str | Path, threads: int, deadline: float
) -> BenchmarkProcess:
    """The pooled reference child for ``(folder, threads)``, started if needed."""
    key = (str(folder), int(threads))
    process = _REFERENCES.get(key)
    if process is None or process._closed or process.proc.poll() is not None:
        process = BenchmarkProcess(role, folder, threads, deadline).__enter__()
        _REFERENCES[key] = process
    process.role, process.deadline = role, deadline
    return process


def close_references() -> None:
    """End every pooled reference child (at the end of a run; also at exit)."""
    while _REFERENCES:
        _, process = _REFERENCES.popitem()
        process.close()


atexit.register(close_references)


def run_rounds(
    processes: Sequence[Any],
    texts: Sequence[str],
    rounds: int,
    calls_per_round: int,
    progress: bool = False,
    label: str = "",
) -> list[list[list[float]]]:
    """Drive the processes in turn, ``rounds`` times: in round ``r`` each of them,
    in the given order, times one batch-1 call on each of the same
    ``calls_per_round`` texts (``texts[r*K:(r+1)*K]``, cycled).

    Returns:
        Per process, per round, the latencies (ms).
    """
    from tqdm.auto import tqdm

    timed: list[list[list[float]]] = [[] for _ in processes]
    for r in tqdm(range(rounds), desc=label, disable=not progress, leave=False):
        chunk = _cycled(texts, calls_per_round, offset=r * calls_per_round)
        for i, process in enumerate(processes):
            timed[i].append(process.request("round", texts=chunk)["latencies_ms"])
    return timed


def speedup_interval(
    variant_medians: Sequence[float],
    reference_medians: Sequence[float],
    confidence: float,
) -> dict[str, float]:
    """Speed-up of the variant over the reference and its confidence interval.

    Per round ``r``: ``d_r = log(reference_median_r / variant_median_r)``. The
    speed-up is ``exp(mean d)`` (the geometric mean of the per-round ratios of
    medians) and its interval ``exp(mean d ± t_{(1+c)/2, R-1} · sd(d) / sqrt(R))``:
    a t-interval on the log ratios (rounds are paired, so drifts of the machine
    that slow both models of a round cancel; logs make the interval
    multiplicative, as ratios are).

    Raises:
        ValueError: With fewer than two rounds or unequal round counts.
    """
    import numpy as np
    from scipy import stats

    ref = np.asarray(reference_medians, dtype=float)
    var = np.asarray(variant_medians, dtype=float)
    if len(ref) != len(var) or len(ref) < MIN_ROUNDS:
        raise ValueError(
            f"need two or more paired rounds, got {len(var)} and {len(ref)}"
        )
    logs = np.log(ref) - np.log(var)
    mean = float(logs.mean())
    half = float(
        stats.t.ppf((1 + confidence) / 2, len(logs) - 1)
        * logs.std(ddof=1)
        / math.sqrt(len(logs))
    )
    return {
        "speedup_p50_vs_ref": math.exp(mean),
        "speedup_ci_low": math.exp(mean - half),
        "speedup_ci_high": math.exp(mean + half),
    }


def _check_settings(settings: dict[str, Any]) -> None:
    if int(settings["rounds"]) < MIN_ROUNDS or int(settings["calls_per_round"]) < 1:
        raise ValueError(
            "evaluate.benchmark needs rounds >= 2 and calls_per_round >= 1 (a "
            f"confidence interval needs two rounds); got rounds={settings['rounds']}, "
            f"calls_per_round={settings['calls_per_round']}"
        )


def _latency_fields(rounds: list[list[float]]) -> dict[str, Any]:
    """p50/p95/mean over every timed call of one process, and its round medians."""
    import numpy as np

    flat = [ms for r in rounds for ms in r]
    return {
        "latency_p50_ms": _percentile(flat, 50),
        "latency_p95_ms": _percentile(flat, 95),
        "latency_mean_ms": float(np.mean(flat)),
        "round_medians_ms": [float(np.median(r)) for r in rounds],
    }


def _drive(
    variant: str,
    folder: str | Path,
    texts: list[str],
    threads: int,
    settings: dict[str, Any],
    reference: tuple[str, str | Path] | None,
) -> dict[str, Any]:
    """Start the children, warm them up, run the rounds, then the variant's
    throughput and info; every child is ended on the way out, failed or not."""
    deadline = time.monotonic() + float(settings["timeout_s"])
    with ExitStack() as stack:
        target = stack.enter_context(
            BenchmarkProcess(f"variant {variant!r}", folder, threads, deadline)
        )
        processes = [target]
        if reference is not None:
            role = f"reference {reference[0]!r} (timed with variant {variant!r})"
            ref = _reference_process(role, reference[1], threads, deadline)

            def drop_on_error(kind, *_) -> None:
                # A reference that failed is not reused: the next variant starts anew.
                if kind is not None:
                    _REFERENCES.pop((str(reference[1]), int(threads)), None)
                    ref.close()

            stack.push(drop_on_error)
            processes.append(ref)
        for process in processes:
            process.request("warmup", texts=_cycled(texts, settings["warmup"]))
        label = f"batch-1 {variant}" + (f" vs {reference[0]}" if reference else "")
        timed = run_rounds(
            processes,
            texts,
            int(settings["rounds"]),
            int(settings["calls_per_round"]),
            settings["progress"],
            label,
        )
        # The throughput runs alone: the pooled reference waits, blocked on its input.
        recorded = {key: settings[key] for key in SETTINGS}
        throughput = target.request("throughput", texts=texts, settings=recorded)
        return {
            "ready": [p.ready for p in processes],
            "timed": timed,
            "throughput": throughput["throughput_texts_per_s"],
            "info": target.request("info"),
        }


def _reference_fields(
    reference: tuple[str, str | Path] | None,
    run: dict[str, Any],
    variant_medians: list[float],
    confidence: float,
) -> dict[str, Any]:
    """Speed-up over the reference with its CI (1 for the reference itself), and
    the reference's numbers from the same rounds."""
    if reference is None:
        ones = dict.fromkeys(("speedup_ci_low", "speedup_ci_high"), 1.0)
        return {"speedup_p50_vs_ref": 1.0, **ones, "reference": None}
    ref = _latency_fields(run["timed"][1])
    return {
        **speedup_interval(variant_medians, ref["round_medians_ms"], confidence),
        "reference": {
            "variant": reference[0],
            "folder": str(reference[1]),
            "latency_p50_ms": ref["latency_p50_ms"],
            "round_medians_ms": ref["round_medians_ms"],
            "load_s": run["ready"][1]["load_s"],
        },
    }


def benchmark_in_processes(
    variant: str,
    folder: str | Path,
    texts: Sequence[str],
    threads: int,
    settings: dict[str, Any],
    reference: tuple[str, str | Path] | None = None,
) -> dict[str, Any]:
    """Idle check, then the variant (and the reference) timed in interleaved rounds.

    Args:
        variant: The variant's name (for messages).
        folder: The variant folder.
        texts: Texts to time with, in order (cycled when the calls exceed them).
        threads: Thread count of each child.
        settings: ``evaluate.benchmark``: ``warmup``, ``rounds``,
            ``calls_per_round``, ``confidence``, ``throughput_batches``,
            ``batch_size``, ``progress``, ``timeout_s`` (for the whole benchmark
            of this variant), ``idle_max_load``, ``idle_max_other_cpus``,
            ``idle_sample_s``.
        reference: ``(name, folder)`` of the reference; ``None`` for the reference
            itself (speed-up 1, timed alone).

    Raises:
        RuntimeError: A child failed or timed out (naming the variant and folder).
    """
    _check_settings(settings)
    texts = [str(t) for t in texts]
    if not texts:
        raise ValueError("benchmark needs at least one text")
    idle = idle_check(settings)
    if not idle["idle"]:
        logger.warning(
            "The machine is not idle before timing %s: %s. Its timings may be "
            "noisy; keep the machine otherwise idle for numbers you report.",
            variant,
            describe_idle(idle),
        )
    run = _drive(variant, folder, texts, threads, settings, reference)
    rounds, k = int(settings["rounds"]), int(settings["calls_per_round"])
    latency = _latency_fields(run["timed"][0])
    ready = run["ready"][0]
    return {
        "folder": str(folder),
        "format": ready["format"],
        **latency,
        "latency_text_chars_mean": sum(map(len, _cycled(texts, rounds * k)))
        / (rounds * k),
        "rounds": rounds,
        "calls_per_round": k,
        **_reference_fields(
            reference, run, latency["round_medians_ms"], settings["confidence"]
        ),
        "throughput_texts_per_s": run["throughput"],
        "settings": {key: settings[key] for key in SETTINGS},
        "load_s": ready["load_s"],
        "peak_rss_mb": run["info"]["peak_rss_mb"],
        "peak_rss_before_load_mb": ready["peak_rss_before_load_mb"],
        "machine": run["info"]["machine"],
        "idle": idle["idle"],
        "idle_check": idle,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of the child (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description="One benchmark child: loads a model folder, then answers JSON "
        "requests on stdin with JSON lines on stdout."
    )
    parser.add_argument("folder", type=Path, help="model folder")
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args(argv)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr
    from quant_sentiment.quiet import quiet_library_noise

    quiet_library_noise()  # before torch / torchao / onnxruntime are imported
    for var in THREAD_ENV_VARS:  # before torch / numpy start their thread pools
        os.environ[var] = str(args.threads)
    serve(args.folder, args.threads, sys.stdin, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
