"""The overlay in a real browser (Debian chromium through Playwright), at 380x540.

* Against `coach replay` of two calls: the card leads with the phrase to say
  (largest type) and gives the reason below; "not helpful" is saved with the
  call's result; the end-of-call review (score, one line per finding with the
  quote and the better phrase) is in view; the second call starts clean
  (no name, no transcript, no findings of the first).
* Against `coach replay` stopped by SIGTERM: a large "coach stopped" notice,
  the old card dimmed; killed (SIGKILL): "no contact"; started again: the
  page reconnects by itself and shows the new call.
* Against `coach replay` of two calls (a clean call, then an angry customer):
  the checklist ticks as the steps are said; the wrongly heard name is
  corrected with one click and the prompt card that follows ("the phrase to
  say first", marked as a prompt) carries it; the agent's recommended phrase
  brings a brief green line while that card stays.
* Against the server alone, with contract messages published by the test:
  the card rules (repeats counted "×2", others queued "+1" and shown later,
  never dropped; late acoustic findings only in the review), the filler card
  naming only the words said, the pace meter with unit and norm, the talk
  meter, the device-lost notice in Russian and in English, fillers grouped
  into one review line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coach.contract import (
    Event,
    call_message,
    checklist_message,
    cue_message,
    end_message,
    event_message,
    metrics_message,
    name_message,
    session_message,
    status_message,
)
from coach.live.hub import Hub, HubOptions
from coach.rules import Rulebook
from tests.conftest import CALLS, ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
WIDTH, HEIGHT = 380, 540
SHOTS = Path(os.environ.get("COACH_SHOTS", "/tmp"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replay(calls: list[str], port: int, speed: float, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "coach", "replay", *[str(CALLS / c) for c in calls], "--no-browser",
         "--port", str(port), "--speed", str(speed), *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


def wait_http(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port}")


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture
def browser_page(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (scripts/system-deps.sh)")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": WIDTH, "height": HEIGHT},
            bypass_csp=True,  # wait_for_function evaluates strings; the page itself keeps its CSP
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
        context.close()


def in_view(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    return bool(box) and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH + 0.5 \
        and box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT + 0.5


def font_px(page, selector: str) -> float:
    return page.evaluate(f"parseFloat(getComputedStyle(document.querySelector('{selector}')).fontSize)")


@pytest.mark.slow
def test_two_calls_cards_feedback_review_and_a_clean_second_call(browser_page, tmp_path):
    page, errors = browser_page
    rule = next(r for r in Rulebook.load("ru").rules if r.id == "ru.forbidden.dont-shout")
    port, out = free_port(), tmp_path / "out"
    proc = replay(["forbidden_agent.wav", "customer_says_forbidden.wav"], port, 1.5, "--pause", "6",
                  "--out", str(out), "--exit-at-end")
    try:
        wait_http(port)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#status[data-state=connected]", timeout=30_000)

        # the card: the phrase to say first and largest, the reason below, what was said last
        page.wait_for_selector("#hint:not([hidden])", timeout=90_000)
        say, why = page.inner_text("#hint-say"), page.inner_text("#hint-why")
        assert say.startswith("Ольга, будьте добры") and "разберёмся" in say
        assert len(say.split()) <= 11
        assert why == rule.message
        assert "кричите" in page.inner_text("#hint-said").lower()
        assert page.get_attribute("#hint", "data-severity") == "critical"
        assert font_px(page, "#hint-say") > font_px(page, "#hint-why") + 4
        boxes = [page.locator(s).bounding_box() for s in ("#hint-say", "#hint-why", "#hint-said")]
        assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"]
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        assert in_view(page, "#hint")
        page.screenshot(path=str(SHOTS / "overlay-card.png"))

        # "not helpful": acknowledged on the card, kept with the call's result
        page.click("#hint-unhelpful")
        page.wait_for_selector("#hint-thanks:not([hidden])", timeout=5_000)

        # end of call 1: the review replaces the live view, in view at 380x540
        page.wait_for_selector("#review:not([hidden])", timeout=90_000)
        assert page.is_hidden("#live-view")
        assert int(page.inner_text("#review-score").split()[0]) < 100
        item = page.locator(".finding[data-category=forbidden_phrase]")
        text = item.inner_text()
        assert "кричите" in text.lower() and "→ Ольга, будьте добры" in text
        assert in_view(page, ".finding[data-category=forbidden_phrase]") and in_view(page, "#review-score")
        page.screenshot(path=str(SHOTS / "overlay-review.png"))
        start = float(item.get_attribute("data-start"))
        page.wait_for_function("document.getElementById('audio').readyState >= 1", timeout=15_000)
        item.click()
        page.wait_for_function(
            f"Math.abs(document.getElementById('audio').currentTime - {start - 1.0}) < 1.5", timeout=10_000)

        # call 2: nothing of call 1 on screen
        page.wait_for_selector("#review", state="hidden", timeout=60_000)
        assert page.is_hidden("#customer") and page.inner_text("#fillers") == "0"
        page.wait_for_function("document.querySelectorAll('#transcript .line').length > 0", timeout=60_000)
        assert "Ольга" not in page.inner_text("body")
        page.wait_for_selector("#review:not([hidden])", timeout=90_000)
        assert page.locator(".finding[data-rule='ru.forbidden.dont-shout']").count() == 0
        assert "Ольга" not in page.inner_text("#review")
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        assert errors == []
    finally:
        kill(proc)
    first = json.loads((out / "forbidden_agent.json").read_text(encoding="utf-8"))
    assert [f["rule"] for f in first["feedback"]] == ["ru.forbidden.dont-shout"]
    second = json.loads((out / "customer_says_forbidden.json").read_text(encoding="utf-8"))
    assert second["feedback"] == []


@pytest.mark.slow
def test_stopped_lost_and_back(browser_page):
    page, errors = browser_page
    port = free_port()
    first = replay(["forbidden_agent.wav"], port, 1.0)
    second = third = None
    try:
        wait_http(port)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#hint:not([hidden])", timeout=90_000)
        first.send_signal(signal.SIGTERM)
        page.wait_for_selector("#stopped:not([hidden])", timeout=20_000)
        assert page.inner_text("#stopped-title") == "Коуч остановлен"
        assert page.evaluate("document.body.classList.contains('stale')")
        opacity = "parseFloat(getComputedStyle(document.getElementById('live-view')).opacity)"
        assert page.evaluate(opacity) < 0.5
        assert font_px(page, "#stopped-title") >= 18 and in_view(page, "#stopped")
        page.screenshot(path=str(SHOTS / "overlay-stopped.png"))
        assert first.wait(timeout=60) == 143

        # started again: the notice goes, the new call shows
        second = replay(["mono_call.wav"], port, 2.0)
        page.wait_for_selector("#status[data-state=connected]", timeout=120_000)
        page.wait_for_selector("#stopped", state="hidden", timeout=10_000)
        page.wait_for_selector("#hint:not([hidden])", timeout=90_000)
        assert not page.evaluate("document.body.classList.contains('stale')")
        # killed without a word: the page says it lost contact
        kill(second)
        page.wait_for_selector("#stopped:not([hidden])", timeout=10_000)
        assert page.inner_text("#stopped-title") == "Нет связи с коучем"
        assert page.inner_text("#status-text") == "нет связи"
        # played in real time: the server is up for the call's 16 s, three of the page's reconnect
        # tries (at most 5 s apart); at 4x it was up 4.5 s and the page could miss it altogether
        third = replay(["mono_call.wav"], port, 1.0, "--exit-at-end")
        page.wait_for_selector("#stopped", state="hidden", timeout=120_000)
        assert third.wait(timeout=120) == 0
        assert errors == []
    finally:
        for proc in (first, second, third):
            if proc is not None:
                kill(proc)


# -- the card rules, against the server alone -------------------------------------------------


def _event(rule: str, category: str, start: float, severity: str = "minor", text: str = "",
           message: str = "m", suggestion: str = "") -> Event:
    return Event(category, rule, "agent", start, start + 1.0, severity, text, message, suggestion)


@pytest.fixture
def hub():
    h = Hub(HubOptions(port=0)).start()
    yield h
    h.stop(flush_s=0.2)


@pytest.mark.slow
def test_cards_meters_and_notices(browser_page, hub):
    page, errors = browser_page
    page.goto(f"http://127.0.0.1:{hub.port}/")
    page.wait_for_selector("#status[data-state=connected]", timeout=10_000)
    hub.publish(call_message("idle", language="en", reason="waiting", start_on_speech=True, mode="live"))
    page.wait_for_function("document.getElementById('calm-text').textContent.startsWith('No call')")
    assert page.inner_text("#call-button") == "Start call"

    t0 = time.time()
    hub.publish(session_message("ru", t0, 1.0, speakers=["agent", "customer"], number=1, mode="live"))
    page.wait_for_function("document.getElementById('call-button').textContent === 'Завершить'")
    hub.publish(metrics_message({}, fillers=3, rate={"syllables_per_s": 4.2, "max_syllables_per_s": 7},
                                talk={"talk_ratio_agent": 0.62, "monologue_s": 50.0},
                                speakers=["agent", "customer"], customer_name=None))
    page.wait_for_function("document.getElementById('rate').textContent.includes('слог/с')")
    assert page.inner_text("#rate") == "4.2 слог/с, норма до 7"
    assert page.inner_text("#talk") == "вы 62% · клиент 38%"
    assert page.inner_text("#monologue") == "0:50"

    # the filler card names only the words said, not the rule's examples
    filler = _event("ru.fillers.words", "filler_words", 3.0, text="Ну, короче,",
                    message="Слова-паразиты («ну», «короче», «как бы») чаще 4 раз в минуту речи",
                    suggestion="Сделайте паузу вместо слова-паразита")
    hub.publish(event_message(filler, time.time()))
    page.wait_for_selector("#hint:not([hidden])")
    assert page.inner_text("#hint-say") == "Сделайте паузу вместо слова-паразита"
    assert page.inner_text("#hint-why") == "Вы сказали «ну», «короче»"
    assert page.is_hidden("#hint-said")

    # the same rule again: counted on the card; another rule meanwhile: queued, not dropped
    hub.publish(event_message(_event("ru.fillers.words", "filler_words", 9.0, text="типа"), time.time()))
    page.wait_for_function("document.getElementById('hint-repeat').textContent === '×2'")
    long_phrase = ("Пожалуйста, оставайтесь на линии, я сейчас уточню информацию у коллег "
                   "и вернусь к вам с ответом")
    queued = _event("ru.diminutive.waiting", "diminutive", 12.0, text="минуточку",
                    message="Без уменьшительных", suggestion=long_phrase)
    hub.publish(event_message(queued, time.time()))
    page.wait_for_function("document.getElementById('hint-queue').textContent === '+1'")
    # a late acoustic finding: no card, only the review
    late = _event("analyzer.interruption", "interruption", 5.0, "major", text="подождите",
                  message="Вы перебили клиента", suggestion="Дайте клиенту договорить")
    hub.publish(event_message(late, time.time(), card=False))
    page.click("#hint-dismiss")
    page.wait_for_function("document.getElementById('hint').dataset.rule === 'ru.diminutive.waiting'")
    say = page.inner_text("#hint-say")
    assert say.endswith("…") and len(say.split()) <= 10 and say.startswith("Пожалуйста, оставайтесь")
    assert page.get_attribute("#hint-say", "title") == long_phrase
    page.screenshot(path=str(SHOTS / "overlay-queued.png"))

    # a microphone lost: a large notice in the overlay's language, old card dimmed; back: gone
    hub.publish(status_message("agent", "lost", "Audio device 'USB Headset' stopped", device="USB Headset"))
    page.wait_for_selector("#stopped:not([hidden])")
    assert page.inner_text("#stopped-title") == "Микрофон пропал"
    assert "«USB Headset»" in page.inner_text("#stopped-detail")
    assert page.evaluate("document.body.classList.contains('stale')")
    page.screenshot(path=str(SHOTS / "overlay-device-lost.png"))
    hub.publish(status_message("agent", "ok", "back", device="USB Headset"))
    page.wait_for_selector("#stopped", state="hidden")
    assert not page.evaluate("document.body.classList.contains('stale')")

    # the end: score, fillers in one line with their count and words, one line per other finding
    hub.publish(event_message(_event("ru.fillers.words", "filler_words", 15.0, text="короче"), time.time()))
    hub.publish(end_message(20.0, 5, score={"total": 72}, top=[late.to_dict(), queued.to_dict()],
                            number=1))
    page.wait_for_selector("#review:not([hidden])")
    lines = page.locator("#findings .finding")
    texts = [lines.nth(i).inner_text() for i in range(lines.count())]
    fillers = [x for x in texts if "Слова-паразиты" in x]
    assert len(fillers) == 1 and "×3" in fillers[0]
    assert all(w in fillers[0] for w in ("«ну»", "«короче»", "«типа»")) and "как бы" not in fillers[0]
    interruption = next(x for x in texts if "Перебивание" in x)
    assert "«подождите»" in interruption and "→ Дайте клиенту договорить" in interruption
    assert page.inner_text("#review-score").startswith("72")
    assert in_view(page, "#review-score") and in_view(page, "#findings .finding >> nth=0")
    page.screenshot(path=str(SHOTS / "overlay-review-grouped.png"))

    # a call in English: the same notice in English
    hub.publish(session_message("en", time.time(), 1.0, speakers=["agent"], number=2, mode="live"))
    page.wait_for_selector("#review", state="hidden")
    assert page.is_hidden("#talk-meter")  # one channel: no talk/listen meter
    hub.publish(status_message("agent", "lost", "gone", device="Headset"))
    page.wait_for_selector("#stopped:not([hidden])")
    assert page.inner_text("#stopped-title") == "Microphone lost"
    assert "Headset" in page.inner_text("#stopped-detail")
    assert errors == []


# -- checklist, cues and the customer's name ------------------------------------------------------

STEPS = [("ru.structure.greeting", "Приветствие"), ("ru.name.not-asked", "Имя клиента спрошено"),
         ("ru.name.not-used", "Обращение по имени"), ("ru.structure.closing", "Благодарность в конце")]
# records, in the page, the order in which the checklist's steps get ticked
WATCH_TICKS = """() => {
  window.ticks = [];
  new MutationObserver(() => {
    for (const li of document.querySelectorAll('#checklist li[data-done=true]')) {
      if (!window.ticks.includes(li.dataset.id)) window.ticks.push(li.dataset.id);
    }
  }).observe(document.getElementById('checklist'), {subtree: true, childList: true, attributes: true});
}"""


def steps(done: set[str]) -> list[dict]:
    return [{"id": i, "label": label, "done": i in done, "at": 1.0 if i in done else None}
            for i, label in STEPS]


def box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def overlaps(a: dict, b: dict) -> bool:
    return not (a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


@pytest.mark.slow
def test_checklist_ticks_name_corrected_with_one_click_prompt_card_and_praise(browser_page, tmp_path):
    page, errors = browser_page
    rules = {r.id: r for r in Rulebook.load("ru").rules}
    port, out = free_port(), tmp_path / "out"
    proc = replay(["clean_call.wav", "customer_prompt.wav"], port, 1.5, "--pause", "3", "--out", str(out),
                  "--exit-at-end")
    try:
        wait_http(port)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#status[data-state=connected]", timeout=30_000)

        # call 1, every step of the script: the checklist ticks as each is said
        page.wait_for_selector("#checklist li", timeout=90_000)
        page.evaluate(WATCH_TICKS)
        labels = page.locator("#checklist .label").all_inner_texts()
        assert labels == [label for _, label in STEPS]
        assert page.locator("#checklist li[data-done=true]").count() < 4
        assert box(page, "#checklist")["height"] <= 56 and in_view(page, "#checklist")
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        page.wait_for_function("document.querySelectorAll('#checklist li[data-done=true]').length >= 2",
                               timeout=60_000)
        page.screenshot(path=str(SHOTS / "overlay-checklist.png"))
        page.wait_for_selector("#review:not([hidden])", timeout=90_000)
        ticks = page.evaluate("window.ticks")
        greeting, asked, used = (ticks.index(i) for i, _ in STEPS[:3])
        assert greeting < asked < used  # in the order the agent said them
        assert page.locator("#review-steps li[data-done=true]").count() == 4

        # call 2: the customer's name as heard, corrected with one click
        page.wait_for_selector("#review", state="hidden", timeout=60_000)
        page.wait_for_selector("#customer:not([hidden])", timeout=60_000)
        heard = page.inner_text("#customer-name")
        assert page.get_attribute("#customer-name", "data-state") == "heard" and heard != "Николай"
        assert in_view(page, "#customer-name")
        page.click("#customer-name")
        assert page.evaluate("document.activeElement.id") == "customer-input"
        page.keyboard.type("Николай")  # the heard name is selected: typing replaces it
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('customer-name').dataset.state === 'confirmed'",
                               timeout=10_000)
        assert page.inner_text("#customer-name") == "Николай" and page.is_hidden("#customer-input")

        # the customer is angry: a prompt card, the phrase to say first (with the corrected name)
        page.wait_for_selector("#hint[data-kind=prompt]:not([hidden])", timeout=90_000)
        anger = rules["ru.prompt.anger"]
        say, why = page.inner_text("#hint-say"), page.inner_text("#hint-why")
        assert say.startswith("Николай, я понимаю вас") and why == anger.message
        assert page.inner_text("#hint-tag") == "подсказка" and page.is_visible("#hint-tag")
        said = page.inner_text("#hint-said")
        assert said.startswith("Клиент: «") and "безобразие" in said
        assert font_px(page, "#hint-say") > font_px(page, "#hint-why") + 4
        assert box(page, "#hint-say")["y"] < box(page, "#hint-why")["y"] and in_view(page, "#hint")

        # the agent joins the customer: a green line for a few seconds; the card stays
        page.wait_for_selector("#praise:not([hidden])", timeout=60_000)
        shown = time.monotonic()
        assert page.inner_text("#praise").startswith("✓ ")
        assert page.is_visible("#hint") and page.get_attribute("#hint", "data-kind") == "prompt"
        assert not overlaps(box(page, "#praise"), box(page, "#hint")) and in_view(page, "#praise")
        page.screenshot(path=str(SHOTS / "overlay-prompt-praise.png"))
        page.wait_for_selector("#praise", state="hidden", timeout=10_000)
        assert time.monotonic() - shown > 1.5

        page.wait_for_selector("#review:not([hidden])", timeout=90_000)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        assert errors == []
    finally:
        kill(proc)
    result = json.loads((out / "customer_prompt.json").read_text(encoding="utf-8"))
    assert result["customer_name"] == "Николай"
    assert [(n["name"], n["via"]) for n in result["live"]["name_set"]] == [("Николай", "button")]
    assert not [e for e in result["events"] if e["category"] in ("customer_emotion", "good_practice")]


@pytest.mark.slow
def test_checklist_cues_and_name_rendering(browser_page, hub):
    page, errors = browser_page
    page.goto(f"http://127.0.0.1:{hub.port}/")
    page.wait_for_selector("#status[data-state=connected]", timeout=10_000)
    hub.publish(session_message("ru", time.time(), 1.0, speakers=["agent", "customer"], number=1,
                                mode="live"))
    hub.publish(checklist_message(steps(set())))
    page.wait_for_selector("#checklist li")
    assert page.locator("#checklist li[data-done=false]").count() == 4
    assert page.locator("#checklist .label").all_inner_texts() == [label for _, label in STEPS]
    # no name yet: a small "+ имя" to type it in
    assert page.is_hidden("#customer") and page.inner_text("#name-add") == "+ имя"

    # a step said: ticked (briefly highlighted)
    hub.publish(checklist_message(steps({"ru.structure.greeting"})))
    page.wait_for_selector("#checklist li[data-id='ru.structure.greeting'][data-done=true].ticked")
    assert page.locator("#checklist li[data-done=true]").count() == 1

    # a heard name: shown as heard, the correction offered
    hub.publish(name_message("Патри", False))
    page.wait_for_selector("#customer:not([hidden])")
    assert page.inner_text("#customer-name") == "Патри" and page.is_hidden("#name-add")
    assert page.get_attribute("#customer-name", "data-state") == "heard"
    assert "не подтверждено" in page.get_attribute("#customer-name", "title")
    # typed in, but this server takes no commands: refused, the name goes back to what it was
    page.click("#customer-name")
    page.keyboard.type("Николай")
    page.keyboard.press("Enter")
    page.wait_for_selector("#banner:not([hidden])")
    page.wait_for_function("document.getElementById('customer-name').textContent === 'Патри'")
    # Esc in the name field cancels the edit, not the card
    page.click("#customer-name")
    page.keyboard.press("Escape")
    assert page.is_hidden("#customer-input") and page.inner_text("#customer-name") == "Патри"
    hub.publish(name_message("Николай", True, True))
    page.wait_for_function("document.getElementById('customer-name').dataset.state === 'confirmed'")
    assert page.inner_text("#customer-name") == "Николай"

    # a finding on the card; praise comes: a green line, the card is untouched
    card = _event("ru.forbidden.dont-shout", "forbidden_phrase", 12.0, "critical", text="не кричите",
                  message="Фраза обостряет конфликт", suggestion="Давайте спокойно разберёмся")
    hub.publish(event_message(card, time.time()))
    page.wait_for_selector("#hint[data-kind=finding]:not([hidden])")
    good = Event("good_practice", "ru.cue.thanks", "agent", 14.0, 15.0, "info", "спасибо что подождали",
                 "Вы поблагодарили клиента", "", {"cue": "positive"})
    hub.publish(cue_message(good, time.time()))
    page.wait_for_selector("#praise:not([hidden])")
    assert page.inner_text("#praise") == "✓ Вы поблагодарили клиента"
    assert page.get_attribute("#hint", "data-rule") == "ru.forbidden.dont-shout" and page.is_visible("#hint")
    assert not overlaps(box(page, "#praise"), box(page, "#hint"))
    page.wait_for_selector("#praise", state="hidden", timeout=6_000)
    assert page.is_visible("#hint") and page.get_attribute("#hint", "data-rule") == "ru.forbidden.dont-shout"

    # the customer is angry: a prompt card (not a finding), phrase first, marked as a prompt
    page.click("#hint-dismiss")
    angry = Event("customer_emotion", "ru.prompt.anger", "customer", 16.0, 18.0, "info", "это безобразие",
                  "Клиент раздражён: присоединитесь и снимите негатив",
                  "Николай, я понимаю вас, ситуация неприятная. Давайте разберёмся.", {"cue": "prompt"})
    hub.publish(cue_message(angry, time.time()))
    page.wait_for_selector("#hint[data-kind=prompt]:not([hidden])")
    assert page.text_content("#hint-category") == "Клиент недоволен"
    assert page.inner_text("#hint-tag") == "подсказка"
    assert page.inner_text("#hint-say").startswith("Николай, я понимаю вас")
    assert page.inner_text("#hint-why") == "Клиент раздражён: присоединитесь и снимите негатив"
    assert page.inner_text("#hint-said") == "Клиент: «это безобразие»"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    for selector in ("#hint", "#checklist", "#customer-name"):
        assert in_view(page, selector), selector
    assert page.evaluate("(e => e.scrollWidth <= e.clientWidth)(document.getElementById('customer-name'))")
    page.screenshot(path=str(SHOTS / "overlay-prompt.png"))

    # the end: the checklist's final state in the review; prompts and praise are not findings
    hub.publish(checklist_message(steps({i for i, _ in STEPS[:3]})))
    hub.publish(end_message(20.0, 1, score={"total": 85}, top=[card.to_dict()], number=1))
    page.wait_for_selector("#review:not([hidden])")
    assert page.locator("#review-steps li[data-done=true]").count() == 3
    assert page.locator("#findings .finding").count() == 1
    assert "Клиент недоволен" not in page.inner_text("#review")
    assert in_view(page, "#review-steps")
    page.screenshot(path=str(SHOTS / "overlay-review-steps.png"))
    assert errors == []
