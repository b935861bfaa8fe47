"""Prototype analyzers calibrated on real calls, for the lead to port into coach/analyzers.

They read what a scored call already holds (the per-call JSON: transcript,
activity spans, mono flag) plus the decoded audio, so they can be compared with
today's findings on the same recordings (`bench/calibrate.py --proposed`).
The figures behind each default are in docs/analyzers.md ("Calibrating on
your own recordings") and in the calibration report of issue 11.

What changes against today's analyzers, and why:

- speech rate is judged on *sustained* speech (10-20 s of one speaker's speech,
  utterances joined across pauses under 1 s), against a conversational norm
  per language AND the agent's own median; consecutive fast windows make one
  finding (one per episode). A 4 s burst above 7 syllables/s is ordinary
  Russian conversation; a whole stretch that is faster than both the
  language's p95 and the agent's own usual pace is what a coach would flag;
- raised voice measures only the agent's own speech (inside recognised
  utterances, so echo of the customer cannot set the baseline), compares 1 s
  blocks with the median of the agent's earlier non-loud blocks (after 20 s of
  speech), needs 2 loud blocks with words in them, and treats a level that
  does not come back down within the next 10 s of speech as a gain change (AGC,
  headset moved): no finding, and a new baseline from there. The price is
  latency: a live port reports a raised voice 10 s of speech after it ends. On mono it is not judged: the mix
  holds the customer too, and every measured mono finding was the customer;
- interruption needs the agent's level in the overlap to be the agent's own
  voice (within `bleed_db` of the agent's median speech level), not the
  customer's echo on the agent channel, and an overlap of at least 1 s;
- every finding carries a `confidence` (0-1) and at most `cap_per_call`
  findings per category are kept (the most confident); the rest are counted
  in the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coach.analyzers.words import syllables

FRAME_S = 0.02
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class RateOptions:
    norm: dict  # language -> syllables/s no sustained stretch of ordinary speech exceeds (p95)
    own_factor: float = 1.2  # ...and 20 % above the agent's own median window
    join_gap_s: float = 1.0
    window_min_s: float = 10.0  # a window closes once it holds this much speech
    min_windows_for_own: int = 3  # fewer windows: the norm alone decides


@dataclass(frozen=True)
class LoudOptions:
    threshold_db: float = 10.0  # own speech: p99 6.2-6.8 dB above the running median on real calls
    baseline_min_s: float = 20.0  # 20 blocks of the agent's own speech before anything is judged
    min_blocks: int = 2  # two loud seconds, not one stressed word
    merge_gap_s: float = 2.0
    confirm_blocks: int = 10  # the next 10 s of speech must come back down, else it is a level change
    gain_step_s: float = 20.0  # loud this long without a break: a level change, not a shout
    min_words: int = 2


@dataclass(frozen=True)
class InterruptOptions:
    bleed_db: float = 12.0  # agent-channel level this far under the agent's median: echo, not the agent
    min_overlap_s: float = 1.0  # real overlaps: p50 0.3-0.6 s, p90 1.1-1.2 s (turn ends, answers)


@dataclass(frozen=True)
class ProposedOptions:
    rate: RateOptions = RateOptions(norm={"ru": 7.0, "en": 6.5})
    loud: LoudOptions = LoudOptions()
    interrupt: InterruptOptions = InterruptOptions()
    cap_per_call: int = 3


def _covered(spans, a, b) -> float:
    return sum(max(0.0, min(b, y) - max(a, x)) for x, y in spans)


def _frame_db(x: np.ndarray) -> np.ndarray:
    n = len(x) // 320
    p = np.mean(x[: n * 320].reshape(n, 320).astype(np.float64) ** 2, axis=1)
    return 10.0 * np.log10(p + 1e-12)


def _mask(spans, frames) -> np.ndarray:
    m = np.zeros(frames, dtype=bool)
    for a, b in spans:
        m[int(round(a / FRAME_S)) : int(round(b / FRAME_S))] = True
    return m


def speech_rate(result: dict, o: RateOptions) -> list[dict]:
    """One finding per episode of sustained speech faster than the norm and the agent's own pace."""
    utts = [u for u in result["transcript"] if u["speaker"] == "agent"]
    spans = result.get("activity", {}).get("agent", [])
    windows = []  # (start, end, syllables, speech_s, text)
    run_start = None
    syl, t, text = 0, 0.0, []
    prev_end = None
    for u in utts:
        if prev_end is not None and u["start"] - prev_end > o.join_gap_s:
            syl, t, text, run_start = 0, 0.0, [], None
        if run_start is None:
            run_start = u["start"]
        syl += syllables(u["text"])
        t += _covered(spans, u["start"], u["end"]) or (u["end"] - u["start"])
        text.append(u["text"])
        prev_end = u["end"]
        if t >= o.window_min_s:
            windows.append((run_start, u["end"], syl, t, " ".join(text)))
            syl, t, text, run_start = 0, 0.0, [], None
    if not windows:
        return []
    rates = [w[2] / w[3] for w in windows]
    norm = o.norm.get(result.get("language", "ru"), max(o.norm.values()))
    own = float(np.median(rates)) if len(rates) >= o.min_windows_for_own else None
    threshold = max(norm, own * o.own_factor) if own else norm
    out: list[dict] = []
    for w, r in zip(windows, rates):
        if r <= threshold:
            continue
        if out and w[0] - out[-1]["end"] <= o.join_gap_s:  # same episode
            ep = out[-1]
            ep["end"] = w[1]
            ep["details"]["syllables_per_s"] = max(ep["details"]["syllables_per_s"], round(r, 2))
            ep["details"]["windows"] += 1
            continue
        margin = (r - threshold) / threshold
        conf = min(1.0, 0.5 + 3.0 * margin) * (0.5 if result.get("mono") else 1.0)
        out.append({"category": "speech_rate", "start": w[0], "end": w[1], "text": w[4],
                    "details": {"syllables_per_s": round(r, 2), "threshold": round(threshold, 2),
                                "norm": norm, "own_median": round(own, 2) if own else None,
                                "windows": 1, "confidence": round(conf, 2)}})
    return out


