"""The offline model: assembled from its wheels, verified by sha256, clear errors otherwise."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from coach import models
from coach.errors import ModelError

BASE_SHA = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"


def test_manifest_describes_the_offline_default():
    default, entries = models.load_manifest()
    entry = entries[default]
    assert entry.source == "pypi"
    assert entry.size == 145_217_607
    assert entry.sha256 == BASE_SHA


def test_default_resolves_to_a_verified_cache_dir():
    resolved = models.resolve(None)
    assert resolved.sha256 == BASE_SHA
    assert models.sha256_of(models.Path(resolved.path) / "model.bin") == BASE_SHA


def test_corrupt_cached_model_is_refused_with_a_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_MODEL_CACHE", str(tmp_path))
    _, entries = models.load_manifest()
    entry = entries["whisper-base"]
    good = models.resolve(None)  # assembles into tmp_path
    bad_bin = tmp_path / "whisper-base" / "model.bin"
    assert models.Path(good.path) == bad_bin.parent
    with bad_bin.open("r+b") as fh:  # flip bytes in place: same size, wrong hash
        fh.seek(1000)
        fh.write(b"\x00" * 16)
    models._VERIFIED.clear()
    with pytest.raises(ModelError, match="sha256.*coach models install --force"):
        models.verify(entry, bad_bin.parent)
    # The documented fix works.
    models.ensure_installed(entry, force=True)
    models._VERIFIED.clear()
    models.verify(entry, bad_bin.parent)


def test_truncated_model_reports_size(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_MODEL_CACHE", str(tmp_path))
    _, entries = models.load_manifest()
    directory = tmp_path / "whisper-base"
    directory.mkdir()
    (directory / "model.bin").write_bytes(b"partial")
    with pytest.raises(ModelError, match="7 bytes, expected 145217607"):
        models.resolve(None)


def test_unknown_model_name_lists_the_choices():
    with pytest.raises(ModelError, match="whisper-base"):
        models.resolve("no-such-model")


def test_local_directory_without_model_bin(tmp_path):
    with pytest.raises(ModelError, match="no model.bin"):
        models.resolve(str(tmp_path))


def test_local_directory_model_is_accepted(tmp_path):
    good = models.resolve(None)
    copy = tmp_path / "my-model"
    shutil.copytree(good.path, copy)
    resolved = models.resolve(str(copy))
    assert resolved.path == str(copy) and resolved.local


def test_coach_models_lists_verified_default():
    out = subprocess.run(
        [sys.executable, "-m", "coach", "models"], capture_output=True, text=True, check=True
    ).stdout
    assert "whisper-base" in out and "verified" in out
