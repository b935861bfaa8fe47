"""Transcripts of scored calls as plain text, SubRip (.srt) or WebVTT (.vtt).

QA leads paste transcripts into tickets (txt) and play recordings with
subtitles in a media player (srt, vtt), so the export is made from the
per-call result alone: its `transcript` lines, both speakers, labelled in
the call's language ("Оператор"/"Клиент" for Russian calls).
`coach report OUT --transcripts srt,vtt,txt` writes them for a folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from coach.errors import CoachError
from coach.outputs import read_result_files, write_atomic
from coach.report.i18n import meta_label, speaker_label

__all__ = ["FORMATS", "export_transcripts", "parse_formats", "transcript_as"]

FORMATS = ("txt", "srt", "vtt")


def parse_formats(text: str) -> list[str]:
    """'srt,vtt' -> ['srt', 'vtt']; a one-line error for anything else."""
    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise CoachError(f"--transcripts {text!r}: use one or more of {', '.join(FORMATS)} (comma-separated)")
    return list(dict.fromkeys(formats))


def _stamp(seconds: float | None, sep: str) -> str:
    ms = max(0, round(float(seconds or 0.0) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _lines(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Transcript lines with text, in time order; an end never before its start."""
    out = []
    for utt in result.get("transcript") or []:
        text = " ".join(str(utt.get("text") or "").split())
        if not text:
            continue
        start = float(utt.get("start") or 0.0)
        end = float(utt.get("end") if utt.get("end") is not None else start)
        end = max(end, start + 0.01)
        out.append({"speaker": utt.get("speaker"), "start": start, "end": end, "text": text})
    out.sort(key=lambda u: (u["start"], u["end"]))
    return out


def _vtt_text(text: str) -> str:
    # WebVTT cue text is markup: escape it, and "-->" may not appear in it.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def transcript_as(result: dict[str, Any], fmt: str, lang: str | None = None) -> str:
    """The call's transcript in `fmt` ("txt", "srt" or "vtt"); labels in `lang`
    (default: the call's language)."""
    if fmt not in FORMATS:
        raise CoachError(f"transcript format {fmt!r}: use one of {', '.join(FORMATS)}")
    lang = lang or result.get("language") or "en"
    lines = _lines(result)
    if fmt == "srt":
        cues = [
            f"{i}\n{_stamp(u['start'], ',')} --> {_stamp(u['end'], ',')}\n"
            f"{speaker_label(u['speaker'], lang)}: {u['text']}\n"
            for i, u in enumerate(lines, 1)
        ]
        return "\n".join(cues)
    if fmt == "vtt":
        cues = ["WEBVTT\n"]
        for u in lines:
            who = _vtt_text(speaker_label(u["speaker"], lang))
            voice = f"<v {who}>" if who else ""
            timing = f"{_stamp(u['start'], '.')} --> {_stamp(u['end'], '.')}"
            cues.append(f"{timing}\n{voice}{_vtt_text(u['text'])}\n")
        return "\n".join(cues)
    head = [str(result.get("call") or "")]
    for key, value in (result.get("meta") or {}).items():
        head.append(f"{meta_label(key, lang)}: {value}")
    body = [
        f"[{_stamp(u['start'], '.')[:-2]}] {speaker_label(u['speaker'], lang)}: {u['text']}" for u in lines
    ]
    return "\n".join(head) + "\n\n" + "\n".join(body) + ("\n" if body else "")


def export_transcripts(
    out_dir: str | os.PathLike[str],
    formats: Iterable[str],
    dest: str | os.PathLike[str] | None = None,
    lang: str | None = None,
) -> list[Path]:
    """Write DEST/<result stem>.<fmt> for every per-call result in OUT (DEST
    defaults to OUT/transcripts); returns the files written."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise CoachError(f"{out_dir}: no such results folder")
    dest = Path(dest) if dest else out_dir / "transcripts"
    written = []
    results, _ = read_result_files(out_dir)
    for json_path, result in results:
        for fmt in formats:
            target = dest / f"{json_path.stem}.{fmt}"
            write_atomic(target, transcript_as(result, fmt, lang))
            written.append(target)
    return written
