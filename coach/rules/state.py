"""What a call has shown so far, for rules that look beyond one utterance.

One CallState per call, shared by every rule: the utterances seen, and facts
such as the customer's name once caught (confirmed) or only heard. Rules record their own facts in
`facts` under their id, so new rule kinds need no change here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coach.contract import Utterance


def mostly_in(utt: Utterance, spans: list[tuple[float, float]] | None) -> bool:
    """Most of the utterance lies in these stretches (`CallState.elsewhere`: where a doubted mono
    split heard the other voice)."""
    if not spans or utt.end <= utt.start:
        return False
    inside = sum(max(0.0, min(utt.end, b) - max(utt.start, a)) for a, b in spans)
    return inside > (utt.end - utt.start) / 2


@dataclass
class CallState:
    language: str = "ru"
    speakers: tuple[str, ...] = ("agent", "customer")
    utterances: list[Utterance] = field(default_factory=list)
    customer_name: str | None = None  # confirmed: fills {name} in suggestions, goes into the per-call JSON
    customer_name_heard: str | None = None  # a guess not confirmed yet (ASR may have garbled it)
    customer_name_set: bool = False  # set from outside (Rulebook.set_customer_name): rules keep it
    duration_s: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    # (speaker, start, end): audio a rule will read again at the call's end, kept by a live verifier
    keep_audio: list[tuple[str, float, float]] = field(default_factory=list)
    # lines to read again for the rules that judge single words, later (Rulebook.read_lines_again)
    lines_to_read: list[Any] = field(default_factory=list)
    # (speaker, start, end) -> seconds of that speaker's voice activity on their own channel, or None
    # where it cannot tell (one channel, a diarized mix, audio not analysed yet); set by the Session
    voice_s: Callable[[str, float, float], float | None] | None = None
    # a mono call judged one voice, whose doubted two-way split the words still lean on
    # (coach.call_scoring): the stretches that split gave the other voice. Scored as the agent's
    # lines, but a filler episode ends there and their fillers are not the agent's habit, and the
    # closing is the agent's last turn without them (RequiredRule.window).
    elsewhere: list[tuple[float, float]] = field(default_factory=list)
