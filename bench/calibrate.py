"""Calibrate the acoustic analyzers on your own recordings.

The thresholds in rules/analyzers.yaml were first set on generated speech. Real
calls differ: people speak faster in bursts, phone lines jump in level, mono
recordings mix the customer into the agent. This script shows, per recording
and across a folder, what the analyzers report and the distributions behind
them, so a threshold can be set on figures from your own calls:

    .venv/bin/python bench/calibrate.py calls/ -o calib/ [-- any `coach score` options]
    .venv/bin/python bench/calibrate.py calls/ -o calib/ -- --language en --channels customer,agent

It runs `coach score` (the CLI, default options plus the ones after `--`) into
OUT/scored/ (re-runs reuse what is already scored), then reads each per-call
JSON and the audio and prints:

- duration, channels, findings per category per 10 minutes (acoustic and phrase);
- speech rate: syllables/s over sustained stretches (10-20 s of one speaker's
  speech, utterances joined across pauses under 1 s; time = speech time heard
  on that channel), and per utterance; median / p90 / p95;
- raised voice: dB of each 1 s block of speech above the speaker's running
  median (as the analyzer computes it), p50 / p90 / p95 / p99 / max, and the
  share of blocks over the threshold;
- silence gaps (nobody speaks) and overlaps (stereo);
- the phrase findings (rule id and the words);

Optional inputs next to a recording:
- `<stem>.txt`, a reference transcript (plain text): its syllables are counted
  over the same speech time as Whisper's, so rates can be checked against what
  was really said;
- `<stem>_monomix.<ext>` next to a stereo `<stem>.<ext>` or `<stem>_stereo.<ext>` (make it with
  `sox call.wav call_monomix.wav remix 1,2`): every finding on the mono mix is
  attributed to whoever was speaking on the stereo channels at that moment, which
  separates what mono mixing causes from what the analyzer itself gets wrong.

Everything is also written to OUT/calibration.json for further analysis.

`--rerun` skips `coach score`: it transcribes each recording once (words and
their times cached in OUT/words), runs the analyzers of the checkout on
PYTHONPATH on them and prints findings per category per 10 minutes, beside an
earlier run (`--compare`), and with `--truth` the F1 of the acoustic
categories against labelled calls. So a threshold can be tried on a folder of
real calls in seconds:

    .venv/bin/python bench/calibrate.py calls/ -o calib/ --rerun --language ru --json calib/now.json
    .venv/bin/python bench/calibrate.py calls/ -o calib/ --rerun --language ru --compare calib/now.json
    .venv/bin/python bench/calibrate.py bench/.corpus/stereo16k -o calib/ --rerun --truth bench/.corpus/truth
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from coach import numerics as _pinned  # noqa: F401  (first: pins the numerical path before numpy loads)

# isort: split
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if not os.environ.get("PYTHONPATH"):  # PYTHONPATH wins: `--rerun` of another checkout's analyzers
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from coach.analyzers.words import syllables  # noqa: E402

ACOUSTIC = ("speech_rate", "raised_voice", "interruption", "long_silence")
SAMPLE_RATE = 16000
FRAME = 320  # 20 ms at 16 kHz, the analyzers' frame
AUDIO_EXT = {".wav", ".mp3", ".ogg", ".opus", ".flac", ".m4a"}
MIX_SUFFIX = "_monomix"


@dataclass
class CalibrationOptions:
    """What counts as sustained speech and how raised-voice blocks are measured.

    The defaults mirror rules/analyzers.yaml (block 1 s, baseline = median of
    the last 120 s of speech blocks, judged after 4 s) so the distribution shows
    exactly what the analyzer compares with its threshold.
    """

    join_gap_s: float = 1.0  # utterances closer than this form one stretch
    window_min_s: float = 10.0  # a sustained window is closed once it holds this much speech (10-20 s)
    utt_min_s: float = 1.5  # per-utterance rates: shorter utterances are not rated
    utt_min_syll: int = 8
    block_s: float = 1.0
    min_block_s: float = 0.5
    baseline_window_s: float = 120.0
    baseline_min_s: float = 4.0
    raised_db: float = 10.0  # raised_voice.threshold_db, for the share of blocks over it
    fast_rate: float = 6.8  # speech_rate.max_syllables_per_s (ru), for the share of windows over it


# -- audio -------------------------------------------------------------------


def probe(path: Path) -> tuple[int, int]:
    """(channels, sample rate) of the source file, as ffprobe reports them."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=channels,sample_rate", "-of", "json", str(path)],
        capture_output=True, text=True,
    )
    streams = json.loads(out.stdout or "{}").get("streams") or []
    if out.returncode or not streams:
        raise SystemExit(f"{path}: not readable audio ({out.stderr.strip() or 'no audio stream'})")
    return int(streams[0]["channels"]), int(streams[0]["sample_rate"])


