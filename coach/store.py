"""SQLite results store: every scored call, queryable with any SQLite or BI tool.

The per-call JSON files are the contract and the source of truth; this
database is a second, indexed copy of the same documents so that a report
can cover many batches and a QA lead (or Power BI, Metabase, Excel through
ODBC) can ask questions without parsing thousands of files. Schema version 2
(kept in `PRAGMA user_version`; documented for users in docs/store.md):

    calls             one row per recording, keyed by its absolute path
                      (`call_key`), with the call's metadata as columns
    events            one row per finding (contract `events[]`)
    metrics           one row per (call, metric name) with a numeric value
    category_scores   one row per (call, category): points from `score.by_category`
    utterances        one row per transcript line (contract `transcript[]`)
    v_calls           view: one row per call, every metric a column
    v_agent_daily / v_agent_weekly / v_queue_weekly
                      views: score per agent per day / week, per queue per week

Why these choices:
- the key is the recording's absolute path, not the stem or the path as
  typed, so two recordings named alike never share a row;
- WAL journal, so a BI tool holding a read transaction never blocks a batch
  writing (in rollback mode a 75 s read stopped the batch after 60 s);
- a failed write is the caller's warning, not its end (`try_save_result`),
  and `sync` re-saves what the JSON files hold and the store lacks, so a
  deleted or stale database is rebuilt on the next run.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from coach.errors import CoachError
from coach.metadata import KNOWN_FIELDS, call_date

SCHEMA_VERSION = 2
DEFAULT_DB_NAME = "coach.sqlite"
# Writers from several processes (e.g. two batches into one OUT) wait this
# long for each other's transaction instead of failing at once. Readers do
# not count: with WAL they never block a writer.
BUSY_TIMEOUT_S = 60.0
# Below this many free bytes in the database's folder, an I/O error is a full disk.
_LOW_SPACE_BYTES = 1 << 20

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


class StoreError(CoachError):
    """The results database cannot be written or read (locked too long, disk full...)."""


@dataclass
class StoredCall:
    """One call as the store holds it: the contract document plus where it lives."""

    result: dict[str, Any]
    audio_path: Path | None
    json_path: Path | None
    scored_at: str | None
    call_key: str = ""
    saved_at: str = ""


@dataclass
class SyncSummary:
    """What `sync` did: rows written, rows already up to date, and warnings."""

    saved: int = 0
    fresh: int = 0
    warnings: list[str] = field(default_factory=list)


# --- errors ----------------------------------------------------------------------------


def _low_on_space(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _LOW_SPACE_BYTES
    except OSError:
        return False


def _describe(exc: BaseException, db_path: Path, failed: str, timeout_s: float = BUSY_TIMEOUT_S) -> str:
    """One line for a database failure (`failed`: "could not save x.wav"); a full disk
    says "no space left on device" and names the folder that is full."""
    folder = db_path.parent
    code = getattr(exc, "sqlite_errorcode", None)
    full = code == sqlite3.SQLITE_FULL or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)
    io_error = code is not None and (code & 0xFF) == sqlite3.SQLITE_IOERR
    if full or ((io_error or isinstance(exc, OSError)) and _low_on_space(folder)):
        return f"{folder}: no space left on device; {failed} ({db_path.name})"
    if code is not None and (code & 0xFF) == sqlite3.SQLITE_BUSY:
        return f"{db_path}: {failed}: the database stayed locked by another process (waited {timeout_s:g} s)"
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"{db_path}: {failed}: {detail}"


@contextmanager
def _connect(
    db_path: Path, timeout_s: float = BUSY_TIMEOUT_S, failed: str = "results database error"
) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(str(db_path), timeout=timeout_s, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(_describe(exc, db_path, "cannot open the results database")) from exc
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        yield conn
    except sqlite3.Error as exc:
        raise StoreError(_describe(exc, db_path, failed)) from exc
    finally:
        conn.close()


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error.

    SQLite rolls back by itself on some errors (a full disk); a second
    ROLLBACK would then fail with "no transaction is active" and hide the
    real cause, so roll back only a transaction that is still open.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


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


def _use_wal(conn: sqlite3.Connection) -> None:
    """WAL is a property of the file: set once, it stays for every later connection."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
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


def _week_of(day: str | None) -> str | None:
    if not day:
        return None
    try:
        d = date.fromisoformat(day)
    except ValueError:
        return None
    return (d - timedelta(days=d.weekday())).isoformat()


