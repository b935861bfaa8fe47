"""A scored call as a picture: who spoke when, and where the findings are.

A trainer sees an interruption (two bars on top of each other under a red
span) faster than they read about it. The input is the per-call JSON of
`coach score` (docs/contracts.md), so any scored call can be drawn later
without the audio: bars are the transcript entries; when the result also has
the analyzers' `activity` spans (optional), those are drawn as thin bars
inside each lane, so speech Whisper missed still shows. Matplotlib's Agg
canvas is used directly (no pyplot, no display), which is safe in batch jobs
and threads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from coach.errors import CoachError

LANES = {"agent": 1.0, "customer": 0.0}
LANE_COLORS = {"agent": "#3b73b9", "customer": "#7a9c59"}
# Colours of the timed findings; anything else is drawn with OTHER_COLOR.
CATEGORY_COLORS = {
    "interruption": "#d62728",
    "raised_voice": "#ff7f0e",
    "speech_rate": "#9467bd",
    "long_silence": "#7f7f7f",
    "forbidden_phrase": "#8c564b",
    "negative_phrasing": "#e377c2",
    "diminutive": "#bcbd22",
    "filler_words": "#17becf",
}
OTHER_COLOR = "#555555"
LABELS = {
    "ru": {
        "agent": "Оператор",
        "customer": "Клиент",
        "interruption": "перебивание",
        "raised_voice": "повышенный голос",
        "speech_rate": "быстрая речь",
        "long_silence": "тишина",
        "forbidden_phrase": "запрещённая фраза",
        "negative_phrasing": "частица «не»",
        "diminutive": "уменьшительное",
        "filler_words": "слова-паразиты",
        "name_not_asked": "не спросил имя",
        "name_not_used": "не обратился по имени",
        "no_greeting": "нет приветствия",
        "no_closing": "нет прощания",
        "time": "время, с",
        "call_level": "По звонку в целом",
        "s": "с",
        "dB": "дБ",
        "syl/s": "слог/с",
    },
    "en": {
        "agent": "Agent",
        "customer": "Customer",
        "time": "time, s",
        "call_level": "Call-level findings",
    },
}


def load_result(path: Path) -> dict[str, Any]:
    """Read a per-call JSON and check the fields the picture needs."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CoachError(f"{path}: no such file (pass a per-call JSON from 'coach score')") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CoachError(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise CoachError(f"{path}: not JSON ({exc}); pass a per-call JSON") from exc
    if not isinstance(data, dict):
        raise CoachError(f"{path}: expected a JSON object (a per-call result)")
    for key in ("transcript", "events"):
        if not isinstance(data.get(key, []), list):
            raise CoachError(f"{path}: field '{key}' must be a list")
    activity = data.get("activity", {})
    if not isinstance(activity, dict) or not all(
        isinstance(spans, list)
        and all(isinstance(x, list) and len(x) == 2 and all(map(_is_time, x)) for x in spans)
        for spans in activity.values()
    ):
        raise CoachError(f"{path}: field 'activity' must map speakers to [[start, end], ...]")
    for i, item in enumerate(data.get("transcript", [])):
        if not isinstance(item, dict) or not _is_time(item.get("start")):
            raise CoachError(f"{path}: transcript[{i}] needs numeric 'start' and 'end'")
        if not _is_time(item.get("end")):
            raise CoachError(f"{path}: transcript[{i}] needs numeric 'start' and 'end'")
    for i, item in enumerate(data.get("events", [])):
        if not isinstance(item, dict) or "category" not in item:
            raise CoachError(f"{path}: events[{i}] needs a 'category'")
    return data


def _is_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _label(key: str, language: str) -> str:
    return LABELS.get(language, {}).get(key) or LABELS["en"].get(key) or key.replace("_", " ")


