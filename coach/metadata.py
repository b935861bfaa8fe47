"""Call metadata: which agent, which call id, which queue, when the call started.

A recording alone does not say who took the call or when; a QA lead needs
both to compare agents and follow a team week by week. Three sources, from
the weakest to the strongest (a stronger source overrides a field a weaker
one set; a field only a weaker source knows is kept):

1. the file name, read with `--name-pattern`
   (`'{agent}_{started_at:%Y%m%d-%H%M%S}_{call_id}'`: placeholders for
   fields, a strftime format after ':' for a date/time);
2. a sidecar JSON object next to the recording, `<stem>.meta.json`;
3. the manifest CSV given with `--manifest` (a `file` column, then
   `agent`, `call_id`, `started_at`, `queue` and any other columns).

The result for a call is one flat dict (`agent`, `call_id`, `started_at`,
`queue` and any extra columns), `started_at` normalised to ISO 8601. It goes
into the per-call JSON under `meta`: part of the result, not of the scoring
fingerprint, so adding a manifest later never re-scores a call.

Bad input fails early with one line naming the file (and row): a manifest
is read and checked whole when the source is made, before any scoring.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import string
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coach.errors import CoachError

__all__ = [
    "KNOWN_FIELDS",
    "Manifest",
    "MetadataError",
    "MetadataSource",
    "NamePattern",
    "apply_meta",
    "call_date",
    "normalize_started_at",
    "sidecar_path",
]

# Fields every consumer knows (summary.csv, the store's columns, the report).
KNOWN_FIELDS = ("agent", "call_id", "started_at", "queue")
# The manifest column naming the recording; `call` is what the report's old
# agent manifest used, so those files keep working.
FILE_COLUMNS = ("file", "call", "path")
SIDECAR_SUFFIX = ".meta.json"


class MetadataError(CoachError):
    """A manifest, sidecar or name pattern that cannot be used."""


# --- dates -----------------------------------------------------------------------

# Formats tried after ISO 8601: what spreadsheets and Russian telephony exports write.
_EXTRA_DATE_FORMATS = (
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
)


def normalize_started_at(value: Any, where: str) -> str:
    """`value` as ISO 8601 (`2024-05-01T09:30:00`, with its offset when it had one).

    Accepts ISO 8601 (with `T` or a space, `Z` or an offset, or the basic
    `20240501T093000`), `01.05.2024 09:30[:00]`, `2024/05/01 ...` and Unix
    seconds (taken as UTC). A time without an offset stays without one: it
    is the call centre's local time, and its date is the date the call was
    taken there. `where` names the file/row for the error message.
    """
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC).isoformat(timespec="seconds")
    text = str(value).strip()
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=UTC).isoformat(timespec="seconds")
    try:
        return datetime.fromisoformat(text).isoformat(timespec="seconds")
    except ValueError:
        pass
    for fmt in _EXTRA_DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).isoformat(timespec="seconds")
        except ValueError:
            continue
    raise MetadataError(
        f"{where}: started_at {text!r} is not a date/time "
        "(use ISO 8601, e.g. 2024-05-01T09:30:00 or 2024-05-01 09:30:00+03:00)"
    )


def call_date(iso: str | None) -> str | None:
    """The calendar date (YYYY-MM-DD) of an ISO 8601 time, in that time's own zone."""
    if not iso or not isinstance(iso, str):
        return None
    match = re.match(r"(\d{4})-?(\d{2})-?(\d{2})", iso)
    return f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else None


# --- file name patterns ----------------------------------------------------------

# strftime directives and what they match in a file name (numbers zero-padded,
# as file names from telephony systems are: %Y%m%d has no separators to go by).
_DIRECTIVES = {
    "Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}",
    "I": r"\d{2}", "M": r"\d{2}", "S": r"\d{2}", "f": r"\d{1,6}", "j": r"\d{1,3}",
    "b": r"[A-Za-z]{3}", "B": r"[A-Za-z]+", "p": r"(?:AM|PM|am|pm)", "z": r"(?:Z|[+-]\d{2}:?\d{2})",
    "%": "%",
}


