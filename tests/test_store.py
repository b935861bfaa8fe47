"""The SQLite results store: many batches in one database, re-scoring replaces, never duplicates.

The documents saved are real per-call results (the fixture calls through the
real scorer, shared with the other tests through conftest's `scored`), so the
store is tested against the contract as the scorer actually produces it.
"""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coach.errors import CoachError
from coach.store import SCHEMA_VERSION, StoreError, load_entries, load_results, save_result
from tests.conftest import CALLS


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


# --- schema 2: keys, metadata, views, WAL, sync, full disk ---------------------------------

def _doc(result: dict, call: str, **meta) -> dict:
    doc = copy.deepcopy(result)
    doc["call"] = call
    if meta:
        doc["meta"] = meta
    return doc


def test_two_recordings_with_one_stem_get_two_rows_and_two_files(tmp_path, monkeypatch, scored):
    """day1/0001.wav and day2/0001.wav, scored in two runs into one OUT."""
    from coach.outputs import result_names

    monkeypatch.chdir(tmp_path)
    out, db = tmp_path / "out", tmp_path / "out" / "coach.sqlite"
    out.mkdir()
    for day, name in (("day1", "forbidden_agent.wav"), ("day2", "clean_call.wav")):
        audio = Path(day) / "0001.wav"
        audio.parent.mkdir()
        shutil.copy(CALLS / name, audio)
        (json_name,) = result_names([audio], out).values()  # what the batch calls
        doc = _doc(scored(name), str(audio))
        (out / json_name).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        save_result(db, doc, out / json_name, audio_path=audio)
    got = rows(db, "SELECT call, call_key, json_path FROM calls ORDER BY call")
    assert [r[0] for r in got] == ["day1/0001.wav", "day2/0001.wav"]
    assert [r[1] for r in got] == [str(tmp_path / "day1/0001.wav"), str(tmp_path / "day2/0001.wav")]
    assert len({r[2] for r in got}) == 2  # each row names its own JSON file
    for call, _, json_path in got:
        assert json.loads(Path(json_path).read_text())["call"] == call


def test_one_recording_spelled_two_ways_is_one_row(tmp_path, monkeypatch, scored):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "coach.sqlite"
    (tmp_path / "calls").mkdir()
    shutil.copy(CALLS / "clean_call.wav", tmp_path / "calls" / "a.wav")
    save_result(db, _doc(scored("clean_call.wav"), "calls/a.wav"), None)
    save_result(db, _doc(scored("clean_call.wav"), "./calls/a.wav"), None)
    assert rows(db, "SELECT call FROM calls") == [("./calls/a.wav",)]


