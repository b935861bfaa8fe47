"""Calibrating phrase verification on the audio (coach.verify) on the development corpus.

For each corpus call with truth: the agent's channel is transcribed once (cached under
bench/.corpus/cache/verify/), the rules run on its utterances, and every candidate they give
(phrases nearly found, finds made only with slips allowed, coach.rules.candidates) is scored on
the audio once, at a low letter floor. Then, without scoring again, every (floor, margin) pair
is evaluated: which near misses would fire, which fuzzy finds would be dropped, and the
forbidden-phrase precision and recall that gives against the truth (coach.evaluation), next to
the text alone. It also prints each candidate with its scores (`--list`) and what the
verification cost (seconds per call, per candidate).

    python bench/verify_phrases.py                       # stereo16k, the default setting
    python bench/verify_phrases.py --variant tel8k --grid --list

Both readings of a call (text alone, verified) come from the same transcripts, so the difference
is verification's alone: Whisper's text can differ between two `coach score` runs of one call
(a loop in one, not the other), which blurs a comparison of two `bench/quality.py` passes
(`--verify-phrases on|off`) on a small subset. The defaults were chosen on stereo16k (`--grid`)
and checked unchanged on tel8k; docs/asr.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coach import Coach, CoachConfig  # noqa: E402
from coach.audio import load_call  # noqa: E402
from coach.contract import AGENT, Utterance, Word  # noqa: E402
from coach.evaluation import EvalOptions, ResultCall, Span, evaluate, load_truth  # noqa: E402
from coach.rules.base import words_for_tokens  # noqa: E402
from coach.rules.candidates import NEAR_MISS_FLOOR, Candidate, Verdict  # noqa: E402
from coach.verify import Verifier, VerifyOptions  # noqa: E402

CATEGORIES = ("forbidden_phrase", "negative_phrasing")


@dataclass
class Scored:
    """One candidate with both readings' scores and where it is in the call."""

    call: str
    rule: str
    category: str
    kind: str
    phrase: str
    score: float
    start: float
    end: float
    heard_text: str
    said_text: str
    heard: float
    said: float
    mean: float
    seconds: float


class Recorder:
    """A `verify` callback that scores every candidate and keeps the text's decision (fuzzy finds
    stay, near misses do not fire), so one pass gives the text-alone findings and all scores."""

    def __init__(self, verifier: Verifier):
        self.verifier = verifier
        self.found: list[tuple[Candidate, Verdict, float]] = []

    def __call__(self, utt: Utterance, cands: list[Candidate]) -> list[Verdict]:
        out = []
        for c in cands:
            t0 = time.perf_counter()
            v = self.verifier.settle(utt, c)
            self.found.append((c, v, time.perf_counter() - t0))
            out.append(Verdict(c.kind == "fuzzy", v.heard, v.phrase))
        return out