def _flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def _stamp(json_path: str | None) -> tuple[int, int] | None:
    if not json_path:
        return None
    try:
        st = os.stat(json_path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _write_call(
    conn: sqlite3.Connection,
    result: dict[str, Any],
    json_path: str | None,
    audio_path: str | None,
    *,
    stamp: tuple[int, int] | None,
    saved_at: str | None = None,
) -> None:
    """Replace one call's rows (inside the caller's transaction)."""
    call = result["call"]
    key = audio_path or call
    meta = result.get("meta") if isinstance(result.get("meta"), dict) else {}
    extra = {k: v for k, v in meta.items() if k not in KNOWN_FIELDS}
    model = result.get("model") or {}
    channels = result.get("channels") or {}
    score = result.get("score") or {}
    events = result.get("events") or []
    metrics = result.get("metrics") or {}
    transcript = result.get("transcript") or []
    started = meta.get("started_at") if isinstance(meta.get("started_at"), str) else None
    day = call_date(started) or call_date(result.get("scored_at"))
    diarized = result.get("diarized")
    if diarized is None and isinstance(result.get("diarization"), dict):
        diarized = True
    row = {
        "call_key": key,
        "call": call,
        "audio_path": audio_path,
        "json_path": json_path,
        "json_mtime_ns": stamp[0] if stamp else None,
        "json_size": stamp[1] if stamp else None,
        "agent": _text(meta.get("agent")),
        "call_id": _text(meta.get("call_id")),
        "queue": _text(meta.get("queue")),
        "started_at": started,
        "extra": json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None,
        "call_date": day,
        "call_week": _week_of(day),
        "duration_s": result.get("duration_s"),
        "language": result.get("language"),
        "agent_channel": channels.get("agent"),
        "customer_channel": channels.get("customer"),
        "mono": _flag(result.get("mono")),
        "diarized": _flag(diarized),
        "model_name": model.get("name"),
        "model_sha256": model.get("sha256"),
        "score_total": score.get("total"),
        "n_events": len(events),
        "n_critical": sum(1 for e in events if str(e.get("severity") or "").lower() == "critical"),
        "scored_at": result.get("scored_at") if isinstance(result.get("scored_at"), str) else None,
        "saved_at": saved_at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "result_json": json.dumps(result, ensure_ascii=False),
    }
    conn.execute("DELETE FROM calls WHERE call_key = ?", (key,))
    if json_path:
        # This JSON file now holds this call; a row still naming it lost its file.
        conn.execute(
            "UPDATE calls SET json_path = NULL, json_mtime_ns = NULL, json_size = NULL "
            "WHERE json_path = ?",
            (json_path,),
        )
    conn.execute(
        f"INSERT INTO calls ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())
    )
    conn.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                key, call, i, e.get("category"), e.get("rule"), e.get("speaker"), e.get("start"),
                e.get("end"), e.get("severity"), e.get("text"), e.get("message"), e.get("suggestion"),
            )
            for i, e in enumerate(events)
        ],
    )
    conn.executemany(
        "INSERT INTO metrics VALUES (?, ?, ?, ?)",
        [(key, call, name, _num(value)) for name, value in metrics.items()],
    )
    conn.executemany(
        "INSERT INTO category_scores VALUES (?, ?, ?, ?)",
        [
            (key, call, cat, pts)
            for cat, pts in (score.get("by_category") or {}).items()
            if _num(pts) is not None
        ],
    )
    conn.executemany(
        "INSERT INTO utterances VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (key, call, i, u.get("speaker"), u.get("start"), u.get("end"), u.get("text"))
            for i, u in enumerate(transcript)
        ],
    )
    missing = [n for n in metrics if _metric_column(n) not in _v_calls_columns(conn)]
    if missing:
        _rebuild_v_calls(conn, missing)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --- public API ----------------------------------------------------------------------------


def save_result(
    db_path: str | os.PathLike[str],
    result: dict[str, Any],
    out_json_path: str | os.PathLike[str] | None = None,
    *,
    audio_path: str | os.PathLike[str] | None = None,
    timeout_s: float = BUSY_TIMEOUT_S,
) -> None:
    """Insert one per-call result, replacing any earlier rows for the same recording.

    Called by the batch runner right after it writes OUT/<name>.json. The
    whole replace runs in one IMMEDIATE transaction: a crash or Ctrl-C leaves
    either the old rows or the new ones. `audio_path` (the recording; pass
    it, the batch knows it) defaults to `result["call"]` resolved against the
    current folder. Raises StoreError (full disk, locked too long) or
    CoachError (not a coach database); see `try_save_result`.
    """
    db_path = Path(db_path)
    call = result.get("call")
    if not isinstance(call, str) or not call:
        raise CoachError(f"{out_json_path or db_path}: result has no 'call' field")
    json_path = _abs(out_json_path)
    audio = _abs(audio_path if audio_path is not None else call)
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(_describe(exc, db_path, "cannot create the database folder")) from exc
    with _connect(db_path, timeout_s) as conn:
        try:
            _ensure_schema(conn, db_path)
            with _transaction(conn):
                _write_call(conn, result, json_path, audio, stamp=_stamp(json_path))
        except sqlite3.Error as exc:
            raise StoreError(_describe(exc, db_path, f"could not save {call}", timeout_s)) from exc


