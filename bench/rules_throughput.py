"""Utterances per second through NLP + every rule pack, on one core.

Rules run on every final utterance, live and in batch, so they must never be
the slow part: the target is >= 2,000 utterances/s on one core. The corpus is
every example sentence of every pack (agent and customer lines, the phrases
that fire and the ones that must not) plus the fixture transcripts, shuffled
and replayed as a stream of calls of 40 utterances each, so the call-level
rules (name, greeting, closing, fillers rate) carry state as in a real call.

Printed next to it, measured in the same run on the same utterances: the
tokenizer + lemmatizer alone (the floor any rule engine pays), so the ratio
says what the rules themselves cost on this machine.

    taskset -c 0 python bench/rules_throughput.py          # pinned to one core
    python bench/rules_throughput.py --seconds 5 --json    # machine-readable
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

from coach.contract import AGENT, Utterance
from coach.rules import Rulebook, utterance_from_text
from coach.rules.examples import PAUSE, dialogue
from coach.rules.loader import load_rules

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ("ru", "en", "ro", "nb", "et")
CALL_LENGTH = 40


def corpus(language: str) -> list[tuple[str, str]]:
    """(speaker, text) lines: every example of the pack, and for Russian the fixture transcripts."""
    lines: list[tuple[str, str]] = []
    for rule in load_rules(language).rules:
        speaker = AGENT if rule.speaker == "any" else rule.speaker
        for expectation in ("match", "no_match"):
            for example in rule.examples[expectation]:
                lines += [(who, text) for who, text in dialogue(example, speaker) if who != PAUSE]
    manifest = ROOT / "tests" / "fixtures" / "calls" / "manifest.json"
    if language == "ru" and manifest.is_file():
        calls = json.loads(manifest.read_text(encoding="utf-8"))["calls"]
        lines += [(line["speaker"], line["text"]) for call in calls.values() for line in call["lines"]]
    return lines


def utterances(lines: list[tuple[str, str]], count: int, join: int = 1, seed: int = 7) -> list[Utterance]:
    """A stream of `count` utterances, each `join` random lines of one speaker run together."""
    rng = random.Random(seed)
    out, t = [], 0.0
    for i in range(count):
        speaker, text = rng.choice(lines)
        for _ in range(join - 1):
            text += " " + rng.choice([x for w, x in lines if w == speaker] or [text])
        if i % CALL_LENGTH == 0:
            t = 0.0
        utt = utterance_from_text(text, speaker, start=t)
        t = utt.end + 0.4
        out.append(utt)
    return out


def measure(fn, utts: list[Utterance], seconds: float) -> float:
    """Utterances per second: repeat the stream until `seconds` have passed (after one warm-up)."""
    fn(utts[: min(len(utts), 200)])
    done, started = 0, time.perf_counter()
    while True:
        fn(utts)
        done += len(utts)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed


def tokenize_only(book: Rulebook):
    def run(utts: list[Utterance]) -> None:
        for utt in utts:
            book.tokens(utt.text)
    return run


def full_rules(book: Rulebook):
    def run(utts: list[Utterance]) -> None:
        state = None
        for i, utt in enumerate(utts):
            if i % CALL_LENGTH == 0:
                if state is not None:
                    book.check_call(state)
                state = book.new_state()
            book.check_utterance(utt, state)
            book.check_time(state, utt.end)
        if state is not None:
            book.check_call(state)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--utterances", type=int, default=4000, help="stream length per pass")
    parser.add_argument("--join", type=int, default=1,
                        help="lines per utterance (3 gives ~15-word utterances, as ASR segments often are)")
    parser.add_argument("--languages", nargs="*", default=list(LANGUAGES))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = []
    rows = []
    for language in args.languages:
        book = Rulebook.load(language)
        utts = utterances(corpus(language), args.utterances, args.join)
        base = measure(tokenize_only(book), utts, args.seconds)
        full = measure(full_rules(book), utts, args.seconds)
        words = sum(len(u.words) for u in utts) / len(utts)
        rows.append({
            "language": language, "rules": len(book.rules), "words_per_utterance": round(words, 1),
            "tokenize_per_s": round(base), "rules_per_s": round(full),
            "rules_vs_tokenize": round(full / base, 3), "target_met": full >= 2000,
        })
    result = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
              "cores_allowed": cores, "results": rows}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        pinned = "one core" if len(cores) == 1 else f"{len(cores)} cores allowed (single thread)"
        print(f"rules throughput, {pinned}, Python {result['python']}")
        print(f"{'lang':5} {'rules':>5} {'words/utt':>9} {'tokenize/s':>11} {'all rules/s':>12} "
              f"{'ratio':>6}  target >= 2000/s")
        for r in rows:
            print(f"{r['language']:5} {r['rules']:>5} {r['words_per_utterance']:>9} "
                  f"{r['tokenize_per_s']:>11} {r['rules_per_s']:>12} {r['rules_vs_tokenize']:>6}  "
                  f"{'ok' if r['target_met'] else 'MISSED'}")
    return 0 if all(r["target_met"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
