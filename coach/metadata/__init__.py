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

import json
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coach.metadata.dates import NamePattern, call_date, normalize_started_at
from coach.metadata.fields import FILE_COLUMNS, KNOWN_FIELDS, SIDECAR_SUFFIX, MetadataError, without_extension
from coach.metadata.manifest import Manifest, clean_row

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


# --- sidecars ----------------------------------------------------------------------


def sidecar_path(audio: Path) -> Path:
    """`calls/0001.wav` -> `calls/0001.meta.json`."""
    return audio.with_name(without_extension(audio.name) + SIDECAR_SUFFIX)


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
    return clean_row(raw, str(path))


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
