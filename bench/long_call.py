"""Long calls in bounded memory: peak RSS and speed of scoring a 2-hour stereo call.

Makes a dual-channel call of `--hours` (default 2) by looping the committed
fixture calls into a temporary WAV (written piece by piece), then scores it
with `Coach.score` in a child process, so that the child's peak RSS is the
scoring's alone: decode to int16 per channel (on disk past 30 min), VAD once
per channel, transcription one batch of segments at a time (as many at once
as there are model replicas: `--decode-workers`), rules, analyzers fed 60 s
pieces. Prints the peak RSS after the model and after the call, and the speed
(seconds of call per wall second).
Run: `.venv/bin/python bench/long_call.py [--hours 2] [--decode-workers N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


import coach  # noqa: E402,F401  (pins the numerical path before numpy and CTranslate2 load)

# isort: split
import numpy as np  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "calls"
SOURCES = ["clean_call.wav", "forbidden_agent.wav", "name_used.wav", "interruption.wav",
           "loud_line.wav", "fast_line.wav", "long_gap.wav", "name_not_used.wav"]


def make_long_call(path: Path, seconds: float) -> float:
    """Loop the fixture calls (both channels) into a 16 kHz stereo WAV, one call at a time."""
    from coach.audio import load_call

    pieces = []
    for name in SOURCES:
        call = load_call(FIXTURES / name)
        pieces.append(np.stack([call.pcm["agent"], call.pcm["customer"]], axis=1).tobytes())
    written = 0
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        while written < seconds * 16000:
            for data in pieces:
                w.writeframes(data)
                written += len(data) // 4
                if written >= seconds * 16000:
                    break
    return written / 16000


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def score_call(path: Path, threads: int, workers: int) -> dict:
    """`Coach.score` as `coach score` runs it (decode, VAD, transcription, rules, analyzers fed
    60 s pieces, phrase verification), with peak RSS after the model and after the call."""
    from coach import Coach, CoachConfig

    coach_ = Coach.load(CoachConfig(language="ru", cpu_threads=threads, decode_workers=workers))
    figures: dict = {"rss_after_model_mb": peak_mb(), "decode_workers": coach_.transcriber.ops.workers}
    started = time.perf_counter()
    result = coach_.score(path)
    figures.update(total_s=time.perf_counter() - started, duration_s=result.duration_s,
                   utterances=len(result.transcript), events=len(result.events),
                   notes=result.get("notes"), peak_rss_mb=peak_mb())
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=2.0, help="length of the generated call")
    parser.add_argument("--call", type=Path, help="a dual-channel call to use instead")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: all)")
    parser.add_argument("--decode-workers", type=int, default=0,
                        help="model replicas decoding at once (default 0: one per thread, as `coach score`)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(score_call(args.child, args.threads, args.decode_workers)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        path = args.call or Path(tmp) / "long_call.wav"
        if args.call is None:
            make_long_call(path, args.hours * 3600)
        cmd = [sys.executable, __file__, "--child", str(path), "--threads", str(args.threads),
               "--decode-workers", str(args.decode_workers)]
        child = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if child.returncode:
            sys.stderr.write(child.stderr)
            return child.returncode
        figures = json.loads(child.stdout.strip().splitlines()[-1])
    duration = figures["duration_s"]
    print(f"call: {duration / 3600:.2f} h of dual-channel audio ({path.name}); {os.cpu_count()} cores; "
          f"decode workers {figures['decode_workers']}")
    for key, value in figures.items():
        if key.endswith("_mb"):
            print(f"  {key:24s} {value:8.0f} MB")
        elif key.endswith("_s") and key != "duration_s":
            print(f"  {key:24s} {value:8.1f} s")
    print(f"  utterances {figures['utterances']}, events {figures['events']}, notes: {figures['notes']}")
    print(f"peak RSS {figures['peak_rss_mb']:.0f} MB (target < 1024 MB); "
          f"speed {duration / figures['total_s']:.1f} s of call per wall second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