def plot_call(result: dict[str, Any], out: Path, title: str | None = None) -> Path:
    """Draw the timeline of one per-call result into `out` (format from its suffix)."""
    language = result.get("language") or "ru"
    transcript = result.get("transcript", [])
    events = result.get("events", [])
    ends = [t["end"] for t in transcript] + [e["end"] for e in events if _is_time(e.get("end"))]
    duration = float(result.get("duration_s") or max(ends, default=1.0) or 1.0)

    width = min(24.0, max(10.0, duration / 5.0))
    fig = Figure(figsize=(width, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.11, 0.30, 0.86, 0.55))

    timed = [e for e in events if _is_time(e.get("start")) and _is_time(e.get("end"))]
    call_level = [e for e in events if e not in timed]
    seen: dict[str, str] = {}
    for n, e in enumerate(sorted(timed, key=lambda e: e["start"])):
        cat = e["category"]
        color = CATEGORY_COLORS.get(cat, OTHER_COLOR)
        seen.setdefault(cat, color)
        start, end = float(e["start"]), float(e["end"])
        if end - start < duration / 400:  # zero-length finding: a visible tick
            end = start + duration / 400
        hatch = "//" if cat == "long_silence" else None
        ax.axvspan(start, end, ymin=0.0, ymax=1.0, color=color, alpha=0.22, hatch=hatch, lw=0)
        lane = LANES.get(e.get("speaker") or "agent", 1.0)
        ax.plot([start], [lane + 0.33], marker="v", color=color, ms=7)
        y = 1.62 - 0.14 * (n % 3)  # staggered so neighbouring labels do not collide
        ax.text(start, y, _event_label(e, language), color=color, fontsize=8, va="center")

    activity = result.get("activity") or {}
    for spk, lane in LANES.items():
        heard = [(float(a), float(b) - float(a)) for a, b in activity.get(spk, [])]
        if heard:  # speech as the analyzers heard it, under what Whisper transcribed
            ax.broken_barh(heard, (lane - 0.12, 0.24), facecolors=LANE_COLORS[spk], alpha=0.35)
        spans = [
            (float(t["start"]), max(float(t["end"]) - float(t["start"]), 0.01))
            for t in transcript
            if t.get("speaker") == spk
        ]
        ax.broken_barh(spans, (lane - 0.25, 0.5), facecolors=LANE_COLORS[spk], alpha=0.9)

    ax.set_xlim(0, duration)
    ax.set_ylim(-0.6, 1.75)
    ax.set_yticks([LANES["customer"], LANES["agent"]])
    ax.set_yticklabels([_label("customer", language), _label("agent", language)])
    ax.set_xlabel(_label("time", language))
    ax.grid(axis="x", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    fig.suptitle(title or _title(result), fontsize=11, x=0.11, ha="left")
    if seen:
        handles = [Patch(color=c, alpha=0.5, label=_label(k, language)) for k, c in seen.items()]
        fig.legend(handles=handles, loc="lower right", ncol=min(4, len(handles)), fontsize=8)
    if call_level:
        lines = [f"{_label('call_level', language)}:"]
        lines += [f"• {_event_label(e, language)}" for e in call_level[:4]]
        if len(call_level) > 4:
            lines.append(f"… +{len(call_level) - 4}")
        fig.text(0.11, 0.02, "\n".join(lines), fontsize=8, va="bottom")

    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out)
    except (OSError, ValueError) as exc:
        raise CoachError(f"{out}: cannot write the picture: {exc}") from exc
    return out


def _event_label(e: dict[str, Any], language: str) -> str:
    label = _label(e["category"], language)
    details = e.get("details") or {}
    unit = {u: _label(u, language) for u in ("s", "dB", "syl/s")}
    if "overlap_s" in details:
        figure = f"{details['overlap_s']:.1f} {unit['s']}"
    elif "db_above" in details:
        figure = f"+{details['db_above']:.0f} {unit['dB']}"
    elif "syllables_per_s" in details:
        figure = f"{details['syllables_per_s']:.1f} {unit['syl/s']}"
    elif "silence_s" in details:
        figure = f"{details['silence_s']:.0f} {unit['s']}"
    else:
        figure = ""
    return f"{label} {figure}".strip()


def _title(result: dict[str, Any]) -> str:
    name = Path(str(result.get("call") or "call")).name
    m = result.get("metrics") or {}
    parts = [name]
    if _is_time(m.get("talk_ratio_agent")):
        parts.append(f"agent talk {m['talk_ratio_agent']:.0%}")
    if _is_time(m.get("agent_wpm")):
        parts.append(f"{m['agent_wpm']} wpm")
    if _is_time(m.get("interruptions")):
        parts.append(f"interruptions {m['interruptions']}")
    score = (result.get("score") or {}).get("total")
    if _is_time(score):
        parts.append(f"score {score}")
    return "  ·  ".join(parts)
