"""Saving results into the store, and `sync`: the store catches up with the JSON files in OUT."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from coach.errors import CoachError
from coach.metadata import KNOWN_FIELDS, call_date
from coach.store.db import BUSY_TIMEOUT_S, DEFAULT_DB_NAME, StoreError, _connect, _describe, _transaction
from coach.store.schema import _ensure_schema, _metric_column, _rebuild_v_calls, _v_calls_columns


@dataclass
class SyncSummary:
    """What `sync` did: rows written, rows already up to date, and warnings."""

    saved: int = 0
    fresh: int = 0
    warnings: list[str] = field(default_factory=list)


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
