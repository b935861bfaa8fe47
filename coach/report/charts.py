"""Inline SVG charts for the report's static summary: drawn here, in Python, with no library.

The report must open from disk with no network, so there is no chart library
to fetch; a few hand-drawn SVGs are small, print well, and need no script.
Each bar is a keyboard control (tabindex, role=button, a label to read out)
carrying a `data-filter-*` attribute that the page's script turns into a
filter on the calls table: click a bar, or Tab to it and press Enter.
The weekly trend follows the page's filters, so the page script draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

# Badge and bar colours: white text on red and green, dark text on amber,
# each at least 4.5:1 (WCAG AA); the old white-on-amber badge was 2.25:1.
RED, AMBER, GREEN, GREY = "#c5221f", "#f9ab00", "#137333", "#5f6368"


def score_color(score: float | None) -> str:
    """Red below 60, amber below 80, green from 80 (the usual QA bands)."""
    if score is None:
        return GREY
    if score < 60:
        return RED
    if score < 80:
        return AMBER
    return GREEN


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def histogram_svg(
    bins: list[dict[str, Any]],
    label: str = "Score distribution",
    axis: str = "score",
    bar_text: Callable[[str, str, int], str] | None = None,
    width: int = 520,
    height: int = 220,
) -> str:
    """Vertical bars: how many calls fall in each score band."""
    if not bins:
        return ""
    bar_text = bar_text or (lambda lo, hi, n: f"score {lo}–{hi}: {n} calls")
    left, right, top, bottom = 34, 8, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(b["count"] for b in bins) or 1
    bar_w = plot_w / len(bins)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="group" aria-label="{escape(label)}">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 4}" class="tick" text-anchor="end" aria-hidden="true">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" class="tick" text-anchor="end" aria-hidden="true">0</text>',
    ]
    for i, b in enumerate(bins):
        h = plot_h * b["count"] / peak
        x = left + i * bar_w
        mid = (b["lo"] + b["hi"]) / 2
        text = bar_text(_fmt(b["lo"]), _fmt(b["hi"]), b["count"])
        last = ' data-filter-last="1"' if i == len(bins) - 1 else ""  # the top band ends closed
        parts.append(
            f'<g class="bar" role="button" tabindex="0" aria-label="{escape(text)}" '
            f'data-filter-lo="{b["lo"]}" data-filter-hi="{b["hi"]}"{last}>'
            f"<title>{escape(text)}</title>"
            f'<rect x="{x + 1:.1f}" y="{top:.1f}" width="{bar_w - 2:.1f}" height="{plot_h:.1f}" '
            f'class="hit"/>'
            f'<rect x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 4:.1f}" '
            f'height="{max(h, 0):.1f}" fill="{score_color(mid)}"/></g>'
        )
        # Texts sit outside the button: its spoken name says it all (and they ignore the pointer).
        if b["count"]:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - h - 3:.1f}" class="val" '
                f'text-anchor="middle" aria-hidden="true">{b["count"]}</text>'
            )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" class="tick" '
            f'text-anchor="middle" aria-hidden="true">{escape(_fmt(b["lo"]))}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" class="tick" '
        f'text-anchor="middle" aria-hidden="true">{escape(axis)}</text></svg>'
    )
    return "".join(parts)


def hbar_svg(
    items: list[tuple[str, float, str, str, str, str]],
    max_value: float | None = None,
    width: int = 520,
    label_w: int = 190,
    row_h: int = 22,
    filter_attr: str = "data-filter-category",
    aria: str = "chart",
) -> str:
    """Horizontal bars. Each item: (label, value, value text, colour, filter value, spoken text)."""
    if not items:
        return ""
    right = 120
    plot_w = width - label_w - right
    top = 4
    height = top + row_h * len(items) + 4
    peak = max_value or max(item[1] for item in items) or 1
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="group" aria-label="{escape(aria)}">']
    for i, (label, value, text, color, key, spoken) in enumerate(items):
        y = top + i * row_h
        w = plot_w * max(value, 0) / peak
        short = label if len(label) <= 28 else label[:27] + "…"
        parts.append(
            f'<g class="bar" role="button" tabindex="0" aria-label="{escape(spoken)}" '
            f'{filter_attr}="{escape(key)}"><title>{escape(spoken)}</title>'
            f'<rect x="0" y="{y}" width="{width}" height="{row_h}" class="hit"/>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{color}"/></g>'
            f'<text x="{label_w - 6}" y="{y + row_h * 0.68:.1f}" class="lbl" '
            f'text-anchor="end" aria-hidden="true">{escape(short)}</text>'
            f'<text x="{label_w + w + 5:.1f}" y="{y + row_h * 0.68:.1f}" class="val" aria-hidden="true">'
            f"{escape(text)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def categories_svg(
    categories: list[dict[str, Any]],
    label_of: Callable[[str], str] = str,
    aria: str = "Findings by category",
    spoken: Callable[[str, int, int], str] | None = None,
) -> str:
    """Findings per category, most frequent first."""
    spoken = spoken or (lambda lbl, n, calls: f"{lbl}: {n} findings in {calls} calls")
    items = [
        (
            label_of(c["category"]),
            float(c["findings"]),
            f"{c['findings']} / {c['calls']}",
            "#1967d2",
            c["category"],
            spoken(label_of(c["category"]), c["findings"], c["calls"]),
        )
        for c in categories
        if c["findings"]
    ]
    return hbar_svg(items, aria=aria)
