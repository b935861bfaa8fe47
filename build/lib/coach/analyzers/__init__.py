"""Acoustic and turn-taking analyzers: interruptions, raised voice, speech rate,
dead air, and the call metrics (talk ratio, words per minute, silence...).

They read per-speaker audio (agent and customer channels) and the final
utterances with word timestamps, incrementally, so one implementation serves
live calls and batch scoring with identical findings. Thresholds come from
`rules/analyzers.yaml` (see docs/analyzers.md).
"""

from coach.analyzers.call import CATEGORIES, CallAnalyzers, analyze_call
from coach.analyzers.config import AnalyzerConfig, load_analyzer_config

__all__ = [
    "CATEGORIES",
    "AnalyzerConfig",
    "CallAnalyzers",
    "analyze_call",
    "load_analyzer_config",
]