def decode(path: Path, channels: int) -> np.ndarray:
    """Channels x samples, float32 at 16 kHz (what coach analyses)."""
    ac = 1 if channels == 1 else 2
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", str(ac), "-ar", str(SAMPLE_RATE),
         "-f", "f32le", "-"],
        capture_output=True,
    )
    if out.returncode:
        raise SystemExit(f"{path}: ffmpeg could not decode it ({out.stderr.decode().strip()})")
    data = np.frombuffer(out.stdout, dtype=np.float32)
    return data.reshape(-1, ac).T


def frame_db(x: np.ndarray) -> np.ndarray:
    n = len(x) // FRAME
    power = np.mean(x[: n * FRAME].reshape(n, FRAME).astype(np.float64) ** 2, axis=1)
    return 10.0 * np.log10(power + 1e-12)


def span_mask(spans: list[list[float]], frames: int) -> np.ndarray:
    mask = np.zeros(frames, dtype=bool)
    for a, b in spans:
        mask[int(round(a / 0.02)) : int(round(b / 0.02))] = True
    return mask


# -- measurements -------------------------------------------------------------


def pct(values: list[float], qs=(50, 90, 95)) -> dict[str, float | None]:
    if not values:
        return {f"p{q}": None for q in qs} | {"n": 0}
    arr = np.asarray(values, dtype=float)
    return {f"p{q}": round(float(np.percentile(arr, q)), 2) for q in qs} | {
        "n": len(values), "max": round(float(arr.max()), 2)}


def covered(spans: list[list[float]], a: float, b: float) -> float:
    """Seconds of [a, b] inside the speech spans."""
    return sum(max(0.0, min(b, y) - max(a, x)) for x, y in spans)


def rate_windows(utts: list[dict], spans: list[list[float]], o: CalibrationOptions) -> dict:
    """Syllables/s per sustained window and per utterance of one speaker.

    Time is the speech heard on the speaker's channel inside each utterance
    (Whisper's segment bounds come from word timestamps; the energy spans drop
    the pauses), so a pause does not dilute the rate and a stretch of speech
    Whisper missed does not inflate it.
    """
    per_utt, windows = [], []
    runs: list[list[dict]] = []
    for u in utts:
        if runs and u["start"] - runs[-1][-1]["end"] <= o.join_gap_s:
            runs[-1].append(u)
        else:
            runs.append([u])
    for u in utts:
        t = covered(spans, u["start"], u["end"]) or (u["end"] - u["start"])
        s = syllables(u["text"])
        if t >= o.utt_min_s and s >= o.utt_min_syll:
            per_utt.append(s / t)
    for run in runs:
        syl, t = 0, 0.0
        for u in run:
            syl += syllables(u["text"])
            t += covered(spans, u["start"], u["end"]) or (u["end"] - u["start"])
            if t >= o.window_min_s:
                windows.append(syl / t)
                syl, t = 0, 0.0
        # a remainder shorter than window_min_s is not a sustained stretch
    return {"windows": windows, "utterances": per_utt}


def loudness_blocks(
    levels: np.ndarray, active: np.ndarray, o: CalibrationOptions
) -> list[tuple[float, float]]:
    """(time, dB above running median) per block of speech, as the analyzer measures it."""
    per_block = round(o.block_s / 0.02)
    min_block = round(o.min_block_s / 0.02)
    need = int(np.ceil(o.baseline_min_s / o.block_s))
    keep = max(need, round(o.baseline_window_s / o.block_s))
    history: list[float] = []
    out: list[tuple[float, float]] = []
    block: list[float] = []
    start = 0

    def close(k: int) -> None:
        level = 10.0 * np.log10(np.mean(block) + 1e-12)
        if len(history) >= need:
            out.append((start * 0.02, level - float(np.median(history[-keep:]))))
        history.append(level)

    for k, (lv, act) in enumerate(zip(levels, active)):
        if act:
            if not block:
                start = k
            block.append(10.0 ** (lv / 10.0))
            if len(block) >= per_block:
                close(k)
                block = []
        elif block:
            if len(block) >= min_block:
                close(k)
            block = []
    return out


def utt_mask(utts: list[dict], frames: int) -> np.ndarray:
    return span_mask([[u["start"], u["end"]] for u in utts], frames)


