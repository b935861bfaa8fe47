"""What an analyzer is: its options, what it needs, and the calls the composite makes.

An analyzer is one module: an `Options` dataclass (fields declared with `opt`,
so the generic loader in config.py can validate a YAML section against it and
the docs can name every field), the inputs it `needs`, and its decide logic
behind the `Analyzer` methods. `CallAnalyzers` (call.py) owns everything the
analyzers share (per-channel activity, the joint frame clock, the words and
their watermark), turns each `Finding` into a contract `Event` (texts from
YAML, severity, confidence, the per-call cap) and loops over the registry
(registry.py). So adding an analyzer is one module, one YAML section and one
registry line; nothing else changes.

The one rule an analyzer must keep: decide only on inputs that are final.
Frames reach `step` only once they are final on every channel; words reach
`add_words` only when final; and a decision that needs a speaker's words over
[a, b] waits until `ctx.words[speaker].known_through(b)`. That rule is what
makes a call fed live give exactly the findings of the same call fed whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from coach.contract import AGENT, Severity

# What the channels hold; `CallAnalyzers(layout=...)` says which, since the audio cannot.
LAYOUTS = ("separate", "mono", "diarized")
LAYOUT_DOCS = {
    "separate": "each speaker on a channel of their own (a stereo call, or the agent's own microphone alone)",
    "mono": "one channel holding both voices, analysed as the agent (a mono recording not split)",
    "diarized": "a mono recording split by diarization into per-speaker virtual channels "
    "(the mix gated by each speaker's turns; overlapping speech goes to one speaker only)",
}

if TYPE_CHECKING:
    from coach.analyzers.words import SpeakerWords, TimedWord


def opt(
    default: Any,
    doc: str,
    *,
    ge: float | None = 0.0,
    gt: float | None = None,
    le: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A validated option: default, one-line doc, and its allowed range.

    Numbers default to `ge=0` (no threshold here is negative); pass `ge=None`
    to lift that. The loader reads this metadata, so a field is documented and
    checked where it is declared, not in a second table.
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "choices": choices}
    if isinstance(default, (list, dict, set)):
        raise TypeError("opt: use a tuple or a read-only mapping for a default")
    return field(default=default, metadata=meta)


def per_language(default: Mapping[str, float], doc: str, *, gt: float | None = 0.0) -> Any:
    """A number per call language (a norm that differs by language), e.g. {ru: 7.0, en: 6.0}.

    Like the texts, it merges language by language across files, and every
    language the files declare must have a value (the loader checks both).
    """
    meta = {"doc": doc, "ge": None, "gt": gt, "le": None, "choices": None, "per_language": True}
    values = dict(default)
    return field(default_factory=lambda: dict(values), metadata=meta)  # plain data, like the texts


def texts() -> Any:
    """A per-language text (message or suggestion): YAML only, so no default here."""
    return field(default_factory=dict, metadata={"doc": "per-language text", "texts": True})


@dataclass(frozen=True)
class FindingOptions:
    """Fields every analyzer that reports findings has; subclasses add their thresholds."""

    enabled: bool = opt(True, "report findings (metrics are measured either way)")
    severity: str = opt("major", "severity of the findings", choices=Severity.names())
    max_per_call: int = opt(0, "list at most this many findings per call (0: no cap); the rest are counted")
    message: Mapping[str, str] = texts()
    suggestion: Mapping[str, str] = texts()

    def problems(self) -> list[str]:
        """Cross-field checks the per-field ranges cannot express ('field: why' strings)."""
        return []


@dataclass(frozen=True)
class ActivityOptions:
    """Speech activity from frame energy: who is speaking, frame by frame."""

    frame_ms: int = opt(20, "frame length; all times are rounded to frames", gt=0)
    min_dbfs: float = opt(-50.0, "a frame quieter than this (RMS dBFS) is never speech", ge=-120.0, le=0.0)
    snr_db: float = opt(12.0, "...and it must be this far above the channel's noise floor")
    noise_window_s: float = opt(5.0, "noise floor = quietest frame of this many last seconds", gt=0)
    hangover_s: float = opt(0.3, "pauses up to this long inside speech still count as speech")
    min_speech_s: float = opt(0.1, "bursts shorter than this are clicks, not speech")
    low_cut_hz: float = opt(
        150.0, "speech is judged on the energy above this: rumble, hum and brown noise lie below it, "
        "speech hardly (0 for the whole band)", ge=0.0, le=1000.0)


@dataclass(frozen=True)
class MetricsOptions:
    """Call metrics measured on the joint timeline (not findings)."""

    monologue_break_s: float = opt(2.0, "an agent pause this long ends a monologue")
    customer_turn_s: float = opt(1.0, "customer speech this long ends it too (shorter = backchannel)")
    silence_min_s: float = opt(1.0, "gaps shorter than this do not add to total_silence_s")


@dataclass(frozen=True)
class Needs:
    """Inputs an analyzer reads. A missing audio channel skips the analyzer (with `why`)."""

    audio: tuple[str, ...] = ()
    words: tuple[str, ...] = ()


@dataclass(slots=True)
class Frame:
    """One frame of the joint timeline, final on every channel.

    `run_start[s]` is the first frame of the speech run `s` was in at the
    previous frame (None if `s` was silent then), so an onset is
    `active[s] and run_start[s] is None`. `missing` is True where any channel's
    audio was marked missing (a device gap): nothing can be judged there.
    """

    index: int
    time: float
    active: dict[str, int]
    level: dict[str, float]
    run_start: dict[str, int | None]
    missing: bool = False


@dataclass
class Finding:
    """What an analyzer decided; the composite makes it an Event (texts, severity, cap)."""

    start: float
    end: float
    details: dict[str, float]
    confidence: float
    text: str = ""
    speaker: str = AGENT
    # Which of the analyzer's texts (`texts()` fields) says it: a finding measured another way
    # than the message's figure has its own (an interruption heard on a diarized mono call).
    message_field: str = "message"


@dataclass(frozen=True)
class TurnChange:
    """Diarized mono: `speaker`'s turn begins at `start`, `pause_s` after the other's turn, which
    lasted `other_s`, ended (coach.diarization's turns: the one channel cannot show an overlap,
    only where one voice gave way to the other and how)."""

    speaker: str
    start: float
    pause_s: float
    other_s: float


@dataclass
class Context:
    """What the composite shares with every analyzer of one call."""

    speakers: tuple[str, ...]
    frame_s: float
    metrics: MetricsOptions
    words: dict[str, SpeakerWords]
    talk_frames: dict[str, int]  # speech frames per speaker so far (the core timeline's count)
    language: str = "ru"
    layout: str = "separate"  # one of LAYOUTS


class Analyzer:
    """Base class and protocol of an analyzer (see the module docstring).

    Class attributes: `name` (the YAML section, the findings' category and
    rule id `analyzer.<name>`), `Options`, `needs`, `details_example` (the details
    keys a message may use as placeholders, with sample values for load-time
    checks), `metric_keys` (the metrics it adds; None when skipped) and
    `skip_reason` (why it cannot run on a single channel, when it needs two),
    `skip_layouts` (layout -> why it cannot be judged on such channels) and
    `runs_on_mix` (True when the one channel of a mono mix, holding every
    voice, is all it needs: dead air is nobody speaking on it).
    """

    name: ClassVar[str]
    Options: ClassVar[type[FindingOptions]] = FindingOptions
    needs: ClassVar[Needs] = Needs()
    details_example: ClassVar[dict[str, float]] = {}
    metric_keys: ClassVar[tuple[str, ...]] = ()
    skip_reason: ClassVar[str] = ""
    skip_layouts: ClassVar[Mapping[str, str]] = {}
    runs_on_mix: ClassVar[bool] = False

    def __init__(self, options: Any, ctx: Context) -> None:
        self.options = options
        self.ctx = ctx

    def step(self, frame: Frame) -> None:
        """One frame of the joint timeline (in order, each exactly once)."""

    def add_words(self, speaker: str, words: list[TimedWord]) -> None:
        """Final words of one speaker, in time order (only speakers in `needs.words`)."""

    def decide(self) -> list[Finding]:
        """Findings whose inputs are final now; called after every input."""
        return []

    def add_turn_changes(self, changes: list[TurnChange]) -> None:
        """Diarized mono: where the diarizer heard one voice give way to the other (batch: all at
        once, before the words). Most analyzers read the channels only."""

    def finish(self) -> None:
        """End of the audio: close what is open; `decide` is called once more after it."""

    def wants_preview(self) -> bool:
        """Something waits for words that a preview could judge now (cheap: asked every live
        step, before the words are gathered)."""
        return False

    def preview(self, words: Mapping[str, Any]) -> list[Finding]:
        """Live only: what `decide` would find if `words` (each speaker's final plus committed
        words, `ProvisionalWords`) were final. Must not change the analyzer's state: the
        findings of the call are still decided by `decide` on final words."""
        return []

    def metrics(self) -> dict[str, Any]:
        """This analyzer's call metrics (keys = `metric_keys`)."""
        return {}

    def live(self, now: float, window_s: float) -> dict[str, Any]:
        """Figures for the live overlay over the last `window_s` seconds before `now`."""
        return {}


def ramp(value: float, half_at: float, full_at: float) -> float:
    """Confidence 0.5 at the threshold (`half_at`), 1.0 at `full_at`, linear, clipped to 0..1."""
    if full_at <= half_at:
        return 1.0 if value >= half_at else 0.0
    return min(1.0, max(0.0, 0.5 + 0.5 * (value - half_at) / (full_at - half_at)))


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> one-line doc (for docs and `coach` help)."""
    return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}
