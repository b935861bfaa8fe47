"""Everything a batch leaves in OUT, behind four calls the batch runner makes.

    outputs = BatchOutputs(out_dir, csv_style="excel", metadata=source, warn=bar.write)
    names = outputs.prepare(paths)           # before scoring: names, metadata (bad input fails here)
    outputs.write(path, result)              # a call was scored: meta, JSON, store
    outputs.refresh(path, existing_result)   # a call was skipped as up to date: new meta only
    outputs.finish()                         # summary.csv from all of OUT, store synced

Only the parent process calls these (workers just score). The JSON files
are the source of truth: a store that cannot be written is a warning, and
`finish` brings it up to date from the files.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coach.metadata import MetadataSource, apply_meta
from coach.outputs import (
    OutputError,
    rebuild_summary_csv,
    remove_stale_temps,
    result_names,
    write_atomic,
)
from coach.store import DEFAULT_DB_NAME, sync, try_save_result

__all__ = ["BatchOutputs"]


def _stderr_warning(message: str) -> None:
    print(f"coach: warning: {message}", file=sys.stderr)


@dataclass
class BatchOutputs:
    """OUT's files for one batch run.

    `csv_style`: "plain" or "excel" (summary.csv). `metadata`: where call
    metadata comes from (None: sidecar files only). `db_path`: the results
    store (default OUT/coach.sqlite); `store=False` writes none. `warn`
    receives one line per problem that does not stop the batch (give it
    the progress bar's `write` so lines do not tear the bar).
    """

    out_dir: Path
    csv_style: str = "plain"
    metadata: MetadataSource | None = None
    db_path: Path | None = None
    store: bool = True
    warn: Callable[[str], None] = _stderr_warning
    names: dict[Path, str] = field(default_factory=dict, init=False)
    meta: dict[Path, dict[str, Any]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.db_path is None:
            self.db_path = self.out_dir / DEFAULT_DB_NAME
        if self.metadata is None:
            self.metadata = MetadataSource()

    def prepare(self, paths: list[Path]) -> dict[Path, str]:
        """OUT file name per recording; reads every recording's metadata now.

        Raises MetadataError (a CoachError: exit 2) for a broken sidecar or a
        file-name date that does not parse, before anything is scored; a name
        that does not fit --name-pattern is a warning.
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.out_dir)
        self.names = result_names(list(paths), self.out_dir)
        self.meta, warnings = self.metadata.for_calls(paths)
        for warning in warnings:
            self.warn(warning)
        return self.names

    def json_path(self, path: Path) -> Path:
        return self.out_dir / self.names[path]

    def write(self, path: Path, result: dict[str, Any]) -> Path:
        """A scored call: its metadata under "meta", OUT/<name>.json, then the store.

        Raises OutputError when the JSON itself cannot be written (disk full:
        "OUT: no space left on device (writing x.json)"); a store failure is
        only a warning.
        """
        apply_meta(result, self.meta.get(path) or {})
        target = self.json_path(path)
        write_atomic(target, json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        self._save(path, result, target)
        return target

    def refresh(self, path: Path, result: dict[str, Any]) -> bool:
        """A call skipped as up to date: rewrite its JSON only if its metadata changed."""
        if not apply_meta(result, self.meta.get(path) or {}):
            return False
        target = self.json_path(path)
        write_atomic(target, json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        self._save(path, result, target)
        return True

    def _save(self, path: Path, result: dict[str, Any], target: Path) -> None:
        if not self.store:
            return
        warning = try_save_result(self.db_path, result, target, audio_path=path)
        if warning:
            self.warn(warning)

    def finish(self) -> Path | None:
        """summary.csv from every result in OUT, then the store caught up with OUT.

        Never raises for a full disk or a broken file: every call's JSON is
        written by now, so problems here are warnings (each said once).
        """
        said: set[str] = set()

        def once(message: str) -> None:
            if message not in said:
                said.add(message)
                self.warn(message)

        summary = None
        try:
            summary = rebuild_summary_csv(self.out_dir, self.csv_style, warn=once)
        except OutputError as exc:
            once(f"{exc}; summary.csv not updated")
        if self.store:
            for warning in sync(self.out_dir, self.db_path).warnings:
                once(warning)
        return summary