def _strftime_regex(fmt: str, pattern: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            if i + 1 >= len(fmt) or fmt[i + 1] not in _DIRECTIVES:
                bad = fmt[i : i + 2]
                raise MetadataError(
                    f"--name-pattern {pattern!r}: date format {fmt!r}: {bad!r} is not supported "
                    f"(use %{', %'.join(k for k in _DIRECTIVES if k != '%')})"
                )
            out.append(_DIRECTIVES[fmt[i + 1]])
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class NamePattern:
    """A file-name template such as `{agent}_{started_at:%Y%m%d-%H%M%S}_{call_id}`.

    Matched against the whole file name without its extension (with '/' in
    the template, against that many trailing path parts). `{field}` matches
    any text (as little as possible); `{field:FORMAT}` a date/time written
    with strftime FORMAT, stored as ISO 8601. `{{` and `}}` are literal braces.
    """

    template: str
    regex: re.Pattern[str]
    date_formats: dict[str, str]
    parts: int

    @classmethod
    def compile(cls, template: str) -> NamePattern:
        pieces: list[str] = []
        formats: dict[str, str] = {}
        seen: set[str] = set()
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise MetadataError(f"--name-pattern {template!r}: {exc}") from exc
        for literal, name, spec, conversion in parsed:
            pieces.append(re.escape(literal))
            if name is None:
                continue
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or conversion:
                raise MetadataError(
                    f"--name-pattern {template!r}: {{{name}}} is not a field name "
                    "(letters, digits and '_', e.g. {agent})"
                )
            key = name.lower()
            if key in seen:
                raise MetadataError(f"--name-pattern {template!r}: {{{name}}} appears twice")
            seen.add(key)
            if spec:
                formats[key] = spec
                pieces.append(f"(?P<{key}>{_strftime_regex(spec, template)})")
            else:
                pieces.append(f"(?P<{key}>.+?)")
        if not seen:
            raise MetadataError(
                f"--name-pattern {template!r}: no {{field}} in it (e.g. '{{agent}}_{{call_id}}')"
            )
        return cls(template, re.compile("^" + "".join(pieces) + "$"), formats, template.count("/") + 1)

    def match(self, path: Path) -> dict[str, str] | None:
        """The fields read from `path`'s name; None when the name does not fit."""
        parts = list(path.parts[-self.parts :])
        parts[-1] = _without_extension(parts[-1])
        found = self.regex.match("/".join(parts))
        if found is None:
            return None
        meta: dict[str, str] = {}
        for key, value in found.groupdict().items():
            if key in self.date_formats:
                try:
                    parsed = datetime.strptime(value, self.date_formats[key])
                except ValueError as exc:
                    raise MetadataError(
                        f"{path}: {key} {value!r} does not fit {self.date_formats[key]!r} "
                        f"of --name-pattern ({exc})"
                    ) from exc
                meta[key] = parsed.isoformat(timespec="seconds")
            else:
                meta[key] = value
        return meta


def _without_extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem and ext else name


# --- manifest --------------------------------------------------------------------


def _clean_row(raw: dict[str, Any], where: str) -> dict[str, Any]:
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
                meta = _clean_row(raw, where)
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
        for short in {p.name, _without_extension(p.name)}:
            by_name.setdefault("name:" + short, []).append(name)

    def lookup(self, path: Path, aliases: Iterable[str] = ()) -> dict[str, Any] | None:
        for key in (str(path), *aliases, os.path.abspath(path)):
            if key in self._by_key:
                return self._by_key[key]
        for key in (path.name, _without_extension(path.name)):
            if "name:" + key in self._by_key:
                return self._by_key["name:" + key]
        return None

    def __len__(self) -> int:
        return len({id(v) for v in self._by_key.values()})


# --- sidecars ----------------------------------------------------------------------


def sidecar_path(audio: Path) -> Path:
    """`calls/0001.wav` -> `calls/0001.meta.json`."""
    return audio.with_name(_without_extension(audio.name) + SIDECAR_SUFFIX)


def read_sidecar(audio: Path) -> dict[str, Any] | None:
    path = sidecar_path(audio)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path}: cannot read metadata sidecar: {exc}") from exc
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise MetadataError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MetadataError(f"{path}: must be a JSON object like {{\"agent\": \"ivanova\"}}")
    raw = {str(k).strip().lower(): v for k, v in doc.items() if str(k).strip().lower() not in FILE_COLUMNS}
    return _clean_row(raw, str(path))


# --- the combined source ---------------------------------------------------------------


