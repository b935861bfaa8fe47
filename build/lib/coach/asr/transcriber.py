"""Batch transcription of one speaker channel into Utterances with word timestamps.

Each channel is transcribed on its own (dual-channel calls keep speakers
apart for free). VAD removes silence before Whisper sees it, and the
hallucination filter drops what Whisper invents on noise. The default
"batched" mode decodes VAD segments in batches (faster-whisper's
BatchedInferencePipeline), measured faster than sequential decoding on
2 cores with the same text (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel

from coach.asr.fast import FastOptions, decode_segments
from coach.asr.hallucinations import HallucinationFilter
from coach.contract import Utterance, Word
from coach.errors import ModelError
from coach.models import ResolvedModel

log = logging.getLogger(__name__)


@dataclass
class TranscriberOptions:
    """How to run Whisper. `language` is pinned per call ("auto" detects once per call)."""

    language: str = "ru"
    beam_size: int = 1
    # "fast": short VAD segments, batched, encoded only as long as they are (coach.asr.fast);
    # "batched": faster-whisper's BatchedInferencePipeline; "sequential": plain transcribe().
    mode: str = "fast"
    batch_size: int = 8
    vad_min_silence_ms: int = 500
    turn_gap_s: float = 1.0  # a pause this long between words starts a new utterance
    cpu_threads: int = 0  # 0: all cores
    compute_type: str = "int8"
    device: str = "cpu"
    hallucinations: HallucinationFilter = field(default_factory=HallucinationFilter)


def load_whisper(model: ResolvedModel, options: TranscriberOptions) -> WhisperModel:
    """Load the model once; a clear error if it cannot be (offline, corrupt, wrong folder)."""
    threads = options.cpu_threads or os.cpu_count() or 1
    try:
        return WhisperModel(
            model.path,
            device=options.device,
            compute_type=options.compute_type,
            cpu_threads=threads,
            local_files_only=model.local,
        )
    except Exception as exc:  # faster-whisper raises many types; all mean "cannot load"
        where = "local folder" if model.local else "Hugging Face (needs network)"
        raise ModelError(f"cannot load Whisper model '{model.name}' from {where}: {exc}") from exc


class Transcriber:
    """Turns a channel's samples into filtered Utterances for one speaker."""

    def __init__(self, whisper: WhisperModel, options: TranscriberOptions):
        self.whisper = whisper
        self.options = options
        self._batched = BatchedInferencePipeline(whisper) if options.mode == "batched" else None

    def detect_language(self, audio: np.ndarray) -> str:
        language, _prob, _all = self.whisper.detect_language(audio)
        return language

    def transcribe(self, audio: np.ndarray, speaker: str, language: str) -> list[Utterance]:
        opts = self.options
        common = dict(
            language=language,
            beam_size=opts.beam_size,
            word_timestamps=True,
            vad_filter=True,
            vad_parameters={"min_silence_duration_ms": opts.vad_min_silence_ms},
            condition_on_previous_text=False,
        )
        if opts.mode == "fast":
            fast = FastOptions(batch_size=opts.batch_size, min_silence_ms=opts.vad_min_silence_ms)
            segments = decode_segments(self.whisper, audio, language, fast)
        elif self._batched is not None:
            segments, _info = self._batched.transcribe(audio, batch_size=opts.batch_size, **common)
        else:
            segments, _info = self.whisper.transcribe(audio, **common)
        utterances: list[Utterance] = []
        previous: str | None = None
        for seg in segments:
            reason = opts.hallucinations.is_hallucination(
                seg.text, seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio, previous
            )
            if reason:
                log.info("dropped %s segment %.1f-%.1f %r: %s", speaker, seg.start, seg.end,
                         seg.text, reason)
                continue
            words = [_word(w) for w in (seg.words or [])]
            words = [w for w in words if w.text]
            if not words:
                continue
            utterances += split_on_pauses(words, speaker, opts.turn_gap_s)
            previous = seg.text
        return utterances


def _word(w) -> Word:
    """faster-whisper Word objects and coach.asr.fast dicts alike."""
    if isinstance(w, dict):
        return Word(w["word"].strip(), float(w["start"]), float(w["end"]), float(w["probability"]))
    return Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))


def split_on_pauses(words: list[Word], speaker: str, gap_s: float) -> list[Utterance]:
    """Cut a decoded segment into turns at pauses.

    Batched decoding merges VAD chunks into up to 30 s segments; rules about
    "the agent's first/last turn" and the transcript a trainer reads need the
    turns back, which the word timestamps give.
    """
    groups: list[list[Word]] = [[words[0]]]
    for word in words[1:]:
        if word.start - groups[-1][-1].end >= gap_s:
            groups.append([word])
        else:
            groups[-1].append(word)
    return [
        Utterance(speaker, g[0].start, g[-1].end, " ".join(w.text for w in g), g) for g in groups
    ]
