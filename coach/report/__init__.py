"""The QA lead's report: one self-contained HTML file for a batch of scored calls.

`build_report` takes per-call result documents (the contract of docs/contracts.md);
`write_report_for_dir` reads a `coach score -o OUT` folder (its JSON files and
`coach.sqlite`) and is what both `coach report` and `coach score` call. The
file needs no server and no network: styles, script, data and SVG charts are
inline, and recordings are linked by a path relative to the HTML file, so the
report keeps working when OUT and the recordings are moved together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coach.errors import CoachError
from coach.metadata import MetadataSource
from coach.outputs import write_atomic
from coach.report.data import CallInput, build_model, read_out_dir, resolve_audio
from coach.report.render import render_html

__all__ = [
    "DEFAULT_REPORT_NAME",
    "CallInput",
    "ReportOptions",
    "build_report",
    "write_report_for_dir",
]

DEFAULT_REPORT_NAME = "report.html"


@dataclass
class ReportOptions:
    """What the report shows beyond the results themselves.

    `manifest` / `name_pattern` / `agent_pattern`: call metadata to add to
    (or correct in) the results' own `meta`, as `coach score --manifest`
    would have (see coach.metadata; `agent_pattern` is the older regular
    expression for agent ids). `metadata`: a ready MetadataSource instead.
    `lang`: "en", "ru" or None for the calls' most common language.
    `audio_root`: the folder relative call paths are relative to (default:
    the current folder, where `coach score` ran). `audio_paths` overrides the
    recording of given calls (the results store remembers absolute paths).
    """

    manifest: Path | None = None
    name_pattern: str | None = None
    agent_pattern: str | None = None
    metadata: MetadataSource | None = None
    title: str | None = None
    lang: str | None = None
    audio_root: Path | None = None
    audio_paths: dict[str, Path] = field(default_factory=dict)

    def metadata_source(self) -> MetadataSource:
        if self.metadata is not None:
            return self.metadata
        return MetadataSource.from_options(
            self.manifest, self.name_pattern, agent_regex=self.agent_pattern
        )


def build_report(
    results: list[dict[str, Any]] | list[CallInput],
    out_html: str | os.PathLike[str],
    options: ReportOptions | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Path:
    """Write the report for `results` to `out_html` (atomically) and return its path."""
    options = options or ReportOptions()
    out_html = Path(out_html)
    root = Path(options.audio_root) if options.audio_root else Path.cwd()
    source = options.metadata_source()
    calls: list[CallInput] = []
    for item in results:
        c = item if isinstance(item, CallInput) else CallInput(result=item)
        if not isinstance(c.result.get("call"), str):
            raise CoachError(f"{c.json_path or 'result'}: not a per-call result (no 'call' field)")
        audio = options.audio_paths.get(c.result["call"])
        if audio is not None:
            c = CallInput(c.result, Path(audio), c.json_path)
        elif c.audio_path is None:
            c = CallInput(c.result, resolve_audio(c.result["call"], [root]), c.json_path)
        calls.append(c)
    model = build_model(calls, out_html, source, errors, options.title, options.lang)
    write_atomic(out_html, render_html(model))
    return out_html


def write_report_for_dir(
    out_dir: str | os.PathLike[str],
    html_path: str | os.PathLike[str] | None = None,
    options: ReportOptions | None = None,
    extra_dirs: list[Path] | None = None,
    extra_dbs: list[Path] | None = None,
) -> Path:
    """Report on a `coach score -o OUT` folder: OUT/*.json, OUT/coach.sqlite and
    OUT/errors.jsonl (plus any further result folders or databases, which is how
    one report covers several batches). Default output: OUT/report.html."""
    from coach.report.data import identity
    from coach.store import load_entries

    out_dir = Path(out_dir)
    html_path = Path(html_path) if html_path else out_dir / DEFAULT_REPORT_NAME
    by_id: dict[str, CallInput] = {}
    errors: list[dict[str, Any]] = []
    for db in extra_dbs or []:
        for entry in load_entries(db):
            c = CallInput(entry.result, entry.audio_path, entry.json_path)
            by_id[identity(c)] = c
    for folder in [out_dir, *(extra_dirs or [])]:
        calls, errs = read_out_dir(Path(folder))
        for c in calls:
            by_id[identity(c)] = c
        errors += errs
    # An input that failed once and was scored later is no longer a failure.
    scored = {c.result["call"] for c in by_id.values()}
    errors = [e for e in errors if str(e.get("input") or e.get("call") or "") not in scored]
    return build_report(list(by_id.values()), html_path, options, errors)
