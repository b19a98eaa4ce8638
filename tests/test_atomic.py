"""Atomic writes (issue 26): staging paths, one rename, leftovers of killed writers,
incomplete checkpoints, MLflow runs of killed processes. Fast: no model is trained."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kedro.io import DataCatalog, DatasetError, Version
from kedro.pipeline import Node, Pipeline

from quant_sentiment.atomic import (
    STAGING_RE,
    atomic_folder,
    clean_leftovers,
    pid_alive,
    staging_path,
)
from quant_sentiment.datasets import RawLinesDataset, VariantFolderDataset
from quant_sentiment.hooks import AtomicSavesHook
from quant_sentiment.training import last_checkpoint


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_alive(proc.pid)
    return proc.pid


class Files:
    """A VariantArtifact writing a manifest and a weights file, or failing midway."""

    def __init__(self, tag: str, fail: bool = False) -> None:
        self.tag, self.fail = tag, fail

    def save(self, folder: Path) -> None:
        (folder / "weights.bin").write_bytes(b"x" * 1000)
        if self.fail:
            raise RuntimeError("killed midway")
        (folder / "manifest.json").write_text(json.dumps({"tag": self.tag}))


def _dataset(base: Path) -> VariantFolderDataset:
    return VariantFolderDataset(str(base), version=Version(None, None))


def test_staging_path_is_a_sibling_that_names_its_writer(tmp_path):
    target = tmp_path / "v1" / "model"
    staged = staging_path(target)
    assert staged.parent == target.parent
    match = STAGING_RE.match(staged.name)
    assert match and match["name"] == "model" and int(match["pid"]) == os.getpid()
    assert staging_path(target) != staged  # unique per write


def test_failed_write_leaves_nothing(tmp_path):
    base = tmp_path / "m"
    with pytest.raises(DatasetError, match="killed midway"):
        _dataset(base).save(Files("a", fail=True))
    assert [p for p in base.rglob("*") if p.is_file()] == []
    target = tmp_path / "plain"
    atomic_folder(target, Files("b").save)
    atomic_folder(target, Files("c").save)  # an existing folder is replaced whole
    assert json.loads((target / "manifest.json").read_text()) == {"tag": "c"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "plain"]


def _killed_save(base: Path, name: str, version: str, pid: int) -> Path:
    """What a writer killed mid-save leaves: a half-filled staging folder."""
    staged = base / version / f"{name}.partial-{pid}-0123abcd"
    staged.mkdir(parents=True)
    (staged / "weights.bin").write_bytes(b"x" * 1000)
    (staged / "manifest.json").write_text(json.dumps({"tag": "partial"}))
    return staged


def test_killed_save_is_never_read_and_is_cleaned(tmp_path, dead_pid, caplog):
    base = tmp_path / "ptq_int8_model"
    _dataset(base).save(Files("complete"))
    staged = _killed_save(base, "ptq_int8_model", "2999-01-01T00.00.00.000Z", dead_pid)

    handle = _dataset(base).load()  # the newest complete version, not the partial
    assert handle.manifest == {"tag": "complete"}

    catalog = DataCatalog({"ptq_int8_model": _dataset(base)})
    pipeline = Pipeline([Node(lambda m: m, "ptq_int8_model", "out", name="n")])
    with caplog.at_level(logging.WARNING):
        AtomicSavesHook().before_pipeline_run({}, pipeline, catalog)
    assert not staged.exists() and not staged.parent.exists()  # empty version too
    assert str(staged) in caplog.text and str(dead_pid) in caplog.text
    assert _dataset(base).load().manifest == {"tag": "complete"}


def test_only_partial_version_reads_as_missing(tmp_path, dead_pid):
    base = tmp_path / "m"
    _killed_save(base, "m", "2999-01-01T00.00.00.000Z", dead_pid)
    assert not _dataset(base).exists()
    with pytest.raises(DatasetError):
        _dataset(base).load()


def test_leftovers_of_live_writers_are_kept(tmp_path, dead_pid):
    live = _killed_save(tmp_path, "m", "v1", os.getpid())
    dead = _killed_save(tmp_path, "m", "v2", dead_pid)
    assert clean_leftovers(tmp_path) == [dead]
    assert live.is_dir() and not dead.exists()


def test_mirror_copy_is_never_half_written(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "train.tsv").write_text("bagus sekali\tpositive\n" * 100)
    target = tmp_path / "raw" / "train.tsv"
    real_copy = shutil.copyfile

    def killed_copy(src, dst, *args, **kwargs):
        Path(dst).write_bytes(Path(src).read_bytes()[:50])  # half the bytes, then death
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copyfile", killed_copy)
    dataset = RawLinesDataset(str(target), mirror_dirs=[str(mirror)])
    with pytest.raises(KeyboardInterrupt):
        dataset.load()
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()] == []
    monkeypatch.setattr(shutil, "copyfile", real_copy)
    assert len(dataset.load()) == 100


def _checkpoint(out: Path, step: int, complete: bool) -> Path:
    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if complete:
        (folder / "model.safetensors").write_bytes(b"w")
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    else:  # what the issue found after a kill: the config and a temporary file
        (folder / "tmpab12cd").write_bytes(b"w")
    return folder


def test_incomplete_checkpoint_is_skipped_with_a_warning(tmp_path, caplog):
    good = _checkpoint(tmp_path, 10, complete=True)
    bad = _checkpoint(tmp_path, 20, complete=False)
    broken = _checkpoint(tmp_path, 30, complete=True)
    (broken / "trainer_state.json").write_text('{"global_st')  # killed mid-write
    with caplog.at_level(logging.WARNING):
        assert last_checkpoint(tmp_path, resume=True) == str(good)
    assert f"Skipping incomplete checkpoint {bad}" in caplog.text
    assert f"Skipping incomplete checkpoint {broken}" in caplog.text
    assert not bad.exists() and not broken.exists() and good.is_dir()


def test_only_incomplete_checkpoints_start_over(tmp_path, caplog):
    bad = _checkpoint(tmp_path, 5, complete=False)
    with caplog.at_level(logging.WARNING):
        assert last_checkpoint(tmp_path, resume=True) is None
    assert "no trainer_state.json" in caplog.text and not bad.exists()


def test_runs_of_killed_processes_are_marked_failed(tmp_path, dead_pid):
    import socket

    from mlflow import MlflowClient

    from quant_sentiment.tracking import HOST_TAG, PID_TAG, fail_orphaned_runs

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("e")
    host = socket.gethostname()

    def run(pid, on_host=host):
        tags = {PID_TAG: str(pid), HOST_TAG: on_host}
        return client.create_run(exp, tags=tags).info.run_id

    killed, alive, elsewhere = run(dead_pid), run(os.getpid()), run(dead_pid, "x")
    untagged = client.create_run(exp).info.run_id
    assert fail_orphaned_runs(client, [exp], keep=None) == [killed]
    status = {r: client.get_run(r).info.status for r in (killed, alive, elsewhere)}
    assert status == {killed: "FAILED", alive: "RUNNING", elsewhere: "RUNNING"}
    assert client.get_run(untagged).info.status == "RUNNING"
