"""Score a diarization against a stereo reference (one speaker per channel).

Used by the tests and bench/diarization_eval.py. The reference is each
channel's own energy, frame by frame (10 ms): exact for calls recorded or
synthesised with one speaker per channel. The headline figure is speaker
confusion: the share of single-speaker reference speech that the
diarization gave to the wrong speaker, under the better of the two ways of
matching its speaker numbers to the channels. Frames where both channels
speak are not scored (the mono mix cannot say who), and neither are frames
within `collar_s` of a reference segment boundary (the usual 0.25 s collar
of diarization scoring: boundaries are fuzzy even for human annotators).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coach.diarization.diarizer import FRAME_S, Diarization

NONE, BOTH = -1, 2


def _frame_db(x: np.ndarray, frame: int) -> np.ndarray:
    n = len(x) // frame
    rms = np.sqrt(np.mean(np.square(x[: n * frame].reshape(n, frame).astype(np.float64)), axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


def _fill_gaps(active: np.ndarray, max_gap: int) -> np.ndarray:
    """Close gaps of up to max_gap frames (stop closures and breaths inside speech)."""
    active = active.copy()
    idx = np.flatnonzero(active)
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap + 1:
            active[a:b] = True
    return active


def reference_labels(left: np.ndarray, right: np.ndarray, sample_rate: int = 16000,
                     floor_db: float = -55.0, below_peak_db: float = 30.0, bleed_db: float = 15.0,
                     fill_gap_s: float = 0.15) -> np.ndarray:
    """Per 10 ms frame: -1 nobody, 0 left only, 1 right only, 2 both.

    A channel is active where its frame level is above `floor_db` and within
    `below_peak_db` of its own speech peak (97th percentile), so a real line's noise
    floor does not count. Where both are active but one is `bleed_db` quieter relative
    to its own peak, it is crosstalk from the other side and the louder side wins.
    Synthetic calls (digital silence between lines) are unaffected by either rule.
    """
    frame = int(round(FRAME_S * sample_rate))
    gap = int(round(fill_gap_s / FRAME_S))
    levels = [_frame_db(np.asarray(x), frame) for x in (left, right)]
    n = min(len(lv) for lv in levels)
    rel = [lv[:n] - np.percentile(lv[:n], 97) for lv in levels]
    active = [_fill_gaps((lv[:n] > floor_db) & (r > -below_peak_db), gap) for lv, r in zip(levels, rel)]
    a, b = active
    labels = np.full(n, NONE, dtype=np.int64)
    labels[a & ~b] = 0
    labels[b & ~a] = 1
    both = a & b
    labels[both] = BOTH
    labels[both & (rel[0] - rel[1] > bleed_db)] = 0
    labels[both & (rel[1] - rel[0] > bleed_db)] = 1
    return labels


def hypothesis_labels(result: Diarization, n_frames: int, use_split: bool = False) -> np.ndarray:
    labels = np.full(n_frames, NONE, dtype=np.int64)
    for turn in result.split_turns if use_split else result.turns:
        labels[int(round(turn.start / FRAME_S)) : int(round(turn.end / FRAME_S))] = turn.speaker
    return labels


@dataclass
class Score:
    confusion: float  # wrong speaker, share of scored single-speaker speech
    missed: float  # scored speech the diarization left unlabelled
    false_alarm: float  # non-speech labelled as someone's turn, relative to scored speech
    scored_s: float
    mapping: tuple[int, int]  # diarization speaker for channel 0, channel 1

    @property
    def error(self) -> float:
        return self.confusion + self.missed + self.false_alarm


def score(result: Diarization, reference: np.ndarray, collar_s: float = 0.25,
          use_split: bool = False) -> Score:
    """Frame-level speaker confusion (plus miss and false alarm) against `reference_labels`.

    `use_split` scores the two-way split instead of the decided turns.
    """
    n = len(reference)
    hyp = hypothesis_labels(result, n, use_split)
    keep = np.ones(n, dtype=bool)
    collar = int(round(collar_s / FRAME_S))
    for edge in np.flatnonzero(np.diff(reference)) + 1:
        keep[max(0, edge - collar) : edge + collar] = False
    speech = keep & ((reference == 0) | (reference == 1))
    silence = keep & (reference == NONE)
    total = max(1, int(speech.sum()))
    best = None
    for mapping in ((0, 1), (1, 0)):
        expected = np.where(reference == 0, mapping[0], mapping[1])
        wrong = int((speech & (hyp != NONE) & (hyp != expected)).sum())
        if best is None or wrong < best[0]:
            best = (wrong, mapping)
    assert best is not None
    return Score(
        confusion=best[0] / total,
        missed=int((speech & (hyp == NONE)).sum()) / total,
        false_alarm=int((silence & (hyp != NONE)).sum()) / total,
        scored_s=total * FRAME_S,
        mapping=best[1],
    )
