"""The SQLite results store: many batches in one database, re-scoring replaces, never duplicates.

The documents saved are real per-call results (the fixture calls through the
real scorer, shared with the other tests through conftest's `scored`), so the
store is tested against the contract as the scorer actually produces it.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from coach.errors import CoachError
from coach.store import SCHEMA_VERSION, StoreError, load_entries, load_results, save_result


def rows(db, sql, *args):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def save_batch(db, out, results):
    """What the batch runner does per call: write OUT/<stem>.json, then save it."""
    for result in results:
        json_path = out / f"{Path(result['call']).stem}.json"
        json_path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        save_result(db, result, json_path)


def test_two_batches_then_a_rescore(tmp_path, scored):
    db, out = tmp_path / "out" / "coach.sqlite", tmp_path / "out"
    out.mkdir()
    first = [scored("forbidden_agent.wav"), scored("clean_call.wav")]
    second = [scored("name_not_used.wav")]
    save_batch(db, out, first)
    save_batch(db, out, second)

    calls = {r[0] for r in rows(db, "SELECT call FROM calls")}
    assert calls == {r["call"] for r in first + second}
    total_events = sum(len(r["events"]) for r in first + second)
    assert rows(db, "SELECT count(*) FROM events")[0][0] == total_events
    assert rows(db, "SELECT count(*) FROM utterances")[0][0] == sum(
        len(r["transcript"]) for r in first + second
    )

    # Re-score one call (a changed rulebook, say): same `call`, new result.
    again = copy.deepcopy(scored("forbidden_agent.wav"))
    again["score"]["total"] = 42
    again["events"] = again["events"][:1]
    save_batch(db, out, [again])

    assert rows(db, "SELECT count(*) FROM calls")[0][0] == 3
    assert rows(db, "SELECT count(*) FROM calls WHERE call = ?", again["call"]) == [(1,)]
    assert rows(db, "SELECT score_total FROM calls WHERE call = ?", again["call"]) == [(42.0,)]
    assert rows(db, "SELECT count(*) FROM events WHERE call = ?", again["call"]) == [(1,)]
    assert rows(db, "SELECT count(*) FROM metrics WHERE call = ?", again["call"])[0][0] == len(
        again["metrics"]
    )
    # The other calls are untouched, and load_results gives back the documents as saved.
    by_call = {r["call"]: r for r in load_results(db)}
    assert by_call[again["call"]] == again
    for r in first[1:] + second:
        assert by_call[r["call"]] == r
    # Worst first, which is what the report wants.
    scores = [r["score"]["total"] for r in load_results(db)]
    assert scores == sorted(scores)


def test_schema_is_documented_and_queryable(tmp_path, scored):
    db = tmp_path / "coach.sqlite"
    result = scored("forbidden_agent.wav")
    save_result(db, result, tmp_path / "forbidden_agent.json")
    assert rows(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    tables = {r[0] for r in rows(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"calls", "events", "metrics", "category_scores", "utterances"} <= tables
    # The question a QA lead asks: which calls had the agent say a forbidden phrase, and when?
    hits = rows(
        db,
        'SELECT call, start, "end", text FROM events '
        "WHERE category = 'forbidden_phrase' AND speaker = 'agent'",
    )
    assert hits and hits[0][0] == result["call"] and "крич" in hits[0][3]
    metric = rows(db, "SELECT value FROM metrics WHERE name = 'agent_wpm'")[0][0]
    assert metric == pytest.approx(float(result["metrics"]["agent_wpm"]))
    (entry,) = load_entries(db)
    assert entry.json_path == (tmp_path / "forbidden_agent.json").resolve()
    assert entry.audio_path is not None and entry.audio_path.is_file()


def test_call_level_findings_keep_null_times(tmp_path):
    db = tmp_path / "coach.sqlite"
    result = {
        "call": "calls/a.wav",
        "duration_s": 10.0,
        "language": "ru",
        "channels": {"agent": 0, "customer": 1},
        "model": {"name": "whisper-base", "sha256": "905e"},
        "transcript": [],
        "events": [
            {
                "category": "no_greeting",
                "rule": "ru.structure.greeting",
                "speaker": "agent",
                "start": None,
                "end": None,
                "severity": "major",
                "text": "",
                "message": "m",
                "suggestion": "s",
            }
        ],
        "metrics": {"talk_ratio_agent": 0.5, "interruptions": 0, "note": "not a number"},
        "score": {"total": 90, "by_category": {"no_greeting": -10}},
    }
    save_result(db, result, None)
    assert rows(db, 'SELECT start, "end" FROM events') == [(None, None)]
    assert rows(db, "SELECT value FROM metrics WHERE name = 'note'") == [(None,)]
    assert rows(db, "SELECT points FROM category_scores") == [(-10.0,)]


def test_a_failed_save_leaves_the_old_rows(tmp_path, scored):
    db = tmp_path / "coach.sqlite"
    good = scored("clean_call.wav")
    save_result(db, good, None)
    broken = copy.deepcopy(good)
    broken["events"] = [{"category": None, "rule": None}]  # violates NOT NULL
    with pytest.raises(StoreError, match="could not save"):
        save_result(db, broken, None)
    assert load_results(db) == [good]


def test_foreign_or_newer_database_is_a_clear_error(tmp_path):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(CoachError, match="not a coach results database"):
        save_result(other, {"call": "a.wav", "events": []}, None)
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(CoachError, match="schema version"):
        load_results(newer)
    with pytest.raises(CoachError, match="no such results database"):
        load_results(tmp_path / "missing.sqlite")


def test_writers_in_parallel_processes_do_not_lose_rows(tmp_path):
    """Two batches writing into one database at once both land (the busy timeout)."""
    db = tmp_path / "coach.sqlite"
    script = (
        "import sys; from coach.store import save_result\n"
        "tag = sys.argv[2]\n"
        "for i in range(40):\n"
        "    save_result(sys.argv[1], {'call': f'{tag}/{i}.wav', 'events': [], "
        "'score': {'total': i}}, None)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(db), tag]) for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert rows(db, "SELECT count(*) FROM calls")[0][0] == 80
