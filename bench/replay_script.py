"""Read a corpus's scripted lines through the rules, as if ASR had heard every word right.

Why: a rule change is checked on the calls it came from, but it can break
what it never saw. Each held-out set's truth holds the lines as written and
their times; fed straight to a Session (no Whisper, no audio), they show what
the rules alone find on perfect text, so a rule change can be replayed on
every set in seconds. The text categories are what this measures
(forbidden_phrase, negative_phrasing, diminutive, filler_words and the four
call-level flags); the acoustic ones (raised_voice, speech_rate,
interruption, long_silence) need the audio and are not meaningful here.

    python bench/replay_script.py bench/.holdout41/truth bench/.holdout42/truth --out /tmp/replay
    coach eval /tmp/replay/holdout42 --truth bench/.holdout42/truth

Each truth folder gets a results folder under --out named after its set.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from coach.config import CoachConfig
from coach.contract import AGENT, CUSTOMER, Utterance
from coach.core import Coach


def replay_call(coach: Coach, truth: dict) -> dict:
    """The per-call result of one truth file's lines, read by the rules alone."""
    utterances = sorted((Utterance(line["speaker"], float(line["start"]), float(line["end"]), line["text"])
                         for line in truth["lines"]), key=lambda u: (u.start, u.speaker))
    session = coach.new_session((AGENT, CUSTOMER), truth["language"])
    session.rereads_at_end = True
    for utt in utterances:
        session.add_utterance(utt)
    session.finish(float(truth["duration_s"]))
    return coach.result(session, truth["audio"], None, utterances, {}).to_dict()


def set_name(truth_dir: Path) -> str:
    """"bench/.holdout42/truth" -> "holdout42"."""
    return truth_dir.resolve().parent.name.lstrip(".")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("truth", nargs="+", type=Path, help="truth folders (coach eval format, with 'lines')")
    parser.add_argument("--out", type=Path, required=True, help="folder for one results folder per set")
    args = parser.parse_args(argv)
    coach = Coach.load(replace(CoachConfig(), verify_phrases=False))
    for truth_dir in args.truth:
        out = args.out / set_name(truth_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = sorted(truth_dir.glob("*.json"))
        for path in files:
            truth = json.loads(path.read_text(encoding="utf-8"))
            if "lines" not in truth:
                print(f"{path}: no 'lines' in this truth file; skipped", file=sys.stderr)
                continue
            result = replay_call(coach, truth)
            (out / path.name).write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"{truth_dir}: {len(files)} call(s) -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
