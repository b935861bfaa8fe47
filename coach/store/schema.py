"""The store's schema (version 2), its views for BI tools, and the migration from version 1."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from coach.errors import CoachError
from coach.store.db import BUSY_TIMEOUT_S, SCHEMA_VERSION, _transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_key         TEXT PRIMARY KEY,   -- absolute path of the recording (else the call string)
    call             TEXT NOT NULL,      -- the contract's "call": the path as given
    audio_path       TEXT,               -- absolute path of the recording when saved
    json_path        TEXT,               -- absolute path of OUT/<name>.json
    json_mtime_ns    INTEGER,            -- that file's mtime and size when saved (for sync)
    json_size        INTEGER,
    agent            TEXT,               -- meta.agent
    call_id          TEXT,               -- meta.call_id
    queue            TEXT,               -- meta.queue
    started_at       TEXT,               -- meta.started_at, ISO 8601
    extra            TEXT,               -- other meta fields, a JSON object (NULL if none)
    call_date        TEXT,               -- YYYY-MM-DD of started_at, else of scored_at
    call_week        TEXT,               -- the Monday (YYYY-MM-DD) of call_date's week
    duration_s       REAL,
    language         TEXT,
    agent_channel    INTEGER,
    customer_channel INTEGER,
    mono             INTEGER,            -- 1 for a mono recording, 0 stereo, NULL unknown
    diarized         INTEGER,            -- 1 when speakers were split by diarization
    model_name       TEXT,
    model_sha256     TEXT,
    score_total      REAL,
    n_events         INTEGER NOT NULL,
    n_critical       INTEGER NOT NULL,
    scored_at        TEXT,               -- when the call was scored (the result's scored_at)
    saved_at         TEXT NOT NULL,      -- UTC ISO 8601, when this row was written
    result_json      TEXT NOT NULL       -- the whole per-call JSON document
);
CREATE INDEX IF NOT EXISTS calls_score ON calls(score_total);
CREATE INDEX IF NOT EXISTS calls_json ON calls(json_path);
CREATE INDEX IF NOT EXISTS calls_agent_date ON calls(agent, call_date);
CREATE INDEX IF NOT EXISTS calls_date ON calls(call_date);

CREATE TABLE IF NOT EXISTS events (
    call_key    TEXT NOT NULL REFERENCES calls(call_key) ON DELETE CASCADE,
    call        TEXT NOT NULL,
    idx         INTEGER NOT NULL,        -- position in the call's events[]
    category    TEXT NOT NULL,
    rule        TEXT NOT NULL,
    speaker     TEXT,
    start       REAL,                    -- NULL for call-level findings
    "end"       REAL,
    severity    TEXT,
    text        TEXT,
    message     TEXT,
    suggestion  TEXT,
    PRIMARY KEY (call_key, idx)
);
CREATE INDEX IF NOT EXISTS events_category ON events(category);
CREATE INDEX IF NOT EXISTS events_rule ON events(rule);

CREATE TABLE IF NOT EXISTS metrics (
    call_key  TEXT NOT NULL REFERENCES calls(call_key) ON DELETE CASCADE,
    call      TEXT NOT NULL,
    name      TEXT NOT NULL,
    value     REAL,
    PRIMARY KEY (call_key, name)
);

CREATE TABLE IF NOT EXISTS category_scores (
    call_key  TEXT NOT NULL REFERENCES calls(call_key) ON DELETE CASCADE,
    call      TEXT NOT NULL,
    category  TEXT NOT NULL,
    points    REAL NOT NULL,
    PRIMARY KEY (call_key, category)
);

CREATE TABLE IF NOT EXISTS utterances (
    call_key  TEXT NOT NULL REFERENCES calls(call_key) ON DELETE CASCADE,
    call      TEXT NOT NULL,
    idx       INTEGER NOT NULL,
    speaker   TEXT,
    start     REAL,
    "end"     REAL,
    text      TEXT,
    PRIMARY KEY (call_key, idx)
);

CREATE VIEW IF NOT EXISTS v_agent_daily AS
SELECT agent, call_date AS day, count(*) AS calls,
       round(avg(score_total), 1) AS mean_score, min(score_total) AS min_score,
       sum(n_events) AS findings, sum(n_critical) AS critical,
       round(sum(duration_s) / 60.0, 1) AS audio_minutes
FROM calls GROUP BY agent, call_date;

CREATE VIEW IF NOT EXISTS v_agent_weekly AS
SELECT agent, call_week AS week_start, count(*) AS calls,
       round(avg(score_total), 1) AS mean_score, min(score_total) AS min_score,
       sum(n_events) AS findings, sum(n_critical) AS critical,
       round(sum(duration_s) / 60.0, 1) AS audio_minutes
FROM calls GROUP BY agent, call_week;

CREATE VIEW IF NOT EXISTS v_queue_weekly AS
SELECT queue, call_week AS week_start, count(*) AS calls, count(DISTINCT agent) AS agents,
       round(avg(score_total), 1) AS mean_score, min(score_total) AS min_score,
       sum(n_events) AS findings, sum(n_critical) AS critical
FROM calls GROUP BY queue, call_week;
"""