def transcript(coach: Coach, path: Path, language: str, cache: Path) -> list[Utterance]:
    """The agent's utterances with word times, transcribed once per variant."""
    file = cache / f"{path.stem}.json"
    if file.exists():
        data = json.loads(file.read_text(encoding="utf-8"))
        return [Utterance(u["speaker"], u["start"], u["end"], u["text"],
                          [Word(*w) for w in u["words"]]) for u in data]
    call = load_call(path)
    speech = coach.transcriber.find_speech(call.pcm[AGENT])
    utts = coach.transcriber.transcribe(call.pcm[AGENT], AGENT, language, speech=speech)
    cache.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps([{**u.to_dict(), "start": u.start, "end": u.end,
                                 "words": [[w.text, w.start, w.end, w.probability] for w in u.words]}
                                for u in utts], ensure_ascii=False), encoding="utf-8")
    return utts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="stereo16k")
    parser.add_argument("--corpus", type=Path, default=ROOT / "bench" / ".corpus")
    parser.add_argument("--floor", type=float, default=0.6, help="lowest letter score looked at")
    parser.add_argument("--near-floor", type=float, default=NEAR_MISS_FLOOR,
                        help="letter score a near miss needs to be checked (the setting measured)")
    parser.add_argument("--margin", type=float, default=VerifyOptions.margin)
    parser.add_argument("--min-mean", type=float, default=VerifyOptions.min_mean)
    parser.add_argument("--grid", action="store_true", help="forbidden_phrase over (floor, margin, mean)")
    parser.add_argument("--list", action="store_true", help="print every candidate")
    parser.add_argument("--json", type=Path, help="write the candidates as JSON")
    args = parser.parse_args(argv)
    truths = load_truth([args.corpus / "truth"])
    coach = Coach.load(CoachConfig(language="auto"))
    cache = args.corpus / "cache" / "verify" / args.variant
    scored: list[Scored] = []
    text_events: dict[str, list[Span]] = {}
    calls: list[ResultCall] = []
    verify_s = 0.0
    started = time.time()
    for stem, truth in sorted(truths.items()):
        path = args.corpus / args.variant / f"{stem}.wav"
        if not path.exists():
            continue
        utts = transcript(coach, path, truth.language, cache)
        call = load_call(path)
        book = coach.checks.rulebook(truth.language)
        verifier = Verifier(coach.transcriber.ops, truth.language,
                            lambda s, a, b, call=call: call.samples(s, a, b))
        state = book.new_state()
        events = []
        for utt in utts:
            record = Recorder(verifier)
            events += book.check_utterance(utt, state, verify=record, floor=args.floor)
            for c, v, secs in record.found:
                verify_s += secs
                timed = words_for_tokens(utt, c.tokens)
                start, end = (timed[0].start, timed[-1].end) if timed else (utt.start, utt.end)
                rule = next(r for r in book.rules if r.id == c.rule)
                reading = verifier.reading(utt, c)
                scored.append(Scored(stem, c.rule, rule.category, c.kind, c.phrase, c.score, start, end,
                                     reading.heard if reading else "", reading.said if reading else "",
                                     v.heard, v.phrase, v.details.get("mean", 0.0), secs))
        events += book.check_call(state)
        text_events[stem] = [Span(e.category, e.speaker, e.start, e.end, e.text) for e in events
                             if e.start is not None and not e.details.get("near_miss")]
        calls.append(ResultCall(path, str(path), stem, args.variant, "text", truth.language, [], set(), []))
    print(f"{len(calls)} calls, {len(scored)} candidates, verification {verify_s:.1f} s "
          f"({verify_s / max(1, len(calls)):.2f} s per call, {verify_s / max(1, len(scored)):.2f} s "
          f"per candidate); total {time.time() - started:.0f} s")
    options = EvalOptions(group_by=())
    subset = {c.stem: truths[c.stem] for c in calls}

    def tally(floor: float, margin: float | None, min_mean: float = -99.0) -> dict[str, tuple[int, int, int]]:
        """(tp, fp, fn) per category with near misses from `floor` up settled at (margin, min_mean);
        margin None: the text alone."""
        results = []
        for c in calls:
            spans = [s for s in text_events[c.stem] if s.category in CATEGORIES]
            for s in scored:
                if s.call != c.stem or s.category not in CATEGORIES or margin is None:
                    continue
                ok = s.said >= s.heard - margin and s.mean >= min_mean
                if s.kind == "near" and s.score >= floor and ok:
                    spans.append(Span(s.category, AGENT, s.start, s.end, s.heard_text))
                if s.kind == "fuzzy" and not ok:
                    spans = [x for x in spans
                             if not (x.category == s.category and abs(x.start - s.start) < 0.05)]
            results.append(ResultCall(c.path, c.call, c.stem, c.folder, "x", c.language, spans, set(), []))
        report = evaluate(results, subset, options)
        out = {}
        for cat in CATEGORIES:
            t = report.overall.get(cat)
            out[cat] = (t.tp, t.fp, t.fn) if t else (0, 0, 0)
        return out

    def prf(tp: int, fp: int, fn: int) -> str:
        p = tp / (tp + fp) if tp + fp else float("nan")
        r = tp / (tp + fn) if tp + fn else float("nan")
        f = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        return f"{tp:3d} {fp:3d} {fn:3d}  {p:.2f} {r:.2f} {f:.3f}"

    base = tally(1.0, None)
    head = "  ".join(f"{cat:>27s}" for cat in CATEGORIES)
    print(f"{'':24s}{head}\n{'':24s}" + "  ".join(f"{'tp  fp  fn   P    R    F1':>27s}" for _ in CATEGORIES))
    print(f"{'text alone':24s}" + "  ".join(prf(*base[c]) for c in CATEGORIES))
    chosen = tally(args.near_floor, args.margin, args.min_mean)
    setting = f"on: floor {args.near_floor:.2f} m {args.margin:.1f} {args.min_mean:.1f}"
    print(f"{setting:24s}"
          + "  ".join(prf(*chosen[c]) for c in CATEGORIES))
    near = sum(s.kind == "near" and s.score >= args.near_floor for s in scored)
    fuzzy = sum(s.kind == "fuzzy" for s in scored)
    checked = sum(s.seconds for s in scored if s.kind == "fuzzy" or s.score >= args.near_floor)
    print(f"candidates per call at floor {args.near_floor:.2f}: {(near + fuzzy) / max(1, len(calls)):.2f} "
          f"(near {near}, fuzzy {fuzzy}); verification {checked / max(1, len(calls)):.3f} s per call")
    if args.grid:
        print(f"grid on {CATEGORIES[0]}:\nfloor margin mean   tp  fp  fn   P    R    F1")
        for floor in (0.6, 0.65, 0.7, 0.75, 0.8):
            for margin in (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 99.0):
                for min_mean in (-1.0, -1.5, -2.0, -3.0, -99.0):
                    counts = tally(floor, margin, min_mean)[CATEGORIES[0]]
                    print(f"{floor:5.2f} {margin:5.1f} {min_mean:5.1f}  {prf(*counts)}")
    if args.list:
        def true(s: Scored) -> str:
            return "T" if any(e.category == s.category and e.start - 1.5 < s.end and s.start < e.end + 1.5
                              for e in truths[s.call].events) else "-"
        for s in sorted(scored, key=lambda s: (s.kind, s.said - s.heard)):
            print(f"{true(s)} {s.kind:5s} {s.score:.2f} d={s.said - s.heard:6.2f} m={s.mean:5.2f} "
                  f"({s.heard:6.2f}/{s.said:6.2f}) "
                  f"{s.call[:30]:30s} {s.start:6.1f} {s.rule:32s} «{s.heard_text}» -> «{s.said_text}»")
    if args.json:
        args.json.write_text(json.dumps([s.__dict__ for s in scored], ensure_ascii=False, indent=1),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
