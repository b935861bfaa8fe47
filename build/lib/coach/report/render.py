"""Fill the HTML template: a static summary (cards, charts, agent table) plus the
page model as embedded JSON that the inline script turns into the calls list
and the per-call view. The summary is plain HTML so it reads and prints even
with scripts off."""

from __future__ import annotations

import json
import re
import time
from html import escape
from importlib import resources
from typing import Any

from coach import __version__
from coach.report import charts


def _card(value: Any, label: str) -> str:
    shown = "–" if value is None else escape(str(value))
    return f'<div class="card"><div class="n">{shown}</div><div class="l">{escape(label)}</div></div>'


def _num(value: Any) -> str:
    if value is None:
        return "–"
    return escape(f"{value:g}" if isinstance(value, float) else str(value))


def summary_html(model: dict[str, Any]) -> str:
    s = model["summary"]
    cards = [
        _card(s["calls"], "calls scored"),
        _card(s["mean_score"], "mean score"),
        _card(s["median_score"], "median score"),
        _card(s["findings"], "findings"),
        _card(s["calls_with_critical"], "calls with a critical finding"),
        _card(s["audio_hours"], "hours of audio"),
    ]
    if s["agents"]:
        cards.append(_card(s["agents"], "agents"))
    if s["failed"]:
        cards.append(_card(s["failed"], "inputs that could not be scored"))
    parts = [f'<section id="summary"><div class="cards">{"".join(cards)}</div>']
    parts.append('<div class="grid">')
    parts.append(
        "<div><h2>Score distribution</h2>"
        f"{charts.histogram_svg(model['histogram']) or '<p class=muted>No scores.</p>'}</div>"
    )
    parts.append(
        "<div><h2>Findings by category</h2>"
        f"{charts.categories_svg(model['categories']) or '<p class=muted>No findings.</p>'}</div>"
    )
    parts.append("</div>")
    agents = model["agents"]
    if agents and not (len(agents) == 1 and agents[0]["agent"] == "(unknown)"):
        parts.append('<h2>Agents, lowest mean score first</h2><div class="grid">')
        parts.append(f"<div>{charts.agents_svg(agents)}</div>")
        rows = "".join(
            f'<tr data-filter-agent="{escape(a["agent"])}" style="cursor:pointer">'
            f"<td>{escape(a['agent'])}</td><td class=num>{a['calls']}</td>"
            f"<td class=num>{_num(a['mean_score'])}</td><td class=num>{_num(a['min_score'])}</td>"
            f"<td class=num>{_num(a['findings_per_call'])}</td>"
            f"<td class=num>{a['critical']}</td><td>{escape(a['top_category'] or '')}</td></tr>"
            for a in agents
        )
        parts.append(
            '<div><table id="agents"><thead><tr><th>agent</th><th class=num>calls</th>'
            "<th class=num>mean</th><th class=num>min</th><th class=num>findings/call</th>"
            "<th class=num>critical</th><th>most frequent</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div></div>"
        )
    cats = model["categories"]
    if cats:
        rows = "".join(
            f'<tr data-filter-category="{escape(c["category"])}" style="cursor:pointer">'
            f"<td>{escape(c['category'])}</td><td class=num>{c['findings']}</td>"
            f"<td class=num>{c['calls']}</td><td class=num>{_num(c['points'])}</td></tr>"
            for c in cats
        )
        parts.append(
            '<h2>Categories</h2><table id="categories" style="max-width:640px"><thead><tr>'
            "<th>category</th><th class=num>findings</th><th class=num>calls</th>"
            f"<th class=num>points</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    if model["errors"]:
        rows = "".join(
            f"<tr><td>{escape(e['input'])}</td><td>{escape(e['reason'])}</td></tr>" for e in model["errors"]
        )
        parts.append(
            "<details><summary>Inputs that could not be scored "
            f"({len(model['errors'])})</summary><table><thead><tr><th>input</th><th>reason</th>"
            f"</tr></thead><tbody>{rows}</tbody></table></details>"
        )
    parts.append("</section>")
    return "".join(parts)


def _script_json(obj: Any) -> str:
    """JSON that is safe inside <script>: no '</script>', no '<!--'."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(model: dict[str, Any]) -> str:
    template = resources.files("coach.report").joinpath("template.html").read_text("utf-8")
    s = model["summary"]
    subtitle = f"{s['calls']} calls"
    if s["failed"]:
        subtitle += f", {s['failed']} could not be scored"
    values = {
        "TITLE": escape(model["title"]),
        "SUBTITLE": escape(subtitle),
        "VERSION": escape(__version__),
        "GENERATED": escape(time.strftime("%Y-%m-%d %H:%M")),
        "SUMMARY": summary_html(model),
        "DATA": _script_json(model),
    }
    # One pass, so text inside a value (an agent called "__DATA__") is never re-read.
    return _MARKER.sub(lambda m: values[m.group(1)], template)


_MARKER = re.compile(r"__(TITLE|SUBTITLE|VERSION|GENERATED|SUMMARY|DATA)__")
