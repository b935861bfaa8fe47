"""Glue for `coach live` and `coach replay`: one loaded Coach, one call in a worker thread.

The Coach is what `coach score` loads too, and `Coach.new_session` is the only
way a Session is made, which is what makes live, replay and batch agree.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
import webbrowser
from typing import Any

from coach.contract import status_message
from coach.core import Coach
from coach.live.hub import Hub
from coach.live.pipeline import LiveOptions, LivePipeline

log = logging.getLogger(__name__)


class LiveRun:
    """One call: a source driven through a LivePipeline in a worker thread, publishing to a hub."""

    def __init__(self, coach: Coach, source: Any, hub: Hub, options: LiveOptions | None = None):
        self.coach = coach
        self.source = source
        self.hub = hub
        options = options or LiveOptions()
        options.language = coach.config.language
        self.session = coach.new_session(source.speakers, options.language)
        self.pipeline = LivePipeline(coach.whisper, self.session, hub.publish, options)
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="coach-pipeline", daemon=True)

    def start(self) -> LiveRun:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.pipeline.run(self.source, self.stop_event)
        except BaseException as exc:
            log.exception("live pipeline failed")
            self.error = exc
            self.hub.publish(status_message("pipeline", "error", f"coach stopped: {exc}"))

    def wait(self, timeout: float | None = None) -> bool:
        """True once the call is over (source ended or stopped)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        self._thread.join(timeout)


def wait_for_client(hub: Hub, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.clients:
            return True
        time.sleep(0.05)
    return False


def open_overlay(url: str, app_window: bool = True) -> None:
    """A small app-style window when Chromium/Chrome is installed, else the default browser."""
    if app_window:
        for exe in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
            path = shutil.which(exe)
            if path:
                try:
                    subprocess.Popen([path, f"--app={url}", "--window-size=380,540"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
                    return
                except OSError as exc:
                    log.debug("could not start %s: %s", exe, exc)
    webbrowser.open(url)
