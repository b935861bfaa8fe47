"""The HTML report with many calls: how long a QA lead waits, in real Chromium.

Scores one fixture call, copies its result into N calls (40 agents, 5 teams,
half a year of start times), builds the report, opens it in Debian chromium
and times, inside the page, a date filter, a sort by name and a change of the
group column. Each action is timed twice in the same run: with the list
drawn a page (300 rows) at a time, as the report does, and with every
matching row drawn (the page's row limit lifted), the baseline the paging
avoids; the ratio is printed. Times include the layout the browser
must do before the next frame (`offsetHeight` is read at the end).

Run: `.venv/bin/python bench/report_scale.py [--calls 5000]`.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coach import Coach, CoachConfig  # noqa: E402
from coach.report import ReportOptions, build_report  # noqa: E402

ACTIONS = {
    "date filter": "const f = document.getElementById('f-from'); f.value = '2024-03-01';"
    "f.dispatchEvent(new Event('change'));",
    "sort by name": "document.querySelector('#calls button[data-sort=name]').click();",
    "group by team": "const s = document.getElementById('g-by');"
    "s.value = s.value === 'team' ? 'agent' : 'team'; s.dispatchEvent(new Event('change'));",
}


def timed(page, js: str) -> float:
    return page.evaluate(
        "() => { const t0 = performance.now(); " + js + " document.body.offsetHeight;"
        " return performance.now() - t0; }"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    call = ROOT / "tests" / "fixtures" / "calls" / "forbidden_agent.wav"
    base = Coach.load(CoachConfig(language="ru")).score(call).to_dict()
    results = []
    for i in range(args.calls):
        r = copy.deepcopy(base)
        r["call"] = f"calls/{i:05d}.wav"
        r["score"]["total"] = 50 + (i * 7) % 50
        r["meta"] = {"agent": f"agent{i % 40}", "team": f"T{i % 5}",
                     "started_at": f"{date(2024, 1, 1) + timedelta(days=i % 180)}T10:00:00"}
        results.append(r)
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "report.html"
        t0 = time.perf_counter()
        build_report(results, html, ReportOptions(lang="ru"))
        print(f"{args.calls} calls: report built in {time.perf_counter() - t0:.1f} s, "
              f"{html.stat().st_size / 1e6:.1f} MB")
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"), executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                      "--no-first-run", "--disable-gpu"],
            )
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(html.as_uri())
            page.locator("#calls tbody tr").first.wait_for()
            print(f"opened (first page drawn) in {time.perf_counter() - t0:.2f} s")
            paged = {name: timed(page, js) for name, js in ACTIONS.items()}
            # Baseline: every matching row drawn (what the report did before paging).
            page.evaluate("() => { window.coachReport.state.pageRows = 1e9; }")
            full = {name: timed(page, js) for name, js in ACTIONS.items()}
            rows = page.locator("#calls tbody tr").count()
            ctx.close()
    print(f"{'action':<16}{'300 rows':>12}{f'all ({rows}) rows':>20}{'ratio':>8}")
    for name in ACTIONS:
        ratio = full[name] / max(paged[name], 1e-3)
        print(f"{name:<16}{paged[name]:>10.0f}ms{full[name]:>18.0f}ms{ratio:>8.1f}")


if __name__ == "__main__":
    main()