def crosstalk(result: dict, audio: np.ndarray) -> dict[str, float]:
    """Per channel: level while only the *other* speaker talks, minus level while its own speaker talks.

    Around -30 dB or lower is a clean split; above about -15 dB the other
    voice (echo, sidetone, a mixed-down line) is loud enough on this channel
    for the energy detector to take it for this speaker's speech.
    """
    out = {}
    if result["mono"]:
        return out
    utts = {s: [u for u in result["transcript"] if u["speaker"] == s] for s in ("agent", "customer")}
    for s, other in (("agent", "customer"), ("customer", "agent")):
        lv = frame_db(audio[min(result["channels"][s], audio.shape[0] - 1)])
        mine, theirs = utt_mask(utts[s], len(lv)), utt_mask(utts[other], len(lv))
        other_act = span_mask(result.get("activity", {}).get(other, []), len(lv))
        own_lv, cross_lv = lv[mine & ~theirs], lv[theirs & ~mine & other_act]
        if len(own_lv) > 25 and len(cross_lv) > 25:
            out[s] = round(float(np.median(cross_lv) - np.median(own_lv)), 1)
    return out


def gaps(activity: dict[str, list[list[float]]]) -> list[float]:
    spans = sorted(s for v in activity.values() for s in v)
    out, end = [], None
    for a, b in spans:
        if end is not None and a > end:
            out.append(a - end)
        end = b if end is None else max(end, b)
    return out


def overlaps(activity: dict[str, list[list[float]]]) -> list[float]:
    if "customer" not in activity:
        return []
    out = []
    for a, b in activity["agent"]:
        for c, d in activity["customer"]:
            if min(b, d) - max(a, c) > 0:
                out.append(min(b, d) - max(a, c))
    return out


@dataclass
class Recording:
    path: Path
    result: dict
    channels: int
    sample_rate: int
    measures: dict = field(default_factory=dict)


def measure(rec: Recording, o: CalibrationOptions, reference: str | None) -> dict:
    r = rec.result
    dur = r["duration_s"] or 1e-9
    per10 = 600.0 / dur
    cats = Counter(e["category"] for e in r["events"])
    audio = decode(rec.path, rec.channels)
    m: dict = {
        "duration_s": dur, "channels": rec.channels, "sample_rate": rec.sample_rate, "mono": r["mono"],
        "language": r["language"],
        "per_10min": {c: round(n * per10, 1) for c, n in sorted(cats.items())},
        "counts": dict(cats),
    }
    rates, loud, gated = {}, {}, {}
    for speaker, idx in r["channels"].items():
        utts = [u for u in r["transcript"] if u["speaker"] == speaker]
        spans = r.get("activity", {}).get(speaker, [])
        rates[speaker] = rate_windows(utts, spans, o)
        ch = audio[min(idx, audio.shape[0] - 1)]
        levels = frame_db(ch)
        active = span_mask(spans, len(levels))
        loud[speaker] = loudness_blocks(levels, active, o)
        # the same, counting only speech inside this speaker's recognised utterances: echo of the
        # other side on this channel then cannot set the baseline
        gated[speaker] = loudness_blocks(levels, active & utt_mask(utts, len(levels)), o)
    m["rate"] = {s: {"windows": pct(v["windows"]), "utterances": pct(v["utterances"]),
                     "share_windows_over": _share(v["windows"], o.fast_rate)} for s, v in rates.items()}
    m["loud"] = {}
    for s, v in loud.items():
        dbs = [d for _, d in v]
        m["loud"][s] = pct(dbs, (50, 90, 95, 99)) | {"share_over": _share(dbs, o.raised_db)}
    m["loud_in_utterances"] = {s: pct([d for _, d in v], (50, 90, 95, 99)) for s, v in gated.items()}
    m["_raw"] = {"rate": rates, "loud": {s: [d for _, d in v] for s, v in loud.items()},
                 "loud_in_utterances": {s: [d for _, d in v] for s, v in gated.items()}}
    g = gaps(r.get("activity", {}))
    m["silence"] = pct(g, (50, 90, 99)) | {"over_6s": sum(1 for x in g if x >= 6.0)}
    m["crosstalk_db"] = crosstalk(r, audio)
    m["overlap"] = pct(overlaps(r.get("activity", {})), (50, 90)) if not r["mono"] else None
    m["findings"] = [
        {k: e.get(k) for k in ("category", "rule", "start", "end", "text", "details")} for e in r["events"]
    ]
    if not r["mono"]:
        agent_lv = frame_db(audio[min(r["channels"]["agent"], audio.shape[0] - 1)])
        own = agent_lv[utt_mask([u for u in r["transcript"] if u["speaker"] == "agent"], len(agent_lv))]
        ref = float(np.median(own)) if len(own) else None
        for f in m["findings"]:
            if f["category"] == "interruption" and ref is not None:
                seg = agent_lv[int(f["start"] / 0.02) : max(int(f["end"] / 0.02), int(f["start"] / 0.02) + 1)]
                level = 10.0 * np.log10(np.mean(10.0 ** (seg / 10.0)) + 1e-12)
                f["agent_level_vs_own_db"] = round(float(level - ref), 1)
    if reference is not None:
        agent_spans = r.get("activity", {}).get("agent", [])
        speech = sum(b - a for a, b in agent_spans) or dur
        whisper_syl = sum(syllables(u["text"]) for u in r["transcript"])
        ref_syl = syllables(reference)
        m["reference"] = {
            "speech_s": round(speech, 2), "ref_syllables": ref_syl, "whisper_syllables": whisper_syl,
            "ref_rate": round(ref_syl / speech, 2), "whisper_rate": round(whisper_syl / speech, 2),
        }
    return m


