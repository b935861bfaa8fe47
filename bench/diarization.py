"""What diarizing a mono call costs, next to transcribing the same audio with Whisper.

Builds a mono call of at least --minutes from the committed stereo fixture
calls (mixed down and stored as 8 kHz mu-law, as an archive would), then in
one run measures on the same 16 kHz samples:
  (a) faster-whisper `transcribe()` with coach's model and settings for batch
      scoring (Whisper base int8, beam 1, word timestamps, VAD);
  (b) coach's diarizer, split into its parts: VAD + GE2E embeddings, then
      clustering and turns;
and prints seconds per minute of audio and the ratio b/a. Model loading is
excluded from both (once per process). Then (c) `coach score` end to end on the
same call as an 8 kHz mu-law file, with its defaults (language auto, diarize,
verification on; its own model, loaded before the clock starts), as times real
time: issue 11's target is 10x on 2 cores. Figures move with the machine's load:
compare the ratio, not the seconds.

Run: .venv/bin/python bench/diarization.py [--minutes 3] [--repeat 2] [--encoder-threads 1] [--no-score]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from coach import numerics as _pinned  # noqa: F401  (first: pins the numerical path before numpy loads)

# isort: split
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coach.diarization import Diarizer, SpeakerEncoder, load_mono  # noqa: E402
from coach.models import resolve  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "calls"
SOURCES = ["clean_call.wav", "forbidden_agent.wav", "name_used.wav", "interruption.wav", "loud_line.wav",
           "fast_line.wav", "long_gap.wav", "name_not_used.wav", "backchannel.wav"]


def make_mono_call(tmp: Path, minutes: float) -> np.ndarray:
    """Fixture calls mixed to 8 kHz mu-law mono, decoded back to 16 kHz, joined to length."""
    pieces, total = [], 0.0
    while total < minutes * 60:
        for name in SOURCES:
            out = tmp / f"{Path(name).stem}.wav"
            if not out.exists():
                subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(FIXTURES / name), "-ac", "1",
                                "-ar", "8000", "-c:a", "pcm_mulaw", str(out)], check=True)
            x = load_mono(out)
            pieces.append(x)
            total += len(x) / 16000
            if total >= minutes * 60:
                break
    return np.concatenate(pieces)


def best_of(repeat: int, fn) -> tuple[float, float]:
    """(wall s, CPU s of this process over all its threads), best run. On a shared machine
    CPU seconds move less with the load than wall seconds."""
    runs = []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the mono call")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best is kept")
    parser.add_argument("--encoder-threads", type=int, default=1, help="BLAS threads for the encoder")
    parser.add_argument("--language", default="ru")
    parser.add_argument("--no-score", action="store_true", help="skip (c), coach score end to end")
    args = parser.parse_args()

    from faster_whisper import WhisperModel

    with tempfile.TemporaryDirectory() as tmp:
        audio = make_mono_call(Path(tmp), args.minutes)
        if not args.no_score:
            scored = score_end_to_end(audio, Path(tmp) / "mono_call.wav", args.repeat)
    minutes = len(audio) / 16000 / 60
    model = resolve(None)
    whisper = WhisperModel(model.path, device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)
    diarizer = Diarizer(encoder=SpeakerEncoder(threads=args.encoder_threads))
    print(f"mono call: {minutes * 60:.0f} s (fixture calls as 8 kHz mu-law); {os.cpu_count()} cores; "
          f"Whisper {model.name} int8 beam 1; encoder BLAS threads {args.encoder_threads}")

    def transcribe() -> None:
        segments, _ = whisper.transcribe(audio, language=args.language, beam_size=1, word_timestamps=True,
                                         vad_filter=True, vad_parameters={"min_silence_duration_ms": 500},
                                         condition_on_previous_text=False)
        list(segments)

    analysis = {}

    def analyse() -> None:
        analysis["a"] = diarizer.analyse(audio)

    a = best_of(args.repeat, transcribe)
    b1 = best_of(args.repeat, analyse)
    b2 = best_of(args.repeat, lambda: diarizer.decide(analysis["a"]))
    result = diarizer.decide(analysis["a"])
    b = (b1[0] + b2[0], b1[1] + b2[1])

    def line(label: str, t: tuple[float, float]) -> str:
        return (f"{label:31} {t[0]:6.1f} s wall = {t[0] / minutes:5.2f} s/audio min; "
                f"CPU {t[1]:6.1f} s = {t[1] / minutes:5.2f} s/audio min")

    print(line("(a) Whisper transcribe():", a))
    print(line("(b) diarize, VAD + embeddings:", b1) + f"  ({result.n_windows} windows)")
    print(line("    diarize, clustering + turns:", b2) + f"  ({len(result.split_turns)} turns)")
    print(line("    diarize, total:", b))
    print(f"ratio b/a = {b[0] / a[0]:.2f} wall, {b[1] / a[1]:.2f} CPU  "
          "(diarization cost as a share of transcription)")
    if not args.no_score:
        wall, cpu, result = scored
        print(line("(c) coach score, end to end:", (wall, cpu))
              + f"  = {minutes * 60 / wall:.1f}x real time ({len(result.transcript)} utterances, "
                f"{len(result.events)} findings, diarized {result.extra.get('diarized')})")
    return 0


def score_end_to_end(audio: np.ndarray, path: Path, repeat: int):
    """(wall s, CPU s, result) of `Coach.score` on the call written as 8 kHz mu-law, best run."""
    from coach import Coach, CoachConfig

    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "f32le", "-ar", "16000", "-ac", "1",
                    "-i", "pipe:0", "-ar", "8000", "-c:a", "pcm_mulaw", str(path)],
                   input=audio.astype(np.float32).tobytes(), check=True)
    coach = Coach.load(CoachConfig())
    out = {}
    wall, cpu = best_of(repeat, lambda: out.update(r=coach.score(path)))
    return wall, cpu, out["r"]


if __name__ == "__main__":
    sys.exit(main())
