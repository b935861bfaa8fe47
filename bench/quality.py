"""Quality on the development corpus: precision, recall and F1 of coach's findings per category.

Builds the corpus if it is missing or out of date (bench/corpus/make_corpus.py,
audio rendered into bench/.corpus), scores one variant (or all) with
`coach score`, and compares the results with the truth using `coach eval`'s
matching (coach/evaluation.py). Any option this script does not know is
passed on to `coach score`, so the same run can measure an option::

    python bench/quality.py                          # stereo16k, coach score defaults
    python bench/quality.py --language auto          # ... with language detection
    python bench/quality.py --variant tel8k --errors # 8 kHz mu-law; list every miss and false alarm
    python bench/quality.py --all-variants           # stereo16k, tel8k, mono8k side by side

Results are kept per variant and option set under bench/.corpus/out/, and
`coach score` skips calls already scored with the same audio, model, rules
and options, so a second run only re-evaluates. Scoring the 69 calls (an
hour of audio) takes about 5-10 minutes on 2 free cores with `--language
auto`; with the defaults (`--language ru`) the English calls take several
times longer, as Whisper loops on audio in the wrong language.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "corpus"))

from coach import numerics as _pinned  # noqa: E402, F401  (first: pins numpy's path, coach.numerics)

# isort: split
import make_corpus  # noqa: E402
from rapidfuzz import fuzz  # noqa: E402

from coach.evaluation import (  # noqa: E402
    EvalOptions,
    Report,
    evaluate,
    format_report,
    load_results,
    load_truth,
    macro_f1,
    micro,
)


def options_tag(extra: list[str]) -> str:
    """A folder-safe name for a set of pass-through options ("default" when none)."""
    if not extra:
        return "default"
    return re.sub(r"[^A-Za-z0-9_.]+", "-", "-".join(a.lstrip("-") for a in extra)).strip("-")[:80]


def score(corpus: Path, variant: str, out: Path, extra: list[str]) -> None:
    """Run `coach score` on one variant (progress bar on the terminal); skips calls already scored."""
    if "--force" in extra and out.is_dir():
        # Results of an earlier run would be evaluated beside the new ones: `coach score` keeps a
        # file whose recording it cannot match (its `call` path was relative to another folder)
        # and writes the new result under a hashed name next to it.
        for old in out.glob("*.json"):
            old.unlink()
    cmd = [sys.executable, "-m", "coach", "score", str(corpus / variant), "-o", str(out), "--no-report",
           *extra]
    print(f"$ coach score {corpus / variant} -o {out} --no-report {' '.join(extra)}".rstrip(), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"quality: coach score failed with exit code {proc.returncode}")


def words(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.lower().replace("ё", "е")))


def asr_similarity(truth_dir: Path, out: Path) -> dict[str, list[float]]:
    """Per language, how close Whisper's text is to each scripted line (0-100, rapidfuzz ratio).

    Tells a rule miss from an ASR miss: when the words never came out of the
    ASR, no rule could have found them.
    """
    scores: dict[str, list[float]] = {}
    for path in sorted(out.glob("*.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        truth_path = truth_dir / f"{Path(result['call']).stem}.json"
        if not truth_path.exists():
            continue
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        mono = bool(result.get("mono"))  # one channel: every word is "agent", compare by time only
        for line in truth.get("lines", []):
            heard = " ".join(
                u["text"] for u in result.get("transcript", [])
                if (mono or u["speaker"] == line["speaker"]) and u["start"] < line["end"] + 0.5
                and u["end"] > line["start"] - 0.5
            )
            scores.setdefault(truth["language"], []).append(fuzz.ratio(words(line["text"]), words(heard)))
    return scores


def comparison(reports: dict[str, Report]) -> str:
    """F1 per category, one column per variant, and the same per language."""
    names = list(reports)
    cats = []
    for report in reports.values():
        cats += [c for c in report.categories() if c not in cats]
    width = max(len(c) for c in cats + ["macro F1"])
    colw = max(len(n) for n in names + ["0.00"])
    lines = [f"{'F1':<{width}}  " + "  ".join(f"{n:>{colw}}" for n in names)]

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for c in cats:
        lines.append(f"{c:<{width}}  " + "  ".join(
            f"{fmt(r.overall[c].f1) if c in r.overall else '-':>{colw}}" for r in reports.values()))
    lines.append(f"{'micro':<{width}}  " + "  ".join(
        f"{fmt(micro(r.overall).f1):>{colw}}" for r in reports.values()))
    lines.append(f"{'macro F1':<{width}}  " + "  ".join(
        f"{fmt(macro_f1(r.overall)):>{colw}}" for r in reports.values()))
    langs = sorted({lang for r in reports.values() for lang in r.groups.get("language", {})})
    for lang in langs:
        row = []
        for r in reports.values():
            group = r.groups.get("language", {}).get(lang)
            row.append(f"{fmt(micro(group).f1)}/{fmt(macro_f1(group))}" if group else "-")
        lines.append(f"{lang + ' micro/macro':<{width}}  " + "  ".join(f"{v:>{colw}}" for v in row))
    return "\n".join(lines)


def audio_digest(corpus: Path, variant: str) -> tuple[str, dict[str, str]]:
    """sha256 of each rendered WAV of a variant, and one digest over them all.

    Two machines that score the same code differently either rendered other
    audio (festival, sox, ffmpeg builds) or did other arithmetic; equal digests
    rule out the first. Written beside the results folder (`<folder>.audio_sha256.json`:
    inside it, `coach eval` would take it for a call's result)."""
    wavs = sorted((corpus / variant).glob("*.wav"))
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in wavs}
    listing = "".join(f"{name}:{digest}\n" for name, digest in files.items())
    whole = hashlib.sha256(listing.encode()).hexdigest()
    return whole, files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        allow_abbrev=False,
        epilog="Unknown options go to 'coach score' (e.g. --language auto, --beam 5, --model DIR).",
    )
    parser.add_argument("--variant", default="stereo16k", choices=make_corpus.VARIANTS)
    parser.add_argument("--all-variants", action="store_true", help="score and compare every variant")
    parser.add_argument("--corpus", type=Path, default=make_corpus.DEFAULT_OUT,
                        help="corpus folder (default bench/.corpus; built there if missing)")
    parser.add_argument("--scripts", type=Path, default=make_corpus.SCRIPTS,
                        help="call scripts the corpus is built from (default bench/corpus/scripts; "
                             "the held-out set: --scripts bench/corpus/holdout --corpus bench/.holdout)")
    parser.add_argument("--tolerance", type=float, default=EvalOptions.tolerance_s)
    parser.add_argument("--by", action="append", default=None, metavar="KEY",
                        help="F1 per group (default: language and noise; any truth tag, e.g. domain, tts)")
    parser.add_argument("--errors", action="store_true", help="list every miss and false alarm")
    parser.add_argument("--asr", action="store_true",
                        help="also show how close Whisper's text is to the scripted lines")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write all figures as JSON")
    args, extra = parser.parse_known_args(argv)
    variants = list(make_corpus.VARIANTS) if args.all_variants else [args.variant]
    make_corpus.build(args.corpus, variants=make_corpus.VARIANTS, quiet=True, scripts=args.scripts)
    truths = load_truth([args.corpus / "truth"])
    options = EvalOptions(tolerance_s=args.tolerance, group_by=tuple(args.by or ["language", "noise"]))
    tag = options_tag(extra)
    reports: dict[str, Report] = {}
    figures: dict[str, object] = {"options": extra, "tolerance_s": args.tolerance, "variants": {}}
    for variant in variants:
        out = args.corpus / "out" / f"{variant}-{tag}"
        score(args.corpus, variant, out, extra)
        report = evaluate(load_results([out]), truths, options)
        reports[variant] = report
        digest, files = audio_digest(args.corpus, variant)
        listing = out.with_name(out.name + ".audio_sha256.json")
        listing.write_text(json.dumps(files, indent=1) + "\n", encoding="utf-8")
        (out / "audio_sha256.json").unlink(missing_ok=True)  # where an earlier version wrote it
        print(f"\n=== {variant}, coach score {' '.join(extra) or '(defaults)'} ===")
        print(f"audio: {len(files)} files, sha256 over all {digest[:16]} (per file: {listing})")
        print(format_report(report, errors=args.errors))
        entry = report.as_dict()
        entry["audio_sha256"] = digest
        if args.asr:
            sims = asr_similarity(args.corpus / "truth", out)
            entry["asr_line_similarity"] = {k: statistics.median(v) for k, v in sims.items()}
            for lang, values in sorted(sims.items()):
                low = sum(v < 60 for v in values)
                print(f"ASR {lang}: median line similarity {statistics.median(values):.0f}/100, "
                      f"{low} of {len(values)} lines under 60")
        figures["variants"][variant] = entry
    if len(reports) > 1:
        print("\n=== F1 by variant ===")
        print(comparison(reports))
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
