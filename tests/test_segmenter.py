"""The speech segmenter on made-up VAD probabilities: no model, exact sample positions.

Windows are 512 samples; window i is measured at sample 512 * i. Expected
positions are worked out by hand from the rules of Silero's segmentation
(the real-audio comparison with faster-whisper is in tests/test_vad.py).
"""

from __future__ import annotations

import numpy as np

from coach.asr.segmenter import (
    VAD_WINDOW,
    SegmenterOptions,
    SpeechSegmenter,
    pad_segments,
    raw_segments,
    speech_timestamps,
)

W = VAD_WINDOW


def probs(*runs: tuple[float, int]) -> np.ndarray:
    """probs((0.0, 10), (0.9, 5)) -> ten windows of 0.0 then five of 0.9."""
    return np.concatenate([np.full(n, p, dtype=np.float32) for p, n in runs])


def test_speech_starts_at_the_first_window_above_threshold_and_ends_at_the_silence():
    p = probs((0.1, 10), (0.9, 20), (0.0, 40))  # 40 windows = 1.28 s of silence
    options = SegmenterOptions(min_silence_ms=500, speech_pad_ms=0)
    assert raw_segments(p, len(p) * W, options) == [(10 * W, 30 * W)]


def test_a_pause_shorter_than_min_silence_does_not_split():
    # silence is measured at window starts: the 17th silent window is the first one that
    # starts 500 ms (8000 samples) after the silence began
    short = probs((0.9, 10), (0.0, 16), (0.9, 10), (0.0, 40))
    long = probs((0.9, 10), (0.0, 17), (0.9, 10), (0.0, 40))
    options = SegmenterOptions(min_silence_ms=500, speech_pad_ms=0)
    assert raw_segments(short, len(short) * W, options) == [(0, 36 * W)]
    assert raw_segments(long, len(long) * W, options) == [(0, 10 * W), (27 * W, 37 * W)]


def test_between_the_thresholds_speech_goes_on_but_does_not_start():
    # 0.4 is below 0.5 (no onset) but above 0.35 (no silence once speaking)
    p = probs((0.4, 10), (0.9, 5), (0.4, 30), (0.0, 20))
    options = SegmenterOptions(min_silence_ms=500, speech_pad_ms=0)
    assert raw_segments(p, len(p) * W, options) == [(10 * W, 45 * W)]


def test_speech_running_to_the_end_is_closed_at_the_end():
    p = probs((0.0, 5), (0.9, 10))
    n = len(p) * W - 100  # the last window was padded
    assert raw_segments(p, n, SegmenterOptions(speech_pad_ms=0)) == [(5 * W, n)]


def test_short_segments_are_dropped_when_asked():
    p = probs((0.9, 3), (0.0, 40), (0.9, 20), (0.0, 40))
    options = SegmenterOptions(min_silence_ms=500, speech_pad_ms=0, min_speech_ms=250)
    assert raw_segments(p, len(p) * W, options) == [(43 * W, 63 * W)]


def test_too_long_speech_is_split_at_its_last_real_silence():
    # max 1 s: limit = 16000 - 512 samples; a 5-window (160 ms > 98 ms) dip at windows 15-19
    p = probs((0.9, 15), (0.0, 5), (0.9, 40), (0.0, 40))
    options = SegmenterOptions(min_silence_ms=500, max_speech_s=1.0, speech_pad_ms=0)
    segments = raw_segments(p, len(p) * W, options)
    assert segments[0] == (0, 15 * W)  # cut where the dip began
    assert segments[1][0] == 20 * W  # the next one starts where speech resumed
    assert all(end - start <= 16000 for start, end in segments)


def test_padding_is_split_between_close_neighbours():
    raw = [(10_000, 20_000), (22_000, 30_000), (50_000, 60_000)]
    assert pad_segments(raw, 61_000, pad=3200) == [
        (6800, 21_000), (21_000, 33_200), (46_800, 61_000)
    ]


def test_timestamps_are_padded_raw_segments():
    p = probs((0.0, 20), (0.9, 20), (0.0, 40))
    options = SegmenterOptions(min_silence_ms=500, speech_pad_ms=200)
    assert speech_timestamps(p, len(p) * W, options) == [(20 * W - 3200, 40 * W + 3200)]


def test_pushing_window_by_window_reports_onset_silence_and_close():
    seg = SpeechSegmenter(SegmenterOptions(min_silence_ms=500, speech_pad_ms=0))
    closed = [c for p in probs((0.0, 3), (0.9, 10)) for c in seg.push(p)]
    assert seg.triggered and seg.start == 3 * W and not closed
    assert seg.silence_s() == 0.0 and seg.silence_start() == seg.position
    closed = [c for p in probs((0.0, 7)) for c in seg.push(p)]
    assert seg.temp_end == 13 * W and seg.silence_start() == 13 * W
    assert abs(seg.silence_s() - 7 * W / 16000) < 1e-9 and not closed
    closed = [c for p in probs((0.0, 10)) for c in seg.push(p)]
    assert closed == [(3 * W, 13 * W)] and not seg.triggered