@dataclass
class MetadataSource:
    """Where call metadata comes from; `for_call(path)` merges the sources.

    `agent_regex` is the report's older `--agent-pattern` (a regular
    expression whose group `agent`, else group 1, else whole match, is the
    agent); it is the weakest source.
    """

    manifest: Manifest | None = None
    pattern: NamePattern | None = None
    sidecars: bool = True
    agent_regex: re.Pattern[str] | None = None

    @classmethod
    def from_options(
        cls,
        manifest: str | os.PathLike[str] | None = None,
        name_pattern: str | None = None,
        *,
        sidecars: bool = True,
        agent_regex: str | None = None,
    ) -> MetadataSource:
        """Read and check the manifest and pattern now, so bad input stops before scoring."""
        regex = None
        if agent_regex:
            try:
                regex = re.compile(agent_regex)
            except re.error as exc:
                raise MetadataError(
                    f"--agent-pattern {agent_regex!r}: bad regular expression: {exc}"
                ) from exc
        return cls(
            manifest=Manifest.load(manifest) if manifest else None,
            pattern=NamePattern.compile(name_pattern) if name_pattern else None,
            sidecars=sidecars,
            agent_regex=regex,
        )

    @property
    def active(self) -> bool:
        return bool(self.manifest or self.pattern or self.sidecars or self.agent_regex)

    def for_call(self, path: str | os.PathLike[str], *, aliases: Iterable[str] = ()) -> dict[str, Any]:
        """The merged metadata of one recording ({} when no source knows it).

        `aliases` are other spellings of the same recording a manifest may
        use (the report passes the contract's `call` string). Raises
        MetadataError for a broken sidecar or a date that does not parse.
        """
        meta, _ = self._merge(Path(path), tuple(aliases))
        return meta

    def for_calls(
        self, paths: Iterable[str | os.PathLike[str]]
    ) -> tuple[dict[Path, dict[str, Any]], list[str]]:
        """Metadata for every path, plus one warning per file name that does not fit
        `--name-pattern` (such a call keeps what the other sources say)."""
        out: dict[Path, dict[str, Any]] = {}
        warnings: list[str] = []
        for p in paths:
            path = Path(p)
            out[path], matched = self._merge(path, ())
            if self.pattern is not None and not matched:
                warnings.append(f"{path}: file name does not fit --name-pattern {self.pattern.template!r}")
        return out, warnings

    def _merge(self, path: Path, aliases: tuple[str, ...]) -> tuple[dict[str, Any], bool]:
        meta: dict[str, Any] = {}
        if self.agent_regex is not None:
            for text in (path.name, str(path)):
                found = self.agent_regex.search(text)
                if found:
                    if "agent" in self.agent_regex.groupindex:
                        agent = found.group("agent")
                    else:
                        agent = found.group(1) if self.agent_regex.groups else found.group(0)
                    if agent:
                        meta["agent"] = agent
                    break
        matched = False
        if self.pattern is not None:
            fields = self.pattern.match(path)
            if fields is not None:
                matched = True
                meta.update({k: v for k, v in fields.items() if v})
        if self.sidecars:
            meta.update(read_sidecar(path) or {})
        if self.manifest is not None:
            meta.update(self.manifest.lookup(path, aliases) or {})
        return _ordered(meta), matched


def _ordered(meta: dict[str, Any]) -> dict[str, Any]:
    """Known fields first (in KNOWN_FIELDS order), then the others by name."""
    return {k: meta[k] for k in KNOWN_FIELDS if k in meta} | {
        k: meta[k] for k in sorted(meta) if k not in KNOWN_FIELDS
    }


def apply_meta(result: dict[str, Any], meta: dict[str, Any]) -> bool:
    """Merge `meta` into a per-call result's "meta"; True when that changed it.

    Used both for a freshly scored call and for one skipped as up to date
    (whose metadata may have changed since): only a change needs a rewrite.
    Fields given now override; fields an earlier run gave and no source
    gives now are kept, so re-running a batch with only a queue manifest, or
    with no source at all, does not lose the agents read from file names.
    """
    old = result.get("meta") if isinstance(result.get("meta"), dict) else {}
    merged = _ordered({**old, **meta})
    if not merged or merged == old:
        return False
    result["meta"] = merged
    return True


def warn(message: str) -> None:
    print(f"coach: warning: {message}", file=sys.stderr)
