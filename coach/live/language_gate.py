"""Live `--language auto`: hold a call's audio until the agent's first utterance names its language.

A live call cannot be transcribed before its language is known (the decoder
is prompted with it), and the rulebook is per language. So a call in `auto`
starts as a LanguageGate: audio chunks are kept, the agent's go to a
`LanguageProbe` (coach.asr.language, the batch detector on the first
utterance of speech), and when it answers the real LivePipeline is made in
that language and given every chunk kept so far, in order. The Session sees
exactly the audio it would have seen, so findings do not depend on when the
language was decided; only the first transcript lines come a moment later.

Until then the gate answers for the pipeline (start, feed, step, finish);
anything else a caller asks of the pipeline first makes it decide with what
was heard (the probe's best guess, or the first language).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from coach.asr.language import LanguageProbe
from coach.contract import AGENT
from coach.live.pipeline import LivePipeline
from coach.live.sources import Chunk

log = logging.getLogger(__name__)


class LanguageGate:
    """A call's pipeline before its language is known (see the module docstring)."""

    def __init__(self, make: Callable[[str], LivePipeline], probe: LanguageProbe, fallback: str):
        self._make = make
        self._probe = probe
        self._fallback = fallback
        self._held: list[Chunk] = []
        self._start: tuple[float, float, dict[str, Any]] | None = None
        self.pipeline: LivePipeline | None = None
        self.language_probability: float | None = None

    def start(self, t0: float, speed: float = 1.0, **info: Any) -> None:
        self._start = (t0, speed, info)

    def feed(self, chunk: Chunk) -> None:
        if self.pipeline is not None:
            self.pipeline.feed(chunk)
            return
        self._held.append(chunk)
        if chunk.speaker == AGENT and not chunk.gap:
            found = self._probe.feed(chunk.samples)
            if found is not None:
                self._open(*found)

    def step(self) -> None:
        if self.pipeline is not None:
            self.pipeline.step()

    def finish(self, duration_s: float | None = None) -> float:
        return self._decided().finish(duration_s)

    def __getattr__(self, name: str) -> Any:
        """Everything else is the pipeline's (session, cues, checklist...): decide now."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._decided(), name)

    def _decided(self) -> LivePipeline:
        if self.pipeline is None:
            found = self._probe.finish()
            self._open(*(found or (self._fallback, None)))
        assert self.pipeline is not None
        return self.pipeline

    def _open(self, language: str, probability: float | None) -> None:
        log.info("call language: %s (p=%s)", language, probability)
        self.language_probability = probability
        pipeline = self._make(language)
        pipeline.language_probability = probability
        t0, speed, info = self._start if self._start is not None else (0.0, 1.0, {})
        prob = None if probability is None else round(probability, 3)
        pipeline.start(t0, speed, **info, language_probability=prob)
        held, self._held = self._held, []
        self.pipeline = pipeline
        for chunk in held:
            pipeline.feed(chunk)
