"""Batch transcription of one speaker channel into Utterances with word timestamps.

Each channel is transcribed on its own (dual-channel calls keep speakers
apart for free). VAD removes silence before Whisper sees it, and the
hallucination filter drops what Whisper invents on noise. The default
"fast" mode (coach.asr.fast) decodes short VAD segments in batches, encoded
only as long as they are: 1.7x plain faster-whisper with the same text
(docs/benchmarks.md).

A channel may be given as int16 PCM (`CallAudio.pcm`, in memory or a
`PcmFile`) or float32; fast mode converts one batch of segments at a time,
so a 2-hour channel never exists as float32. The VAD pass (`find_speech`) can be
run once per channel and handed to `detect_language` and `transcribe`, and
tells on its own whether a channel has speech at all.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel

from coach.asr.fast import FastOptions, decode_segments
from coach.asr.hallucinations import HallucinationFilter
from coach.asr.heap import return_large_frees
from coach.asr.language import PACK_LANGUAGES
from coach.asr.language import detect_language as detect_speech_language
from coach.asr.vad import ChannelSpeech, to_float32
from coach.asr.whisper_ops import WhisperOps, whisper_language
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
    decode_workers: int = 1  # model replicas decoding at once, sharing the threads; 0: one per thread
    compute_type: str = "int8"
    device: str = "cpu"
    hallucinations: HallucinationFilter = field(default_factory=HallucinationFilter)


def load_whisper(model: ResolvedModel, options: TranscriberOptions) -> WhisperModel:
    """Load the model once; a clear error if it cannot be (offline, corrupt, wrong folder).

    Also makes the C allocator return large freed blocks (coach.asr.heap), before the
    model's own allocations: transcription's peak memory is then what it uses."""
    return_large_frees()
    threads, workers = thread_split(options)
    try:
        return WhisperModel(
            model.path,
            device=options.device,
            compute_type=options.compute_type,
            cpu_threads=threads,
            num_workers=workers,
            local_files_only=model.local,
        )
    except Exception as exc:  # faster-whisper raises many types; all mean "cannot load"
        where = "local folder" if model.local else "Hugging Face (needs network)"
        raise ModelError(f"cannot load Whisper model '{model.name}' from {where}: {exc}") from exc


def thread_split(options: TranscriberOptions) -> tuple[int, int]:
    """(threads per replica, replicas): `cpu_threads` (0: all cores) shared by `decode_workers`
    replicas (0: one per thread), never more replicas than threads. On a GPU one replica."""
    threads = options.cpu_threads or os.cpu_count() or 1
    if options.device != "cpu":
        return threads, 1
    workers = min(options.decode_workers or threads, threads)
    return max(1, threads // workers), workers


class Transcriber:
    """Turns a channel's samples into filtered Utterances for one speaker."""

    def __init__(self, whisper: WhisperModel, options: TranscriberOptions):
        self.whisper = whisper
        self.ops = WhisperOps(whisper)
        self.options = options
        self._batched = BatchedInferencePipeline(whisper) if options.mode == "batched" else None

    def find_speech(self, audio: np.ndarray) -> ChannelSpeech:
        """The VAD pass over a channel (int16 or float32): `.has_speech`, `.seconds`, and what
        `detect_language` and `transcribe` take as `speech=` instead of running VAD again."""
        return ChannelSpeech.of(audio)

    def detect_language(self, audio: np.ndarray, candidates: tuple[str, ...] = PACK_LANGUAGES,
                        speech: ChannelSpeech | None = None) -> tuple[str, float]:
        """(language, probability) among `candidates`, on the channel's first 10-30 s of speech."""
        return detect_speech_language(self.ops, audio, candidates, speech)

    def transcribe(self, audio: np.ndarray, speaker: str, language: str,
                   speech: ChannelSpeech | None = None) -> list[Utterance]:
        """Utterances of one speaker's channel (int16 or float32, 16 kHz), in time order."""
        opts = self.options
        common = dict(
            language=whisper_language(language),
            beam_size=opts.beam_size,
            word_timestamps=True,
            vad_filter=True,
            vad_parameters={"min_silence_duration_ms": opts.vad_min_silence_ms},
            condition_on_previous_text=False,
        )
        if opts.mode == "fast":
            fast = FastOptions(batch_size=opts.batch_size, min_silence_ms=opts.vad_min_silence_ms)
            segments = decode_segments(self.ops, audio, language, fast, speech)
        elif self._batched is not None:
            segments, _info = self._batched.transcribe(to_float32(audio), batch_size=opts.batch_size,
                                                       **common)
        else:
            segments, _info = self.whisper.transcribe(to_float32(audio), **common)
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
            reason = opts.hallucinations.squeezed([(w.start, w.end) for w in words], seg.avg_logprob)
            if reason:
                log.info("dropped %s segment %.1f-%.1f %r: %s", speaker, seg.start, seg.end,
                         seg.text, reason)
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
