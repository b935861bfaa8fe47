"""Command-line options that make a CoachConfig, shared by score, live and replay."""

from __future__ import annotations

import argparse
from pathlib import Path

from coach.config import ASR_MODES, AUTO, DEVICES, MONO_MODES, CoachConfig, parse_channel_order


def add_config_options(parser: argparse.ArgumentParser, *, language_default: str = AUTO,
                       batch: bool = True) -> None:
    parser.add_argument("--model", default=None, metavar="NAME|DIR",
                        help="Whisper model: a name from 'coach models' (default: the offline "
                             "whisper-base), a local CTranslate2 folder, or a Hugging Face repo id "
                             "(needs network)")
    parser.add_argument("--language", default=language_default, metavar="LANG",
                        help="language of the calls: ru, en, ro, nb, et, or 'auto' to detect it once "
                             f"per call from the agent's speech (default {language_default})")
    parser.add_argument("--rules", action="append", default=[], metavar="DIR",
                        help="a company rules folder that adds to or overrides the built-in packs "
                             "by rule id (repeatable); may hold analyzers.yaml too")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads for Whisper (default 0: all cores; never changes results)")
    parser.add_argument("--verify-phrases", choices=("on", "off"), default="on",
                        help="settle phrases the rules nearly found, or found only allowing ASR slips, "
                             "on the audio (Whisper's forced alignment), and read a missing greeting, "
                             "closing, name question or use of the name again before reporting it: "
                             "catches what Whisper garbled, for a few seconds per call that has such a "
                             "finding (default on)")
    if not batch:
        return
    parser.add_argument("--device", dest="asr_device", choices=DEVICES, default="cpu",
                        help="run Whisper on the CPU (default) or a CUDA GPU (results differ "
                             "slightly between the two, so the device is part of the fingerprint)")
    parser.add_argument("--scorecard", default=None, metavar="FILE",
                        help="scorecard YAML that turns findings into a 0-100 score "
                             "(default: the built-in one)")
    parser.add_argument("--mono", choices=MONO_MODES, default="diarize",
                        help="mono recordings: 'diarize' (default) splits the one channel into two "
                             "voices and tells the agent by the script (greeting, name, goodbye); "
                             "'agent' treats it all as the agent")
    parser.add_argument("--beam", type=int, default=1, metavar="N",
                        help="Whisper beam size (default 1: fastest; 5 is a little more accurate)")
    parser.add_argument("--asr-mode", choices=ASR_MODES, default="fast",
                        help="'fast' (default): short VAD segments batched and encoded only as long "
                             "as they are; 'batched': faster-whisper's batched pipeline; "
                             "'sequential': plain faster-whisper transcribe()")


def config_from_args(args: argparse.Namespace, channels: str | None = None) -> CoachConfig:
    """A CoachConfig from parsed options (validated later, by Coach.load / CallChecks.load)."""
    return CoachConfig(
        model=args.model,
        language=args.language,
        channels=parse_channel_order(channels or getattr(args, "channels", None) or "agent,customer"),
        mono=getattr(args, "mono", "diarize"),
        rules_dirs=[str(Path(d)) for d in args.rules],
        scorecard=getattr(args, "scorecard", None),
        beam_size=getattr(args, "beam", 1),
        asr_mode=getattr(args, "asr_mode", "fast"),
        device=getattr(args, "asr_device", "cpu"),  # live/replay: Whisper on the CPU
        cpu_threads=args.threads,
        verify_phrases=getattr(args, "verify_phrases", "on") == "on",
    )
