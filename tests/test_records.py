"""The one record reader (``quant_sentiment.records``): line handling, quoting,
resynchronisation after a broken quote, text checks, whole-input refusals, memory,
and the real data files of ``../shared/data`` (skipped where absent)."""

from __future__ import annotations

import io
import tracemalloc

import pytest

from quant_sentiment.records import (
    InputError,
    InputSpec,
    LineReader,
    TableParser,
    decode_lines,
    read_records,
)


def records(data: bytes, name: str = "in.csv", **spec):
    return list(read_records(name, InputSpec(**spec), stream=io.BytesIO(data)))


def rows(data: bytes, *, quoted=True, sep=",", encoding="utf-8"):
    lines = decode_lines(LineReader(io.BytesIO(data)), encoding)
    return list(TableParser(sep, quoted).rows(lines))


# ------------------------------------------------------------------ lines
def test_lines_end_at_newline_only_and_keep_their_ending():
    data = b"a\r\nb\rc\n\nlast"
    got = [(x.number, x.data, x.ending) for x in LineReader(io.BytesIO(data), block=3)]
    assert got == [
        (1, b"a", b"\r\n"),
        (2, b"b\rc", b"\n"),
        (3, b"", b"\n"),
        (4, b"last", b""),
    ]


def test_a_line_over_the_cap_is_cut_while_read():
    data = b"ok\n" + b"x" * 1000 + b"\nok again\n"
    got = list(LineReader(io.BytesIO(data), max_line_bytes=100, block=64))
    assert [(x.number, x.data, x.cut, x.size) for x in got] == [
        (1, b"ok", False, 2),
        (2, b"", True, 1000),
        (3, b"ok again", False, 8),
    ]


# ------------------------------------------------------------------ quoting
def test_quoted_newline_and_crlf_stay_in_the_field():
    data = b'id,text\r\nr1,"pelayanannya ramah\r\ndan cepat"\r\nr2,"a ""b"", c"\r\n'
    got = [(r.line, r.fields) for r in rows(data)]
    assert got == [
        (1, ["id", "text"]),
        (2, ["r1", "pelayanannya ramah\r\ndan cepat"]),
        (4, ["r2", 'a "b", c']),
    ]


def test_unclosed_quote_costs_one_row_and_reading_resumes():
    lines = [f"teks {i}" for i in range(1, 11)]
    lines[3] = '"teks 4 tanpa tutup'
    data = ("text\n" + "\n".join(lines) + "\n").encode()
    got = records(data)
    assert [r.line for r in got] == list(range(2, 12))
    bad = [r for r in got if r.problem]
    assert [(r.line, r.text) for r in bad] == [(5, None)]
    assert "unclosed quote" in bad[0].problem
    assert "starting on line 5" in bad[0].problem
    assert [r.text for r in got if not r.problem] == [
        f"teks {i}" for i in range(1, 11) if i != 4
    ]


def test_unclosed_quote_closed_by_a_later_quote_is_still_one_row():
    data = b'text,n\n"broken,1\nfine,2\n"quoted",3\nlast,4\n'
    parser = TableParser(",", True)
    parser.width = 2
    got = list(parser.rows(decode_lines(LineReader(io.BytesIO(data)), "utf-8")))
    assert [(r.line, r.fields) for r in got] == [
        (1, ["text", "n"]),
        (2, None),
        (3, ["fine", "2"]),
        (4, ["quoted", "3"]),
        (5, ["last", "4"]),
    ]
    assert "ends on line 4 with text after its closing quote" in got[1].problem


def test_tsv_reads_quotes_as_text():
    got = rows(b'"kata\tpositive\nlain\tnegative\n', quoted=False, sep="\t")
    assert [r.fields for r in got] == [['"kata', "positive"], ["lain", "negative"]]


