"""Inline SVG charts for the report: drawn here, in Python, with no library.

The report must open from disk with no network, so there is no chart library
to fetch; a few hand-drawn SVGs are small, print well, and need no script.
Each bar carries a `data-filter-*` attribute that the page's script turns into
a filter on the calls table (click a bar -> see those calls).
"""

from __future__ import annotations

from html import escape
from typing import Any


def score_color(score: float | None) -> str:
    """Red below 60, amber below 80, green from 80 (the usual QA bands)."""
    if score is None:
        return "#9aa0a6"
    if score < 60:
        return "#d93025"
    if score < 80:
        return "#f29900"
    return "#188038"


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def histogram_svg(bins: list[dict[str, Any]], width: int = 520, height: int = 220) -> str:
    """Vertical bars: how many calls fall in each score band."""
    if not bins:
        return ""
    left, right, top, bottom = 34, 8, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(b["count"] for b in bins) or 1
    bar_w = plot_w / len(bins)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="Score distribution">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 4}" class="tick" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" class="tick" text-anchor="end">0</text>',
    ]
    for i, b in enumerate(bins):
        h = plot_h * b["count"] / peak
        x = left + i * bar_w
        mid = (b["lo"] + b["hi"]) / 2
        label = f"{_fmt(b['lo'])}–{_fmt(b['hi'])}"
        last = ' data-filter-last="1"' if i == len(bins) - 1 else ""  # the top band ends closed
        parts.append(
            f'<g class="bar" data-filter-lo="{b["lo"]}" data-filter-hi="{b["hi"]}"{last}>'
            f"<title>score {label}: {b['count']} calls</title>"
            f'<rect x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 4:.1f}" '
            f'height="{max(h, 0):.1f}" fill="{score_color(mid)}"/>'
        )
        if b["count"]:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - h - 3:.1f}" class="val" '
                f'text-anchor="middle">{b["count"]}</text>'
            )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" class="tick" '
            f'text-anchor="middle">{escape(_fmt(b["lo"]))}</text></g>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" class="tick" '
        f'text-anchor="middle">score</text></svg>'
    )
    return "".join(parts)


def hbar_svg(
    items: list[tuple[str, float, str, str, str]],
    max_value: float | None = None,
    width: int = 520,
    label_w: int = 170,
    row_h: int = 22,
    filter_attr: str = "data-filter-category",
    aria: str = "chart",
) -> str:
    """Horizontal bars. Each item: (label, value, value text, colour, filter value)."""
    if not items:
        return ""
    right = 110
    plot_w = width - label_w - right
    top = 4
    height = top + row_h * len(items) + 4
    peak = max_value or max(v for _, v, _, _, _ in items) or 1
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(aria)}">']
    for i, (label, value, text, color, key) in enumerate(items):
        y = top + i * row_h
        w = plot_w * max(value, 0) / peak
        short = label if len(label) <= 26 else label[:25] + "…"
        parts.append(
            f'<g class="bar" {filter_attr}="{escape(key)}"><title>{escape(label)}: '
            f"{escape(text)}</title>"
            f'<text x="{label_w - 6}" y="{y + row_h * 0.68:.1f}" class="lbl" '
            f'text-anchor="end">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{color}"/>'
            f'<text x="{label_w + w + 5:.1f}" y="{y + row_h * 0.68:.1f}" class="val">'
            f"{escape(text)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def categories_svg(categories: list[dict[str, Any]]) -> str:
    """Findings per category, most frequent first."""
    items = [
        (
            c["category"],
            float(c["findings"]),
            f"{c['findings']} in {c['calls']} call{'s' if c['calls'] != 1 else ''}",
            "#1a73e8",
            c["category"],
        )
        for c in categories
        if c["findings"]
    ]
    return hbar_svg(items, aria="Findings by category")


def agents_svg(agents: list[dict[str, Any]], limit: int = 40) -> str:
    """Mean score per agent, worst first (the first `limit` agents)."""
    items = [
        (
            a["agent"],
            float(a["mean_score"]),
            f"{_fmt(a['mean_score'])} · {a['calls']} call{'s' if a['calls'] != 1 else ''}",
            score_color(a["mean_score"]),
            a["agent"],
        )
        for a in agents[:limit]
        if a["mean_score"] is not None
    ]
    top = max([100.0, *(v for _, v, _, _, _ in items)]) if items else 100.0
    return hbar_svg(items, max_value=top, filter_attr="data-filter-agent", aria="Mean score by agent")