def raised_voice(result: dict, audio: np.ndarray, o: LoudOptions) -> list[dict]:
    """Loud blocks against the agent's short and long baselines; level steps that last are gain changes."""
    if result.get("mono"):
        return []
    idx = result["channels"]["agent"]
    levels = _frame_db(audio[min(idx, audio.shape[0] - 1)])
    words = [u for u in result["transcript"] if u["speaker"] == "agent"]
    # only speech inside the agent's recognised utterances: the other side's echo on this channel
    # (measured at -22 to -28 dB on real calls) must not set the baseline
    active = _mask(result.get("activity", {}).get("agent", []), len(levels)) & _mask(
        [[u["start"], u["end"]] for u in words], len(levels))
    blocks = []  # (start_s, end_s, level)
    cur: list[float] = []
    start = 0
    for k, (lv, act) in enumerate(zip(levels, active)):
        if act:
            if not cur:
                start = k
            cur.append(10 ** (lv / 10))
            if len(cur) >= 50:
                blocks.append((start * FRAME_S, (k + 1) * FRAME_S, 10 * np.log10(np.mean(cur))))
                cur = []
        elif cur:
            if len(cur) >= 25:
                blocks.append((start * FRAME_S, k * FRAME_S, 10 * np.log10(np.mean(cur))))
            cur = []
    need = int(o.baseline_min_s / 1.0)
    levels_b = [x[2] for x in blocks]
    hist: list[float] = []  # block levels that make the baseline (loud episodes stay out of it)
    out: list[dict] = []
    i = 0
    while i < len(blocks):
        if len(hist) < need or levels_b[i] - np.median(hist) < o.threshold_db:
            hist.append(levels_b[i])
            i += 1
            continue
        base = float(np.median(hist))
        j = i  # the episode: loud blocks, one quiet block inside allowed, gaps up to merge_gap_s
        while j + 1 < len(blocks) and blocks[j + 1][0] - blocks[j][1] <= o.merge_gap_s:
            if levels_b[j + 1] - base >= o.threshold_db:
                j += 1
            elif (j + 2 < len(blocks) and levels_b[j + 2] - base >= o.threshold_db
                  and blocks[j + 2][0] - blocks[j + 1][1] <= o.merge_gap_s):
                j += 2
            else:
                break
        after = levels_b[j + 1 : j + 1 + o.confirm_blocks]
        stays_up = len(after) >= o.confirm_blocks // 2 and np.median(after) - base >= o.threshold_db - 3.0
        a, b = blocks[i][0], blocks[j][1]
        if stays_up or b - a >= o.gain_step_s:
            # a level change (AGC, headset, another line): start a new baseline from here
            hist = levels_b[i : j + 1 + o.confirm_blocks]
            i = j + 1
            continue
        n = sum(1 for x in levels_b[i : j + 1] if x - base >= o.threshold_db)
        text = " ".join(u["text"] for u in words if u["end"] > a and u["start"] < b)
        if n >= o.min_blocks and len(text.split()) >= o.min_words:
            peak = max(levels_b[i : j + 1]) - base
            conf = min(1.0, 0.4 + 0.1 * (peak - o.threshold_db) + 0.1 * (n - o.min_blocks))
            if len(after) < o.confirm_blocks // 2:
                conf *= 0.7  # the call ended before the level could be seen to come back down
            details = {"db_above": round(float(peak), 2), "baseline_dbfs": round(base, 1), "blocks": n,
                       "confidence": round(float(conf), 2)}
            out.append({"category": "raised_voice", "start": a, "end": b, "text": text, "details": details})
        i = j + 1
    return out


