"""Long calls in bounded memory: peak RSS and speed of scoring a 2-hour stereo call.

Makes a dual-channel call of `--hours` (default 2) by looping the committed
fixture calls into a temporary WAV (written piece by piece), then scores it
in a child process, so that the child's peak RSS is the scoring's alone:
  decode   -> int16 per channel (`coach.audio.load_call`, 460 MB for 2 h stereo)
  VAD      -> once per channel, in pieces (`Transcriber.find_speech`)
  ASR      -> `Transcriber.transcribe(call.pcm[speaker], ..., speech=...)`, float32 made
              one batch of segments at a time
  analyze  -> rules on the utterances; analyzers fed 60 s float32 pieces
              (`CallAudio.iter_chunks`), both speakers in time order
and prints the peak RSS after each phase and the speed (seconds of call per
wall second). `--whole` scores the same file with `coach.scorer.CallScorer`
instead (whole float32 channels: what bounded memory is measured against).
Run: `.venv/bin/python bench/long_call.py [--hours 2] [--whole]`.
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


def score_chunked(path: Path, threads: int, spill_after_s: float) -> dict:
    """The bounded-memory path (what `coach score` should do with a long call)."""
    from coach.scorer import analyzer_config_for

    from coach.analyzers import CallAnalyzers
    from coach.asr import Transcriber, TranscriberOptions, load_whisper
    from coach.asr.vad import no_speech_note
    from coach.audio import load_call
    from coach.models import resolve
    from coach.rules import Rulebook
    from coach.session import Session

    figures: dict = {}
    opts = TranscriberOptions(cpu_threads=threads)
    tr = Transcriber(load_whisper(resolve(None), opts), opts)
    rulebook = Rulebook.load("ru", [])
    figures["rss_after_model_mb"] = peak_mb()
    started = time.perf_counter()

    t = time.perf_counter()
    call = load_call(path, spill_after_s=spill_after_s)
    figures["decode_s"], figures["rss_after_decode_mb"] = time.perf_counter() - t, peak_mb()

    t = time.perf_counter()
    speech = {s: tr.find_speech(pcm) for s, pcm in call.pcm.items()}
    figures["vad_s"], figures["rss_after_vad_mb"] = time.perf_counter() - t, peak_mb()
    figures["no_speech_note"] = no_speech_note(speech)

    t = time.perf_counter()
    utterances = []
    for speaker, pcm in call.pcm.items():
        utterances += tr.transcribe(pcm, speaker, "ru", speech=speech[speaker])
    utterances.sort(key=lambda u: (u.start, u.speaker))
    figures["asr_s"], figures["rss_after_asr_mb"] = time.perf_counter() - t, peak_mb()

    t = time.perf_counter()
    speakers = tuple(call.pcm)
    analyzers = CallAnalyzers(analyzer_config_for([]), speakers=speakers, language="ru")
    session = Session(rulebook, speakers, analyzers)
    chunks = {s: call.iter_chunks(s, seconds=60.0) for s in speakers}
    for pieces in zip(*chunks.values()):
        for speaker, (start, samples) in zip(speakers, pieces):
            session.feed_audio(speaker, samples, start)
    for utt in utterances:
        session.add_utterance(utt)
    session.finish(call.duration_s)
    figures["analyze_s"], figures["rss_after_analyze_mb"] = time.perf_counter() - t, peak_mb()

    figures.update(total_s=time.perf_counter() - started, duration_s=call.duration_s,
                   utterances=len(utterances), events=len(session.events), peak_rss_mb=peak_mb())
    return figures


def score_whole(path: Path, threads: int, spill_after_s: float) -> dict:
    """The scorer as it is: whole float32 channels."""
    from coach.scorer import CallScorer, ScoreOptions

    scorer = CallScorer(ScoreOptions(cpu_threads=threads))
    rss_model = peak_mb()
    started = time.perf_counter()
    result = scorer.score(path)
    return {"rss_after_model_mb": rss_model, "total_s": time.perf_counter() - started,
            "duration_s": result["duration_s"], "utterances": len(result["transcript"]),
            "events": len(result["events"]), "peak_rss_mb": peak_mb()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=2.0, help="length of the generated call")
    parser.add_argument("--call", type=Path, help="a dual-channel call to use instead")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (default: all)")
    parser.add_argument("--whole", action="store_true", help="score with CallScorer (whole arrays)")
    parser.add_argument("--spill-after", type=float, default=None,
                        help="seconds past which samples go to disk (default: coach.audio's)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        from coach.audio import SPILL_AFTER_S

        score = score_whole if args.whole else score_chunked
        spill = SPILL_AFTER_S if args.spill_after is None else args.spill_after
        print(json.dumps(score(args.child, args.threads, spill)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        path = args.call or Path(tmp) / "long_call.wav"
        if args.call is None:
            make_long_call(path, args.hours * 3600)
        cmd = [sys.executable, __file__, "--child", str(path), "--threads", str(args.threads)]
        if args.whole:
            cmd.append("--whole")
        if args.spill_after is not None:
            cmd += ["--spill-after", str(args.spill_after)]
        child = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        if child.returncode:
            sys.stderr.write(child.stderr)
            return child.returncode
        figures = json.loads(child.stdout.strip().splitlines()[-1])
    duration = figures["duration_s"]
    print(f"call: {duration / 3600:.2f} h of dual-channel audio ({path.name}); {os.cpu_count()} cores; "
          f"path: {'CallScorer, whole float32 channels' if args.whole else 'int16 + float32 pieces'}")
    for key, value in figures.items():
        if key.endswith("_mb"):
            print(f"  {key:24s} {value:8.0f} MB")
        elif key.endswith("_s") and key != "duration_s":
            print(f"  {key:24s} {value:8.1f} s")
    print(f"  utterances {figures['utterances']}, events {figures['events']}, "
          f"no-speech note: {figures.get('no_speech_note')}")
    print(f"peak RSS {figures['peak_rss_mb']:.0f} MB (target < 1024 MB); "
          f"speed {duration / figures['total_s']:.1f} s of call per wall second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
