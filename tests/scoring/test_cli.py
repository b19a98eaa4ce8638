"""``quant-sentiment predict`` on every input format and on bad input."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from quant_sentiment.scoring.cli import cli
from tests.conftest import SAMPLE_DIR

LABELS = ["positive", "neutral", "negative"]
PROBS = [f"prob_{label}" for label in LABELS]


def run(model_folder, *args, stdin=None):
    """Invoke ``predict`` in-process; returns the click result."""
    return CliRunner().invoke(
        cli, ["predict", "--model", str(model_folder), *map(str, args)], input=stdin
    )


def csv_rows(result) -> pd.DataFrame:
    assert result.exit_code == 0, result.output
    return pd.read_csv(StringIO(result.stdout), keep_default_na=False)


def check_probabilities(frame: pd.DataFrame) -> None:
    probs = frame[PROBS].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert frame["label"].tolist() == [LABELS[i] for i in probs.argmax(axis=1)]


def test_plain_text_file(model_folder, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("Makanannya ENAK sekali!\npelayanan lambat\r\n", encoding="utf-8")
    out = csv_rows(run(model_folder, path))
    assert out.columns.tolist() == ["source", "line", "row_id", "label", *PROBS]
    assert out["line"].tolist() == [1, 2]
    assert out["row_id"].tolist() == [1, 2]
    assert (out["source"] == str(path)).all()
    check_probabilities(out)


def test_tsv_by_index_matches_the_predictor(model_folder, predictor):
    result = run(
        model_folder, SAMPLE_DIR / "test.tsv", "--column", "0", "--no-header",
        "--with-text", "--chunk-size", "7", "--batch-size", "4",
    )  # fmt: skip
    out = csv_rows(result)
    raw = pd.read_csv(
        SAMPLE_DIR / "test.tsv", sep="\t", header=None, quoting=3, names=["t", "l"]
    )
    assert len(out) == len(raw) == 180
    assert out["text"].tolist() == raw["t"].tolist()
    expected = predictor.predict_raw(raw["t"].tolist())
    assert out["label"].tolist() == [e["label"] for e in expected]
    np.testing.assert_allclose(
        out[PROBS].to_numpy(),
        [[e["probabilities"][lab] for lab in LABELS] for e in expected],
        atol=2e-6,
    )
    assert "180 row(s) scored, 0 skipped" in result.stderr


def test_csv_by_name_with_ids_and_quoted_fields(model_folder, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(
        'id,review,stars\nr1,"enak, murah",5\nr2,"baris satu\nbaris dua",1\n'
    )
    out = csv_rows(run(model_folder, path, "--column", "review", "--id-column", "id"))
    assert out["row_id"].tolist() == ["r1", "r2"]
    assert out["line"].tolist() == [2, 3]  # a record keeps the line it starts on
    check_probabilities(out)


def test_jsonl_field_to_jsonl_output(model_folder, tmp_path):
    path = tmp_path / "docs.jsonl"
    rows = [{"id": 7, "body": "bagus"}, {"id": 8, "body": "jelek sekali"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out_path = tmp_path / "pred.jsonl"
    result = run(
        model_folder, path, "--column", "body", "--id-column", "id", "-o", out_path
    )
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in out_path.read_text().splitlines()]
    assert [o["row_id"] for o in out] == ["7", "8"]
    assert all(set(o["probabilities"]) == set(LABELS) for o in out)
    assert all(o["label"] == max(o["probabilities"], key=o["probabilities"].get)
               for o in out)  # fmt: skip
    assert not (tmp_path / "pred.jsonl.partial").exists()


def test_stdin(model_folder):
    out = csv_rows(run(model_folder, "-", stdin="satu\ndua\ntiga\n"))
    assert out["line"].tolist() == [1, 2, 3]
    assert (out["source"] == "-").all()


def test_bad_encoding_fails_with_file_and_line(model_folder, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"bagus\n\xff\xfe rusak\njelek\n")
    result = run(model_folder, path)
    assert result.exit_code == 1
    assert f"{path}, line 2: undecodable bytes b'\\xff' at byte 0" in result.output
    out_path = tmp_path / "out.csv"
    assert run(model_folder, path, "-o", out_path).exit_code == 1
    assert not out_path.exists() and not (tmp_path / "out.csv.partial").exists()


def test_skip_lists_empty_and_undecodable_lines(model_folder, tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"bagus\n\n   \n\xe9\n!!!\njelek\n")
    result = run(model_folder, path, "--on-invalid", "skip")
    out = csv_rows(result)
    assert out["line"].tolist() == [1, 5, 6]  # "!!!" is kept: punctuation stays
    assert "3 row(s) scored, 3 skipped" in result.stderr
    for line, why in [(2, "empty line"), (3, "empty line"), (4, "undecodable")]:
        assert f"{path}, line {line}: {why}" in result.stderr


def test_empty_line_fails_by_default(model_folder, tmp_path):
    path = tmp_path / "gap.txt"
    path.write_text("bagus\n\njelek\n")
    result = run(model_folder, path)
    assert result.exit_code == 1
    assert f"{path}, line 2: empty line" in result.output


def test_jsonl_problems_are_named(model_folder, tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "ok"}\n[1]\n{"text": 3}\n{bad\n')
    result = run(model_folder, path, "--on-invalid", "skip")
    assert "1 row(s) scored, 3 skipped" in result.stderr
    assert "line 2: not a JSON object (list)" in result.stderr
    assert "line 3: field 'text' is missing or not a string" in result.stderr
    assert "line 4: not JSON" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--column", "review"], "no column 'review'; the header has ['id', 'text']"),
        (["--no-header"], "column 'text' given by name but the file has no header"),
    ],
)
def test_missing_column(model_folder, tmp_path, args, message):
    path = tmp_path / "t.csv"
    path.write_text("id,text\n1,bagus\n")
    result = run(model_folder, path, *args)
    assert result.exit_code == 1
    assert message in result.output


def test_unknown_model_and_unknown_suffix(model_folder, tmp_path):
    result = CliRunner().invoke(
        cli, ["predict", "--model", str(tmp_path / "nowhere"), "-"], input="x\n"
    )
    assert result.exit_code == 1
    assert "is neither a model folder nor" in result.output
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["predict", "--model", str(empty), "-"])
    assert "is a folder without manifest.json" in result.output
    path = tmp_path / "texts.dat"
    path.write_text("bagus\n")
    result = run(model_folder, path)
    assert "cannot tell the format from the suffix '.dat'" in result.output
    assert csv_rows(run(model_folder, path, "--format", "text"))["line"].tolist() == [1]


def test_versioned_folder_resolves_to_newest(model_folder):
    out = csv_rows(run(model_folder.parent.parent, "-", stdin="bagus\n"))
    assert len(out) == 1


def test_manifest_without_normalisation_is_refused(tiny_model_dir):
    result = CliRunner().invoke(
        cli, ["predict", "--model", str(tiny_model_dir), "-"], input="x\n"
    )
    assert result.exit_code == 1
    assert "has no 'normalisation' block" in result.output


def test_quant_sentiment_dispatches_the_scoring_commands(monkeypatch, capsys):
    from quant_sentiment.__main__ import main

    monkeypatch.setattr("sys.argv", ["quant-sentiment", "serve", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 0
    assert "--max-pending" in capsys.readouterr().out


# ------------------------------------------- hostile input (issue 26, cases 1 and 5)
def test_quoted_newline_is_kept_and_scored_as_two_words(
    model_folder, predictor, tmp_path
):
    path = tmp_path / "r.csv"
    path.write_bytes(b'text\r\n"pelayanannya ramah\r\ndan cepat"\r\nlambat\r\n')
    out = csv_rows(run(model_folder, path, "--with-text"))
    assert out["line"].tolist() == [2, 4]
    assert out["text"][0].splitlines() == ["pelayanannya ramah", "dan cepat"]
    assert predictor.prep(out["text"][0]) == "pelayanannya ramah dan cepat"
    expected = predictor.predict_raw(["pelayanannya ramah dan cepat"])[0]
    assert out[PROBS].iloc[0].tolist() == pytest.approx(
        [expected["probabilities"][lab] for lab in LABELS], abs=1e-6
    )


def _ten_rows_one_broken_quote(tmp_path):
    lines = [f"ulasan nomor {i}" for i in range(1, 11)]
    lines[4] = '"ulasan nomor 5 tanpa tanda kutip penutup'
    path = tmp_path / "ten.csv"
    path.write_text("text\n" + "\n".join(lines) + "\n")
    return path


def test_unclosed_quote_skips_one_row_not_the_rest(model_folder, tmp_path):
    path = _ten_rows_one_broken_quote(tmp_path)
    result = run(model_folder, path, "--on-invalid", "skip", "--with-text")
    out = csv_rows(result)
    assert len(out) == 9 and 6 not in out["line"].tolist()
    assert "9 row(s) scored, 1 skipped" in result.stderr
    assert f"{path}, line 6: unclosed quote" in result.stderr
    stopped = run(model_folder, path)
    assert stopped.exit_code == 1 and not isinstance(stopped.exception, Exception)
    assert f"{path}, line 6: unclosed quote" in stopped.output


@pytest.mark.parametrize(
    ("data", "name", "fragment"),
    [
        (b'{"text": "bagus \\ud800 sekali"}\n', "t.jsonl", "lone surrogate U+D800"),
        (b"bagus \x1b sekali\n", "t.txt", "control character U+001B"),
        ("\u200b\u200f\n".encode(), "t.txt", "only whitespace or invisible"),
    ],
)
def test_unusable_text_is_skipped_or_stops_without_traceback(
    model_folder, tmp_path, data, name, fragment
):
    path = tmp_path / name
    path.write_bytes(data + (b'{"text": "bagus"}\n' if name.endswith("l") else b"ok\n"))
    result = run(model_folder, path, "--on-invalid", "skip")
    assert csv_rows(result)["line"].tolist() == [2]
    assert f"{path}, line 1: text " in result.stderr and fragment in result.stderr
    stopped = run(model_folder, path)
    assert stopped.exit_code == 1 and not isinstance(stopped.exception, Exception)
    assert f"{path}, line 1: text " in stopped.output and fragment in stopped.output


def test_stdin_surrogate_is_skipped(model_folder):
    result = run(
        model_folder, "--format", "jsonl", "--on-invalid", "skip", "-",
        stdin='{"text": "bagus \\ud800 sekali"}\n{"text": "bagus sekali"}\n',
    )  # fmt: skip
    assert csv_rows(result)["line"].tolist() == [2]
    assert "-, line 1: text contains a lone surrogate U+D800" in result.stderr


def test_max_chars(model_folder, tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a" * 30 + "\nbagus\n")
    result = run(model_folder, path, "--max-chars", "20", "--on-invalid", "skip")
    assert csv_rows(result)["line"].tolist() == [2]
    assert "line 1: text has 30 characters; at most 20" in result.stderr
    assert csv_rows(run(model_folder, path))["line"].tolist() == [1, 2]  # default 10k


def test_ten_megabyte_line_is_refused_while_read(model_folder, tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"bagus\n" + b"x" * 10_000_000 + b"\njelek\n")
    result = run(model_folder, path, "--on-invalid", "skip")
    assert csv_rows(result)["line"].tolist() == [1, 3]
    assert "line 2: line of 10000000 bytes is longer than the line cap" in result.stderr


def test_empty_csv_says_empty(model_folder, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    result = run(model_folder, path)
    assert result.exit_code == 1
    assert f"{path}: the input is empty" in result.output
    assert "--no-header" not in result.output


def test_header_only_csv_scores_nothing_and_fails(model_folder, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("id,text\n")
    result = run(model_folder, path)
    assert result.exit_code == 1
    assert "nothing was scored: 0 row(s) scored, 0 skipped" in result.output


def test_binary_file_is_refused_even_in_skip_mode(model_folder, tmp_path):
    path = tmp_path / "blob.txt"
    path.write_bytes(bytes(range(256)) * 400)
    result = run(model_folder, path, "--on-invalid", "skip")
    assert result.exit_code == 1
    assert f"{path}: looks binary (a NUL byte at byte 0)" in result.output
    assert "row(s) scored" not in result.output


def test_all_rows_skipped_is_a_failure(model_folder, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\n   \n")
    result = run(model_folder, path, "--on-invalid", "skip")
    assert result.exit_code == 1
    assert "nothing was scored: 0 row(s) scored, 2 skipped" in result.output
