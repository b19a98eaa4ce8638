"""Score a stream of records in fixed-size chunks and write predictions as they come.

Memory holds one chunk (``chunk_size`` texts) at a time, whatever the input size;
inside a chunk the classifier batches texts of similar length (small padding) and
returns them in input order, so the output keeps the input order.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from quant_sentiment.heads import Head, flat_columns, flat_row
from quant_sentiment.records import Record

from .model import Predictor

ON_INVALID = ("fail", "skip")
OUTPUT_FORMATS = ("csv", "jsonl")
#: Skipped records kept for the closing summary (all of them are counted).
MAX_LISTED = 20


class InvalidRecord(ValueError):
    """A record that cannot be scored under ``--on-invalid fail``."""


@dataclass
class ScoreSummary:
    """What a scoring run did: rows scored, rows skipped (first ones listed)."""

    scored: int = 0
    skipped: int = 0
    listed: list[tuple[Record, str]] = field(default_factory=list)

    def describe(self) -> str:
        """A closing summary naming the first skipped rows by file and line."""
        text = f"{self.scored} row(s) scored, {self.skipped} skipped"
        lines = [f"  {r.source}, line {r.line}: {why}" for r, why in self.listed]
        if self.skipped > len(self.listed):
            lines.append(f"  ... and {self.skipped - len(self.listed)} more")
        return "\n".join([text, *lines])


class PredictionWriter:
    """Prediction rows to CSV (flat ``prob_<label>`` columns) or JSON Lines.

    A multi-task model's rows (``heads``: its :attr:`Predictor.task_heads`) add
    every head: in CSV the flat columns of :func:`quant_sentiment.heads.flat_columns`
    after the primary head's, in JSON Lines the row's ``tasks`` object as it is.
    """

    def __init__(  # noqa: PLR0913 - the output's stream, format and columns
        self,
        stream: IO[str],
        fmt: str,
        labels: list[str],
        with_text: bool,
        heads: Sequence[Head] = (),
    ) -> None:
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"output format must be one of {OUTPUT_FORMATS}: {fmt!r}")
        self.stream, self.fmt, self.labels = stream, fmt, labels
        self.heads = list(heads)
        columns = ["source", "line", "row_id", *(["text"] if with_text else [])]
        self.columns = [*columns, "label", *(f"prob_{lab}" for lab in labels)]
        self.columns += flat_columns(self.heads)
        self._csv = None
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, self.columns, lineterminator="\n")
            self._csv.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Write rows (``source``, ``line``, ``row_id``, [``text``], ``label``,
        ``probabilities``, [``tasks``])."""
        for row in rows:
            probs = row.pop("probabilities")
            if self._csv is not None:
                flat = {f"prob_{lab}": probs[lab] for lab in self.labels}
                tasks = row.pop("tasks", None)
                if self.heads:
                    flat.update(flat_row(self.heads, tasks))
                self._csv.writerow({**row, **flat})
            else:
                out = {**row, "probabilities": probs}
                self.stream.write(json.dumps(out, ensure_ascii=False) + "\n")


def _score_chunk(
    predictor: Predictor, chunk: list[tuple[Record, str]], batch_size: int, text: bool
) -> list[dict[str, Any]]:
    answers = predictor.rows([clean for _, clean in chunk], batch_size)
    rows = []
    for (record, _), answer in zip(chunk, answers):
        row = {"source": record.source, "line": record.line, "row_id": record.row_id}
        if text:
            row["text"] = record.text
        rows.append({**row, **answer})
    return rows


def score_records(  # noqa: PLR0913 - the knobs of one scoring run
    predictor: Predictor,
    records: Iterable[Record],
    write: Callable[[list[dict[str, Any]]], None],
    on_invalid: str = "fail",
    chunk_size: int = 1024,
    batch_size: int = 32,
    with_text: bool = False,
    max_listed: int | None = MAX_LISTED,
) -> ScoreSummary:
    """Normalise, score and write ``records`` chunk by chunk.

    A record with a problem (undecodable, empty, missing field) or a text empty
    after normalisation stops the run (``on_invalid="fail"``, :class:`InvalidRecord`
    naming file and line) or is skipped and counted (``"skip"``); the first
    ``max_listed`` skipped rows (``None``: all) are kept in the summary.
    """
    if on_invalid not in ON_INVALID:
        raise ValueError(f"--on-invalid must be one of {ON_INVALID}: {on_invalid!r}")
    summary, chunk = ScoreSummary(), []
    for record in records:
        clean = predictor.prep(record.text) if record.problem is None else ""
        problem = record.problem or (
            None if clean.strip() else "empty after normalisation"
        )
        if problem is not None:
            if on_invalid == "fail":
                raise InvalidRecord(
                    f"{record.source}, line {record.line}: {problem} "
                    "(--on-invalid skip scores the other rows)"
                )
            summary.skipped += 1
            if max_listed is None or len(summary.listed) < max_listed:
                summary.listed.append((record, problem))
            continue
        chunk.append((record, clean))
        if len(chunk) >= chunk_size:
            write(_score_chunk(predictor, chunk, batch_size, with_text))
            summary.scored, chunk = summary.scored + len(chunk), []
    if chunk:
        write(_score_chunk(predictor, chunk, batch_size, with_text))
        summary.scored += len(chunk)
    return summary
