"""Who spoke when in a mono call: two speakers, from voice alone.

Pipeline (each step is chosen for 8 kHz, mu-law, AGC'd contact-centre audio):

1. Silero VAD (the model faster-whisper already ships) finds speech; pauses of
   `vad_min_silence_ms` split it into stretches. In a call the speakers mostly
   take turns at pauses, so a stretch is usually one voice.
2. Windows of 1.6 s (the encoder's training length) every `step_frames` inside
   each stretch, never across a pause; a shorter stretch is looped up to 1.6 s
   (a shorter sequence gives an embedding that drifts with its length, and the
   short ones then cluster together whoever spoke them). Each window is
   brought up to -30 dBFS as resemblyzer does (the encoder reads linear power)
   and embedded with the GE2E encoder.
3. The embeddings are split in two (average-linkage clustering, `cluster.py`).
   How far apart the two centroids are says whether two voices are really
   there: below `max_centroid_similarity` (and with a clear silhouette) they
   are; otherwise the call is "probably one speaker" and all speech goes to
   speaker 0 (the two-way split is still returned as `split_turns`).
4. Every 10 ms speech frame gets the Hann-weighted mean of the margins
   (similarity to centroid 0 minus centroid 1) of the windows over it: a
   resegmentation by nearest centroid at frame resolution. A stretch up to
   `vote_max_s` goes wholly to one speaker; inside longer ones, runs shorter
   than `min_turn_s` are absorbed by their neighbours.
5. Turns are the runs of one speaker, bridging that speaker's own pauses up to
   `merge_gap_s`. Speaker 0 is whoever speaks first; which one is the agent is
   decided later, from the words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coach.asr.segmenter import SegmenterOptions
from coach.asr.vad import ChannelSpeech
from coach.diarization.cluster import ClusterOptions, two_clusters
from coach.diarization.encoder import HIDDEN, PARTIAL_FRAMES, SpeakerEncoder
from coach.diarization.features import HOP, SAMPLE_RATE, mel_spectrogram, normalise_gain

FRAME_S = HOP / SAMPLE_RATE  # 10 ms


@dataclass(frozen=True)
class DiarizationOptions:
    """Knobs of the two-speaker diarizer; defaults tuned on synthetic mono 8 kHz calls.

    See docs/diarization.md for what each one trades off.
    """

    vad_threshold: float = 0.5
    vad_min_silence_ms: int = 150  # a pause this long ends a stretch (turns change at pauses)
    vad_speech_pad_ms: int = 30
    vad_min_speech_ms: int = 100
    window_frames: int = PARTIAL_FRAMES  # 1.6 s, what GE2E was trained on
    step_frames: int = 80  # 0.8 s between windows inside a long stretch (half-overlapping)
    min_window_s: float = 0.5  # stretches shorter than this get no window of their own
    vote_max_s: float = 3.0  # stretches up to this long go wholly to one speaker
    min_turn_s: float = 0.4  # shorter runs inside a long stretch are absorbed by their neighbours
    merge_gap_s: float = 1.0  # one speaker's pauses up to this long stay inside the turn
    # Two voices only if the two centroids are less similar than this (the call's
    # `confidence` is 0.5 exactly there), the split is this clear, and the smaller voice
    # has this share of the windows. Same-voice calls gave 0.825-0.95, distinct voices
    # 0.63-0.79 (synthetic and real calls; see docs/diarization.md).
    max_centroid_similarity: float = 0.81
    min_silhouette: float = 0.25
    min_minor_share: float = 0.05
    cluster: ClusterOptions = field(default_factory=ClusterOptions)


@dataclass
class SpeakerTurn:
    """One speaker's stretch of the call, in seconds; confidence in [0, 1]."""

    start: float
    end: float
    speaker: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 2), "end": round(self.end, 2), "speaker": self.speaker,
                "confidence": round(self.confidence, 3)}


def _span(item: Any) -> tuple[float, float]:
    """(start, end) of a word/utterance given as an object with .start/.end or a dict."""
    if isinstance(item, dict):
        return float(item["start"]), float(item["end"])
    return float(item.start), float(item.end)


