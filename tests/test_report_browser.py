"""The HTML report, opened from disk in a real browser (Debian chromium via Playwright).

The report is built from real per-call results (the fixture calls through the
real scorer) with the recordings copied next to it, as a QA lead would receive
a folder, and with call metadata (agents, teams, start times over several
weeks) as `coach score --manifest` would add it. Every expectation (orders,
date ranges, weekly means, exported rows) is computed here from the results
themselves, not read back from the page's own data. Accessibility is checked
by axe-core running in the page (tests/a11y: `npm ci --prefix tests/a11y`)
and by walking the page with the Tab key. A few checks of the page model
(highlights, self-containment) need no browser and run everywhere.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from coach.report import ReportOptions, build_report, write_report_for_dir
from coach.report.data import find_span, highlight_marks
from tests.conftest import CALLS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
]
AXE = Path(__file__).resolve().parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
NAMES = ["forbidden_agent.wav", "clean_call.wav", "name_not_used.wav"]
# The QA folder: 12 calls of 6 fixture recordings, 3 agents in 2 teams, four weeks.
QA_SOURCES = [
    "forbidden_agent.wav", "clean_call.wav", "name_not_used.wav",
    "mono_call.wav", "interruption.wav", "fast_line.wav",
]
AGENTS = ["ivanova", "petrov", "sidorova"]
TEAM = {"ivanova": "A", "petrov": "A", "sidorova": "B"}
FIRST_DAY = date(2024, 4, 29)  # a Monday
UNDATED = 5  # this call has no started_at: its date is when it was scored
DIARIZED = 9  # this copy of the mono call is diarized (the default); the other one was scored --mono agent


def js_round1(x: float) -> float:
    """Math.round(x * 10) / 10, as the page rounds (Python's round() rounds half to even)."""
    return math.floor(x * 10 + 0.5) / 10


@pytest.fixture(scope="module")
def trainer_folder(tmp_path_factory, scored):
    """A folder as a trainer gets it: calls/ with the recordings, report/ with the HTML.

    Results name the calls by relative path ("calls/x.wav"), as `coach score calls/`
    run from that folder would."""
    root = tmp_path_factory.mktemp("trainer")
    (root / "calls").mkdir()
    results = []
    for i, name in enumerate(NAMES):
        agent = ["ivanova", "petrov", "ivanova"][i]
        target = root / "calls" / f"{agent}_{name}"
        shutil.copy(CALLS / name, target)
        result = copy.deepcopy(scored(name))
        result["call"] = f"calls/{target.name}"
        results.append(result)
    html = root / "report" / "index.html"
    build_report(
        results,
        html,
        ReportOptions(agent_pattern=r"^(?P<agent>[a-z]+)_", audio_root=root, lang="en"),
    )
    return root, html, results


@pytest.fixture(scope="module")
def scored_as_agent_only(coach):
    """The mono call scored with `--mono agent` (no diarization), as an archive scored that way has it."""
    from dataclasses import replace

    from coach import Coach

    agent_only = Coach.load(replace(coach.config, mono="agent"))
    return agent_only.score(CALLS / "mono_call.wav").to_dict()


@pytest.fixture(scope="module")
def qa_folder(tmp_path_factory, scored, scored_as_agent_only):
    """Twelve calls with metadata; reports in Russian (the calls' language) and English."""
    root = tmp_path_factory.mktemp("qa")
    (root / "calls").mkdir()
    results = []
    for i in range(12):
        source = QA_SOURCES[i % len(QA_SOURCES)]
        agent = AGENTS[(i + i // 3) % 3]
        target = root / "calls" / f"{agent}_{i:02d}_{source}"
        shutil.copy(CALLS / source, target)
        result = copy.deepcopy(scored(source))
        if source == "mono_call.wav" and i != DIARIZED:
            result = copy.deepcopy(scored_as_agent_only)
        result["call"] = f"calls/{target.name}"
        meta = {"agent": agent, "call_id": f"C-{1000 + i}", "queue": ["sales", "support"][i % 2],
                "team": TEAM[agent]}
        if i != UNDATED:
            meta["started_at"] = f"{FIRST_DAY + timedelta(days=2 * i)}T{9 + i % 8:02d}:15:00"
        result["meta"] = meta
        if i == DIARIZED:
            result["diarized"] = True
            result["diarization"] = {"confidence": 0.82, "method": "test"}
        results.append(result)
    ru = root / "report" / "ru.html"
    en = root / "report" / "en.html"
    build_report(results, ru, ReportOptions(audio_root=root))
    build_report(results, en, ReportOptions(audio_root=root, lang="en"))
    return root, ru, en, results


def expected_date(result: dict) -> str:
    started = result["meta"].get("started_at") or result["scored_at"]
    return started[:10]


def week_of(day: str) -> str:
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def worst_first(results: list[dict]) -> list[dict]:
    def key(r):
        crit = sum(1 for e in r["events"] if e["severity"] == "critical")
        return (r["score"]["total"], -crit, -len(r["events"]), r["call"])

    return sorted(results, key=key)


def launch(playwright, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    return playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000},
        accept_downloads=True,
    )


@pytest.fixture
def page(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        context = launch(pw, tmp_path)
        page = context.new_page()
        page.errors = []
        page.requests = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on("request", lambda req: page.requests.append(req.url))
        yield page
        context.close()


def shown_names(page) -> list[str]:
    return page.locator("#calls tbody td.name a").all_inner_texts()


def name_of(result: dict) -> str:
    return Path(result["call"]).name


# --- the calls list and the player ------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_report_opens_from_disk_and_lists_calls_worst_first(page, trainer_folder):
    root, html, results = trainer_folder
    page.goto(html.as_uri())
    rows = page.locator("#calls tbody tr")
    assert rows.count() == len(results)
    assert shown_names(page)[0] == name_of(worst_first(results)[0])
    badge_scores = [float(rows.nth(i).locator(".score").inner_text()) for i in range(rows.count())]
    assert badge_scores == sorted(badge_scores)
    # Summary, charts and per-agent aggregates are on the page, as inline SVG.
    assert page.locator("#summary .card").first.inner_text().startswith(str(len(results)))
    assert page.locator("svg.chart").count() >= 3
    assert page.locator("#groups tbody tr").count() == 2
    # Nothing but the file itself was fetched: no CDN, no network.
    assert all(url.startswith("file://") for url in page.requests), page.requests
    assert not page.errors


@pytest.mark.browser
def test_clicking_a_finding_moves_the_player_to_its_start(page, trainer_folder):
    root, html, results = trainer_folder
    forbidden = next(r for r in results if "forbidden_agent" in r["call"])
    event_index, event = next(
        (i, e) for i, e in enumerate(forbidden["events"]) if e["category"] == "forbidden_phrase"
    )
    page.goto(html.as_uri())
    page.locator("#calls tbody tr", has_text=name_of(forbidden)).click()
    player = page.locator("#detail audio#player")
    player.wait_for()
    # The player links the copied recording by a path relative to the report.
    assert player.get_attribute("src") == "../" + forbidden["call"]
    # Both speakers are in the transcript, and the finding's words are highlighted.
    assert page.locator("#detail .u.agent").count() > 0
    assert page.locator("#detail .u.customer").count() > 0
    mark = page.locator(f'#detail mark[data-event="{event_index}"]')
    assert "крич" in mark.inner_text().lower()

    page.evaluate(
        """() => { window.seeks = [];
                   const a = document.getElementById('player');
                   a.addEventListener('seeked', () => window.seeks.push(a.currentTime)); }"""
    )
    page.locator(f'#detail li.finding[data-event="{event_index}"]').click()
    page.wait_for_function("() => window.seeks.length > 0", timeout=15000)
    seeked_to = page.evaluate("() => window.seeks[0]")
    assert seeked_to == pytest.approx(event["start"], abs=0.05)
    assert page.evaluate("() => document.getElementById('player').readyState") >= 1

    # Elsewhere (a transcript line's time), then back by the finding and by its words.
    last = forbidden["transcript"][-1]
    page.locator("#detail .u .ts").last.click()
    page.wait_for_function("() => window.seeks.length > 1", timeout=15000)
    assert page.evaluate("() => window.seeks[1]") == pytest.approx(last["start"], abs=0.05)
    page.locator(f'#detail li.finding[data-event="{event_index}"]').click()
    page.wait_for_function("() => window.seeks.length > 2", timeout=15000)
    assert page.evaluate("() => window.seeks[2]") == pytest.approx(event["start"], abs=0.05)
    page.locator("#detail .u .ts").last.click()
    page.wait_for_function("() => window.seeks.length > 3", timeout=15000)
    mark.click()
    page.wait_for_function("() => window.seeks.length > 4", timeout=15000)
    assert page.evaluate("() => window.seeks[4]") == pytest.approx(event["start"], abs=0.05)
    assert not page.errors


@pytest.mark.slow
@pytest.mark.browser
def test_coach_report_command_enriches_old_results_and_exports_transcripts(page, tmp_path, scored):
    """`coach report OUT -o FILE --manifest M --name-pattern P --transcripts srt,txt` over
    OUT/*.json + coach.sqlite written by an older run (no metadata in the results)."""
    from coach.store import save_result

    out = tmp_path / "out"
    out.mkdir()
    calls = tmp_path / "calls"
    calls.mkdir()
    for i, name in enumerate(NAMES[:2]):
        audio = calls / f"{['ivanova', 'petrov'][i]}_2024050{i + 1}-0930_{name}"
        shutil.copy(CALLS / name, audio)
        result = dict(scored(name), call=str(audio))
        json_path = out / f"{Path(name).stem}.json"
        json_path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        save_result(out / "coach.sqlite", result, json_path)
    (out / "errors.jsonl").write_text(
        json.dumps({"call": "calls/broken.wav", "error": "calls/broken.wav: not audio"}) + "\n"
    )
    manifest = tmp_path / "manifest.csv"
    first = next(calls.glob("ivanova_*"))
    manifest.write_text(f"file,queue\n{first.stem},sales\n", encoding="utf-8")  # matched by its stem
    html = tmp_path / "elsewhere" / "r.html"
    proc = subprocess.run(
        [sys.executable, "-m", "coach", "report", str(out), "-o", str(html), "--lang", "en",
         "--manifest", str(manifest), "--name-pattern", "{agent}_{started_at:%Y%m%d-%H%M}_{rest}",
         "--transcripts", "srt,txt"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "transcripts").iterdir()) == [
        "clean_call.srt", "clean_call.txt", "forbidden_agent.srt", "forbidden_agent.txt"
    ]
    page.goto(html.as_uri())
    assert page.locator("#calls tbody tr").count() == 2
    assert "could not be scored" in page.locator("header .sub").inner_text()
    assert sorted(page.locator("#groups tbody button").all_inner_texts()) == ["ivanova", "petrov"]
    dates = page.locator("#calls tbody td.date").all_inner_texts()
    assert sorted(dates) == ["2024-05-01 09:30", "2024-05-02 09:30"]
    page.select_option("#g-by", "queue")
    assert sorted(page.locator("#groups tbody button").all_inner_texts()) == ["(unknown)", "sales"]
    page.locator("#calls tbody tr").first.click()
    src = page.locator("#player").get_attribute("src")
    assert not src.startswith(("/", "file:")) and src.endswith(".wav")
    assert (html.parent / src).resolve().is_file()
    assert not page.errors


# --- what a QA lead does with it ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.browser
def test_sorting_by_any_column(page, qa_folder):
    root, ru, en, results = qa_folder
    page.goto(en.as_uri())
    order = worst_first(results)
    rank = {r["call"]: i for i, r in enumerate(order)}
    assert shown_names(page) == [name_of(r) for r in order]
    score_th = page.locator("#calls th", has=page.locator('button[data-sort="score"]'))
    assert score_th.get_attribute("aria-sort") == "ascending"

    page.click('#calls button[data-sort="score"]')  # again: best first
    best = sorted(results, key=lambda r: (-r["score"]["total"], rank[r["call"]]))
    assert shown_names(page) == [name_of(r) for r in best]
    assert score_th.get_attribute("aria-sort") == "descending"

    page.click('#calls button[data-sort="name"]')
    assert shown_names(page) == sorted(name_of(r) for r in results)
    assert score_th.get_attribute("aria-sort") == "none"

    page.click('#calls button[data-sort="date"]')
    def when(r):
        return r["meta"].get("started_at") or r["scored_at"]
    by_date = sorted(results, key=lambda r: (when(r)[:16], rank[r["call"]]))
    assert shown_names(page) == [name_of(r) for r in by_date]

    page.click('#calls button[data-sort="minutes"]')
    page.click('#calls button[data-sort="minutes"]')  # longest first
    longest = sorted(results, key=lambda r: (-r["duration_s"], rank[r["call"]]))
    assert shown_names(page) == [name_of(r) for r in longest]
    assert not page.errors


@pytest.mark.slow
@pytest.mark.browser
def test_date_range_filter(page, qa_folder):
    root, ru, en, results = qa_folder
    page.goto(en.as_uri())
    lo, hi = "2024-05-05", "2024-05-14"
    page.fill("#f-from", lo)
    page.fill("#f-to", hi)
    inside = [r for r in results if lo <= expected_date(r) <= hi]
    assert 0 < len(inside) < len(results)
    assert sorted(shown_names(page)) == sorted(name_of(r) for r in inside)
    assert page.locator("#f-count").inner_text() == f"{len(inside)} of {len(results)} calls"
    # The undated call is filtered by the day it was scored.
    page.click("#f-clear")
    scored_day = expected_date(results[UNDATED])
    page.fill("#f-from", scored_day)
    assert name_of(results[UNDATED]) in shown_names(page)
    assert all(expected_date(r) >= scored_day for r in results if name_of(r) in shown_names(page))
    assert not page.errors


def expected_trend(results: list[dict], column: str) -> dict[str, dict[str, float]]:
    groups: dict[str, dict[str, list[float]]] = {}
    for r in results:
        week = week_of(expected_date(r))
        groups.setdefault(r["meta"][column], {}).setdefault(week, []).append(r["score"]["total"])
    return {g: {w: js_round1(sum(v) / len(v)) for w, v in weeks.items()} for g, weeks in groups.items()}


def page_trend(page) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for row in page.locator("#trend-table tbody tr").all():
        series = row.get_attribute("data-series")
        if not series:
            continue  # the "all calls" line
        out[series] = {
            cell.get_attribute("data-week"): float(cell.text_content())
            for cell in row.locator("td[data-week]").all()
        }
    return out


@pytest.mark.slow
@pytest.mark.browser
def test_weekly_trend_per_agent_and_per_team(page, qa_folder):
    root, ru, en, results = qa_folder
    page.goto(en.as_uri())
    assert page_trend(page) == expected_trend(results, "agent")
    assert page.locator("#trend svg g.series").count() == len(AGENTS) + 1  # and the all-calls line
    page.select_option("#g-by", "team")
    assert page_trend(page) == expected_trend(results, "team")
    assert sorted(page.locator("#groups tbody button").all_inner_texts()) == ["A", "B"]
    # The trend follows the filters: one team's calls in a date range.
    page.select_option("#f-group", "B")
    page.fill("#f-to", "2024-05-12")
    chosen = [r for r in results if r["meta"]["team"] == "B" and expected_date(r) <= "2024-05-12"]
    assert page_trend(page) == expected_trend(chosen, "team")
    assert not page.errors


@pytest.mark.slow
@pytest.mark.browser
def test_export_the_filtered_list_as_csv(page, qa_folder):
    root, ru, en, results = qa_folder
    page.goto(en.as_uri())
    page.select_option("#f-group", "petrov")
    page.click('#calls button[data-sort="date"]')
    with page.expect_download() as info:
        page.click("#f-export")
    download = info.value
    assert download.suggested_filename == "calls.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    petrov = sorted((r for r in results if r["meta"]["agent"] == "petrov"),
                    key=lambda r: r["meta"].get("started_at") or r["scored_at"])
    assert [row["call"] for row in rows] == [r["call"] for r in petrov]
    for row, r in zip(rows, petrov):
        assert row["agent"] == "petrov" and row["call id"] == r["meta"]["call_id"]
        assert float(row["score"]) == r["score"]["total"]
        assert int(row["findings"]) == len(r["events"])
        assert row["date"] == expected_date(r)

    with page.expect_download() as info:
        page.click("#f-export-excel")
    raw = Path(info.value.path()).read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert [row["call"] for row in rows] == [r["call"] for r in petrov]
    minutes = [row["minutes"] for row in rows]
    assert any("," in m for m in minutes) and not any("." in m for m in minutes)  # decimal commas
    assert not page.errors


@pytest.mark.slow
@pytest.mark.browser
def test_a_big_list_is_drawn_a_page_at_a_time_but_counted_and_exported_whole(page, tmp_path, scored):
    base = scored("clean_call.wav")
    results = [dict(copy.deepcopy(base), call=f"calls/{i:04d}.wav") for i in range(650)]
    html = tmp_path / "big.html"
    build_report(results, html, ReportOptions(lang="en"))
    page.goto(html.as_uri())
    assert page.locator("#calls tbody tr").count() == 300
    assert page.locator("#f-count").inner_text() == "650 of 650 calls"
    more = page.locator("#f-more")
    assert more.inner_text() == "Show 300 more"
    more.click()
    assert page.locator("#calls tbody tr").count() == 600
    assert more.inner_text() == "Show 50 more"
    more.click()
    assert page.locator("#calls tbody tr").count() == 650 and more.is_hidden()
    page.click('#calls button[data-sort="name"]')  # a new order starts at the first page again
    assert page.locator("#calls tbody tr").count() == 300
    assert shown_names(page)[:2] == ["0000.wav", "0001.wav"]
    exported = page.evaluate("() => window.coachReport.csvText(false)").strip().splitlines()
    assert len(exported) == 1 + 650
    page.goto(html.as_uri() + "#call-640")  # a link to a call further down shows its row
    assert page.locator('#calls tbody tr[data-call-id="640"]').count() == 1
    assert not page.errors


# --- accessibility and language -------------------------------------------------------------


def run_axe(page) -> list[dict]:
    if not AXE.is_file():
        pytest.skip("axe-core is not installed: npm ci --prefix tests/a11y")
    page.evaluate(AXE.read_text(encoding="utf-8"))
    return page.evaluate(
        """() => axe.run(document).then(r => r.violations.map(v => ({
              id: v.id, help: v.help,
              nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)})))"""
    )


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("which", ["ru", "en"])
def test_axe_finds_no_accessibility_violations(page, qa_folder, which):
    root, ru, en, results = qa_folder
    page.goto((ru if which == "ru" else en).as_uri())
    assert run_axe(page) == []
    # With a call open (the mono/diarized note, findings, transcript, player) and the trend table.
    page.locator("#calls tbody tr", has_text=name_of(results[DIARIZED])).click()
    page.locator("#detail .note").wait_for()
    page.click("#trend-summary")
    assert run_axe(page) == []
    assert not page.errors


def tab_targets(page) -> list[str]:
    """Tag every control a QA lead uses; returns their tags."""
    return page.evaluate(
        """() => {
            const sel = ['[data-filter-lo]', '[data-filter-category]', '#calls button.sort',
                         '#groups button', '#g-by', '#f-text', '#f-from', '#f-to', '#f-group',
                         '#f-cat', '#f-clear', '#f-export', '#f-export-excel', '#calls td.name a',
                         '#trend-summary'];
            const out = [];
            document.querySelectorAll(sel.join(',')).forEach((n, i) => {
                n.setAttribute('data-kb', String(i)); out.push(String(i)); });
            return out; }"""
    )


@pytest.mark.slow
@pytest.mark.browser
def test_every_control_is_reachable_and_usable_by_keyboard(page, qa_folder):
    root, ru, en, results = qa_folder
    page.goto(en.as_uri())
    wanted = set(tab_targets(page))
    assert len(wanted) > 40  # 10 histogram bars, categories, sort buttons, filters, 12 calls
    reached: set[str] = set()
    for _ in range(400):
        page.keyboard.press("Tab")
        tag = page.evaluate("() => document.activeElement && document.activeElement.getAttribute('data-kb')")
        if tag:
            reached.add(tag)
        if reached == wanted:
            break
    missing = page.evaluate(
        "(ids) => ids.map(i => document.querySelector(`[data-kb='${i}']`).outerHTML.slice(0, 90))",
        sorted(wanted - reached),
    )
    assert not missing, missing

    # Enter on a focused histogram bar filters the calls to that band.
    band = page.locator("[data-filter-lo]").nth(8)  # scores 80-90
    band.focus()
    page.keyboard.press("Enter")
    in_band = [r for r in results if 80 <= r["score"]["total"] < 90]
    assert sorted(shown_names(page)) == sorted(name_of(r) for r in in_band)
    assert page.locator("#f-score").inner_text() == "score 80–90"
    page.locator("#f-clear").focus()
    page.keyboard.press("Enter")
    assert len(shown_names(page)) == len(results)

    # Open a call from the keyboard, then jump the player to a finding with Enter.
    forbidden = next(r for r in results if "forbidden_agent" in r["call"])
    page.locator("#calls td.name a", has_text=name_of(forbidden)).focus()
    page.keyboard.press("Enter")
    page.locator("#detail audio#player").wait_for()
    assert page.evaluate("() => document.activeElement.closest('#detail') !== null")
    page.evaluate(
        """() => { window.seeks = []; const a = document.getElementById('player');
                   a.addEventListener('seeked', () => window.seeks.push(a.currentTime)); }"""
    )
    event = next(e for e in forbidden["events"] if e["start"] is not None)
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.matches('li.finding button.t')"):
            break
    else:
        pytest.fail("Tab never reached a finding's time")
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.seeks.length > 0", timeout=15000)
    assert page.evaluate("() => window.seeks[0]") == pytest.approx(event["start"], abs=0.05)
    assert not page.errors


@pytest.mark.slow
@pytest.mark.browser
def test_a_russian_team_reads_russian_not_ids(page, qa_folder):
    root, ru, en, results = qa_folder
    page.goto(ru.as_uri())
    assert page.evaluate("() => document.documentElement.lang") == "ru"
    page.locator("#calls tbody tr", has_text=name_of(results[0])).click()
    page.locator("#detail h3").wait_for()
    page.click("#trend-summary")
    text = page.locator("body").inner_text()
    for r in results:  # the fixture files are named after what they test ("forbidden_agent.wav")
        text = text.replace(r["call"], "").replace(name_of(r), "")
    ids = {e["category"] for r in results for e in r["events"]}
    ids |= {m for r in results for m in r["metrics"]}
    ids |= {"call_id", "started_at", "agent", "critical", "major", "minor", "customer"}
    assert ids & {"forbidden_phrase", "talk_ratio_agent"}  # the data does have such ids
    assert [i for i in sorted(ids) if i in text] == []
    for heading in ("Звонки", "По группам", "Средняя оценка по неделям", "Распределение оценок"):
        assert heading in text
    assert "Запрещённая фраза" in text and "Доля речи оператора" in text and "Оператор" in text
    # The CSV a Russian lead downloads has Russian headers too.
    header = page.evaluate("() => window.coachReport.csvText(true)").lstrip("\ufeff").splitlines()[0]
    assert header.split(";")[:3] == ["звонок", "оператор", "ID звонка"]
    assert not page.errors


@pytest.mark.slow
@pytest.mark.browser
def test_mono_and_diarized_calls_say_so(page, qa_folder):
    root, ru, en, results = qa_folder
    page.goto(en.as_uri())
    mono = next(i for i, r in enumerate(results) if r.get("mono") and i != DIARIZED)
    page.locator("#calls tbody tr", has_text=name_of(results[mono])).click()
    note = page.locator("#detail .note")
    assert note.inner_text().startswith("Mono recording: everything is treated as the agent's speech")
    page.locator("#calls tbody tr", has_text=name_of(results[DIARIZED])).click()
    page.wait_for_function("() => document.querySelector('#detail .note').textContent.includes('0.82')")
    assert "diarization (confidence 0.82)" in note.inner_text()
    tags = page.locator("#calls tbody tr", has_text=name_of(results[DIARIZED])).locator(".tags .mode")
    assert tags.inner_text() == "diarized"
    stereo = next(r for r in results if not r.get("mono"))
    page.locator("#calls tbody tr", has_text=name_of(stereo)).click()
    page.wait_for_function(
        f"() => document.querySelector('#detail h3').textContent.includes({json.dumps(stereo['call'])})"
    )
    assert page.locator("#detail .note").count() == 0
    assert not page.errors


# --- the page model, no browser needed -----------------------------------------------


def test_find_span_ignores_case_punctuation_and_yo():
    text = "Ну, не кричите на меня! Я всё объясню."
    a, b = find_span(text, "не кричите на меня")
    assert text[a:b] == "не кричите на меня"
    a, b = find_span(text, "я все объясню")
    assert text[a:b] == "Я всё объясню"
    assert find_span(text, "сбавьте тон") is None


def test_highlights_go_on_the_speakers_words_or_the_whole_line():
    transcript = [
        {"speaker": "customer", "start": 0.0, "end": 2.0, "text": "Не кричите на меня!"},
        {"speaker": "agent", "start": 2.1, "end": 4.0, "text": "Не кричите на меня, минуточку."},
    ]
    events = [
        {"speaker": "agent", "start": 2.2, "end": 3.5, "text": "не кричите на меня"},
        {"speaker": "agent", "start": 2.5, "end": 3.9, "text": "громко"},  # raised voice
        {"speaker": "agent", "start": None, "end": None, "text": ""},  # call-level
    ]
    marks = highlight_marks(transcript, events)
    assert 0 not in marks  # the customer said it too, but the finding is the agent's
    assert [0, 18, 0] in marks[1]
    assert [0, len(transcript[1]["text"]), 1] in marks[1]
    assert all(m[2] != 2 for m in marks[1])


def test_report_is_self_contained_and_follows_the_umask(tmp_path, scored):
    out = tmp_path / "out"
    out.mkdir()
    result = scored("forbidden_agent.wav")
    (out / "forbidden_agent.json").write_text(json.dumps(result, ensure_ascii=False))
    (out / "not_a_result.json").write_text('{"something": "else"}')
    html = write_report_for_dir(out)
    assert html == out / "report.html"
    assert html.stat().st_mode & 0o044 == 0o044  # readable by the team, as the umask allows
    text = html.read_text(encoding="utf-8")
    assert "<svg" in text and "<script>" in text and "<style>" in text
    for remote in ("http://", "https://", "//cdn", "<link ", 'src="http'):
        assert remote not in text.replace("http://www.w3.org", "")
    # A transcript line that looks like markup cannot break out of the data block.
    evil = copy.deepcopy(result)
    evil["transcript"][0]["text"] = "</script><script>alert(1)</script>"
    build_report([evil], tmp_path / "evil.html")
    assert "</script><script>alert(1)" not in (tmp_path / "evil.html").read_text()


def test_two_recordings_with_one_stem_are_two_calls_in_the_report(tmp_path, scored):
    """Two batches into one OUT with day1/0001.wav and day2/0001.wav (the store's old collision)."""
    from coach.report.data import read_out_dir
    from coach.store import save_result

    out = tmp_path / "out"
    out.mkdir()
    for day, source, name in (("day1", NAMES[0], "0001.json"), ("day2", NAMES[1], "0001-ab12cd34.json")):
        audio = tmp_path / day / "0001.wav"
        audio.parent.mkdir()
        shutil.copy(CALLS / source, audio)
        doc = dict(scored(source), call=str(audio))
        (out / name).write_text(json.dumps(doc, ensure_ascii=False))
        save_result(out / "coach.sqlite", doc, out / name, audio_path=audio)
    calls, _ = read_out_dir(out)
    assert sorted(c.result["call"] for c in calls) == [str(tmp_path / "day1/0001.wav"),
                                                       str(tmp_path / "day2/0001.wav")]
    assert sorted(c.json_path.name for c in calls) == ["0001-ab12cd34.json", "0001.json"]
