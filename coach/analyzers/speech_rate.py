"""Speech rate: sustained stretches of the agent's speech faster than the language's conversational norm.

Syllables are counted from the recognised words (a Russian syllable is a
vowel; English words by spelling rules, see words.py), time is the agent's
speech heard on the channel (energy activity inside the stretch, so pauses
do not dilute a fast stretch; the words' own span where no audio was heard).

What real calls taught (docs/analyzers.md): short bursts above 7 syllables/s
are ordinary Russian conversation (single utterances p90 7.4, up to 9.6 in
reference transcripts), so a 4 s window flagged 23 stretches in a 7-minute
call whose sustained pace never passed 6.7. So the pace is judged on
*sustained* speech: the agent's words are joined into a stretch across
pauses up to `join_gap_s`, and a window closes once it holds `window_s` of
speech (a stretch's last `min_window_s` or more is judged too; less is not).
A window is fast when it is faster than the language's norm
(`max_syllables_per_s`, above the p95 of sustained real speech) and, once
`own_min_windows` windows were heard, than `own_factor` times the agent's
own median window: a coach flags rushing, not a voice that is simply quick
in every call. Consecutive fast windows of one stretch are one episode and
one finding, whose figure is the fastest window.

Words arrive in time order; a window is judged once its words and frames are
final (a later word, or the word watermark passing the stretch's end), so a
fast stretch at the end of a turn is reported without waiting for the next
turn, and live equals batch.
"""

from __future__ import annotations

import statistics
from array import array
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from coach.analyzers.base import (
    Analyzer,
    Context,
    Finding,
    FindingOptions,
    Frame,
    Needs,
    opt,
    per_language,
    ramp,
)
from coach.analyzers.words import TimedWord, text_of
from coach.contract import AGENT, Severity

NORMS = {"ru": 6.8, "en": 6.2, "ro": 6.5, "nb": 6.5, "et": 6.5}


@dataclass(frozen=True)
class SpeechRateOptions(FindingOptions):
    severity: str = opt("info", "severity of the findings", choices=Severity.names())
    max_per_call: int = opt(3, "list at most this many findings per call (0: no cap); the rest are counted")
    max_syllables_per_s: Mapping[str, float] = per_language(
        NORMS, "per language: a sustained window faster than this is too fast"
    )
    window_s: float = opt(10.0, "a window closes once it holds this much of the agent's speech", gt=0)
    min_window_s: float = opt(5.5, "a stretch's last window is judged from this much speech on")
    join_gap_s: float = opt(1.0, "pauses up to this long join the agent's words into one stretch")
    own_factor: float = opt(1.2, "...and faster than this times the agent's own median window")
    own_min_windows: int = opt(3, "the agent's own median counts once this many windows were heard")
    confident_ratio: float = opt(
        1.15, "confidence reaches 1.0 at this times the threshold (0.5 at the threshold)", gt=1.0
    )
    mono_confidence: float = opt(
        0.5, "confidence times this on a mono mix (the customer's words count too)", le=1.0
    )
    diarized_confidence: float = opt(0.75, "confidence times this on diarized mono channels", le=1.0)
    pace_pause_s: float = opt(0.5, "live pace and agent_syllables_per_s: pauses this long are left out")

    def problems(self) -> list[str]:
        if self.min_window_s > self.window_s:
            return [f"min_window_s: must be at most window_s ({self.window_s}), got {self.min_window_s}"]
        return []


@dataclass
class Window:
    """Words of one stretch, judged together once `speech_s` reaches the window length."""

    words: list[TimedWord] = field(default_factory=list)
    syllables: int = 0

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end


@dataclass
class Episode:
    """Consecutive fast windows of one stretch."""

    start: float
    end: float
    peak: float
    threshold: float
    syllables: int
    speech_s: float
    windows: int
    words: list[TimedWord]


