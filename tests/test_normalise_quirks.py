"""The tweet-corpus normalisation steps (hate-speech file quirks), their counts, the
slang dictionary's pin and the replay of all of them by TextPrep."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from quant_sentiment.normalise import (
    decode_byte_escapes,
    normalisation_steps,
    quirk_counts,
)
from quant_sentiment.pipelines.preprocessing.nodes import normalise_texts
from quant_sentiment.slang import SlangDictionaryError, read_dictionary
from quant_sentiment.textprep import MANIFEST_KEY, TextPrep
from tests.conftest import base_normalisation

LABELS = {"positive": 0, "negative": 1}
ESCAPED_JOY = r"\xf0\x9f\x98\x82"  # the 15 characters, not the emoji


def settings(**switches) -> dict:
    """Base normalisation with the given switches; lowercase off for readability."""
    return {**base_normalisation(), "lowercase": False, **switches}


def apply(text: str, **switches) -> str:
    return TextPrep(settings(**switches))(text)


def test_base_switches_are_off_and_change_nothing():
    base = base_normalisation()
    names = [name for name, _ in normalisation_steps(base)]
    assert names == ["lowercase", "collapse_whitespace"]
    raw = r"RT USER: ha\nha " + ESCAPED_JOY + " URL"
    assert TextPrep(base)(raw) == raw.lower()


def test_newline_escapes_become_spaces_and_real_newlines_are_left():
    assert apply(r"AKU ITU AKU\n\nKU TAU", newline_escapes=True) == "AKU ITU AKU KU TAU"
    # A real newline is whitespace: collapse_whitespace handles it, this step does not.
    only_escape = settings(newline_escapes=True, collapse_whitespace=False)
    assert TextPrep(only_escape)("a\nb") == "a\nb"
    assert TextPrep(only_escape)(r"a\nb") == "a b"
    # Off: the two characters stay.
    assert apply(r"a\nb") == r"a\nb"


def test_byte_escapes_decode_to_utf8_and_broken_runs_are_dropped():
    assert decode_byte_escapes("lol " + ESCAPED_JOY * 2) == "lol \U0001f602\U0001f602"
    assert decode_byte_escapes(r"antek\xc2\xb2 JIL") == "antek\u00b2 JIL"
    # A truncated emoji (3 of its 4 bytes) and a lone continuation byte: dropped.
    assert decode_byte_escapes(r"a \xf0\x9f\x98 b") == "a  b"
    assert decode_byte_escapes(r"a\x9fb") == "ab"
    # A valid character followed by a broken tail keeps the valid one.
    assert decode_byte_escapes(r"x\xc2\xb2\xf0\x9fy") == "x\u00b2y"
    # An escape cut off at the end of a truncated tweet is removed; elsewhere a \x
    # without two hex digits is not an escape and stays.
    assert decode_byte_escapes(r"bgt dah \xa") == "bgt dah "
    assert decode_byte_escapes("main" + ESCAPED_JOY + r"\x") == "main\U0001f602"
    assert decode_byte_escapes(r"\xzz \x4 ok") == r"\xzz \x4 ok"
    assert apply("ok " + ESCAPED_JOY, byte_escapes=True) == "ok \U0001f602"


def test_retweet_marker_only_at_the_start():
    assert apply("RT USER: halo", retweet_marker=True) == "USER: halo"
    assert apply("RT halo RT", retweet_marker=True) == "halo RT"
    assert apply("RTnya bagus", retweet_marker=True) == "RTnya bagus"
    assert apply("ART bagus", retweet_marker=True) == "ART bagus"


def test_placeholders_keep_remove_replace_whole_words_only():
    text = "USER USER: cek URL dari USERNAME myURL"
    assert apply(text) == text
    assert apply(text, placeholders="remove") == ": cek dari USERNAME myURL"
    assert (
        apply(text, placeholders="replace")
        == "@USER @USER: cek HTTPURL dari USERNAME myURL"
    )
    with pytest.raises(ValueError, match="placeholders: 'drop'"):
        normalisation_steps(settings(placeholders="drop"))
    with pytest.raises(ValueError, match="placeholder_tokens"):
        normalisation_steps(
            settings(placeholders="replace", placeholder_tokens={"USER": "@u"})
        )


def test_mangled_bytes_counted_and_optionally_removed():
    raw = "kaw kaw. \u00e2??; Doket \u00c2\u00b2 mano"
    assert quirk_counts([raw, "bersih"])["mangled_bytes"] == 1
    assert apply(raw, mangled_bytes=True) == "kaw kaw. ; Doket mano"
    # Indonesian text without mojibake is untouched.
    assert apply("caf\u00e9 enak", mangled_bytes=True) == "caf\u00e9 enak"


def test_quirks_counted_even_when_steps_are_off():
    texts = [
        r"RT USER: a\nb " + ESCAPED_JOY,
        "USER URL",
        r"broken \xf0\x9f",
        "plain",
    ]
    assert quirk_counts(texts) == {
        "newline_escapes": 1,
        "byte_escapes": 2,
        "undecodable_byte_escapes": 1,
        "retweet_marker": 1,
        "USER": 2,
        "URL": 1,
        "mangled_bytes": 0,
    }


def test_normalise_texts_counts_the_rows_each_step_changed():
    rows = pd.DataFrame(
        {
            "source": "f.csv",
            "line": [2, 3, 4],
            "text": [r"RT USER: a\nb", "USER " + ESCAPED_JOY, "plain"],
            "label": ["positive", "negative", "positive"],
        }
    )
    on = settings(
        newline_escapes=True,
        byte_escapes=True,
        retweet_marker=True,
        placeholders="remove",
        lowercase=True,
    )
    clean, stats, emptied = normalise_texts(rows, LABELS, on)
    steps = stats["steps"]
    assert {k: v["rows_changed"] for k, v in steps.items()} == {
        "newline_escapes": 1,
        "byte_escapes": 1,
        "retweet_marker": 1,
        "placeholders": 2,
        "lowercase": 0,
        "collapse_whitespace": 2,
    }
    assert stats["quirks_found"]["USER"] == 2
    assert clean["text"].tolist() == [": a b", "\U0001f602", "plain"]
    assert emptied.empty


@pytest.fixture
def kamus(tmp_path):
    path = tmp_path / "kamus.csv"
    path.write_bytes(b"gue,saya\r\nelo,kamu\r\nyg,yang\r\ntgg jwb,tanggung jawab\r\n")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def slang_settings(path, sha256, **switches) -> dict:
    return settings(
        slang={"enabled": True, "path": str(path), "sha256": sha256}, **switches
    )


def test_slang_replaces_whole_words_case_insensitively(kamus):
    path, sha = kamus
    prep = TextPrep(slang_settings(path, sha))
    assert (
        prep("Gue bilang ke elo, yg penting.") == "saya bilang ke kamu, yang penting."
    )
    # Inside a longer word nothing is replaced; multi-word keys are not used.
    assert prep("guetu tgg jwb") == "guetu tgg jwb"


def test_slang_dictionary_is_pinned_by_sha256(kamus, tmp_path):
    path, sha = kamus
    with pytest.raises(SlangDictionaryError, match="has SHA-256 .* but 0+ is recorded"):
        normalisation_steps(slang_settings(path, "0" * 64))
    with pytest.raises(SlangDictionaryError, match=f"sha256 is not set.*{sha}"):
        normalisation_steps(slang_settings(path, None))
    with pytest.raises(SlangDictionaryError, match="missing.csv not found"):
        normalisation_steps(slang_settings(tmp_path / "missing.csv", sha))
    # Off: neither file nor hash is looked at.
    off = settings(slang={"enabled": False, "path": "nowhere", "sha256": None})
    assert [n for n, _ in normalisation_steps(off)] == ["collapse_whitespace"]


def test_slang_file_changed_after_training_refuses_the_replay(kamus):
    path, sha = kamus
    manifest = {MANIFEST_KEY: slang_settings(path, sha)}
    assert TextPrep.from_manifest(manifest)("gue") == "saya"
    path.write_bytes(path.read_bytes() + b"bro,saudara\r\n")
    with pytest.raises(SlangDictionaryError, match="not the dictionary"):
        TextPrep.from_manifest(manifest)


def test_bad_dictionary_row_names_file_and_row():
    with pytest.raises(SlangDictionaryError, match=r"k\.csv: row 2 has 3 field"):
        read_dictionary(b"a,b\nc,d,e\n", "k.csv")


def test_replay_from_manifest_equals_preprocessing(kamus):
    path, sha = kamus
    on = slang_settings(
        path,
        sha,
        newline_escapes=True,
        byte_escapes=True,
        retweet_marker=True,
        placeholders="replace",
        mangled_bytes=True,
        lowercase=True,
    )
    raw = [
        r"RT USER: Gue\nsuka " + ESCAPED_JOY + " URL",
        "yg \u00e2?? ok",
        r"elo \xf0\x9f broken",
    ]
    rows = pd.DataFrame(
        {"source": "f.csv", "line": [2, 3, 4], "text": raw, "label": "positive"}
    )
    clean, _, _ = normalise_texts(rows, LABELS, on)
    prep = TextPrep.from_manifest({MANIFEST_KEY: on})
    assert prep.many(raw) == clean["text"].tolist()
    assert clean["text"].tolist()[0] == "@user: saya suka \U0001f602 httpurl"


def test_old_manifest_without_the_new_switches_replays_as_before():
    old = {
        key: value
        for key, value in base_normalisation().items()
        if key
        in {
            "lowercase",
            "strip_non_letters",
            "collapse_whitespace",
            "remove_stopwords",
            "stopwords_keep",
            "stem",
        }
    }
    raw = r"RT USER:  A\nB"
    assert TextPrep(old)(raw) == TextPrep(base_normalisation())(raw) == r"rt user: a\nb"


def test_real_hatespeech_file_quirk_counts(shared_data):
    folder = shared_data / "id_multilabel_hate_speech"
    data, kamus = folder / "re_dataset.csv", folder / "new_kamusalay.csv"
    if not data.is_file() or not kamus.is_file():
        pytest.skip(f"{folder} lacks re_dataset.csv / new_kamusalay.csv")
    frame = pd.read_csv(data, encoding="latin-1")
    texts = frame["Tweet"].astype(str).tolist()
    found = quirk_counts(texts)
    # ../shared/data/README.md: 1,540 rows with a literal \n, 1,438 with escaped
    # emoji (escapes of other characters too), 923 starting with RT.
    assert 1400 <= found["newline_escapes"] <= 1600
    assert found["byte_escapes"] == 1438
    assert found["retweet_marker"] == 923
    assert 0 < found["undecodable_byte_escapes"] < found["byte_escapes"]
    assert 0 < found["mangled_bytes"] < 1000
    assert found["USER"] > 5000 and found["URL"] > 500
    base = base_normalisation()
    on = {
        **base,
        "newline_escapes": True,
        "byte_escapes": True,
        "retweet_marker": True,
        "placeholders": "remove",
        "mangled_bytes": True,
        "slang": {**base["slang"], "path": str(kamus)},
    }
    on["slang"]["enabled"] = True
    rows = pd.DataFrame(
        {"source": str(data), "line": range(2, len(texts) + 2), "text": texts}
    ).assign(label="positive")
    clean, stats, emptied = normalise_texts(rows, LABELS, on)
    changed = {k: v["rows_changed"] for k, v in stats["steps"].items()}
    assert changed["newline_escapes"] == found["newline_escapes"]
    assert changed["byte_escapes"] == found["byte_escapes"]
    assert changed["retweet_marker"] == 923
    assert len(texts) * 0.3 < changed["slang"] < len(texts)
    left = [t for t in clean["text"] if "\\n" in t or "\\x" in t]
    assert left == []
    # Tweets of nothing but USER / URL are emptied by placeholders=remove (reported).
    assert 0 < len(emptied) < 100
    assert emptied["check"].eq("empty_after_normalisation").all()
