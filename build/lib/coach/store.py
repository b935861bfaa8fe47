"""SQLite results store: every scored call, queryable with any SQLite tool.

The per-call JSON files are the contract; this database is a second, indexed
copy of the same documents so that a report can cover many batches and a QA
lead can ask questions ("which agents said 'не кричите' last week?") without
parsing thousands of files. Schema (version 1, kept in `PRAGMA user_version`;
documented for users in docs/store.md):

    calls             one row per call, keyed by the contract's `call` string
    events            one row per finding (contract `events[]`)
    metrics           one row per (call, metric name) with a numeric value
    category_scores   one row per (call, category): points from `score.by_category`
    utterances        one row per transcript line (contract `transcript[]`)

`calls.result_json` holds the whole per-call document, so `load_results`
gives back exactly what was saved even when the contract grows new fields.
Child tables reference `calls(call)` with ON DELETE CASCADE; re-scoring a call
deletes its old row (and so its children) and inserts the new ones in one
transaction, so the database never holds half a call or a call twice.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coach.errors import CoachError

SCHEMA_VERSION = 1
DEFAULT_DB_NAME = "coach.sqlite"
# Writers from several processes (e.g. two batches into one OUT) wait this
# long for the lock instead of failing at once.
BUSY_TIMEOUT_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call             TEXT PRIMARY KEY,   -- the contract's "call": the path as given
    audio_path       TEXT,               -- absolute path of the recording when saved
    json_path        TEXT,               -- absolute path of OUT/<stem>.json
    duration_s       REAL,
    language         TEXT,
    agent_channel    INTEGER,
    customer_channel INTEGER,
    model_name       TEXT,
    model_sha256     TEXT,
    score_total      REAL,
    n_events         INTEGER NOT NULL,
    scored_at        TEXT NOT NULL,      -- UTC ISO 8601, when this row was written
    result_json      TEXT NOT NULL       -- the whole per-call JSON document
);
CREATE INDEX IF NOT EXISTS calls_score ON calls(score_total);

CREATE TABLE IF NOT EXISTS events (
    call        TEXT NOT NULL REFERENCES calls(call) ON DELETE CASCADE,
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
    PRIMARY KEY (call, idx)
);
CREATE INDEX IF NOT EXISTS events_category ON events(category);
CREATE INDEX IF NOT EXISTS events_rule ON events(rule);

CREATE TABLE IF NOT EXISTS metrics (
    call   TEXT NOT NULL REFERENCES calls(call) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    value  REAL,
    PRIMARY KEY (call, name)
);

CREATE TABLE IF NOT EXISTS category_scores (
    call      TEXT NOT NULL REFERENCES calls(call) ON DELETE CASCADE,
    category  TEXT NOT NULL,
    points    REAL NOT NULL,
    PRIMARY KEY (call, category)
);

CREATE TABLE IF NOT EXISTS utterances (
    call     TEXT NOT NULL REFERENCES calls(call) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    speaker  TEXT,
    start    REAL,
    "end"    REAL,
    text     TEXT,
    PRIMARY KEY (call, idx)
);
"""


class StoreError(CoachError):
    """The results database cannot be written or read (locked too long, disk full...)."""


@dataclass
class StoredCall:
    """One call as the store holds it: the contract document plus where it lives."""

    result: dict[str, Any]
    audio_path: Path | None
    json_path: Path | None
    scored_at: str


