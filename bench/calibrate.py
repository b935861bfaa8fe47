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
- with `--proposed`: what the prototype analyzers in bench/proposed_analyzers.py
  would report on the same call.

Optional inputs next to a recording:
- `<stem>.txt`, a reference transcript (plain text): its syllables are counted
  over the same speech time as Whisper's, so rates can be checked against what
  was really said;
- `<stem>_monomix.<ext>` next to a stereo `<stem>.<ext>` or `<stem>_stereo.<ext>` (make it with
  `sox call.wav call_monomix.wav remix 1,2`): every finding on the mono mix is
  attributed to whoever was speaking on the stereo channels at that moment, which
  separates what mono mixing causes from what the analyzer itself gets wrong.

Everything is also written to OUT/calibration.json for further analysis.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
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
    raised_db: float = 8.0  # the current threshold, for the share of blocks over it
    fast_rate: float = 7.0  # the current threshold, for the share of windows over it


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
        fig = {k: det[k] for k in ("syllables_per_s", "db_above", "overlap_s", "silence_s") if k in det}
        if "agent_level_vs_own_db" in f:
            fig["agent_level_vs_own_db"] = f["agent_level_vs_own_db"]
        print(f"     {where:>13} {f['category']:18s} {fig or ''} {(f['text'] or '')[:70]}")
    if "attribution" in m:
        print(f"   findings on the mix by who spoke (stereo twin): {m['attribution_summary']}")
    if "proposed" in m:
        print(f"   proposed analyzers: {m['proposed']['summary']}")
        for f in m["proposed"]["findings"]:
            det = {k: v for k, v in f["details"].items() if k in
                   ("syllables_per_s", "threshold", "db_above", "overlap_s", "silence_s", "confidence")}
            text = (f["text"] or "")[:60]
            print(f"     {f['start']:6.1f}-{f['end']:6.1f} {f['category']:18s} {det} {text}")


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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, passthrough = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="folder of recordings (searched recursively)")
    ap.add_argument("-o", "--out", type=Path, required=True, help="output folder (scored JSON in OUT/scored)")
    ap.add_argument("--scored", type=Path, help="folder of scored JSON to use (default OUT/scored)")
    ap.add_argument("--skip-scoring", action="store_true", help="use the scored folder as it is")
    ap.add_argument("--proposed", action="store_true",
                    help="also run the prototype analyzers (bench/proposed_analyzers.py)")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        print(f"{args.folder}: not a folder", file=sys.stderr)
        return 2
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
        if args.proposed:
            from proposed_analyzers import propose

            m["proposed"] = propose(rec.result, decode(rec.path, rec.channels))
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
