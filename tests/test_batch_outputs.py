"""What a batch leaves in OUT, run the way the batch runner runs it (BatchOutputs).

Real per-call results (conftest's `scored`), a real manifest and sidecar,
a real SQLite store: two runs into one OUT, the second of which scores
nothing ("Scored 0, skipped 2") after the database was deleted.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from coach.batch_outputs import BatchOutputs
from coach.metadata import MetadataError, MetadataSource
from tests.conftest import CALLS


def store_rows(db: Path, sql: str):
    with sqlite3.connect(db) as conn:
        found = conn.execute(sql).fetchall()
    conn.close()
    return found


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "calls").mkdir()
    paths = []
    for name in ("forbidden_agent.wav", "clean_call.wav"):
        target = tmp_path / "calls" / f"ivanova_20240506-0930_{name}"
        shutil.copy(CALLS / name, target)
        paths.append(Path("calls") / target.name)
    return tmp_path, paths


def scored_as(scored, path: Path) -> dict:
    name = path.name.split("_", 2)[2]
    return dict(copy.deepcopy(scored(name)), call=str(path))


@pytest.mark.slow
def test_two_runs_into_one_out(folder, scored):
    root, (a, b) = folder
    out = root / "out"
    manifest = root / "calls.csv"
    manifest.write_text(f"file,queue\n{b.name},support\n", encoding="utf-8")
    warnings: list[str] = []
    old_umask = os.umask(0o022)
    try:
        run1 = BatchOutputs(
            out,
            metadata=MetadataSource.from_options(manifest, "{agent}_{started_at:%Y%m%d-%H%M}_{rest}"),
            warn=warnings.append,
        )
        names = run1.prepare([a, b])
        for path in (a, b):
            target = run1.write(path, scored_as(scored, path))
            assert target == out / names[path]
            assert target.stat().st_mode & 0o777 == 0o644
        run1.finish()
    finally:
        os.umask(old_umask)
    assert warnings == []
    doc = json.loads((out / names[b]).read_text(encoding="utf-8"))
    assert doc["meta"] == {"agent": "ivanova", "started_at": "2024-05-06T09:30:00", "queue": "support",
                           "rest": "clean_call"}
    db = out / "coach.sqlite"
    assert store_rows(db, "SELECT agent, queue FROM calls ORDER BY queue") == [
        ("ivanova", None), ("ivanova", "support")]

    # Run 2: the database was deleted, nothing needs scoring, the manifest moved a call to sales.
    for f in out.glob("coach.sqlite*"):
        f.unlink()
    manifest.write_text(f"file,queue\n{b.name},sales\n", encoding="utf-8")
    run2 = BatchOutputs(out, csv_style="excel", metadata=MetadataSource.from_options(manifest),
                        warn=warnings.append)
    assert run2.prepare([a, b]) == names  # the same files: resume finds them
    before_a = (out / names[a]).stat().st_mtime_ns
    assert run2.refresh(a, json.loads((out / names[a]).read_text())) is False  # nothing new
    assert (out / names[a]).stat().st_mtime_ns == before_a
    assert run2.refresh(b, json.loads((out / names[b]).read_text())) is True
    run2.finish()
    assert warnings == []
    assert json.loads((out / names[b]).read_text())["meta"]["queue"] == "sales"
    assert json.loads((out / names[b]).read_text())["meta"]["agent"] == "ivanova"  # from run 1, kept
    assert store_rows(db, "SELECT count(*), count(agent) FROM calls") == [(2, 2)]
    assert store_rows(db, f"SELECT queue FROM calls WHERE json_path LIKE '%{names[b]}'") == [("sales",)]
    text = (out / "summary.csv").read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(text.splitlines(), delimiter=";"))
    assert sorted(r["queue"] for r in rows) == ["", "sales"]


def test_a_store_that_cannot_be_written_only_warns(folder, scored):
    root, (a, b) = folder
    out = root / "out"
    out.mkdir()
    with sqlite3.connect(out / "coach.sqlite") as conn:
        conn.execute("CREATE TABLE something_else (x)")
    conn.close()
    warnings: list[str] = []
    outputs = BatchOutputs(out, warn=warnings.append)
    outputs.prepare([a])
    target = outputs.write(a, scored_as(scored, a))
    assert json.loads(target.read_text())["call"] == str(a)  # the JSON is there
    outputs.finish()
    assert (out / "summary.csv").is_file()
    assert len(warnings) == 2 and all("not a coach results database" in w for w in warnings)


def test_bad_metadata_stops_before_anything_is_written(folder):
    root, (a, b) = folder
    (root / "calls" / (Path(b.name).stem + ".meta.json")).write_text("{oops", encoding="utf-8")
    outputs = BatchOutputs(root / "out")
    with pytest.raises(MetadataError, match=r"\.meta\.json: not valid JSON"):
        outputs.prepare([a, b])
    assert not list((root / "out").glob("*.json"))
