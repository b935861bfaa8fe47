"""Speech rate: the agent's syllables per second over a sliding window of speech.

Syllables are counted from the recognised words (a Russian syllable is a
vowel), time from the words' timestamps. Speech is cut into runs at pauses of
`pause_s`, so thinking pauses do not dilute a fast stretch; within a run a
window starts at each word and takes the words that end within `window_s`.
A window of at least `min_window_s` and `min_syllables` above the threshold
is fast; overlapping fast windows become one finding whose figure is the
fastest window. Words arrive in time order, and a window is judged only once
a later word (or the end of the run) closes it, so live equals batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from coach.analyzers.config import SpeechRateOptions
from coach.analyzers.words import TimedWord


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