def _share(values: list[float], threshold: float) -> float | None:
    return round(sum(1 for v in values if v > threshold) / len(values), 3) if values else None


def attribute(findings: list[dict], stereo: dict) -> list[dict]:
    """Who was speaking (on the stereo twin) during each finding on a mono mix."""
    act = stereo.get("activity", {})
    out = []
    for f in findings:
        if f["start"] is None:
            continue
        a, b = f["start"], max(f["end"], f["start"] + 0.02)
        who = {s: covered(act.get(s, []), a, b) / (b - a) for s in ("agent", "customer")}
        label = ("agent" if who["agent"] >= 0.5 and who["customer"] < 0.5 else
                 "customer" if who["customer"] >= 0.5 and who["agent"] < 0.5 else
                 "both" if who["agent"] >= 0.5 else "neither")
        out.append({"category": f["category"], "start": a, "end": f["end"], "speaker": label,
                    "agent_share": round(who["agent"], 2), "customer_share": round(who["customer"], 2)})
    return out


# -- driver --------------------------------------------------------------------


def run_coach(folder: Path, out: Path, passthrough: list[str]) -> None:
    cmd = [sys.executable, "-m", "coach", "score", str(folder), "-o", str(out), "--quiet", "--no-report",
           *passthrough]
    done = subprocess.run(cmd)
    if done.returncode not in (0, 1):
        raise SystemExit(f"coach score failed ({done.returncode}): {' '.join(cmd)}")
    errors = out / "errors.jsonl"
    if errors.exists():
        for line in errors.read_text().splitlines():
            print(f"not scored: {json.loads(line)['error']}", file=sys.stderr)


def load_results(folder: Path, out: Path) -> list[Recording]:
    recs = []
    for js in sorted(out.glob("*.json")):
        r = json.loads(js.read_text())
        path = Path(r["call"])
        if not path.is_absolute():
            path = (Path.cwd() / path).resolve()
        try:
            path.relative_to(folder.resolve())
        except ValueError:
            continue
        ch, sr = probe(path)
        recs.append(Recording(path, r, ch, sr))
    return sorted(recs, key=lambda x: str(x.path))


def fmt(d: dict | None, keys=("p50", "p90", "p95")) -> str:
    if not d or not d.get("n"):
        return "-"
    return " / ".join(f"{d[k]:.1f}" if d.get(k) is not None else "-" for k in keys) + f" (n={d['n']})"


def print_recording(rec: Recording, m: dict, o: CalibrationOptions) -> None:
    print(f"\n== {rec.path}")
    print(f"   {m['duration_s']:.0f} s, {m['channels']} ch, {m['sample_rate']} Hz, "
          f"{'mono (all speech = agent)' if m['mono'] else 'stereo'}, language {m['language']}")
    ac = {c: v for c, v in m["per_10min"].items() if c in ACOUSTIC}
    ph = {c: v for c, v in m["per_10min"].items() if c not in ACOUSTIC}
    print(f"   acoustic per 10 min: {ac or '-'}")
    print(f"   phrase per 10 min:   {ph or '-'}")
    for s, v in m["rate"].items():
        print(f"   rate {s:8s} syll/s p50/p90/p95: windows {fmt(v['windows'])}, "
              f"utterances {fmt(v['utterances'])}; "
              f"windows > {o.fast_rate}: {v['share_windows_over']}")
    for s, v in m["loud"].items():
        print(f"   loud {s:8s} dB above running median p50/p90/p95/p99: "
              f"{fmt(v, ('p50', 'p90', 'p95', 'p99'))}, "
              f"max {v.get('max', '-')}; blocks >= {o.raised_db} dB: {v['share_over']}; "
              f"inside own utterances only: {fmt(m['loud_in_utterances'][s], ('p50', 'p90', 'p95', 'p99'))}")
    print(f"   silence gaps s p50/p90/p99: {fmt(m['silence'], ('p50', 'p90', 'p99'))}, "
          f">= 6 s: {m['silence']['over_6s']}")
    if m["overlap"]:
        print(f"   overlaps s p50/p90: {fmt(m['overlap'], ('p50', 'p90'))}; "
              f"crosstalk (other voice on this channel, dB vs own): {m['crosstalk_db']}")
    if "reference" in m:
        print(f"   reference transcript: {m['reference']}")
    for f in m["findings"]:
        where = "call" if f["start"] is None else f"{f['start']:.1f}-{f['end']:.1f}"
        det = f.get("details") or {}
        fig = {k: det[k] for k in ("syllables_per_s", "db_above", "overlap_s", "silence_s", "confidence")
               if k in det}
        if "agent_level_vs_own_db" in f:
            fig["agent_level_vs_own_db"] = f["agent_level_vs_own_db"]
        print(f"     {where:>13} {f['category']:18s} {fig or ''} {(f['text'] or '')[:70]}")
    if "attribution" in m:
        print(f"   findings on the mix by who spoke (stereo twin): {m['attribution_summary']}")