def try_save_result(
    db_path: str | os.PathLike[str],
    result: dict[str, Any],
    out_json_path: str | os.PathLike[str] | None = None,
    *,
    audio_path: str | os.PathLike[str] | None = None,
    timeout_s: float = BUSY_TIMEOUT_S,
) -> str | None:
    """`save_result` for the batch: None when saved, else a one-line warning.

    The JSON file is already written and is the source of truth, so a store
    that cannot be written (disk full, locked, not a coach database) must
    not stop the batch; `sync` at the end of the next run catches up.
    """
    try:
        save_result(db_path, result, out_json_path, audio_path=audio_path, timeout_s=timeout_s)
    except CoachError as exc:
        return f"{exc} (the JSON results are complete; the database catches up on the next run)"
    return None


def _resolve_call(call: str, out_dir: Path) -> str:
    """Where a relative `call` most likely is: from here, else from OUT's parent."""
    p = Path(call).expanduser()
    if p.is_absolute():
        return str(p.resolve())
    for base in (Path.cwd(), out_dir.resolve().parent):
        if (base / p).exists():
            return str((base / p).resolve())
    return str((Path.cwd() / p).resolve())


def sync(
    out_dir: str | os.PathLike[str],
    db_path: str | os.PathLike[str] | None = None,
    *,
    timeout_s: float = BUSY_TIMEOUT_S,
    chunk: int = 200,
) -> SyncSummary:
    """Bring the store up to date with the result JSON files in OUT; never raises for data.

    A file the store lacks, or holds with another mtime/size, is saved again
    (its recording keeps the path the store knew, else `call` resolved from
    here or OUT's parent). Run at the end of every batch: a batch that
    skipped every call ("Scored 0, skipped 10") still leaves a database, a
    deleted database is rebuilt, one that missed writes (disk full) catches up.
    Problems come back as `warnings`; rows for JSON files that disappeared
    are kept (the store is also an archive).
    """
    from coach.outputs import is_call_result

    out_dir = Path(out_dir)
    db_path = Path(db_path) if db_path else out_dir / DEFAULT_DB_NAME
    summary = SyncSummary()
    files = sorted(out_dir.glob("*.json"))
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        with _connect(db_path, timeout_s) as conn:
            _ensure_schema(conn, db_path)
            known = {
                row[0]: (row[1], row[2], row[3])
                for row in conn.execute(
                    "SELECT json_path, json_mtime_ns, json_size, audio_path FROM calls "
                    "WHERE json_path IS NOT NULL"
                )
            }
            todo: list[tuple[dict[str, Any], str, str, tuple[int, int] | None]] = []
            for path in files:
                json_path = str(path.resolve())
                stamp = _stamp(json_path)
                have = known.get(json_path)
                if have and stamp and (have[0], have[1]) == stamp:
                    summary.fresh += 1
                    continue
                try:
                    doc = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    summary.warnings.append(f"{path}: not saved to the store, not readable JSON ({exc})")
                    continue
                if not is_call_result(doc):
                    continue
                audio = have[2] if have and have[2] else _resolve_call(doc["call"], out_dir)
                todo.append((doc, json_path, audio, stamp))
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                try:
                    with _transaction(conn):
                        for doc, json_path, audio, stamp in part:
                            _write_call(conn, doc, json_path, audio, stamp=stamp)
                except sqlite3.Error as exc:
                    summary.warnings.append(
                        _describe(exc, db_path, f"could not save {len(part)} result(s) from {out_dir}")
                    )
                    break
                summary.saved += len(part)
    except (CoachError, OSError, sqlite3.Error) as exc:
        message = str(exc) if isinstance(exc, CoachError) else _describe(exc, db_path, "could not sync")
        summary.warnings.append(message)
    return summary


def load_entries(db_path: str | os.PathLike[str]) -> list[StoredCall]:
    """Every call in the store with its file locations, worst score first."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise CoachError(f"{db_path}: no such results database")
    # A reader needs a little space too (WAL's shared-memory file): on a full
    # disk this fails with "no space left on device", naming the folder.
    with _connect(db_path, failed="cannot read the results database") as conn:
        version = _read_version(conn, db_path)
        if version == 0:
            raise CoachError(f"{db_path}: not a coach results database (no schema version)")
        if version < SCHEMA_VERSION:
            _ensure_schema(conn, db_path)
        rows = conn.execute(
            "SELECT result_json, audio_path, json_path, scored_at, call_key, saved_at FROM calls "
            "ORDER BY score_total IS NULL, score_total, call"
        ).fetchall()
    return [
        StoredCall(
            result=json.loads(result_json),
            audio_path=Path(audio) if audio else None,
            json_path=Path(json_path) if json_path else None,
            scored_at=scored_at,
            call_key=key,
            saved_at=saved_at,
        )
        for result_json, audio, json_path, scored_at, key, saved_at in rows
    ]


def load_results(db_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every per-call result document in the store, worst score first."""
    return [entry.result for entry in load_entries(db_path)]
