"""Speech rate: the agent's syllables per second over a sliding window of speech.

Syllables are counted from the recognised words (a Russian syllable is a
vowel), time from the words' timestamps. Speech is cut into runs at pauses of
`pause_s`, so thinking pauses do not dilute a fast stretch; within a run a
window starts at each word and takes the words that end within `window_s`.
A window of at least `min_window_s` and `min_syllables` above the threshold
is fast; overlapping fast windows become one finding whose figure is the
fastest window. Words arrive in time order, and a window is judged only once
no word that belongs to it can still come: a later word closes it, or the
speaker's word watermark passes its end (live: the speaker is silent), so a
fast stretch at the end of a turn is reported without waiting for the next
turn, and live equals batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coach.analyzers.base import Analyzer, Context, Finding, FindingOptions, Needs, opt, ramp
from coach.analyzers.words import TimedWord, text_of
from coach.contract import AGENT, Severity


@dataclass(frozen=True)
class SpeechRateOptions(FindingOptions):
    severity: str = opt("info", "severity of the findings", choices=Severity.names())
    max_per_call: int = opt(3, "list at most this many findings per call (0: no cap); the rest are counted")
    max_syllables_per_s: float = opt(7.0, "faster than this over a window is too fast")
    window_s: float = opt(4.0, "sliding window over the agent's words", gt=0)
    min_window_s: float = opt(1.5, "shorter stretches are not judged (a quick 'да, конечно')")
    min_syllables: int = opt(8, "...nor windows with fewer syllables")
    pause_s: float = opt(0.5, "a pause this long splits speech into separate runs")
    confident_syllables_per_s: float = opt(
        8.5, "confidence reaches 1.0 at this pace (0.5 at max_syllables_per_s)"
    )

    def problems(self) -> list[str]:
        if self.confident_syllables_per_s <= self.max_syllables_per_s:
            return [
                f"confident_syllables_per_s: must be above max_syllables_per_s "
                f"({self.max_syllables_per_s}), got {self.confident_syllables_per_s}"
            ]
        return []


@dataclass(frozen=True)
class FastSpan:
    start: float
    end: float
    peak: float  # syllables per second of the fastest window
    syllables: int
    words: tuple[TimedWord, ...]

    @property
    def mean(self) -> float:
        return self.syllables / max(self.end - self.start, 1e-6)


class RateTracker:
    def __init__(self, options: SpeechRateOptions) -> None:
        self.options = options
        self.spans: list[FastSpan] = []
        self._run: list[TimedWord] = []
        self._next = 0  # first word of the run whose window is not judged yet
        self._open: list | None = None  # [start, end, peak, words(list)]
        self.syllables = 0
        self.words = 0
        self.run_seconds = 0.0

    def add(self, word: TimedWord) -> None:
        self.words += 1
        self.syllables += word.syllables
        if self._run and word.start - self._run[-1].end > self.options.pause_s:
            self._close_run()
        self._run.append(word)
        while self._next < len(self._run) - 1:
            first = self._run[self._next]
            if word.end <= first.start + self.options.window_s:
                break
            self._judge(self._next)
            self._next += 1

    def finish(self) -> None:
        self._close_run()

    def advance(self, watermark: float) -> None:
        """No word starting before `watermark` is still to come: judge what that completes.

        A later word would start at or after the watermark (and end after it),
        so a window ending before it is complete and a pause longer than
        `pause_s` after the last word has certainly ended the run; the
        judgements are the ones `add` would make when that later word came.
        """
        if self._run and watermark - self._run[-1].end > self.options.pause_s:
            self._close_run()
            return
        window = self.options.window_s
        while self._next < len(self._run) and self._run[self._next].start + window <= watermark:
            self._judge(self._next)
            self._next += 1

    def _close_run(self) -> None:
        while self._next < len(self._run):
            self._judge(self._next)
            self._next += 1
        if self._run:
            self.run_seconds += self._run[-1].end - self._run[0].start
        self._emit()
        self._run = []
        self._next = 0

    def _judge(self, i: int) -> None:
        opts = self.options
        first = self._run[i]
        window = [first]
        for w in self._run[i + 1 :]:
            if w.end > first.start + opts.window_s:
                break
            window.append(w)
        duration = window[-1].end - first.start
        syll = sum(w.syllables for w in window)
        if duration < opts.min_window_s or syll < opts.min_syllables:
            return
        rate = syll / duration
        if rate <= opts.max_syllables_per_s:
            if self._open is not None and first.start >= self._open[1]:
                self._emit()
            return
        if self._open is not None and first.start <= self._open[1]:
            self._open[1] = max(self._open[1], window[-1].end)
            self._open[2] = max(self._open[2], rate)
            for w in window:
                if w not in self._open[3]:
                    self._open[3].append(w)
        else:
            self._emit()
            self._open = [first.start, window[-1].end, rate, list(window)]

    def _emit(self) -> None:
        if self._open is None:
            return
        start, end, peak, words = self._open
        words.sort(key=lambda w: w.start)
        self.spans.append(FastSpan(start, end, peak, sum(w.syllables for w in words), tuple(words)))
        self._open = None


class SpeechRate(Analyzer):
    name = "speech_rate"
    Options = SpeechRateOptions
    needs = Needs(audio=(), words=(AGENT,))
    details_example = {
        "syllables_per_s": 8.5,
        "threshold": 7.0,
        "duration_s": 3.0,
        "syllables": 25,
        "mean_syllables_per_s": 8.0,
    }
    metric_keys = ("agent_wpm", "agent_syllables_per_s")

    def __init__(self, options: SpeechRateOptions, ctx: Context) -> None:
        super().__init__(options, ctx)
        self.tracker = RateTracker(options)

    def add_words(self, speaker: str, words: list[TimedWord]) -> None:
        for w in words:
            self.tracker.add(w)

    def finish(self) -> None:
        self.tracker.finish()

    def decide(self) -> list[Finding]:
        self.tracker.advance(self.ctx.words[AGENT].watermark)
        out: list[Finding] = []
        opts = self.options
        while self.tracker.spans:
            span = self.tracker.spans.pop(0)
            details = {
                "syllables_per_s": span.peak,
                "threshold": opts.max_syllables_per_s,
                "duration_s": span.end - span.start,
                "syllables": span.syllables,
                "mean_syllables_per_s": span.mean,
            }
            # Sure in proportion to how far the fastest window went past the limit.
            confidence = ramp(span.peak, opts.max_syllables_per_s, opts.confident_syllables_per_s)
            out.append(Finding(span.start, span.end, details, confidence, text_of(list(span.words))))
        return out

    def metrics(self) -> dict[str, Any]:
        rate = self.tracker
        agent_s = self.ctx.talk_frames.get(AGENT, 0) * self.ctx.frame_s
        speaking_s = agent_s if agent_s > 0 else rate.run_seconds
        return {
            "agent_wpm": round(rate.words / speaking_s * 60) if speaking_s > 0 else None,
            "agent_syllables_per_s": (
                round(rate.syllables / rate.run_seconds, 2) if rate.run_seconds > 0 else None
            ),
        }

    def live(self, now: float, window_s: float) -> dict[str, Any]:
        """The agent's recent pace: syllables and words per second of speech in the window.

        Speaking time is the span of each run of words (split at `pause_s`), so
        pauses do not dilute the pace, as in the findings.
        """
        words = [w for w in self.ctx.words[AGENT].since(now - window_s) if w.start <= now]
        runs: list[list[TimedWord]] = []
        for w in sorted(words, key=lambda w: w.start):
            if runs and w.start - runs[-1][-1].end <= self.options.pause_s:
                runs[-1].append(w)
            else:
                runs.append([w])
        speaking = sum(r[-1].end - r[0].start for r in runs)
        limit = self.options.max_syllables_per_s
        if speaking < 1.0:
            return {"syllables_per_s": None, "wpm": None, "max_syllables_per_s": limit}
        return {
            "syllables_per_s": round(sum(w.syllables for w in words) / speaking, 2),
            "wpm": round(len(words) / speaking * 60),
            "max_syllables_per_s": limit,
        }