# v_calls: the calls columns a report needs, then one column per metric name
# (rebuilt when a call brings a metric the view lacks).
_V_CALLS_BASE = (
    "call_key", "call", "json_path", "agent", "call_id", "queue", "started_at", "call_date",
    "call_week", "duration_s", "language", "mono", "diarized", "score_total", "n_events",
    "n_critical", "scored_at",
)


# --- schema -----------------------------------------------------------------------------


def _read_version(conn: sqlite3.Connection, db_path: Path) -> int:
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            raise CoachError(f"{db_path}: not an SQLite database ({exc})") from exc
        raise
    if version > SCHEMA_VERSION:
        raise CoachError(
            f"{db_path}: results database has schema version {version}, this coach "
            f"knows up to {SCHEMA_VERSION}; upgrade coach or use another database"
        )
    return version


def _ensure_schema(conn: sqlite3.Connection, db_path: Path) -> None:
    """Create the tables in a new file, migrate an older one, and turn WAL on.

    Creation and migration run in one IMMEDIATE transaction that re-reads the
    version, so two batches starting together on one database do not trip
    over each other, and a failed migration leaves the old database intact.
    """
    if _read_version(conn, db_path) == SCHEMA_VERSION:
        _use_wal(conn)
        return
    with _transaction(conn):
        version = _read_version(conn, db_path)
        if version == 0:
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if tables:
                raise CoachError(f"{db_path}: is an SQLite file but not a coach results database")
            _create(conn)
        elif version == 1:
            _migrate_from_v1(conn)
        # user_version lives in the file header and commits with the tables.
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    _use_wal(conn)


def _create(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA.split(";\n"):
        if statement.strip():
            conn.execute(statement)
    _rebuild_v_calls(conn, [])


def _use_wal(conn: sqlite3.Connection, timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """WAL is a property of the file: set once, it stays for every later connection.

    The switch needs the file to itself, and SQLite answers "database is locked" at once rather
    than waiting out the busy timeout: two batches creating one database together (the second sees
    the first's schema before the first has switched) failed there, rarely (once in a fresh-clone
    `make test`, 1 run in 40 of its test on a loaded 2-core machine, 0 in 156 of another try). So the
    switch is tried again until the other one is done (or has switched it)."""
    deadline = time.monotonic() + timeout_s
    while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    # With WAL, NORMAL can lose the last commits on power loss but never corrupts;
    # the JSON files hold them and `sync` puts them back.
    conn.execute("PRAGMA synchronous = NORMAL")


def _migrate_from_v1(conn: sqlite3.Connection) -> None:
    """v1 -> v2: new key (absolute recording path) and metadata columns.

    Every v1 row is re-derived from its stored document (the child tables
    were copies of it anyway); rows that turn out to be one recording
    spelled two ways collapse into the most recently saved one. The JSON
    stamps stay NULL, so the next `sync` re-reads those JSON files once.
    """
    from coach.store.write import _write_call  # the same row writer as a save (imports schema)

    for name in ("calls_score", "events_category", "events_rule"):
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    for name in ("events", "metrics", "category_scores", "utterances"):
        conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute("ALTER TABLE calls RENAME TO calls_v1")
    _create(conn)
    old = conn.execute(
        "SELECT result_json, audio_path, json_path, scored_at FROM calls_v1 ORDER BY scored_at, call"
    ).fetchall()
    for result_json, audio, json_path, saved_at in old:
        result = json.loads(result_json)
        _write_call(conn, result, json_path, audio, stamp=None, saved_at=saved_at)
    conn.execute("DROP TABLE calls_v1")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _metric_column(name: str) -> str:
    return f"metric_{name}" if name in _V_CALLS_BASE else name


def _rebuild_v_calls(conn: sqlite3.Connection, names: list[str]) -> None:
    """(Re)create v_calls with a column per metric name in `names` plus those stored."""
    stored = [r[0] for r in conn.execute("SELECT DISTINCT name FROM metrics")]
    all_names = sorted(set(stored) | set(names))
    pivots = "".join(
        f",\n       max(CASE WHEN name = '{n.replace(chr(39), chr(39) * 2)}' THEN value END) "
        f"AS {_quote(_metric_column(n))}"
        for n in all_names
    )
    metric_cols = "".join(f", m.{_quote(_metric_column(n))}" for n in all_names)
    base = ", ".join(f"c.{col}" for col in _V_CALLS_BASE)
    conn.execute("DROP VIEW IF EXISTS v_calls")
    conn.execute(
        f"CREATE VIEW v_calls AS SELECT {base}{metric_cols} FROM calls c "
        f"LEFT JOIN (SELECT call_key{pivots} FROM metrics GROUP BY call_key) m "
        "ON m.call_key = c.call_key"
    )


def _v_calls_columns(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute("PRAGMA table_info(v_calls)")}


# --- rows -------------------------------------------------------------------------------