@dataclass
class Diarization:
    """The result: speaker turns plus how much to trust the two-speaker split.

    `turns` is the decision: two speakers, or all speech as speaker 0 when the call is
    probably one voice. `split_turns` is always the two-way split, for callers that want
    to make that call themselves (e.g. with the words). Speaker 0 speaks first.
    """

    turns: list[SpeakerTurn]
    split_turns: list[SpeakerTurn]
    duration_s: float
    two_speakers: bool
    confidence: float  # 0..1: how clearly two different voices were found (0.5 = the threshold)
    silhouette: float
    centroid_similarity: float
    n_windows: int
    notes: list[str] = field(default_factory=list)

    @property
    def speakers(self) -> list[int]:
        return sorted({t.speaker for t in self.turns})

    def speech_s(self, speaker: int) -> float:
        return sum(t.end - t.start for t in self.turns if t.speaker == speaker)

    def speaker_at(self, t: float, tolerance_s: float = 0.5) -> int | None:
        """The speaker talking at time t, else the nearest turn within tolerance, else None."""
        best, best_dist = None, tolerance_s
        for turn in self.turns:
            if turn.start <= t < turn.end:
                return turn.speaker
            dist = min(abs(turn.start - t), abs(turn.end - t))
            if dist <= best_dist:
                best, best_dist = turn.speaker, dist
        return best

    def speaker_of_span(self, start: float, end: float, tolerance_s: float = 0.5) -> int | None:
        """The speaker with most overlap with [start, end]; nearest turn if none overlaps."""
        overlap: dict[int, float] = {}
        for turn in self.turns:
            o = min(end, turn.end) - max(start, turn.start)
            if o > 0:
                overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + o
        if overlap:
            return max(sorted(overlap), key=lambda s: overlap[s])
        return self.speaker_at((start + end) / 2, tolerance_s)

    def assign(self, items: list[Any], tolerance_s: float = 0.5) -> list[int | None]:
        """Speaker of each timed item (Word/Utterance objects with .start/.end, or dicts)."""
        return [self.speaker_of_span(*_span(item), tolerance_s=tolerance_s) for item in items]

    def split(self, items: list[Any], tolerance_s: float = 0.5) -> dict[int, list[Any]]:
        """Timed items grouped by speaker, in order; items near no turn are left out."""
        groups: dict[int, list[Any]] = {0: [], 1: []}
        for item, speaker in zip(items, self.assign(items, tolerance_s)):
            if speaker is not None:
                groups[speaker].append(item)
        return groups

    def sample_mask(self, speaker: int, n_samples: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """Boolean mask over the samples: True inside this speaker's turns."""
        mask = np.zeros(n_samples, dtype=bool)
        for turn in self.turns:
            if turn.speaker == speaker:
                mask[int(round(turn.start * sample_rate)) : int(round(turn.end * sample_rate))] = True
        return mask

    def virtual_channels(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> dict[int, np.ndarray]:
        """The mono signal gated by each speaker's turns (zeros elsewhere), like a stereo call's channels.

        Feed these to the acoustic analyzers (loudness, rate, activity) as agent/customer
        once the roles are known. Overlapped speech goes to one of the two only.
        """
        samples = np.asarray(samples)
        return {s: np.where(self.sample_mask(s, len(samples), sample_rate), samples, 0).astype(samples.dtype)
                for s in (0, 1)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (rounded), e.g. for a `diarization` key in the per-call JSON."""
        return {
            "two_speakers": self.two_speakers,
            "confidence": round(self.confidence, 3),
            "silhouette": round(self.silhouette, 3),
            "centroid_similarity": round(self.centroid_similarity, 3),
            "speech_s": {str(s): round(self.speech_s(s), 2) for s in self.speakers},
            "turns": [t.to_dict() for t in self.turns],
            # The rejected two-way split, kept when the call was judged one voice.
            **({} if self.two_speakers else {"split_turns": [t.to_dict() for t in self.split_turns]}),
            "notes": list(self.notes),
        }


def speech_regions(samples: np.ndarray, options: DiarizationOptions,
                   speech: ChannelSpeech | None = None) -> list[tuple[int, int]]:
    """Silero VAD speech stretches as (start_frame, end_frame) in 10 ms frames.

    `speech`: the channel's VAD probabilities when the caller has them already (a scored
    call runs Silero once per channel for transcription), else computed here; the
    stretches are cut from them as faster-whisper's `get_speech_timestamps` would."""
    if speech is None or speech.n_samples != len(samples):
        speech = ChannelSpeech.of(samples)
    chunks = speech.segments(SegmenterOptions(
        threshold=options.vad_threshold, min_silence_ms=options.vad_min_silence_ms,
        speech_pad_ms=options.vad_speech_pad_ms, min_speech_ms=options.vad_min_speech_ms))
    n_frames = len(samples) // HOP
    regions: list[tuple[int, int]] = []
    for first, last in chunks:
        start, end = first // HOP, min(n_frames, -(-last // HOP))
        if regions and start <= regions[-1][1]:
            regions[-1] = (regions[-1][0], max(end, regions[-1][1]))
        elif end > start:
            regions.append((start, end))
    return regions


def _window_starts(n: int, width: int, step: int) -> list[int]:
    if n <= width:
        return [0]
    starts = list(range(0, n - width + 1, step))
    if starts[-1] != n - width:
        starts.append(n - width)
    return starts


def _absorb_short_runs(labels: np.ndarray, min_len: int) -> np.ndarray:
    """Flip runs shorter than min_len to their neighbours' label, shortest first."""
    labels = labels.copy()
    while True:
        edges = np.flatnonzero(np.diff(labels)) + 1
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [len(labels)]])
        if len(starts) < 2:
            return labels
        lengths = ends - starts
        i = int(np.argmin(lengths))
        if lengths[i] >= min_len:
            return labels
        labels[starts[i] : ends[i]] = 1 - labels[starts[i]]