def print_summary(rows: list[tuple[Recording, dict]]) -> None:
    print("\n== summary (findings per 10 min; rate syll/s p50/p90 of sustained windows; loud dB p95)")
    head = f"{'recording':38s} {'dur':>5s} {'ch':>2s} {'rate':>5s} {'loud':>5s} {'intr':>5s} {'sil':>4s} " \
           f"{'phr':>5s} {'rate p50/p90':>12s} {'loud p95':>8s}"
    print(head)
    for rec, m in rows:
        p = m["per_10min"]
        phr = sum(v for c, v in p.items() if c not in ACOUSTIC)
        rw = m["rate"]["agent"]["windows"]
        lw = m["loud"]["agent"]
        rate = f"{rw['p50']:.1f}/{rw['p90']:.1f}" if rw.get("n") else "-"
        print(f"{rec.path.name[:38]:38s} {m['duration_s']:5.0f} {m['channels']:2d} "
              f"{p.get('speech_rate', 0):5.1f} {p.get('raised_voice', 0):5.1f} "
              f"{p.get('interruption', 0):5.1f} {p.get('long_silence', 0):4.1f} "
              f"{phr:5.1f} {rate:>12s} {(lw.get('p95') or 0):8.1f}")
    for lang in sorted({m["language"] for _, m in rows}):
        for kind in ("windows", "utterances"):
            vals = [v for _, m in rows if m["language"] == lang
                    for s in m["_raw"]["rate"] for v in m["_raw"]["rate"][s][kind]]
            print(f"pooled {lang} speech rate, {kind:10s} (all speakers, syll/s): {fmt(pct(vals))}")
        vals = [v for _, m in rows if m["language"] == lang and not m["mono"]
                for s in m["_raw"]["loud"] for v in m["_raw"]["loud"][s]]
        print(f"pooled {lang} loudness, stereo channels (dB above running median): "
              f"{fmt(pct(vals, (50, 90, 95, 99)), ('p50', 'p90', 'p95', 'p99'))}")
        vals = [v for _, m in rows if m["language"] == lang and not m["mono"]
                for s in m["_raw"]["loud_in_utterances"] for v in m["_raw"]["loud_in_utterances"][s]]
        print(f"pooled {lang} loudness inside own utterances, stereo: "
              f"{fmt(pct(vals, (50, 90, 95, 99)), ('p50', 'p90', 'p95', 'p99'))}")


# -- re-running the analyzers on cached words -------------------------------------
#
# `--rerun` measures the analyzers of the checkout on PYTHONPATH (this one by
# default) without `coach score`: each recording is transcribed once with the
# product's transcriber (words and their times kept, cached by audio hash,
# language and model), then fed to `analyze_call`. So a threshold or an
# algorithm can be tried on real calls in seconds, and two checkouts compared
# on the same words (PYTHONPATH=/tmp/old python bench/calibrate.py ... --rerun).


def _model_name() -> str:
    from coach.models import resolve

    return resolve(None).name


