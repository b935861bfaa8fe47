"""Speech segments from VAD probabilities: pure arithmetic, no model.

This is the state machine of faster-whisper's `get_speech_timestamps`
(itself Silero's), taken apart from the Silero model so that batch and live
cut speech in the same place: batch runs it over a whole channel's
probabilities (`speech_timestamps`), the live transcriber steps it one 32 ms
window at a time as audio arrives (`SpeechSegmenter.push`), and a live
utterance is then exactly a batch VAD segment. Being pure, it is tested on
made-up probabilities. `speech_timestamps` returns what `get_speech_timestamps`
returns for the same probabilities, sample for sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
VAD_WINDOW = 512  # Silero's window at 16 kHz (32 ms): one probability per window


@dataclass(frozen=True)
class SegmenterOptions:
    """faster-whisper's `VadOptions`, same meanings and defaults."""

    threshold: float = 0.5  # a window at or above this starts (or continues) speech
    neg_threshold: float | None = None  # below this is silence; None: threshold - 0.15 (>= 0.01)
    min_speech_ms: int = 0  # shorter segments are dropped
    max_speech_s: float = math.inf  # longer segments are split (at a silence > 98 ms if any)
    min_silence_ms: int = 2000  # silence that ends a segment
    speech_pad_ms: int = 400  # added to each side of a segment (halved between close neighbours)


class SpeechSegmenter:
    """The segmentation state machine, fed one window probability at a time.

    Positions are absolute samples; a window is measured at its start, as in
    Silero. `triggered` is "inside speech", `temp_end` the start of the
    silence that may end it (0: none), `start` the current segment's start.
    """

    def __init__(self, options: SegmenterOptions | None = None, sample_rate: int = SAMPLE_RATE):
        o = options or SegmenterOptions()
        self.options = o
        self.threshold = o.threshold
        self.neg_threshold = (o.neg_threshold if o.neg_threshold is not None
                              else max(o.threshold - 0.15, 0.01))
        self.min_speech = sample_rate * o.min_speech_ms / 1000
        self.pad = sample_rate * o.speech_pad_ms / 1000
        self.max_speech = sample_rate * o.max_speech_s - VAD_WINDOW - 2 * self.pad
        self.min_silence = sample_rate * o.min_silence_ms / 1000
        self.min_silence_at_max_speech = sample_rate * 98 / 1000
        self.position = 0  # start of the next window
        self.triggered = False
        self.start = 0
        self.temp_end = 0
        self._prev_end = 0  # last silence > 98 ms inside the segment: where a too-long one is cut
        self._next_start = 0

    def push(self, prob: float) -> list[tuple[int, int]]:
        """Step over one window; return the segments (start, end) it closes: none, or one at
        a pause or a split (not both: a split needs a silence of 98 ms that did not close)."""
        i = self.position
        self.position += VAD_WINDOW
        if prob >= self.threshold and self.temp_end:
            self.temp_end = 0
            if self._next_start < self._prev_end:
                self._next_start = i
        if prob >= self.threshold and not self.triggered:
            self.triggered = True
            self.start = i
            return []
        closed = []
        if self.triggered and i - self.start > self.max_speech:
            if self._prev_end:
                closed.append((self.start, self._prev_end))
                if self._next_start < self._prev_end:  # silence since, not speech again: stop
                    self.triggered = False
                else:
                    self.start = self._next_start
                self._prev_end = self._next_start = self.temp_end = 0
            else:
                closed.append((self.start, i))
                self._prev_end = self._next_start = self.temp_end = 0
                self.triggered = False
                return closed
        if prob < self.neg_threshold and self.triggered:
            if not self.temp_end:
                self.temp_end = i
            if i - self.temp_end > self.min_silence_at_max_speech:
                self._prev_end = self.temp_end
            if i - self.temp_end >= self.min_silence:
                if self.temp_end - self.start > self.min_speech:
                    closed.append((self.start, self.temp_end))
                self._prev_end = self._next_start = self.temp_end = 0
                self.triggered = False
        return closed

    def finish(self, n_samples: int) -> tuple[int, int] | None:
        """End of audio: the open segment, closed at the end, unless too short."""
        if self.triggered and n_samples - self.start > self.min_speech:
            self.triggered = False
            return (self.start, n_samples)
        self.triggered = False
        return None

    # -- what the live transcriber needs besides pushing --------------------------------

    def silence_start(self) -> int:
        """Where the current speech ends so far: the start of a silence in progress, else now."""
        return self.temp_end if self.temp_end else self.position

    def silence_s(self, sample_rate: int = SAMPLE_RATE) -> float:
        """Seconds of silence since speech stopped (0 while speaking or outside speech)."""
        return (self.position - self.temp_end) / sample_rate if self.temp_end else 0.0

    def forget_silence(self) -> None:
        """The caller closed the speech itself (buffer full, end of stream): a silence in
        progress no longer counts toward the next close."""
        self.temp_end = 0


def pad_segments(raw: list[tuple[int, int]], n_samples: int, pad: float) -> list[tuple[int, int]]:
    """Silero's padding: `pad` samples on each side, split evenly when neighbours are closer."""
    spans = [list(s) for s in raw]
    for i, span in enumerate(spans):
        if i == 0:
            span[0] = int(max(0, span[0] - pad))
        if i != len(spans) - 1:
            silence = spans[i + 1][0] - span[1]
            if silence < 2 * pad:
                span[1] += int(silence // 2)
                spans[i + 1][0] = int(max(0, spans[i + 1][0] - silence // 2))
            else:
                span[1] = int(min(n_samples, span[1] + pad))
                spans[i + 1][0] = int(max(0, spans[i + 1][0] - pad))
        else:
            span[1] = int(min(n_samples, span[1] + pad))
    return [(s[0], s[1]) for s in spans]


def raw_segments(probs: np.ndarray, n_samples: int,
                 options: SegmenterOptions | None = None) -> list[tuple[int, int]]:
    """Unpadded speech segments (start, end) in samples, for probabilities of consecutive windows."""
    seg = SpeechSegmenter(options)
    out: list[tuple[int, int]] = []
    # float32 scalars, compared with the thresholds in float32 as Silero's own loop does
    for prob in np.asarray(probs, dtype=np.float32).reshape(-1):
        out += seg.push(prob)
    last = seg.finish(n_samples)
    return out + [last] if last else out


def speech_timestamps(probs: np.ndarray, n_samples: int,
                      options: SegmenterOptions | None = None) -> list[tuple[int, int]]:
    """Padded speech segments, as faster-whisper's `get_speech_timestamps` gives them."""
    seg_options = options or SegmenterOptions()
    pad = SAMPLE_RATE * seg_options.speech_pad_ms / 1000
    return pad_segments(raw_segments(probs, n_samples, seg_options), n_samples, pad)