def test_metadata_columns_and_bi_views(tmp_path, scored):
    db = tmp_path / "coach.sqlite"
    plan = [  # (fixture, agent, started_at, queue)
        ("forbidden_agent.wav", "ivanova", "2024-05-06T09:00:00+03:00", "sales"),  # Monday
        ("clean_call.wav", "ivanova", "2024-05-06T17:00:00+03:00", "sales"),
        ("name_not_used.wav", "ivanova", "2024-05-12T23:30:00-05:00", "support"),  # Sunday, same week
        ("clean_call.wav", "petrov", "2024-05-13T10:00:00", "support"),  # next Monday
    ]
    docs = []
    for i, (name, agent, started, queue) in enumerate(plan):
        doc = _doc(scored(name), f"calls/{i}.wav", agent=agent, call_id=f"id{i}", started_at=started,
                   queue=queue, region="msk")
        docs.append(doc)
        save_result(db, doc, None)
    got = rows(db, "SELECT agent, call_id, queue, started_at, extra, call_date, call_week FROM calls "
                   "ORDER BY call_id")
    assert got[0] == ("ivanova", "id0", "sales", "2024-05-06T09:00:00+03:00", '{"region": "msk"}',
                      "2024-05-06", "2024-05-06")
    assert got[2][5:] == ("2024-05-12", "2024-05-06")  # the call's own date, not UTC's
    assert got[3][5:] == ("2024-05-13", "2024-05-13")

    # v_calls: one row per call, every metric a column.
    cols = [r[1] for r in rows(db, "PRAGMA table_info(v_calls)")]
    assert {"agent", "score_total", "talk_ratio_agent", "agent_wpm"} <= set(cols)
    assert "metric_duration_s" in cols  # a metric named like a calls column keeps both
    wide = rows(db, "SELECT call_id, talk_ratio_agent, agent_wpm FROM v_calls ORDER BY call_id")
    for (call_id, ratio, wpm), doc in zip(wide, docs):
        assert call_id == doc["meta"]["call_id"]
        assert ratio == pytest.approx(doc["metrics"]["talk_ratio_agent"])
        assert wpm == pytest.approx(doc["metrics"]["agent_wpm"])

    # Score per agent per day and per week, as a BI tool reads them.
    def expected(key):
        groups: dict = {}
        for doc, (_, agent, started, _) in zip(docs, plan):
            groups.setdefault((agent, key(started)), []).append(doc["score"]["total"])
        return {k: (len(v), round(sum(v) / len(v), 1), min(v)) for k, v in groups.items()}

    daily = {(a, d): (n, m, lo) for a, d, n, m, lo in rows(
        db, "SELECT agent, day, calls, mean_score, min_score FROM v_agent_daily")}
    assert daily == expected(lambda s: s[:10])
    weekly = {(a, w): (n, m, lo) for a, w, n, m, lo in rows(
        db, "SELECT agent, week_start, calls, mean_score, min_score FROM v_agent_weekly")}
    assert weekly == expected(lambda s: "2024-05-06" if s[:10] < "2024-05-13" else "2024-05-13")
    queues = rows(db, "SELECT queue, week_start, calls, agents FROM v_queue_weekly ORDER BY 1, 2")
    assert queues == [("sales", "2024-05-06", 2, 1), ("support", "2024-05-06", 1, 1),
                      ("support", "2024-05-13", 1, 1)]


V1_SCHEMA = """
CREATE TABLE calls (call TEXT PRIMARY KEY, audio_path TEXT, json_path TEXT, duration_s REAL,
    language TEXT, agent_channel INTEGER, customer_channel INTEGER, model_name TEXT,
    model_sha256 TEXT, score_total REAL, n_events INTEGER NOT NULL, scored_at TEXT NOT NULL,
    result_json TEXT NOT NULL);
CREATE INDEX calls_score ON calls(score_total);
CREATE TABLE events (call TEXT NOT NULL REFERENCES calls(call) ON DELETE CASCADE, idx INTEGER NOT NULL,
    category TEXT NOT NULL, rule TEXT NOT NULL, speaker TEXT, start REAL, "end" REAL, severity TEXT,
    text TEXT, message TEXT, suggestion TEXT, PRIMARY KEY (call, idx));
CREATE INDEX events_category ON events(category);
CREATE INDEX events_rule ON events(rule);
CREATE TABLE metrics (call TEXT NOT NULL REFERENCES calls(call) ON DELETE CASCADE, name TEXT NOT NULL,
    value REAL, PRIMARY KEY (call, name));
CREATE TABLE category_scores (call TEXT NOT NULL REFERENCES calls(call) ON DELETE CASCADE,
    category TEXT NOT NULL, points REAL NOT NULL, PRIMARY KEY (call, category));
CREATE TABLE utterances (call TEXT NOT NULL REFERENCES calls(call) ON DELETE CASCADE,
    idx INTEGER NOT NULL, speaker TEXT, start REAL, "end" REAL, text TEXT, PRIMARY KEY (call, idx));
PRAGMA user_version = 1;
"""


