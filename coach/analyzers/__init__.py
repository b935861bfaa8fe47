"""Acoustic and turn-taking analyzers: interruptions, raised voice, speech rate,
dead air, and the call metrics (talk ratio, words per minute, silence...).

They read per-speaker audio (agent and customer channels) and the final
utterances with word timestamps, incrementally, so one implementation serves
live calls and batch scoring with identical findings. Each analyzer is one
module behind the `Analyzer` protocol (base.py), listed in registry.py; its
options and texts come from `analyzers.yaml` in the rules folder (see
docs/analyzers.md).
"""

from coach.analyzers.base import Analyzer, Finding, FindingOptions, Frame, Needs, TurnChange, opt, ramp
from coach.analyzers.call import CATEGORIES, CallAnalyzers, analyze_call
from coach.analyzers.config import AnalyzerConfig, load_analyzer_config
from coach.analyzers.registry import register, registered, unregister

__all__ = [
    "CATEGORIES",
    "Analyzer",
    "AnalyzerConfig",
    "CallAnalyzers",
    "Finding",
    "FindingOptions",
    "Frame",
    "Needs",
    "TurnChange",
    "analyze_call",
    "load_analyzer_config",
    "opt",
    "ramp",
    "register",
    "registered",
    "unregister",
]