class SpeechRate(Analyzer):
    name = "speech_rate"
    Options = SpeechRateOptions
    needs = Needs(audio=(AGENT,), words=(AGENT,))
    details_example = {
        "syllables_per_s": 8.5,
        "threshold": 7.0,
        "norm": 7.0,
        "own_median": 6.0,
        "duration_s": 20.0,
        "syllables": 160,
        "mean_syllables_per_s": 8.0,
        "windows": 2,
    }
    metric_keys = ("agent_wpm", "agent_syllables_per_s")

    def __init__(self, options: SpeechRateOptions, ctx: Context) -> None:
        super().__init__(options, ctx)
        self.norm = options.max_syllables_per_s.get(ctx.language, max(options.max_syllables_per_s.values()))
        self._active = array("i", [0])  # agent speech frames before frame k (prefix sums)
        self._pending: deque[TimedWord] = deque()  # final words whose frames are not all final yet
        self._window = Window()
        self._last: TimedWord | None = None  # the stretch's latest word
        self.rates: list[float] = []  # every judged window's pace, in order
        self.windows: list[tuple[float, float, float, float]] = []  # (start, end, speech_s, pace) of each
        self._episode: Episode | None = None
        self._found: list[Finding] = []
        # metrics: all words, and the span of runs split at pace_pause_s
        self.words = 0
        self.syllables = 0
        self.run_seconds = 0.0
        self._run: tuple[float, float] | None = None

    # -- input -------------------------------------------------------------------

    def step(self, frame: Frame) -> None:
        self._active.append(self._active[-1] + (1 if frame.active[AGENT] else 0))

    def add_words(self, speaker: str, words: list[TimedWord]) -> None:
        for w in words:
            self.words += 1
            self.syllables += w.syllables
            if self._run is not None and w.start - self._run[1] > self.options.pace_pause_s:
                self.run_seconds += self._run[1] - self._run[0]
                self._run = None
            self._run = (w.start, w.end) if self._run is None else (self._run[0], max(self._run[1], w.end))
        self._pending.extend(words)

    def finish(self) -> None:
        if self._run is not None:
            self.run_seconds += self._run[1] - self._run[0]
            self._run = None

    def decide(self) -> list[Finding]:
        self._consume()
        out, self._found = self._found, []
        return out

    # -- windows -------------------------------------------------------------------

    def _frames_through(self, t: float) -> bool:
        return (len(self._active) - 1) * self.ctx.frame_s >= t

    def _speech_s(self, start: float, end: float) -> float:
        """Seconds of agent speech heard in [start, end]; the span itself where none was heard."""
        frame_s = self.ctx.frame_s
        last = len(self._active) - 1
        a, b = min(last, max(0, round(start / frame_s))), min(last, round(end / frame_s))
        heard = (self._active[b] - self._active[a]) * frame_s if b > a else 0.0
        return heard if heard > 0 else max(0.0, end - start)

    def _consume(self) -> None:
        """Take final words in order, closing windows and stretches as they become certain."""
        opts = self.options
        watermark = self.ctx.words[AGENT].watermark
        while self._pending:
            w = self._pending[0]
            if not self._frames_through(w.end):
                return
            self._pending.popleft()
            if self._last is not None and w.start - self._last.end > opts.join_gap_s:
                self._end_stretch()
            self._window.words.append(w)
            self._window.syllables += w.syllables
            self._last = w
            if self._speech_s(self._window.start, w.end) >= opts.window_s:
                self._judge(self._window)
                self._window = Window()
        # No word starting before the watermark is still to come: a pause longer than
        # join_gap_s after the last word has ended the stretch.
        last = self._last
        if last is not None and watermark - last.end > opts.join_gap_s and self._frames_through(last.end):
            self._end_stretch()

    def _end_stretch(self) -> None:
        win = self._window
        if win.words and self._speech_s(win.start, win.end) >= self.options.min_window_s:
            self._judge(win)
        self._window = Window()
        self._last = None
        self._close_episode()

    def _judge(self, win: Window) -> None:
        opts = self.options
        speech = self._speech_s(win.start, win.end)
        rate = win.syllables / speech
        threshold = self.norm
        if len(self.rates) >= opts.own_min_windows:
            threshold = max(threshold, opts.own_factor * statistics.median(self.rates))
        self.rates.append(rate)
        self.windows.append((win.start, win.end, speech, rate))
        if rate <= threshold:
            self._close_episode()
            return
        ep = self._episode
        if ep is None:
            self._episode = Episode(
                win.start, win.end, rate, threshold, win.syllables, speech, 1, list(win.words)
            )
            return
        ep.end = win.end
        if rate > ep.peak:
            ep.peak, ep.threshold = rate, threshold
        ep.syllables += win.syllables
        ep.speech_s += speech
        ep.windows += 1
        ep.words += win.words

    def _close_episode(self) -> None:
        ep, self._episode = self._episode, None
        if ep is None:
            return
        opts = self.options
        details = {
            "syllables_per_s": ep.peak,
            "threshold": ep.threshold,
            "norm": self.norm,
            "own_median": statistics.median(self.rates),
            "duration_s": ep.end - ep.start,
            "syllables": ep.syllables,
            "mean_syllables_per_s": ep.syllables / ep.speech_s,
            "windows": ep.windows,
        }
        # Sure in proportion to how far the fastest window went past the threshold; less where
        # the words may not all be the agent's (a mono mix, or diarized channels).
        confidence = ramp(ep.peak, ep.threshold, ep.threshold * opts.confident_ratio)
        if self.ctx.layout == "mono":
            confidence *= opts.mono_confidence
        elif self.ctx.layout == "diarized":
            confidence *= opts.diarized_confidence
        self._found.append(Finding(ep.start, ep.end, details, confidence, text_of(ep.words)))

    # -- metrics and live ------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        agent_s = self.ctx.talk_frames.get(AGENT, 0) * self.ctx.frame_s
        run_s = self.run_seconds + (self._run[1] - self._run[0] if self._run else 0.0)
        speaking_s = agent_s if agent_s > 0 else run_s
        return {
            "agent_wpm": round(self.words / speaking_s * 60) if speaking_s > 0 else None,
            "agent_syllables_per_s": round(self.syllables / run_s, 2) if run_s > 0 else None,
        }

    def live(self, now: float, window_s: float) -> dict[str, Any]:
        """The agent's recent pace: syllables and words per second of speech in the window.

        Speaking time is the span of each run of words (split at `pace_pause_s`),
        so pauses do not dilute the pace. `max_syllables_per_s` is the call
        language's norm for sustained speech (a few seconds above it are normal).
        """
        words = [w for w in self.ctx.words[AGENT].since(now - window_s) if w.start <= now]
        runs: list[list[TimedWord]] = []
        for w in sorted(words, key=lambda w: w.start):
            if runs and w.start - runs[-1][-1].end <= self.options.pace_pause_s:
                runs[-1].append(w)
            else:
                runs.append([w])
        speaking = sum(r[-1].end - r[0].start for r in runs)
        if speaking < 1.0:
            return {"syllables_per_s": None, "wpm": None, "max_syllables_per_s": self.norm}
        return {
            "syllables_per_s": round(sum(w.syllables for w in words) / speaking, 2),
            "wpm": round(len(words) / speaking * 60),
            "max_syllables_per_s": self.norm,
        }
