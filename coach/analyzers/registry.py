"""The analyzers a call runs, in order: the built-in ones and any registered since.

The config loader takes its sections from here (each analyzer's `name` is
its YAML section and category) and `CallAnalyzers` instantiates each one per
call, so this list is the only place an analyzer is wired in.
"""

from __future__ import annotations

from coach.analyzers.base import Analyzer
from coach.analyzers.interruption import Interruption
from coach.analyzers.long_silence import LongSilence
from coach.analyzers.raised_voice import RaisedVoice
from coach.analyzers.speech_rate import SpeechRate
from coach.errors import CoachError

BUILTIN: tuple[type[Analyzer], ...] = (Interruption, RaisedVoice, SpeechRate, LongSilence)
CORE_SECTIONS = ("activity", "metrics")  # shared options, not analyzers

_registered: list[type[Analyzer]] = list(BUILTIN)


def register(cls: type[Analyzer]) -> type[Analyzer]:
    """Add an analyzer (usable as a class decorator). Configs loaded afterwards include it."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise CoachError(f"analyzers: {cls.__name__} needs a `name` that is an identifier, got {name!r}")
    if name in CORE_SECTIONS or name in names():
        raise CoachError(f"analyzers: an analyzer or section named {name!r} exists already")
    _registered.append(cls)
    return cls


def unregister(name: str) -> None:
    """Remove a registered analyzer (tests; a built-in one cannot be removed)."""
    if any(cls.name == name for cls in BUILTIN):
        raise CoachError(f"analyzers: {name!r} is built in")
    _registered[:] = [cls for cls in _registered if cls.name != name]


def registered() -> tuple[type[Analyzer], ...]:
    return tuple(_registered)


def names() -> tuple[str, ...]:
    """Analyzer names = their categories and YAML sections, in run order."""
    return tuple(cls.name for cls in _registered)
