"""Glue for `coach live` and `coach replay`: load the engine once, run one call in a thread.

The engine (model, rulebook, analyzer thresholds) is what `coach score`
loads too; `new_session` builds the Session the same way `CallScorer.score`
does, which is what makes live, replay and batch agree.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coach.asr import TranscriberOptions, load_whisper
from coach.asr.streaming import warm_up
from coach.live.hub import Hub
from coach.live.pipeline import LiveOptions, LivePipeline
from coach.models import ResolvedModel, resolve
from coach.rules import Rulebook, utterance_from_text
from coach.session import Session

log = logging.getLogger(__name__)


@dataclass
class EngineOptions:
    model: str | None = None
    language: str = "ru"
    rules_dirs: list[str] = field(default_factory=list)
    cpu_threads: int = 0  # 0: all cores
    warm_up: bool = True  # allocate decoder memory at start, not during the first hint


@dataclass
class Engine:
    """Everything loaded once per process."""

    model: ResolvedModel
    whisper: Any
    rulebook: Rulebook
    analyzer_config: Any
    language: str

    def new_session(self, speakers: tuple[str, ...]) -> Session:
        analyzers = None
        if self.analyzer_config is not None:
            from coach.analyzers import CallAnalyzers

            analyzers = CallAnalyzers(self.analyzer_config, speakers=speakers, language=self.language)
        return Session(self.rulebook, speakers, analyzers)


def load_engine(options: EngineOptions) -> Engine:
    from coach.scorer import analyzer_config_for  # the batch scorer's loader: same thresholds

    if options.language == "auto":
        from coach.errors import CoachError

        raise CoachError("live coaching needs the call's language (--language ru, en...), not 'auto'")
    model = resolve(options.model)
    whisper = load_whisper(model, TranscriberOptions(language=options.language,
                                                     cpu_threads=options.cpu_threads))
    rulebook = Rulebook.load(options.language, [Path(d) for d in options.rules_dirs])
    if options.warm_up:
        warm_up(whisper, options.language)
        rulebook.check_utterance(utterance_from_text("Здравствуйте, чем могу помочь?", "agent"),
                                 rulebook.new_state())
    return Engine(model, whisper, rulebook, analyzer_config_for(options.rules_dirs), options.language)


class LiveRun:
    """One call: a source driven through a LivePipeline in a worker thread, publishing to a hub."""

    def __init__(self, engine: Engine, source: Any, hub: Hub, options: LiveOptions | None = None):
        self.engine = engine
        self.source = source
        self.hub = hub
        options = options or LiveOptions()
        options.language = engine.language
        self.session = engine.new_session(source.speakers)
        self.pipeline = LivePipeline(engine.whisper, self.session, hub.publish, options)
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
            self.hub.publish({"type": "status", "source": "pipeline", "state": "error",
                              "message": f"coach stopped: {exc}"})

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