@contextmanager
def _connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(str(db_path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"{db_path}: cannot open the results database: {exc}") from exc
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        yield conn
    except sqlite3.Error as exc:
        raise StoreError(f"{db_path}: results database error: {exc}") from exc
    finally:
        conn.close()


def _ensure_schema(conn: sqlite3.Connection, db_path: Path) -> None:
    """Create the tables in a new file, or check the version of an existing one.

    Creation runs in one IMMEDIATE transaction that re-reads the version, so two
    batches starting together on one database do not trip over each other.
    """
    if _read_version(conn, db_path) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _read_version(conn, db_path)
        if version == 0:
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if tables:
                raise CoachError(f"{db_path}: is an SQLite file but not a coach results database")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            # user_version lives in the file header and commits with the tables.
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        # Later schema versions add their migrations from `version` here.
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _read_version(conn: sqlite3.Connection, db_path: Path) -> int:
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise CoachError(f"{db_path}: not an SQLite database ({exc})") from exc
    if version > SCHEMA_VERSION:
        raise CoachError(
            f"{db_path}: results database has schema version {version}, this coach "
            f"knows up to {SCHEMA_VERSION}; upgrade coach or use another database"
        )
    return version


def _num(value: Any) -> float | None:
    """A metric value as a number (bools as 0/1); None for anything else."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _abs(path: str | os.PathLike[str] | None) -> str | None:
    if path is None:
        return None
    return str(Path(path).expanduser().resolve())


def save_result(
    db_path: str | os.PathLike[str],
    result: dict[str, Any],
    out_json_path: str | os.PathLike[str] | None = None,
    *,
    audio_path: str | os.PathLike[str] | None = None,
) -> None:
    """Insert one per-call result, replacing any earlier rows for the same `call`.

    Called by the batch runner right after it writes OUT/<stem>.json. The whole
    replace runs in one IMMEDIATE transaction: a crash or Ctrl-C leaves either
    the old rows or the new ones. `audio_path` defaults to `result["call"]`
    resolved against the current directory (where `coach score` was run), so
    that a report built later from elsewhere can still find the recording.
    """
    db_path = Path(db_path)
    call = result.get("call")
    if not isinstance(call, str) or not call:
        raise CoachError(f"{out_json_path or db_path}: result has no 'call' field")
    model = result.get("model") or {}
    channels = result.get("channels") or {}
    score = result.get("score") or {}
    events = result.get("events") or []
    metrics = result.get("metrics") or {}
    transcript = result.get("transcript") or []
    row = (
        call,
        _abs(audio_path if audio_path is not None else call),
        _abs(out_json_path),
        result.get("duration_s"),
        result.get("language"),
        channels.get("agent"),
        channels.get("customer"),
        model.get("name"),
        model.get("sha256"),
        score.get("total"),
        len(events),
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        json.dumps(result, ensure_ascii=False),
    )
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with _connect(db_path) as conn:
        _ensure_schema(conn, db_path)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM calls WHERE call = ?", (call,))
            conn.execute(f"INSERT INTO calls VALUES ({', '.join('?' * len(row))})", row)
            conn.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        call,
                        i,
                        e.get("category"),
                        e.get("rule"),
                        e.get("speaker"),
                        e.get("start"),
                        e.get("end"),
                        e.get("severity"),
                        e.get("text"),
                        e.get("message"),
                        e.get("suggestion"),
                    )
                    for i, e in enumerate(events)
                ],
            )
            conn.executemany(
                "INSERT INTO metrics VALUES (?, ?, ?)",
                [(call, name, _num(value)) for name, value in metrics.items()],
            )
            conn.executemany(
                "INSERT INTO category_scores VALUES (?, ?, ?)",
                [
                    (call, cat, pts)
                    for cat, pts in (score.get("by_category") or {}).items()
                    if _num(pts) is not None
                ],
            )
            conn.executemany(
                "INSERT INTO utterances VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (call, i, u.get("speaker"), u.get("start"), u.get("end"), u.get("text"))
                    for i, u in enumerate(transcript)
                ],
            )
            conn.execute("COMMIT")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"{db_path}: could not save {call}: {exc}") from exc
            raise


def load_entries(db_path: str | os.PathLike[str]) -> list[StoredCall]:
    """Every call in the store with its file locations, worst score first."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise CoachError(f"{db_path}: no such results database")
    with _connect(db_path) as conn:
        _check_readable(conn, db_path)
        rows = conn.execute(
            "SELECT result_json, audio_path, json_path, scored_at FROM calls "
            "ORDER BY score_total IS NULL, score_total, call"
        ).fetchall()
    out = []
    for result_json, audio, json_path, scored_at in rows:
        out.append(
            StoredCall(
                result=json.loads(result_json),
                audio_path=Path(audio) if audio else None,
                json_path=Path(json_path) if json_path else None,
                scored_at=scored_at,
            )
        )
    return out


def load_results(db_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every per-call result document in the store, worst score first."""
    return [entry.result for entry in load_entries(db_path)]


def _check_readable(conn: sqlite3.Connection, db_path: Path) -> None:
    if _read_version(conn, db_path) == 0:
        raise CoachError(f"{db_path}: not a coach results database (no schema version)")
