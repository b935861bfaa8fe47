"""Reading the store back: every call with where its files are, or just the documents."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coach.errors import CoachError
from coach.store.db import SCHEMA_VERSION, _connect
from coach.store.schema import _ensure_schema, _read_version


@dataclass
class StoredCall:
    """One call as the store holds it: the contract document plus where it lives."""

    result: dict[str, Any]
    audio_path: Path | None
    json_path: Path | None
    scored_at: str | None
    call_key: str = ""
    saved_at: str = ""


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
