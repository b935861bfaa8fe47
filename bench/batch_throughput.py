"""Batch throughput: `coach score` against plain faster-whisper on the same call, same run.

Makes a dual-channel call of at least 5 minutes from the committed fixture
calls (or takes --call FILE), then measures seconds of call audio per wall
second for:
  (a) plain faster-whisper `WhisperModel.transcribe()` of both channels, with
      the same model, beam size and VAD settings coach uses;
  (b) coach's scorer end to end (decode, transcribe, rules, analyzers, score);
and prints the ratio b/a. Model loading is excluded from both (it happens
once per process). Run: `.venv/bin/python bench/batch_throughput.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

from coach import numerics as _pinned  # noqa: F401  (first: pins the numerical path before numpy loads)

# isort: split
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coach.audio import load_call  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "calls"
SOURCES = ["clean_call.wav", "forbidden_agent.wav", "name_used.wav", "interruption.wav",
           "loud_line.wav", "fast_line.wav", "long_gap.wav", "name_not_used.wav"]


def make_long_call(path: Path, min_seconds: float) -> float:
    """Concatenate fixture calls (both channels) until the call is long enough."""
    pieces: list[np.ndarray] = []
    total = 0.0
    while total < min_seconds:
        for name in SOURCES:
            call = load_call(FIXTURES / name)
            stereo = np.stack([call.channels["agent"], call.channels["customer"]], axis=1)
            pieces.append(stereo)
            total += call.duration_s
            if total >= min_seconds:
                break
    audio = np.concatenate(pieces)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return len(audio) / 16000


def load_scorer(threads: int, asr_mode: str):
    """The product's entry point: `coach.Coach` (language pinned to ru, as the fixtures are),
    or on older trees `coach.scorer.CallScorer`. Both have `.score(path)` and `.transcriber`."""
    try:
        from coach.config import CoachConfig
        from coach.core import Coach
    except ImportError:
        from coach.scorer import CallScorer, ScoreOptions

        return CallScorer(ScoreOptions(cpu_threads=threads, asr_mode=asr_mode))
    return Coach.load(CoachConfig(language="ru", cpu_threads=threads, asr_mode=asr_mode))


def plain_whisper(scorer, threads: int):
    """The same model files loaded the plain way: one replica on all the threads coach uses
    (coach itself may split them between replicas: CoachConfig.decode_workers)."""
    from faster_whisper import WhisperModel

    if not hasattr(scorer, "model"):  # older trees: their one model, one replica on all threads
        return scorer.transcriber.whisper
    return WhisperModel(scorer.model.path, device="cpu", compute_type=scorer.config.compute_type,
                        cpu_threads=threads or os.cpu_count() or 1, local_files_only=scorer.model.local)


def plain_faster_whisper(scorer, whisper, path: Path, beam: int | None = None) -> float:
    """(a) what a user would write with faster-whisper alone: coach's beam (1) and VAD settings,
    or (a5) faster-whisper's own default beam of 5, as a QA tool built on it would run."""
    opts = scorer.transcriber.options
    call = load_call(path)
    started = time.perf_counter()
    for channel in call.channels.values():
        segments, _ = whisper.transcribe(
            channel, language="ru", beam_size=beam or opts.beam_size, word_timestamps=True,
            vad_filter=True, vad_parameters={"min_silence_duration_ms": opts.vad_min_silence_ms},
            condition_on_previous_text=False,
        )
        list(segments)
    return time.perf_counter() - started


def coach_end_to_end(scorer, path: Path) -> float:
    started = time.perf_counter()
    scorer.score(path)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--call", type=Path, help="a dual-channel call to use instead")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the generated call")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: all)")
    parser.add_argument("--asr-mode", default="fast", choices=("fast", "batched", "sequential"))
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is kept")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.call or Path(tmp) / "long_call.wav"
        if args.call is None:
            duration = make_long_call(path, args.minutes * 60)
        else:
            duration = load_call(path).duration_s
        scorer = load_scorer(args.threads, args.asr_mode)
        print(f"call: {duration:.0f} s of dual-channel audio; {os.cpu_count()} cores; "
              f"threads={scorer.transcriber.options.cpu_threads or 'all'}; "
              f"coach decode workers={getattr(scorer.transcriber.ops, 'workers', 1)}; "
              f"coach asr mode={args.asr_mode}; beam={scorer.transcriber.options.beam_size}")
        whisper = plain_whisper(scorer, args.threads)
        a = min(plain_faster_whisper(scorer, whisper, path) for _ in range(args.repeat))
        a5 = min(plain_faster_whisper(scorer, whisper, path, beam=5) for _ in range(args.repeat))
        b = min(coach_end_to_end(scorer, path) for _ in range(args.repeat))
    speed_a, speed_a5, speed_b = duration / a, duration / a5, duration / b
    print(f"(a)  plain faster-whisper transcribe(), beam 1: {a:7.1f} s wall = {speed_a:5.1f} s audio / s")
    print(f"(a5) plain faster-whisper transcribe(), beam 5: {a5:7.1f} s wall = {speed_a5:5.1f} s audio / s")
    print(f"(b)  coach score end to end:                    {b:7.1f} s wall = {speed_b:5.1f} s audio / s")
    print(f"ratio b/a  = {speed_b / speed_a:.2f}  (target >= 1.0; goal >= 1.3)")
    print(f"ratio b/a5 = {speed_b / speed_a5:.2f}  (target >= 2.0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