def test_a_version_1_database_is_migrated_in_place(tmp_path, scored):
    """A database written by the previous coach (schema 1, as docs/store.md described it)."""
    db = tmp_path / "coach.sqlite"
    old = [scored("forbidden_agent.wav"), scored("clean_call.wav")]
    with sqlite3.connect(db) as conn:
        conn.executescript(V1_SCHEMA)
        for i, doc in enumerate(old):
            conn.execute(
                "INSERT INTO calls VALUES (?, ?, ?, ?, ?, 0, 1, 'whisper-base', 'x', ?, ?, ?, ?)",
                (doc["call"], doc["call"], f"/old/out/{i}.json", doc["duration_s"], doc["language"],
                 doc["score"]["total"], len(doc["events"]), f"2024-05-0{i + 1}T10:00:00Z",
                 json.dumps(doc, ensure_ascii=False)),
            )
            conn.executemany(
                "INSERT INTO events (call, idx, category, rule) VALUES (?, ?, ?, ?)",
                [(doc["call"], j, e["category"], e["rule"]) for j, e in enumerate(doc["events"])],
            )
    conn.close()
    entries = load_entries(db)  # reading migrates
    assert rows(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)] and SCHEMA_VERSION == 2
    assert sorted(e.result["call"] for e in entries) == sorted(d["call"] for d in old)
    assert {e.result["call"]: e.result for e in entries} == {d["call"]: d for d in old}
    assert sorted(str(e.json_path) for e in entries) == ["/old/out/0.json", "/old/out/1.json"]
    assert sorted(e.saved_at for e in entries) == ["2024-05-01T10:00:00Z", "2024-05-02T10:00:00Z"]
    assert rows(db, "SELECT count(*) FROM events")[0][0] == sum(len(d["events"]) for d in old)
    assert rows(db, "SELECT count(*) FROM utterances")[0][0] == sum(len(d["transcript"]) for d in old)
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    # And it keeps working as a version 2 database.
    save_result(db, _doc(scored("name_not_used.wav"), "calls/new.wav", agent="petrov"), None)
    assert rows(db, "SELECT agent FROM calls WHERE call = 'calls/new.wav'") == [("petrov",)]


