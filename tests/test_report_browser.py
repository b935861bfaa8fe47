"""The HTML report, opened from disk in a real browser (Debian chromium via Playwright).

The report is built from real per-call results (the fixture calls through the
real scorer) with the recordings copied next to it, as a trainer would receive
a folder: it must list the calls worst first, and clicking a finding must move
the audio player to that finding's start. A few checks of the page model
(highlights, agents, relative links) need no browser and run everywhere.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from coach.report import ReportOptions, build_report, write_report_for_dir
from coach.report.data import AgentSource, find_span, highlight_marks
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
NAMES = ["forbidden_agent.wav", "clean_call.wav", "name_not_used.wav"]


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
        ReportOptions(agent_pattern=r"^(?P<agent>[a-z]+)_", audio_root=root),
    )
    return root, html, results


def launch(playwright, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    return playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000},
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


@pytest.mark.browser
def test_report_opens_from_disk_and_lists_calls_worst_first(page, trainer_folder):
    root, html, results = trainer_folder
    page.goto(html.as_uri())
    rows = page.locator("#calls tbody tr")
    assert rows.count() == len(results)
    shown = [rows.nth(i).locator("td.name").inner_text() for i in range(rows.count())]
    expected = sorted(results, key=lambda r: r["score"]["total"])
    assert shown[0] == Path(expected[0]["call"]).name
    badge_scores = [float(rows.nth(i).locator(".score").inner_text()) for i in range(rows.count())]
    assert badge_scores == sorted(badge_scores)
    # Summary, charts and per-agent aggregates are on the page, as inline SVG.
    assert page.locator("#summary .card").first.inner_text().startswith(str(len(results)))
    assert page.locator("svg.chart").count() >= 3
    assert page.locator("#agents tbody tr").count() == 2
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
    page.locator("#calls tbody tr", has_text=Path(forbidden["call"]).name).click()
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


@pytest.mark.browser
def test_coach_report_command_on_a_results_folder(page, tmp_path, scored):
    """`coach report OUT -o FILE` over OUT/*.json + coach.sqlite, recordings where scored."""
    from coach.store import save_result

    out = tmp_path / "out"
    out.mkdir()
    for name in NAMES[:2]:
        result = scored(name)  # "call" is the absolute fixture path here
        json_path = out / f"{Path(name).stem}.json"
        json_path.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        save_result(out / "coach.sqlite", result, json_path)
    (out / "errors.jsonl").write_text(
        json.dumps({"call": "calls/broken.wav", "error": "calls/broken.wav: not audio"}) + "\n"
    )
    html = tmp_path / "elsewhere" / "r.html"
    proc = subprocess.run(
        [sys.executable, "-m", "coach", "report", str(out), "-o", str(html)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    page.goto(html.as_uri())
    assert page.locator("#calls tbody tr").count() == 2
    assert "could not be scored" in page.locator("header .sub").inner_text()
    page.locator("#calls tbody tr").first.click()
    src = page.locator("#player").get_attribute("src")
    assert not src.startswith(("/", "file:")) and src.endswith(".wav")
    assert (html.parent / src).resolve().is_file()


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


def test_agents_from_manifest_or_pattern(tmp_path):
    manifest = tmp_path / "agents.csv"
    manifest.write_text("call,agent,team\ncalls/a.wav,ivanova,1\nb.wav,petrov,2\n")
    source = AgentSource(manifest=manifest, pattern=r"^(?P<agent>[a-z]+)-")
    assert source.agent_for("calls/a.wav") == "ivanova"
    assert source.agent_for("/data/day1/b.wav") == "petrov"  # by file name
    assert source.agent_for("calls/sidorov-0001.wav") == "sidorov"  # by pattern
    assert source.agent_for("calls/0001.wav") is None
    bad = tmp_path / "bad.csv"
    bad.write_text("file,who\nx,y\n")
    from coach.errors import CoachError

    with pytest.raises(CoachError, match="'call' and 'agent'"):
        AgentSource(manifest=bad)
    with pytest.raises(CoachError, match="agent-pattern"):
        AgentSource(pattern="(")


def test_report_is_self_contained(tmp_path, scored):
    out = tmp_path / "out"
    out.mkdir()
    result = scored("forbidden_agent.wav")
    (out / "forbidden_agent.json").write_text(json.dumps(result, ensure_ascii=False))
    (out / "not_a_result.json").write_text('{"something": "else"}')
    html = write_report_for_dir(out)
    assert html == out / "report.html"
    text = html.read_text(encoding="utf-8")
    assert "<svg" in text and "<script>" in text and "<style>" in text
    for remote in ("http://", "https://", "//cdn", "<link ", 'src="http'):
        assert remote not in text.replace("http://www.w3.org", "")
    # A transcript line that looks like markup cannot break out of the data block.
    evil = copy.deepcopy(result)
    evil["transcript"][0]["text"] = "</script><script>alert(1)</script>"
    build_report([evil], tmp_path / "evil.html")
    assert "</script><script>alert(1)" not in (tmp_path / "evil.html").read_text()
