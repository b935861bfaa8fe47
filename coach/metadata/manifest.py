"""The manifest CSV: one row of metadata per recording, found by path, name or stem."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coach.metadata.dates import normalize_started_at
from coach.metadata.fields import FILE_COLUMNS, KNOWN_FIELDS, MetadataError, without_extension

# --- manifest --------------------------------------------------------------------


def clean_row(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Known fields as strings, empty values dropped, started_at normalised."""
    meta: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, str):
            value = value.strip()
        if key == "started_at":
            value = normalize_started_at(value, where)
        elif key in KNOWN_FIELDS and not isinstance(value, str):
            if isinstance(value, (dict, list)):
                raise MetadataError(f"{where}: {key} must be text, not {type(value).__name__}")
            value = str(value)
        meta[key] = value
    return meta


def _sniff_delimiter(header: str) -> str:
    """',' unless the header line has more ';' or tabs (Russian Excel writes ';')."""
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


@dataclass
class Manifest:
    """The rows of a `--manifest` CSV, looked up by the recording's path.

    A row's `file` may be the path as given to coach, a path relative to the
    manifest's folder or the current folder, an absolute path, a file name or
    a stem; a name or stem that two rows share only matches by full path.
    """

    path: Path
    _by_key: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError as exc:
            raise MetadataError(f"{path}: no such manifest file") from exc
        except UnicodeDecodeError as exc:
            raise MetadataError(f"{path}: manifest is not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise MetadataError(f"{path}: cannot read manifest: {exc.strerror}") from exc
        lines = text.splitlines()
        if not lines or not lines[0].strip():
            raise MetadataError(f"{path}: manifest is empty (needs a header with a 'file' column)")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(lines[0]))
        try:
            header = [h.strip().lower() for h in next(reader)]
            file_col = next((c for c in FILE_COLUMNS if c in header), None)
            if file_col is None:
                raise MetadataError(
                    f"{path}: manifest needs a 'file' column naming each recording "
                    f"(found: {', '.join(h for h in header if h) or 'none'})"
                )
            dupes = sorted({h for h in header if h and header.count(h) > 1})
            if dupes:
                raise MetadataError(f"{path}: column {dupes[0]!r} appears twice in the header")
            manifest = cls(path)
            first_row: dict[str, int] = {}
            by_name: dict[str, list[str]] = {}
            for values in reader:
                row_no = reader.line_num
                if not any(v.strip() for v in values):
                    continue
                where = f"{path} row {row_no}"
                if len(values) > len(header):
                    raise MetadataError(f"{where}: {len(values)} values but {len(header)} columns")
                raw = {h: v for h, v in zip(header, values) if h}
                name = raw.pop(file_col, "").strip()
                for alias in FILE_COLUMNS:
                    raw.pop(alias, None)
                if not name:
                    raise MetadataError(f"{where}: empty {file_col!r}")
                if name in first_row:
                    raise MetadataError(f"{where}: {name!r} is already on row {first_row[name]}")
                first_row[name] = row_no
                meta = clean_row(raw, where)
                manifest._add(name, meta, by_name)
        except csv.Error as exc:
            raise MetadataError(f"{path} row {reader.line_num}: not valid CSV: {exc}") from exc
        # A bare name or stem is a key only when one row has it.
        for key, names in by_name.items():
            if len(names) == 1 and key not in manifest._by_key:
                manifest._by_key[key] = manifest._by_key[names[0]]
        return manifest

    def _add(self, name: str, meta: dict[str, Any], by_name: dict[str, list[str]]) -> None:
        p = Path(name)
        self._by_key[name] = meta
        if p.is_absolute():
            self._by_key.setdefault(os.path.normpath(p), meta)
        else:
            for base in (self.path.parent, Path.cwd()):
                self._by_key.setdefault(os.path.abspath(base / p), meta)
        for short in {p.name, without_extension(p.name)}:
            by_name.setdefault("name:" + short, []).append(name)

    def lookup(self, path: Path, aliases: Iterable[str] = ()) -> dict[str, Any] | None:
        for key in (str(path), *aliases, os.path.abspath(path)):
            if key in self._by_key:
                return self._by_key[key]
        for key in (path.name, without_extension(path.name)):
            if "name:" + key in self._by_key:
                return self._by_key["name:" + key]
        return None

    def __len__(self) -> int:
        return len({id(v) for v in self._by_key.values()})
