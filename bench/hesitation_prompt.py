"""Does a disfluent decoding prompt make Whisper write the hesitations it leaves out?

Whisper was trained mostly on clean transcripts, so it drops many "um"/"uh"/"э-э" a speaker says,
and the filler rule cannot count what is not written. A previous-text prompt written in a
disfluent style is known to make Whisper keep them. This reads every agent line of the rendered
corpus sets (truth times, the line alone, greedy, as `coach score`'s fast decoding does) twice:
plain, and after the prompt; then prints how many of the truth's hesitations each reading
wrote, how many each invented on lines that have none, and the word error rate against the
script (hesitations left out of both).

    python bench/hesitation_prompt.py --language en
    python bench/hesitation_prompt.py --language ru --prompt "Ну, э-э, как бы, вот."

It needs the rendered corpora (`bench/quality.py` or `bench/corpus/make_corpus.py` makes them:
bench/.corpus and bench/.holdout*). Results: docs/asr.md, "Tried and not kept".
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapidfuzz.distance import Levenshtein  # noqa: E402

from coach import Coach, CoachConfig  # noqa: E402
from coach.asr.vad import to_float32  # noqa: E402
from coach.asr.whisper_ops import encode_length  # noqa: E402
from coach.audio import load_call  # noqa: E402

PROMPTS = {
    "en": "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking. Uh, so, um, yeah.",
    "ru": "Ну, э-э, как бы, вот, значит. Эм, короче, слушаю вас.",
}
HESITATIONS = {
    "en": r"h?u+m+|u+h+|e+r+m*|h+m+|a+h+|m{2,}",
    "ru": r"э+|э-э|э+м+|м{2,}|м-м|а{3,}|хм+|ну|как бы|типа|короче|значит|так сказать|это самое|в общем|вот",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--language", choices=sorted(PROMPTS), default="en")
    parser.add_argument("--prompt", help="the disfluent prompt (default: one per language)")
    parser.add_argument("--sets", default="bench/.corpus,bench/.holdout[1-7]",
                        help="rendered corpus folders, comma-separated globs")
    parser.add_argument("--list", action="store_true", help="print every line where the two differ")
    args = parser.parse_args()
    lang, prompt_text = args.language, args.prompt or PROMPTS[args.language]
    hesitation = re.compile(rf"(?<![\w-])({HESITATIONS[lang]})(?![\w-])", re.I)

    ops = Coach.load(CoachConfig(language=lang)).transcriber.ops
    tok = ops.tokenizer(lang)
    plain = list(tok.sot_sequence) + [tok.no_timestamps]
    prompted = [tok.sot_prev, *tok.encode(" " + prompt_text), *plain]

    def words(text: str) -> list[str]:
        return [w for w in re.findall(r"[\w']+", text.lower()) if not hesitation.fullmatch(w)]

    totals = dict(lines=0, said=0, plain=0, prompted=0, clean=0, invented_plain=0, invented_prompted=0,
                  ref_words=0, errors_plain=0, errors_prompted=0)
    truths = sorted(f for pattern in args.sets.split(",") for folder in glob.glob(str(ROOT / pattern))
                    for f in glob.glob(f"{folder}/truth/*{lang}-*.json"))
    for truth_file in truths:
        truth = json.loads(Path(truth_file).read_text(encoding="utf-8"))
        wav = Path(truth_file.replace("/truth/", "/stereo16k/")).with_suffix(".wav")
        if not wav.exists():
            continue
        call = load_call(wav)
        for line in (x for x in truth["lines"] if x["speaker"] == "agent"):
            clip = to_float32(call.samples("agent", max(0.0, line["start"] - 0.2), line["end"] + 0.2))
            encoded = ops.encode([clip], encode_length(len(clip), 2.0))
            texts = []
            for prompt in (plain, prompted):
                (result,) = ops.generate(encoded, [prompt], lang, beam_size=1, max_length=len(prompt) + 120)
                texts.append(tok.decode([t for t in result.sequences_ids[0] if t < tok.eot]).strip())
            said = len(hesitation.findall(line["text"]))
            found = [len(hesitation.findall(t)) for t in texts]
            reference = words(line["text"])
            totals["lines"] += 1
            totals["ref_words"] += len(reference)
            totals["errors_plain"] += Levenshtein.distance(words(texts[0]), reference)
            totals["errors_prompted"] += Levenshtein.distance(words(texts[1]), reference)
            if said:
                totals["said"] += said
                totals["plain"] += min(found[0], said)
                totals["prompted"] += min(found[1], said)
            else:
                totals["clean"] += 1
                totals["invented_plain"] += found[0]
                totals["invented_prompted"] += found[1]
            if args.list and texts[0] != texts[1]:
                print(f"{wav.stem} {line['start']:.1f}: {line['text']!r}\n  plain:    {texts[0]!r}\n"
                      f"  prompted: {texts[1]!r}")
    t = totals
    if not t["lines"]:
        raise SystemExit(f"hesitation_prompt: no rendered {lang} calls under {args.sets}")
    print(f"{lang}: {t['lines']} agent lines, {t['said']} hesitations said")
    print(f"written        plain {t['plain']:4d}   prompted {t['prompted']:4d}   (of {t['said']})")
    print(f"invented       plain {t['invented_plain']:4d}   prompted {t['invented_prompted']:4d}   "
          f"(on {t['clean']} lines without one)")
    print(f"word errors    plain {t['errors_plain'] / t['ref_words']:.3f}  prompted "
          f"{t['errors_prompted'] / t['ref_words']:.3f}")


if __name__ == "__main__":
    main()