def interruptions(result: dict, audio: np.ndarray, o: InterruptOptions) -> tuple[list[dict], int]:
    """Today's interruption findings, minus those where the agent channel only carries echo."""
    if result.get("mono"):
        return [], 0
    idx = result["channels"]["agent"]
    levels = _frame_db(audio[min(idx, audio.shape[0] - 1)])
    agent_utts = [u for u in result["transcript"] if u["speaker"] == "agent"]
    own = [levels[int(u["start"] / FRAME_S) : int(u["end"] / FRAME_S)] for u in agent_utts]
    own = np.concatenate([x for x in own if len(x)]) if own else np.array([])
    if not len(own):
        return [], 0
    med = float(np.median(own))
    kept, dropped = [], 0
    for e in result["events"]:
        if e["category"] != "interruption":
            continue
        seg = levels[int(e["start"] / FRAME_S) : max(int(e["end"] / FRAME_S), int(e["start"] / FRAME_S) + 1)]
        lv = float(10 * np.log10(np.mean(10 ** (seg / 10)))) if len(seg) else -120.0
        if lv < med - o.bleed_db:
            dropped += 1
            continue
        overlap = (e.get("details") or {}).get("overlap_s", e["end"] - e["start"])
        if overlap < o.min_overlap_s:
            continue
        k = dict(e)
        level = min(1.0, max(0.0, (lv - med + o.bleed_db) / o.bleed_db))  # 1 at the agent's own level
        conf = min(1.0, 0.3 + 0.3 * overlap) * (0.5 + 0.5 * level) * (1.0 if e["text"].strip() else 0.6)
        k["details"] = dict(e.get("details") or {}) | {
            "level_vs_agent_median_db": round(lv - med, 1), "confidence": round(conf, 2)}
        kept.append(k)
    return kept, dropped


def cap(findings: list[dict], n: int) -> tuple[list[dict], int]:
    if len(findings) <= n:
        return findings, 0
    best = sorted(findings, key=lambda f: -f["details"].get("confidence", 0))[:n]
    return sorted(best, key=lambda f: f["start"]), len(findings) - n


def propose(result: dict, audio: np.ndarray, options: ProposedOptions | None = None) -> dict:
    """All prototype findings for one scored call, plus a one-line summary of counts."""
    o = options or ProposedOptions()
    rate = speech_rate(result, o.rate)
    loud = raised_voice(result, audio, o.loud)
    intr, echo = interruptions(result, audio, o.interrupt)
    silence = [e for e in result["events"] if e["category"] == "long_silence"]
    out, capped = [], {}
    by_category = {"speech_rate": rate, "raised_voice": loud, "interruption": intr, "long_silence": silence}
    for name, fs in by_category.items():
        kept, extra = cap(fs, o.cap_per_call)
        out += kept
        if extra:
            capped[name] = extra
    summary = {c: sum(1 for f in out if f["category"] == c) for c in
               ("speech_rate", "raised_voice", "interruption", "long_silence")}
    summary |= {"capped": capped, "interruptions_dropped_as_echo": echo}
    return {"findings": out, "summary": summary}
