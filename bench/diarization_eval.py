"""Diarization accuracy on mono calls made from two known voices.

Builds two-speaker calls with one voice per channel (so each channel's energy
is an exact reference), mixes them to one channel the way call-centre
archives store them, diarizes the mono file and prints frame-level speaker
confusion per call (evaluate.py: 0.25 s collar, overlap not scored): `conf`
for the decided turns (all speech to one speaker when the call looks like one
voice), `split` for the two-way split before that decision.

Calls:
  fixture/*      the committed stereo fixture calls and the demo call
                 (festival msu_ru_nsh; customer = the same voice +450 cents)
  ru-close       the demo dialogue with both voices pitch-shifted, +100 vs +250 cents
  en-espeak      an English dialogue, espeak-ng en-us vs en-gb-x-rp: the same default
                 voice, only the accent differs (a worst case: no timbre difference)
  kal-espeak     festival kal_diphone (US male) vs espeak-ng en-us
  espeak-m3-m7   espeak-ng en-us+m3 vs en-gb+m7 (two male voice variants)
  1spk-*         one voice only (must be flagged "probably one speaker")
Encodings: mulaw (8 kHz G.711 mu-law WAV), gsm (8 kHz GSM 6.10 WAV),
agc (sox compand, a crude automatic gain control, then mulaw).

Needs festival (+ festvox-ru, festvox-kallpc16k), espeak-ng, sox, ffmpeg.
Run: .venv/bin/python bench/diarization_eval.py [--quick] [--only PREFIX] [--json FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

from coach import numerics as _pinned  # noqa: F401  (first: pins the numerical path before numpy loads)

# isort: split
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coach.audio import load_call  # noqa: E402
from coach.diarization import Diarizer, load_mono  # noqa: E402
from coach.diarization.evaluate import reference_labels, score  # noqa: E402

SR = 16000
FIXTURES = ROOT / "tests" / "fixtures" / "calls"
DEMO = ROOT / "samples" / "demo_call.wav"

EN_DIALOGUE = [
    ("A", "Good morning, thank you for calling North Star Telecom, my name is Daniel."),
    ("A", "How can I help you today?"),
    ("B", "Hi, my internet has been down since yesterday evening."),
    ("A", "I'm sorry to hear that. Could you give me your account number, please?"),
    ("B", "Sure, it's four five seven, two two nine, one eight."),
    ("A", "Thank you. One moment while I check the line."),
    ("B", "Okay."),
    ("A", "I can see an outage in your area. Engineers are working on it right now."),
    ("B", "How long will it take? I work from home and I really need it."),
    ("A", "They expect to finish by three o'clock this afternoon."),
    ("B", "That's a long time. Can you give me some kind of discount for this?"),
    ("A", "Yes, I can add a credit of five pounds to your next bill."),
    ("B", "All right, that helps a little. Thank you."),
    ("A", "Is there anything else I can do for you?"),
    ("B", "No, that's everything."),
    ("A", "Thank you for calling, and have a nice day."),
]
# Gap before each line (s); negative = starts before the previous line ends (overlap).
GAPS = [0.0, 0.35, 0.5, 0.3, 0.6, 0.25, 0.4, -0.3, 0.5, 0.2, 0.45, 0.3, 0.7, 0.35, 0.5, 0.4]


@dataclass(frozen=True)
class Voice:
    """How to render one speaker: engine, voice name and an optional sox pitch shift (cents)."""

    engine: str  # festival | espeak
    name: str
    pitch: int = 0


def run(cmd: list[str], stdin: bytes | None = None) -> None:
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')[-300:]}")


def read_mono16k(path: Path, work: Path) -> np.ndarray:
    out = work / (path.stem + ".raw")
    run(["sox", str(path), "-D", "-t", "raw", "-e", "floating-point", "-b", "32", "-r", str(SR), "-c", "1",
         str(out)])
    return np.fromfile(out, dtype="<f4").astype(np.float64)


def render(voice: Voice, text: str, work: Path) -> np.ndarray:
    key = hashlib.sha1(f"{voice}|{text}".encode()).hexdigest()[:16]
    raw = work / f"tts-{key}.wav"
    if not raw.exists():
        if voice.engine == "festival":
            run(["text2wave", "-eval", f"(voice_{voice.name})", "-o", str(raw)], stdin=text.encode("utf-8"))
        else:
            run(["espeak-ng", "-v", voice.name, "-w", str(raw), text])
        if voice.pitch:
            shifted = work / f"tts-{key}-p.wav"
            run(["sox", "-D", str(raw), str(shifted), "pitch", str(voice.pitch)])
            shifted.replace(raw)
    x = read_mono16k(raw, work)
    frame = SR // 100
    n = len(x) // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(20 * np.log10(rms) > 20 * np.log10(rms.max()) - 40)
    x = x[loud[0] * frame : (loud[-1] + 1) * frame]
    speech_rms = np.sqrt(np.mean(x**2))
    return x * (10 ** (-27 / 20) / speech_rms)


def build_dialogue(lines: list[tuple[str, str]], voices: dict[str, Voice], work: Path) -> np.ndarray:
    """Stereo (n, 2) float: speaker A left, B right, lines placed with GAPS."""
    placed, cursor = [], 0.5
    for i, (who, text) in enumerate(lines):
        clip = render(voices[who], text, work)
        start = max(0.0, cursor + GAPS[i % len(GAPS)]) if i else cursor
        placed.append((who, int(start * SR), clip))
        cursor = start + len(clip) / SR
    total = max(s + len(c) for _, s, c in placed) + SR // 2
    out = np.zeros((total, 2))
    for who, s, c in placed:
        out[s : s + len(c), 0 if who == "A" else 1] += c
    peak = np.abs(out).max()
    return out * (0.9 / peak) if peak > 0.9 else out


def write_stereo(path: Path, stereo: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(stereo.shape[1])
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(stereo, -1, 1) * 32767).round().astype("<i2").tobytes())


def encode(src: Path, kind: str, work: Path) -> Path:
    """Mix to mono and store as a call-centre archive would."""
    out = work / f"{src.stem}.{kind}.wav"
    base = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-ac", "1", "-ar", "8000"]
    if kind == "mulaw":
        run(base + ["-c:a", "pcm_mulaw", str(out)])
    elif kind == "gsm":
        run(base + ["-c:a", "libgsm_ms", str(out)])
    elif kind == "agc":
        mixed, mid = work / f"{src.stem}.mix.wav", work / f"{src.stem}.agcmid.wav"
        run(base + [str(mixed)])  # ffmpeg decodes what sox may not (MP3)
        # Fast attack, slow release, quiet speech lifted by up to ~20 dB: a crude AGC.
        run(["sox", str(mixed), str(mid), "compand", "0.01,0.3", "-70,-70,-50,-20,0,-8", "-6", "-30", "0.05"])
        run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(mid), "-c:a", "pcm_mulaw", str(out)])
    else:
        raise ValueError(kind)
    return out


def demo_lines() -> list[tuple[str, str]]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    lines = manifest["samples"]["samples/demo_call.wav"]["lines"]
    return [("A" if line["speaker"] == "agent" else "B", line.get("tts", line["text"]).replace(" | ", " "))
            for line in lines]


def calls(work: Path, quick: bool) -> list[tuple[str, Path, bool]]:
    """(name, stereo reference file or mono one-speaker file, two_speakers)."""
    out: list[tuple[str, Path, bool]] = []
    fixture_names = sorted(p.name for p in FIXTURES.glob("*.wav") if p.name != "mono_call.wav")
    if quick:
        fixture_names = ["clean_call.wav", "forbidden_agent.wav", "interruption.wav", "name_used.wav"]
    out += [(f"fixture/{n[:-4]}", FIXTURES / n, True) for n in fixture_names]
    out.append(("fixture/demo_call", DEMO, True))
    ru = Voice("festival", "msu_ru_nsh_clunits")
    made = {
        "ru-close": (demo_lines(), {"A": Voice("festival", "msu_ru_nsh_clunits", 100),
                                    "B": Voice("festival", "msu_ru_nsh_clunits", 250)}),
        "en-espeak": (EN_DIALOGUE, {"A": Voice("espeak", "en-us"), "B": Voice("espeak", "en-gb-x-rp")}),
        "kal-espeak": (EN_DIALOGUE, {"A": Voice("festival", "kal_diphone"), "B": Voice("espeak", "en-us")}),
        "espeak-m3-m7": (EN_DIALOGUE, {"A": Voice("espeak", "en-us+m3"), "B": Voice("espeak", "en-gb+m7")}),
    }
    for name, (lines, voices) in made.items():
        path = work / f"{name}.wav"
        if not path.exists():
            write_stereo(path, build_dialogue(lines, voices, work))
        out.append((name, path, True))
    one = {
        "1spk-ru": (demo_lines(), ru),
        "1spk-kal": (EN_DIALOGUE, Voice("festival", "kal_diphone")),
        "1spk-espeak": (EN_DIALOGUE, Voice("espeak", "en-us")),
    }
    for name, (lines, voice) in one.items():
        path = work / f"{name}.wav"
        if not path.exists():
            stereo = build_dialogue(lines, {"A": voice, "B": voice}, work)
            write_stereo(path, stereo)
        out.append((name, path, False))
    out.append(("1spk-fixture-mono", FIXTURES / "mono_call.wav", False))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="keep generated audio here")
    parser.add_argument("--quick", action="store_true", help="4 fixture calls, mulaw only")
    parser.add_argument("--only", default="", help="only calls whose name starts with this")
    parser.add_argument("--json", type=Path, default=None, help="write the per-call figures here")
    parser.add_argument("--stereo", type=Path, nargs="*", default=[],
                        help="more two-speaker calls with one speaker per channel (e.g. real recordings)")
    parser.add_argument("--one", type=Path, nargs="*", default=[],
                        help="more recordings of a single voice (must be flagged as one speaker)")
    parser.add_argument("--no-synthetic", action="store_true", help="only the --stereo / --one files")
    args = parser.parse_args(argv)
    tmp = tempfile.TemporaryDirectory(prefix="coach-diar-eval-") if args.workdir is None else None
    work = Path(tmp.name) if tmp else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    kinds = ["mulaw"] if args.quick else ["mulaw", "gsm", "agc"]
    diarizer = Diarizer()
    rows = []
    print(f"{'call':28} {'enc':6} {'dur s':>6} {'conf':>6} {'split':>6} {'miss':>6} {'FA':>6} "
          f"{'csim':>6} {'sil':>6} {'2spk':>5} {'s/min':>6}")
    todo = [] if args.no_synthetic else calls(work, args.quick)
    todo += [(f"extra/{p.stem}", p, True) for p in args.stereo] + [(f"1spk-extra/{p.stem}", p, False)
                                                                  for p in args.one]
    for name, path, two in todo:
        if not name.startswith(args.only):
            continue
        reference = None
        if two:
            left, right = load_call(path).channels.values()
            reference = reference_labels(left, right)
        for kind in kinds if two or name.startswith("1spk-") and "/" not in name else ["mulaw"]:
            mono = load_mono(encode(path, kind, work))
            t0 = time.perf_counter()
            result = diarizer(mono)
            cost = (time.perf_counter() - t0) / (len(mono) / SR / 60)
            row = {"call": name, "encoding": kind, "duration_s": round(len(mono) / SR, 1),
                   "two_speakers_truth": two, "two_speakers": result.two_speakers,
                   "centroid_similarity": round(result.centroid_similarity, 3),
                   "silhouette": round(result.silhouette, 3), "seconds_per_minute": round(cost, 2)}
            cells = ["     -"] * 4
            if reference is not None:
                ref = reference[: int(len(mono) / SR * 100)]
                decided = score(result, ref)
                split = score(result, ref, use_split=True)
                row.update(confusion=round(decided.confusion, 4), split_confusion=round(split.confusion, 4),
                           missed=round(decided.missed, 4), false_alarm=round(decided.false_alarm, 4))
                cells = [f"{row[k]:6.1%}" for k in ("confusion", "split_confusion", "missed", "false_alarm")]
            rows.append(row)
            print(f"{name:28} {kind:6} {row['duration_s']:6.1f} {' '.join(cells)} "
                  f"{result.centroid_similarity:6.3f} {result.silhouette:6.3f} "
                  f"{'yes' if result.two_speakers else 'no':>5} {cost:6.2f}", flush=True)
    scored = [r for r in rows if "confusion" in r]
    if scored:
        for key in ("confusion", "split_confusion"):
            values = np.array([r[key] for r in scored])
            print(f"two-speaker runs: {len(scored)}; {key} mean {values.mean():.1%}, "
                  f"median {np.median(values):.1%}, worst {values.max():.1%}")
        flagged = sum(not r["two_speakers"] for r in scored)
        print(f"two-speaker runs flagged 'probably one speaker': {flagged}")
    ones = [r for r in rows if not r["two_speakers_truth"]]
    if ones:
        print(f"one-speaker runs: {len(ones)}; flagged 'probably one speaker': "
              f"{sum(not r['two_speakers'] for r in ones)}")
    costs = [r["seconds_per_minute"] for r in rows]
    if costs:
        print(f"diarization cost: median {np.median(costs):.2f} s per minute of audio")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