@dataclass
class Analysis:
    """What the encoder saw: speech stretches (call frames), windows (speech frames), embeddings."""

    duration_s: float
    regions: list[tuple[int, int]]
    windows: list[tuple[int, int]]
    embeddings: np.ndarray


class Diarizer:
    """Holds the encoder (weights verified once) and diarizes any number of calls."""

    def __init__(self, options: DiarizationOptions | None = None, encoder: SpeakerEncoder | None = None):
        self.options = options or DiarizationOptions()
        self.encoder = encoder or SpeakerEncoder()

    def __call__(self, samples: np.ndarray, speech: ChannelSpeech | None = None) -> Diarization:
        """Diarize 16 kHz mono float32 samples (`speech`: their VAD probabilities, if known)."""
        return self.decide(self.analyse(samples, speech))

    def windows(self, regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """(start, length) of each window in speech frames (pauses removed), never across a pause."""
        o = self.options
        width, shortest = o.window_frames, int(round(o.min_window_s / FRAME_S))
        out, offset = [], 0
        for a, b in regions:
            n = b - a
            if n >= width:
                out += [(offset + s, width) for s in _window_starts(n, width, o.step_frames)]
            elif n >= shortest:
                out.append((offset, n))
            offset += n
        if not out and offset:  # only very short stretches: embed the speech as one window
            out.append((0, min(offset, width)))
        return out

    def embed_windows(self, speech: np.ndarray, windows: list[tuple[int, int]]) -> np.ndarray:
        """Embeddings of windows over pause-free speech, each levelled and sized as GE2E expects."""
        width = self.options.window_frames
        mel = mel_spectrogram(speech)
        batch = []
        for s, length in windows:
            gain = normalise_gain(speech[s * HOP : (s + length) * HOP])
            window = mel[s : s + length] * np.float32(gain * gain)  # power spectrum: gain squared
            if length < width:  # loop a short stretch up to 1.6 s, ending on its last frame
                window = np.tile(window, (-(-width // length), 1))[-width:]
            batch.append(window)
        return self.encoder.embed_partials(batch)

    def analyse(self, samples: np.ndarray, speech: ChannelSpeech | None = None) -> Analysis:
        """The costly part: speech stretches, windows and their embeddings."""
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        duration = len(samples) / SAMPLE_RATE
        regions = speech_regions(samples, self.options, speech)
        if not regions:
            return Analysis(duration, [], [], np.zeros((0, HIDDEN), dtype=np.float32))
        speech = np.concatenate([samples[a * HOP : b * HOP] for a, b in regions])
        windows = self.windows(regions)
        return Analysis(duration, regions, windows, self.embed_windows(speech, windows))

    def frame_scores(self, analysis: Analysis, centroids: np.ndarray, spread: float) -> np.ndarray:
        """Per speech frame: Hann-weighted mean normalised margin (+1 = at centroid 0, -1 = at 1)."""
        n = sum(b - a for a, b in analysis.regions)
        margins = (analysis.embeddings @ centroids[0] - analysis.embeddings @ centroids[1]) / spread
        score, weight = np.zeros(n), np.zeros(n)
        for (s, length), m in zip(analysis.windows, margins):
            kernel = np.hanning(length + 2)[1:-1]
            score[s : s + length] += kernel * m
            weight[s : s + length] += kernel
        covered = weight > 0
        score[covered] /= weight[covered]
        if not covered.all():  # frames of too-short stretches: the nearest covered frame's score
            idx = np.flatnonzero(covered)
            pos = np.arange(n)
            after = idx[np.clip(np.searchsorted(idx, pos), 0, len(idx) - 1)]
            before = idx[np.clip(np.searchsorted(idx, pos) - 1, 0, len(idx) - 1)]
            nearest = np.where(np.abs(before - pos) < np.abs(after - pos), before, after)
            score[~covered] = score[nearest[~covered]]
        return score

    def decide(self, analysis: Analysis) -> Diarization:
        """Cluster the window embeddings and turn them into speaker turns."""
        o = self.options
        if not analysis.regions:
            return Diarization([], [], analysis.duration_s, False, 0.0, 0.0, 1.0, 0, ["no speech found"])
        frames = np.concatenate([np.arange(a, b) for a, b in analysis.regions])  # speech -> call frame
        clusters = two_clusters(analysis.embeddings, o.cluster)
        spread = max(1e-6, 1.0 - clusters.centroid_similarity)
        score = self.frame_scores(analysis, clusters.centroids, spread)
        labels = (score < 0).astype(np.int64)
        bounds = np.cumsum([0] + [b - a for a, b in analysis.regions])
        min_run = max(1, int(round(o.min_turn_s / FRAME_S)))
        for a, b in zip(bounds[:-1], bounds[1:]):
            if (b - a) * FRAME_S <= o.vote_max_s:  # a short stretch is one voice
                labels[a:b] = int(score[a:b].sum() < 0)
            else:
                labels[a:b] = _absorb_short_runs(labels[a:b], min_run)
        if labels[0] == 1:  # speaker 0 is whoever speaks first
            labels, score = 1 - labels, -score
        split_turns = self._turns(frames, labels, np.where(labels == 0, score, -score))

        confidence = float(np.clip(0.5 + (o.max_centroid_similarity - clusters.centroid_similarity) / 0.2,
                                   0.0, 1.0))
        minor_share = min(clusters.sizes) / max(1, sum(clusters.sizes))
        two = (confidence >= 0.5 and clusters.silhouette >= o.min_silhouette
               and minor_share >= o.min_minor_share)
        notes, turns = [], split_turns
        if not two:
            notes.append(
                f"probably one speaker (centroid similarity {clusters.centroid_similarity:.2f}, "
                f"silhouette {clusters.silhouette:.2f}, smaller voice {minor_share:.0%} of windows): "
                "all speech given to speaker 0"
            )
            turns = self._turns(frames, np.zeros_like(labels), np.full(len(labels), 1.0 - confidence))
        return Diarization(turns, split_turns, analysis.duration_s, two, confidence, clusters.silhouette,
                           clusters.centroid_similarity, len(analysis.windows), notes)

    def _turns(self, frames: np.ndarray, labels: np.ndarray, agree: np.ndarray) -> list[SpeakerTurn]:
        """Runs of one label over the call's frames; `agree` > 0 where a frame leans to its label."""
        merge = int(round(self.options.merge_gap_s / FRAME_S))
        turns: list[SpeakerTurn] = []
        begin = 0
        for i in range(1, len(frames) + 1):
            if i < len(frames) and labels[i] == labels[begin] and frames[i] - frames[i - 1] <= merge + 1:
                continue
            conf = float(np.mean(np.clip(agree[begin:i], 0.0, 1.0)))
            start, end = frames[begin] * FRAME_S, (frames[i - 1] + 1) * FRAME_S
            turns.append(SpeakerTurn(round(start, 2), round(end, 2), int(labels[begin]), conf))
            begin = i
        return turns


_DEFAULT: Diarizer | None = None


def diarize(samples: np.ndarray, options: DiarizationOptions | None = None) -> Diarization:
    """Two-speaker diarization of 16 kHz mono float32 samples (the encoder loads once per process)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Diarizer()
    if options is not None and options != _DEFAULT.options:
        return Diarizer(options, encoder=_DEFAULT.encoder)(samples)
    return _DEFAULT(samples)


def load_mono(path: str | Path) -> np.ndarray:
    """Decode any recording coach reads (WAV PCM/mu-law/A-law, MP3, Opus, FLAC) to 16 kHz mono.

    Stereo files are mixed down (the average of the channels), as a mono archive would be.
    """
    from coach.audio import load_call  # coach.audio imports the contract module the lead is moving

    call = load_call(path)
    channels = list(call.channels.values())
    return channels[0] if len(channels) == 1 else np.mean(channels, axis=0).astype(np.float32)


def diarize_file(path: str | Path, options: DiarizationOptions | None = None) -> Diarization:
    """Decode a recording (mixing stereo down) and diarize it."""
    return diarize(load_mono(path), options)