class WordCache:
    """Utterances with word timestamps per recording, transcribed once (the Coach loads on a miss)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.model = _model_name()
        self._coach = None

    def get(self, path: Path, language: str, channels: dict[str, np.ndarray]) -> list:
        from coach.contract import Utterance, Word

        sha = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        cached = self.folder / f"{sha}-{language}-{self.model}.json"
        if not cached.exists():
            if self._coach is None:
                from coach.config import CoachConfig
                from coach.core import Coach

                self._coach = Coach.load(CoachConfig(language=language))
            asr = self._coach.transcriber
            utts = [u for s, x in channels.items() for u in asr.transcribe(x, s, language)]
            rows = [{**u.to_dict(), "words": [[w.text, w.start, w.end, w.probability] for w in u.words]}
                    for u in utts]
            self.folder.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps({"call": str(path), "language": language, "utterances": rows},
                                         ensure_ascii=False))
        rows = json.loads(cached.read_text())["utterances"]
        return sorted((Utterance(r["speaker"], r["start"], r["end"], r["text"],
                                 [Word(t, a, b, pr) for t, a, b, pr in r["words"]]) for r in rows),
                      key=lambda u: (u.start, u.speaker))


def _twin(path: Path, paths: list[Path]) -> Path | None:
    """The stereo recording a `_monomix` file was mixed from, if it is in the run."""
    if not path.stem.endswith(MIX_SUFFIX):
        return None
    base = path.stem[: -len(MIX_SUFFIX)]
    return next((p for p in paths if p.parent == path.parent and p.stem in (base, base + "_stereo")), None)


def diarized_call(samples: np.ndarray, utterances: list, agent_times: list[tuple[float, float]] | None):
    """(virtual channels, utterances with speakers, how the agent was picked) for a mono mix.

    The agent is the voice whose words overlap most with the stereo twin's agent words
    (`agent_times`, an oracle that isolates the analyzers from role picking), else the
    voice that speaks first (inbound calls: the agent answers).
    """
    import dataclasses

    from coach.contract import AGENT, CUSTOMER, Utterance
    from coach.diarization import Diarizer

    found = Diarizer()(samples)
    dia = found if found.two_speakers else dataclasses.replace(found, turns=found.split_turns)
    voiced: list[tuple[int, object]] = []
    for u in utterances:
        for w in u.words:
            v = dia.speaker_of_span(w.start, w.end)
            voiced.append((0 if v is None else v, w))
    share = {0: 0.0, 1: 0.0}
    if agent_times:
        for v, w in voiced:
            share[v] += covered([list(t) for t in agent_times], w.start, w.end)
        agent, how = max((0, 1), key=lambda v: share[v]), "stereo twin"
    else:
        agent, how = (voiced[0][0] if voiced else 0), "first voice"
    # The agent's turns make the agent's channel; everything else (the customer's turns and what
    # the diarizer's VAD left out: quiet far-side speech, hold music) the customer's, so that
    # "nobody speaks" means what it means on the mix (see docs/analyzers.md, diarized mono).
    agent_mask = dia.sample_mask(agent, len(samples))
    channels = {AGENT: np.where(agent_mask, samples, 0).astype(np.float32),
                CUSTOMER: np.where(agent_mask, 0, samples).astype(np.float32)}
    out: list = []
    run: list = []
    for i, (v, w) in enumerate(voiced):
        run.append(w)
        last = i + 1 == len(voiced) or voiced[i + 1][0] != v or voiced[i + 1][1].start - w.end >= 1.0
        if last:
            who = AGENT if v == agent else CUSTOMER
            out.append(Utterance(who, run[0].start, run[-1].end, " ".join(x.text for x in run), list(run)))
            run = []
    note = f"{how}, two voices {found.two_speakers}"
    return channels, sorted(out, key=lambda u: (u.start, u.speaker)), note


def rerun_one(path: Path, paths: list[Path], language: str, mono: str, words: WordCache,
              no_cap: bool = False) -> dict:
    import dataclasses

    from coach.analyzers import CallAnalyzers, analyze_call, load_analyzer_config
    from coach.audio import load_call
    from coach.contract import AGENT

    call = load_call(path)
    utterances = words.get(path, language, call.channels)
    cfg = load_analyzer_config()
    if no_cap:  # every finding decided, to read them all
        cfg = dataclasses.replace(cfg, analyzers={
            n: dataclasses.replace(o, max_per_call=0) for n, o in cfg.analyzers.items()})
    layouts = "layout" in inspect.signature(CallAnalyzers).parameters
    layout, note = "separate", ""
    channels = call.channels
    if call.mono and mono == "mix":
        layout = "mono"
    elif call.mono and mono == "diarize":
        twin = _twin(path, paths)
        agent_times = None
        if twin is not None:
            twin_call = load_call(twin)
            agent_times = [(w.start, w.end) for u in words.get(twin, language, twin_call.channels)
                           if u.speaker == AGENT for w in u.words]
        channels, utterances, note = diarized_call(call.channels[AGENT], utterances, agent_times)
        layout = "diarized"
    kwargs = {"layout": layout} if layouts else {}
    if kwargs:
        an = CallAnalyzers(cfg, speakers=tuple(channels), language=language, **kwargs)
        events = []
        for s, x in channels.items():
            events += an.feed_audio(s, x, 0.0)
        for u in utterances:
            events += an.add_utterance(u)
        events += an.finish()
        metrics, skipped = an.metrics(), an.skipped
    else:
        events, metrics = analyze_call(channels, utterances, cfg, language=language)
        skipped = CallAnalyzers(cfg, speakers=tuple(channels), language=language).skipped
    found = [e.to_dict() for e in events if e.category in ACOUSTIC]
    return {
        "recording": str(path), "duration_s": round(call.duration_s, 1), "layout": layout if layouts else
        ("mono-as-agent" if call.mono else "separate"), "note": note, "language": language,
        "listed": {c: sum(1 for e in found if e["category"] == c) for c in ACOUSTIC},
        "beyond_cap": {c: metrics.get(f"{c}_beyond_cap") for c in ACOUSTIC},
        "skipped": {c: skipped[c] for c in ACOUSTIC if c in skipped},
        "findings": found,
    }


def print_rerun(rows: list[dict], before: dict[str, dict] | None) -> None:
    """Findings per category per 10 minutes (listed; decided past the cap in brackets)."""
    short = {"speech_rate": "rate", "raised_voice": "loud", "interruption": "intr", "long_silence": "sil"}

    def cells(r: dict | None) -> str:
        if r is None:
            return " ".join(f"{'':>9s}" for _ in ACOUSTIC)
        per10 = 600.0 / max(r["duration_s"], 1e-9)
        out = []
        for c in ACOUSTIC:
            if c in r["skipped"]:
                out.append(f"{'-':>9s}")
                continue
            n, extra = r["listed"][c], r["beyond_cap"].get(c) or 0
            out.append(f"{n * per10:5.1f}" + (f"[{extra:d}]" if extra else "   ").ljust(4))
        return " ".join(out)

    head = " ".join(f"{short[c]:>9s}" for c in ACOUSTIC)
    print(f"\n{'recording':44s} {'dur':>5s} {'layout':9s} | {'before (per 10 min)':^39s} | "
          f"{'after (per 10 min)':^39s}")
    print(f"{'':44s} {'':5s} {'':9s} | {head} | {head}")
    for r in rows:
        b = (before or {}).get(r["recording"])
        name = Path(r["recording"]).parent.name[:14] + "/" + Path(r["recording"]).name
        print(f"{name[:44]:44s} {r['duration_s']:5.0f} {r['layout'][:9]:9s} | {cells(b)} | {cells(r)}")
    for r in rows:
        if not r["findings"]:
            continue
        print(f"\n== {r['recording']} ({r['layout']}{', ' + r['note'] if r['note'] else ''})")
        for f in r["findings"]:
            d = f.get("details") or {}
            fig = {k: d[k] for k in ("syllables_per_s", "threshold", "db_above", "overlap_s", "silence_s",
                                     "level_vs_own_db", "confidence") if k in d}
            print(f"   {f['start']:7.1f}-{f['end']:7.1f} {f['category']:13s} {fig} {(f['text'] or '')[:50]}")


def truth_f1(rows: list[dict], truth: Path, before: dict[str, dict] | None) -> None:
    """Precision / recall / F1 of the acoustic categories against labelled truth (coach eval's matching)."""
    from coach.evaluation import EvalOptions, ResultCall, Span, evaluate, load_truth

    truths = load_truth([truth])

    def report(rs: list[dict]):
        results = [
            ResultCall(Path(r["recording"]), r["recording"], Path(r["recording"]).stem,
                       Path(r["recording"]).parent.name, "rerun", r["language"],
                       [Span(e["category"], e.get("speaker"), e["start"], e["end"], e.get("text") or "")
                        for e in r["findings"]], set(), [])
            for r in rs
        ]
        for t in truths.values():  # only the acoustic categories are judged here
            t.labelled = frozenset(c for c in t.labelled if c in ACOUSTIC)
            t.call = {}
        return evaluate(results, truths, EvalOptions(group_by=("language",)))

    after = report(rows)
    old = report([before[r["recording"]] for r in rows if r["recording"] in before]) if before else None
    print(f"\nF1 against {truth} ({after.calls} calls):")
    print(f"{'category':14s} {'before tp/fp/fn':>16s} {'P':>5s} {'R':>5s} {'F1':>5s} | "
          f"{'after tp/fp/fn':>15s} {'P':>5s} {'R':>5s} {'F1':>5s}")

    def cell(t) -> str:
        if t is None:
            return f"{'':>16s} {'':>5s} {'':>5s} {'':>5s}"
        f = [("  -" if v is None else f"{v:5.2f}") for v in (t.precision, t.recall, t.f1)]
        return f"{f'{t.tp}/{t.fp}/{t.fn}':>16s} {f[0]:>5s} {f[1]:>5s} {f[2]:>5s}"

    for c in ACOUSTIC:
        print(f"{c:14s} {cell(old.overall.get(c) if old else None)} | {cell(after.overall.get(c))}")


def rerun(folders: list[Path], out: Path, language: str, mono: str, json_out: Path | None,
          compare: Path | None, cache: Path | None, truth: Path | None, no_cap: bool = False) -> int:
    paths = sorted(p for folder in folders for p in folder.rglob("*")
                   if p.suffix.lower() in AUDIO_EXT and p.is_file())
    if not paths:
        print(f"{', '.join(map(str, folders))}: no recordings", file=sys.stderr)
        return 1
    languages: dict[str, str] = {}
    if truth is not None:
        from coach.evaluation import load_truth

        languages = {stem: t.language for stem, t in load_truth([truth]).items()}
    words = WordCache(cache or out / "words")
    rows = [rerun_one(p, paths, languages.get(p.stem, language), mono, words, no_cap) for p in paths]
    before = None
    if compare is not None:
        before = {r["recording"]: r for r in json.loads(compare.read_text())}
    print_rerun(rows, before)
    if truth is not None:
        truth_f1(rows, truth, before)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, passthrough = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, nargs="+", help="folder(s) of recordings (searched recursively)")
    ap.add_argument("-o", "--out", type=Path, required=True, help="output folder (scored JSON in OUT/scored)")
    ap.add_argument("--scored", type=Path, help="folder of scored JSON to use (default OUT/scored)")
    ap.add_argument("--skip-scoring", action="store_true", help="use the scored folder as it is")
    ap.add_argument("--rerun", action="store_true",
                    help="no coach score: run this checkout's analyzers on cached words (see --words)")
    ap.add_argument("--language", default="ru", help="--rerun: the recordings' language (default ru)")
    ap.add_argument("--mono", choices=("agent", "mix", "diarize"), default="mix",
                    help="--rerun: a mono file holds the agent only, both voices mixed (default), "
                         "or both voices split by diarization")
    ap.add_argument("--words", type=Path, help="--rerun: transcript cache folder (default OUT/words)")
    ap.add_argument("--json", type=Path, help="--rerun: write the findings per recording here")
    ap.add_argument("--compare", type=Path, help="--rerun: a --json file of an earlier run, shown beside")
    ap.add_argument("--no-cap", action="store_true", help="--rerun: list every finding (max_per_call 0)")
    ap.add_argument("--truth", type=Path, help="--rerun: truth folder (coach eval format): F1 per acoustic "
                    "category, and each call's language from its truth file")
    args = ap.parse_args(argv)
    for folder in args.folder:
        if not folder.is_dir():
            print(f"{folder}: not a folder", file=sys.stderr)
            return 2
    if args.rerun:
        return rerun(args.folder, args.out, args.language, args.mono, args.json, args.compare, args.words,
                     args.truth, args.no_cap)
    if len(args.folder) > 1:
        print("give one folder (several only with --rerun)", file=sys.stderr)
        return 2
    args.folder = args.folder[0]
    o = CalibrationOptions()
    scored = args.scored or args.out / "scored"
    if not args.skip_scoring:
        run_coach(args.folder, scored, passthrough)
    recs = load_results(args.folder, scored)
    if not recs:
        print(f"{args.folder}: no scored recordings in {scored}", file=sys.stderr)
        return 1
    rows = []
    by_path = {r.path: r for r in recs}
    for rec in recs:
        ref = rec.path.with_suffix(".txt")
        m = measure(rec, o, ref.read_text(encoding="utf-8") if ref.exists() else None)
        if rec.path.stem.endswith(MIX_SUFFIX):
            base = rec.path.stem[: -len(MIX_SUFFIX)]
            twin = next((by_path[p] for p in by_path if p.parent == rec.path.parent
                         and p.stem in (base, base + "_stereo")), None)
            if twin is not None and not twin.result["mono"]:
                m["attribution"] = attribute(m["findings"], twin.result)
                who = Counter(f"{a['category']}:{a['speaker']}" for a in m["attribution"])
                m["attribution_summary"] = dict(who)
        rows.append((rec, m))
        print_recording(rec, m, o)
    print_summary(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    dump = {str(rec.path): {k: v for k, v in m.items()} for rec, m in rows}
    (args.out / "calibration.json").write_text(json.dumps(dump, ensure_ascii=False, indent=1, default=str))
    print(f"\nwritten: {args.out / 'calibration.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
