"""Fill the HTML template: a static summary (cards, charts, categories) plus the
page model as embedded JSON that the inline script turns into the groups,
the weekly trend, the calls list and the per-call view. The summary is plain
HTML so it reads and prints even with scripts off. Every word comes from the
labels of the report's language (coach.report.i18n)."""

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
    ui = model["labels"]["ui"]
    cat_label = model["labels"]["categories"]

    def label_of(cat: str) -> str:
        return cat_label.get(cat, cat)

    cards = [
        _card(s["calls"], ui["card_calls"]),
        _card(s["mean_score"], ui["card_mean"]),
        _card(s["median_score"], ui["card_median"]),
        _card(s["findings"], ui["card_findings"]),
        _card(s["calls_with_critical"], ui["card_critical"]),
        _card(s["audio_hours"], ui["card_hours"]),
    ]
    if s["agents"]:
        cards.append(_card(s["agents"], ui["card_agents"]))
    if s["failed"]:
        cards.append(_card(s["failed"], ui["card_failed"]))
    parts = [
        f'<section id="summary" aria-label="{escape(ui["title"])}">'
        f'<div class="cards">{"".join(cards)}</div>'
    ]
    parts.append('<div class="grid">')
    hist = charts.histogram_svg(
        model["histogram"],
        label=ui["h_histogram"],
        axis=ui["score_axis"],
        bar_text=lambda lo, hi, n: ui["hist_bar"].format(lo=lo, hi=hi, n=n),
    )
    parts.append(f"<div><h2>{escape(ui['h_histogram'])}</h2>{hist or _muted(ui['no_scores'])}</div>")
    cats_svg = charts.categories_svg(
        model["categories"],
        label_of=label_of,
        aria=ui["h_categories_chart"],
        spoken=lambda lbl, n, calls: ui["cat_bar"].format(label=lbl, n=n, calls=calls),
    )
    parts.append(
        f"<div><h2>{escape(ui['h_categories_chart'])}</h2>{cats_svg or _muted(ui['no_findings'])}</div>"
    )
    parts.append("</div>")
    cats = model["categories"]
    if cats:
        rows = "".join(
            f'<tr><td><button type="button" class="linkish" data-filter-category="{escape(c["category"])}">'
            f"{escape(label_of(c['category']))}</button></td><td class=num>{c['findings']}</td>"
            f"<td class=num>{c['calls']}</td><td class=num>{_num(c['points'])}</td></tr>"
            for c in cats
        )
        parts.append(
            f'<h2>{escape(ui["h_categories"])}</h2><table id="categories" class="narrow"><thead><tr>'
            f'<th scope="col">{escape(ui["col_category"])}</th>'
            f'<th scope="col" class=num>{escape(ui["col_findings"])}</th>'
            f'<th scope="col" class=num>{escape(ui["col_calls"])}</th>'
            f'<th scope="col" class=num>{escape(ui["col_points"])}</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    if model["errors"]:
        rows = "".join(
            f"<tr><td>{escape(e['input'])}</td><td>{escape(e['reason'])}</td></tr>" for e in model["errors"]
        )
        parts.append(
            f"<details><summary>{escape(ui['h_failed'])} "
            f'({len(model["errors"])})</summary><table><thead><tr>'
            f'<th scope="col">{escape(ui["col_input"])}</th><th scope="col">{escape(ui["col_reason"])}</th>'
            f"</tr></thead><tbody>{rows}</tbody></table></details>"
        )
    parts.append("</section>")
    return "".join(parts)


def _muted(text: str) -> str:
    return f'<p class="muted">{escape(text)}</p>'


def _script_json(obj: Any) -> str:
    """JSON that is safe inside <script>: no '</script>', no '<!--'."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(model: dict[str, Any]) -> str:
    template = resources.files("coach.report").joinpath("template.html").read_text("utf-8")
    ui = model["labels"]["ui"]
    s = model["summary"]
    subtitle = ui["calls_n"].format(n=s["calls"])
    if s["failed"]:
        subtitle += ", " + ui["failed_n"].format(n=s["failed"])
    values = {
        "LANG": escape(model["lang"]),
        "TITLE": escape(model["title"]),
        "SUBTITLE": escape(subtitle),
        "SUMMARY": summary_html(model),
        "NOSCRIPT": escape(ui["noscript"]),
        "SKIP": escape(ui["skip_link"]),
        "FOOTER": escape(
            ui["footer"].format(version=__version__, generated=time.strftime("%Y-%m-%d %H:%M"))
        ),
        "DATA": _script_json(model),
    }
    # One pass, so text inside a value (an agent called "__DATA__") is never re-read.
    return _MARKER.sub(lambda m: values[m.group(1)], template)


_MARKER = re.compile(r"__(LANG|TITLE|SUBTITLE|SUMMARY|NOSCRIPT|SKIP|FOOTER|DATA)__")