# ------------------------------------------------------------------ text checks
@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b'{"text": "bagus \\ud800 sekali"}', "lone surrogate U+D800 at character 6"),
        (b'{"text": "bagus \\u001b sekali"}', "control character U+001B"),
        (b'{"text": "\\u200b\\u200e"}', "is empty (only whitespace or invisible"),
        (b'{"text": "' + b"a" * 30 + b'"}', "has 30 characters; at most 20"),
    ],
)
def test_texts_are_checked_at_read_time(line, fragment):
    (record,) = records(line + b"\n", "in.jsonl", max_chars=20)
    assert record.text is None
    assert fragment in record.problem


def test_a_ten_megabyte_line_is_refused_in_little_memory():
    data = b"text\nbagus\n" + b"x" * 10_000_000 + b"\njelek\n"
    stream = io.BytesIO(data)
    tracemalloc.start()
    try:
        got = list(read_records("big.tsv", InputSpec(), stream=stream))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.text for r in got] == ["bagus", None, "jelek"]
    assert "line of 10000000 bytes is longer than the line cap" in got[1].problem
    assert peak < 2_000_000  # the old reader held the whole line (> 30 MB)


# ------------------------------------------------------------------ whole inputs
def test_empty_input_is_called_empty():
    with pytest.raises(InputError, match=r"in.csv: the input is empty"):
        records(b"")


def test_binary_input_is_refused_as_a_whole():
    with pytest.raises(InputError, match=r"looks binary \(a NUL byte at byte 4\)"):
        records(b"text\x00\x01\x02garbage\n" * 50, "in.txt")
    noise = bytes(range(128, 256)) * 40 + b"\nmore\n"
    with pytest.raises(InputError, match=r"looks binary \(\d+ of the first"):
        records(noise, "in.txt")


# ------------------------------------------------------------------ real files
NUSAX_ROWS = {"train": 500, "valid": 100, "test": 400}


def test_nusax_files_read_with_their_row_counts(shared_data):
    folder = shared_data / "nusax_senti"
    if not folder.is_dir():
        pytest.skip("../shared/data/nusax_senti is absent")
    languages = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert len(languages) == 12
    for language in languages:
        for split, expected in NUSAX_ROWS.items():
            path = folder / language / f"{split}.csv"
            got = list(read_records(str(path), InputSpec(id_column="id")))
            assert len(got) == expected, path
            assert all(r.problem is None for r in got), path
    multi = [
        r
        for r in read_records(
            str(folder / "toba_batak" / "train.csv"), InputSpec(id_column="id")
        )
        if "\n" in r.text
    ]
    assert multi  # texts spanning lines inside quotes stay whole


def test_hate_speech_file_reads_as_latin1_crlf(shared_data):
    path = shared_data / "id_multilabel_hate_speech" / "re_dataset.csv"
    if not path.is_file():
        pytest.skip("../shared/data/id_multilabel_hate_speech is absent")
    got = list(read_records(str(path), InputSpec(column="Tweet", encoding="latin-1")))
    assert len(got) == 13_169
    assert all(r.problem is None for r in got)
    assert not any(r.text.endswith("\r") for r in got)
    with path.open("rb") as stream:
        lines = decode_lines(LineReader(stream), "latin-1")
        table = list(TableParser(",", True).rows(lines))
    assert table[0].fields[:3] == ["Tweet", "HS", "Abusive"]
    assert {len(r.fields) for r in table} == {13}


# ------------------------------------------------------------------ layering
def test_reader_and_normalisation_sit_below_the_pipelines():
    """``records``, ``normalise`` and ``textprep`` (with its steps built) import no
    pipeline module: they are the lower layer the pipelines and scoring share."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import quant_sentiment
    from tests.conftest import base_normalisation

    code = (
        "import sys, quant_sentiment.records, quant_sentiment.normalise\n"
        "from quant_sentiment.textprep import TextPrep\n"
        f"TextPrep({base_normalisation()!r})('Enak  SEKALI')\n"
        "print(sorted(m for m in sys.modules if m.startswith('quant_sentiment.pipelines')))"
    )
    src = str(Path(quant_sentiment.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert out.stdout.strip() == "[]"
