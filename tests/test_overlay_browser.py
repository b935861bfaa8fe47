"""The overlay in a real browser (Debian chromium through Playwright) against `coach replay`.

A replay of the fixture call makes the hint card appear with the rule's own
message and suggestion (the customer's name filled in once known); at the
end the timeline lists the finding and clicking it seeks the <audio>
element. Killing the server (SIGKILL) and starting it again: the page says it
lost the connection, reconnects by itself and shows the new call. All at
360x480, the smallest window the overlay is meant for.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replay(call: str, port: int, speed: float, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "coach", "replay", str(CALLS / call), "--no-browser",
         "--port", str(port), "--speed", str(speed), *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


def wait_http(port: int, timeout: float = 60.0) -> None:
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
            args=CHROMIUM_ARGS, viewport={"width": 360, "height": 480},
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
        context.close()


def test_overlay_shows_the_hint_then_the_timeline_and_reconnects(browser_page):
    page, errors = browser_page
    rule = next(r for r in Rulebook.load("ru").rules if r.id == "ru.forbidden.dont-shout")
    port = free_port()
    first = replay("forbidden_agent.wav", port, 2.0)
    second = None
    try:
        wait_http(port)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#status[data-state=connected]", timeout=30_000)

        # the hint card: the rule's message and its suggestion with the customer's name
        page.wait_for_selector("#hint:not([hidden])", timeout=60_000)
        assert page.inner_text("#hint-message") == rule.message
        suggestion = page.inner_text("#hint-suggestion")
        assert "разберёмся" in suggestion
        assert page.get_attribute("#hint", "data-severity") == "critical"
        assert "кричите" in page.inner_text("#hint-said").lower()
        # readable at 360x480: nothing wider than the window, the card fully visible
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        box = page.locator("#hint").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["y"] < 480
        page.screenshot(path=str(Path(os.environ.get("COACH_SHOTS", "/tmp")) / "overlay-hint.png"))

        # end of call: the timeline; clicking the finding seeks the audio to just before it
        page.wait_for_selector("#timeline:not([hidden])", timeout=60_000)
        item = page.locator(".finding[data-category=forbidden_phrase]")
        start = float(item.get_attribute("data-start"))
        page.wait_for_function("document.getElementById('audio').readyState >= 1", timeout=15_000)
        item.click()
        page.wait_for_function(
            f"Math.abs(document.getElementById('audio').currentTime - {start - 1.0}) < 1.5",
            timeout=10_000,
        )
        page.screenshot(path=str(Path(os.environ.get("COACH_SHOTS", "/tmp")) / "overlay-end.png"))

        # kill the server: the page notices; start it again: the page reconnects on its own
        kill(first)
        page.wait_for_selector("#status[data-state=disconnected]", timeout=10_000)
        second = replay("mono_call.wav", port, 4.0, "--exit-at-end")
        page.wait_for_selector("#status[data-state=connected]", timeout=60_000)
        page.wait_for_selector("#timeline", state="hidden", timeout=10_000)  # a new call began
        page.wait_for_selector("#hint:not([hidden])", timeout=60_000)
        assert page.inner_text("#hint-message") == rule.message
        assert second.wait(timeout=60) == 0
        assert errors == []
    finally:
        kill(first)
        if second is not None:
            kill(second)