READER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
n = conn.execute("SELECT count(*) FROM calls").fetchone()[0]
print(n, flush=True)
time.sleep(float(sys.argv[2]))   # a BI tool holding its read transaction
print(conn.execute("SELECT count(*) FROM calls").fetchone()[0], flush=True)
conn.execute("COMMIT")
"""


@pytest.mark.slow
def test_a_reader_holding_a_transaction_never_blocks_the_batch(tmp_path, scored):
    db = tmp_path / "coach.sqlite"
    save_result(db, _doc(scored("clean_call.wav"), "calls/0.wav"), None)
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    reader = subprocess.Popen([sys.executable, "-c", READER, str(db), "5"], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "1"  # the read transaction is open
        started = time.monotonic()
        for i in range(1, 4):  # the writer's lock wait is 1 s: it must not need it
            save_result(db, _doc(scored("clean_call.wav"), f"calls/{i}.wav"), None, timeout_s=1.0)
        assert time.monotonic() - started < 5.0
        assert reader.poll() is None  # the reader was still inside its transaction
        assert reader.stdout.readline().strip() == "1"  # and saw its own snapshot throughout
    finally:
        reader.wait(timeout=30)
    assert rows(db, "SELECT count(*) FROM calls")[0][0] == 4


def test_a_failed_store_write_is_a_warning_for_the_batch(tmp_path, scored):
    from coach.store import try_save_result

    other = tmp_path / "coach.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    warning = try_save_result(other, scored("clean_call.wav"), None)
    assert warning is not None and "not a coach results database" in warning
    assert "\n" not in warning and "next run" in warning
    assert try_save_result(tmp_path / "fine.sqlite", scored("clean_call.wav"), None) is None


def test_sync_rebuilds_a_lost_database_and_refreshes_stale_rows(tmp_path, monkeypatch, scored):
    from coach.store import sync

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    names = ["forbidden_agent.wav", "clean_call.wav", "name_not_used.wav"]
    for name in names:
        (out / name.replace(".wav", ".json")).write_text(
            json.dumps(_doc(scored(name), str(CALLS / name)), ensure_ascii=False), encoding="utf-8")
    (out / "other.json").write_text('{"not": "a result"}')
    db = out / "coach.sqlite"
    assert not db.exists()  # "Scored 0, skipped 3": nothing was saved this run

    first = sync(out)
    assert (first.saved, first.fresh, first.warnings) == (3, 0, [])
    assert sorted(r[0] for r in rows(db, "SELECT json_path FROM calls")) == sorted(
        str((out / n.replace(".wav", ".json")).resolve()) for n in names)
    assert {r[0] for r in rows(db, "SELECT audio_path FROM calls")} == {str(CALLS / n) for n in names}

    again = sync(out)
    assert (again.saved, again.fresh) == (0, 3)

    # A result file changed behind the store's back (new metadata), one became unreadable.
    changed = out / "clean_call.json"
    doc = json.loads(changed.read_text())
    doc["meta"] = {"agent": "petrov"}
    changed.write_text(json.dumps(doc, ensure_ascii=False))
    (out / "broken.json").write_text('{"call": ')
    third = sync(out)
    assert (third.saved, third.fresh) == (1, 2)
    assert len(third.warnings) == 1 and "broken.json" in third.warnings[0]
    assert rows(db, "SELECT agent FROM calls WHERE json_path = ?", str(changed.resolve())) == [("petrov",)]

    db.unlink()
    for extra in out.glob("coach.sqlite-*"):
        extra.unlink()
    assert sync(out).saved == 3  # a deleted database comes back
    assert rows(db, "SELECT count(*) FROM calls")[0][0] == 3


def test_a_full_disk_says_so_and_names_the_folder(tmp_path, scored):
    from coach.store import sync, try_save_result
    from tests.tiny_disk import fill, tiny_disk

    big = copy.deepcopy(scored("forbidden_agent.wav"))
    big["transcript"] = big["transcript"] * 60  # a long call: more than the 16 KiB left
    with tiny_disk(tmp_path / "disk", 768) as disk:
        out = disk / "out"
        out.mkdir()
        db = out / "coach.sqlite"
        save_result(db, _doc(scored("clean_call.wav"), "calls/0.wav"), None)
        filler = fill(disk, leave_bytes=16 * 1024)
        with pytest.raises(StoreError) as err:
            save_result(db, _doc(big, "calls/1.wav"), None)
        message = str(err.value)
        assert message.startswith(f"{out}: no space left on device") and "calls/1.wav" in message
        assert "rollback" not in message
        warning = try_save_result(db, _doc(big, "calls/1.wav"), None)
        assert warning is not None and "no space left on device" in warning
        # Even reading needs a little space (WAL's shared memory file); it says so too.
        with pytest.raises(StoreError, match=f"^{out}: no space left on device; cannot read"):
            load_results(db)
        # Nothing half-written: with space again the first call is intact...
        filler.unlink()
        assert [r["call"] for r in load_results(db)] == ["calls/0.wav"]
        # ... and sync puts the missing call in from its JSON file.
        (out / "1.json").write_text(json.dumps(_doc(big, "calls/1.wav"), ensure_ascii=False))
        done = sync(out)
        assert done.warnings == [] and done.saved == 1
        assert sorted(r["call"] for r in load_results(db)) == ["calls/0.wav", "calls/1.wav"]


def test_the_queries_in_docs_store_md_run(tmp_path, scored):
    """Every statement of docs/store.md's "Questions a QA lead asks" runs on a real store."""
    import re

    db = tmp_path / "coach.sqlite"
    for i, name in enumerate(["forbidden_agent.wav", "clean_call.wav"]):
        save_result(db, _doc(scored(name), f"calls/{i}.wav", agent="ivanova", queue="sales",
                             started_at="2024-05-06T09:00:00"), None)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "store.md").read_text(encoding="utf-8")
    section = doc.split("## Questions a QA lead asks", 1)[1]
    sql = re.search(r"```sql\n(.*?)```", section, re.S).group(1)
    statements = [s for s in sql.split(";") if s.strip()]
    assert len(statements) >= 6
    with sqlite3.connect(db) as conn:
        answers = [conn.execute(s).fetchall() for s in statements]
    conn.close()
    assert answers[0] and answers[0][0][0] == "ivanova"  # worst calls, with their agent
    assert answers[1] == [("ivanova", "2024-05-06", 2, answers[1][0][3])]
