"""``quant-sentiment predict``, ``quant-sentiment serve``, ``quant-sentiment loadtest``.

``quant_sentiment.__main__`` dispatches these sub-commands here; every other
``quant-sentiment`` invocation goes to Kedro's ``run`` as before.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import click

from quant_sentiment.records import FORMATS, STDIN
from quant_sentiment.textcheck import MAX_CHARS

from .batch import ON_INVALID, OUTPUT_FORMATS
from .limits import ServiceLimits, available_cores

LIMITS = ServiceLimits()


def _logs_to_stderr() -> None:
    """Send log output to stderr: stdout carries the predictions.

    Kedro's logging configuration (``conf/logging.yml``, rich) writes to stdout and
    is applied again when a catalog name is looked up in a ``KedroSession``.
    """
    import logging

    stdout = (sys.stdout, sys.__stdout__)
    for handler in logging.getLogger().handlers:
        console = getattr(handler, "console", None)
        if console is not None and console.file in stdout:
            console.file = sys.stderr
        elif isinstance(handler, logging.StreamHandler) and handler.stream in stdout:
            handler.setStream(sys.stderr)


def _load_predictor(model: str, env: str | None, threads: int | None):
    """Resolve ``--model`` and load it; user errors become ``click`` errors."""
    from quant_sentiment.textprep import MissingNormalisation

    from .model import ModelNotFound, Predictor, resolve_model

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    try:
        with redirect_stdout(sys.stderr):  # Kedro's session logs while looking up
            folder = resolve_model(model, env)
        _logs_to_stderr()
        return Predictor(folder, threads=threads)
    except (ModelNotFound, MissingNormalisation, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:  # a skipped variant, an unknown format
        raise click.ClickException(f"--model '{model}': {exc}") from exc


def _batch_cap(ctx, param, value: str) -> int | None:
    """``--max-batch-texts``: a positive integer, or ``auto`` (``None``: measured)."""
    if value == "auto":
        return None
    try:
        cap = int(value)
    except ValueError:
        cap = 0
    if cap < 1:
        raise click.BadParameter(f"must be 'auto' or an integer >= 1, got {value!r}")
    return cap


@contextmanager
def _output(path: str):
    """stdout, or ``path`` written as ``<path>.partial`` and renamed when complete."""
    if path == STDIN:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as stream:
            yield stream
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _output_format(output: str, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    return "jsonl" if output.endswith((".jsonl", ".ndjson")) else "csv"


@click.group(name="quant-sentiment", context_settings={"max_content_width": 100})
def cli() -> None:
    """Score text with a saved model (``predict``), serve it over HTTP (``serve``),
    load-test the service (``loadtest``)."""


_model_option = click.option(
    "--model",
    required=True,
    help="Model folder (any format, with manifest.json), a Kedro-versioned model "
    "folder (its newest version), or a catalog dataset name (finetuned_model, "
    "ptq_int8_ort_model, tfidf_logreg_model).",
)
_env_option = click.option(
    "--env", default=None, help="Kedro environment for catalog names (e.g. offline)."
)
_threads_option = click.option(
    "--threads", type=int, default=None, help="torch / ONNX Runtime threads."
)


@cli.command()
@_model_option
@_env_option
@click.argument("files", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Input format (default: from the suffix; stdin: text).",
)
@click.option(
    "--column",
    default="text",
    show_default=True,
    help="TSV/CSV column (name or 0-based index) or JSONL field of the text.",
)
@click.option(
    "--id-column",
    default=None,
    help="Column / field with the row id (default: the line number).",
)
@click.option(
    "--header/--no-header",
    default=True,
    show_default=True,
    help="Whether TSV/CSV files start with a header row.",
)
@click.option("--encoding", default="utf-8", show_default=True)
@click.option(
    "-o",
    "--output",
    default=STDIN,
    show_default=True,
    help="Output file (.csv or .jsonl), or - for stdout.",
)
@click.option(
    "--output-format",
    type=click.Choice(OUTPUT_FORMATS),
    default=None,
    help="Default: from --output's suffix, else csv.",
)
@click.option(
    "--on-invalid",
    type=click.Choice(ON_INVALID),
    default="fail",
    show_default=True,
    help="Stop at the first unusable row (unreadable, unclosed quote, empty, "
    "control characters, over --max-chars), or skip such rows and list them.",
)
@click.option(
    "--max-chars",
    type=click.IntRange(1),
    default=MAX_CHARS,
    show_default=True,
    help="Characters per text; a longer text is an unusable row (a far longer line "
    "is refused while it is read, never held in memory).",
)
@click.option("--with-text", is_flag=True, help="Copy the input text to the output.")
@click.option(
    "--chunk-size",
    type=click.IntRange(1),
    default=1024,
    show_default=True,
    help="Rows held in memory at a time.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=32,
    show_default=True,
    help="Texts per model call (grouped by length).",
)
@_threads_option
def predict(  # noqa: PLR0913 - one argument per option
    model,
    env,
    files,
    fmt,
    column,
    id_column,
    header,
    encoding,
    output,
    output_format,
    on_invalid,
    max_chars,
    with_text,
    chunk_size,
    batch_size,
    threads,
):
    """Predict labels for raw text in FILES (plain text, TSV, CSV, JSONL) or stdin.

    Each output row has the input's file, line and row id, the label and the class
    probabilities. The text is normalised as the model was trained (its manifest).
    Exit code 1 when the input is refused (missing, empty, binary, no such column),
    when a row is unusable under --on-invalid fail, or when no row was scored.
    """
    from quant_sentiment.records import InputError, InputSpec

    from .batch import InvalidRecord, PredictionWriter, score_records

    predictor = _load_predictor(model, env, threads)
    spec = InputSpec(fmt, column, id_column, header, encoding, max_chars)
    sources = list(files) or [STDIN]
    try:
        with _output(output) as stream:
            writer = PredictionWriter(
                stream,
                _output_format(output, output_format),
                predictor.labels,
                with_text,
                predictor.task_heads,  # a multi-task model: every head
            )
            summary = score_records(
                predictor,
                _records_with_progress(sources, spec),
                writer.write,
                on_invalid,
                chunk_size,
                batch_size,
                with_text,
            )
    except (InputError, InvalidRecord) as exc:
        raise click.ClickException(str(exc)) from exc
    if summary.scored == 0:
        raise click.ClickException(f"nothing was scored: {summary.describe()}")
    click.echo(summary.describe(), err=True)


def _records_with_progress(sources: list[str], spec):
    """Records of every source with a byte-based progress bar (on a terminal)."""
    from tqdm.auto import tqdm

    from quant_sentiment.records import read_records

    sizes = [
        Path(s).stat().st_size for s in sources if s != STDIN and Path(s).is_file()
    ]
    total = sum(sizes) if len(sizes) == len(sources) else None
    with tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc="predict",
        disable=None,
        file=sys.stderr,
    ) as bar:
        for source in sources:
            yield from read_records(source, spec, on_bytes=bar.update)


@cli.command()
@_model_option
@_env_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option(
    "--max-texts",
    type=click.IntRange(1),
    default=LIMITS.max_texts,
    show_default=True,
    help="Texts per request (more: 413).",
)
@click.option(
    "--max-chars",
    type=click.IntRange(1),
    default=LIMITS.max_chars,
    show_default=True,
    help="Characters per text (more: 413).",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(1),
    default=LIMITS.max_body_bytes,
    show_default=True,
    help="Request body bytes (more: 413).",
)
@click.option(
    "--max-pending",
    type=click.IntRange(1),
    default=LIMITS.max_pending,
    show_default=True,
    help="Requests admitted at once, running or waiting; more get 503.",
)
@click.option(
    "--max-batch-texts",
    default="auto",
    show_default=True,
    callback=_batch_cap,
    help="Texts of queued requests scored in one call; 1 scores each request "
    "alone (answers do not depend on it: ONNX dynamic INT8 runs per text). auto: "
    "measure the model's batch curve at start-up (1, 2, 4, ... "
    f"{LIMITS.max_batch_texts} texts) and take the smallest batch within 90 percent of "
    "the best throughput.",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(0.1),
    default=LIMITS.body_timeout_s,
    show_default=True,
    help="Seconds to receive a whole request body (more: 408).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log every request (uvicorn's access log).",
)
@_threads_option
def serve(  # noqa: PLR0913 - one argument per option
    model,
    env,
    host,
    port,
    max_texts,
    max_chars,
    max_body_bytes,
    max_pending,
    max_batch_texts,
    body_timeout,
    access_log,
    threads,
):
    """Serve the model over HTTP: POST /predict, GET /health, GET /model, /docs.

    --threads defaults to the cores this process may use."""
    import uvicorn

    from .service import create_app, return_large_buffers_to_the_os

    return_large_buffers_to_the_os()
    threads = available_cores() if threads is None else threads
    predictor = _load_predictor(model, env, threads)
    curve = None
    if max_batch_texts is None:
        from .batch_curve import measure

        curve = measure(
            lambda texts: predictor.probabilities(texts, LIMITS.batch_size),
            LIMITS.max_batch_texts,
        )
        max_batch_texts = curve.cap
    limits = ServiceLimits(
        max_texts=max_texts,
        max_chars=max_chars,
        max_body_bytes=max_body_bytes,
        max_pending=max_pending,
        max_batch_texts=max_batch_texts,
        body_timeout_s=body_timeout,
    )
    app = create_app(predictor, limits)
    app.state.batch_curve = None if curve is None else curve.as_dict()
    uvicorn.run(
        app,
        host=host,
        port=port,
        workers=1,
        access_log=access_log,
    )


@cli.command()
@click.option(
    "--url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The service (loopback only).",
)
@click.option(
    "--texts",
    "texts_file",
    required=True,
    help="Texts to send (cycled), e.g. the SmSA test TSV.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None)
@click.option("--column", default="text", show_default=True)
@click.option("--header/--no-header", default=True, show_default=True)
@click.option(
    "--clients",
    default="1,8,32",
    show_default=True,
    help="Concurrency levels, comma-separated.",
)
@click.option(
    "--requests",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Requests per level.",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(1),
    default=120,
    show_default=True,
    help="Time limit per level (fewer requests are reported if reached).",
)
@click.option("--warmup", type=click.IntRange(0), default=20, show_default=True)
@click.option("-o", "--output", default=None, help="Write the table as CSV (+ .md).")
@click.option(
    "--spawn-model",
    default=None,
    help="Start `serve --model <this>` at --url for the test, stop it after.",
)
@_env_option
@_threads_option
def loadtest(url, texts_file, fmt, column, header, clients, requests, max_seconds,  # noqa: PLR0913
             warmup, output, spawn_model, env, threads):  # fmt: skip
    """Load-test POST /predict at several concurrency levels (a benchmark)."""
    import asyncio

    import pandas as pd

    from quant_sentiment.records import InputError, InputSpec, read_records

    from .loadtest import check_loopback, machine_line, run_level, spawned_service

    try:
        base = check_loopback(url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    spec = InputSpec(fmt, column, None, header)
    rows = []
    try:
        texts = [r.text for r in read_records(texts_file, spec) if r.problem is None]
        with spawned_service(spawn_model, env, threads, base):
            click.echo(machine_line(), err=True)
            for level in (int(c) for c in clients.split(",")):
                result = asyncio.run(
                    run_level(base, texts, level, requests, max_seconds, warmup)
                )
                rows.append(result.row())
                click.echo(f"{level} client(s): {rows[-1]}", err=True)
    except (InputError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    table = pd.DataFrame(rows)
    click.echo(table.to_markdown(index=False))
    if output is not None:
        table.to_csv(output, index=False)
        Path(output).with_suffix(".md").write_text(
            f"{machine_line()}\n\n{table.to_markdown(index=False)}\n"
        )
