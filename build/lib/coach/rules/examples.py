"""Running the examples every rule carries: the rulebook's own test suite.

An example is a sentence said by the rule's speaker, or a short dialogue as
a list of "agent: ..." / "customer: ..." lines (for call-level rules such as
name use). A `match` example must make the rule fire; a `no_match` example
must not. The pytest suite and `coach rules test` both call this.

Words are spaced 0.35 s apart and lines 0.5 s apart; a "pause: 40" line lets
40 s pass (for rules that depend on time: a minimum call length, the name
reminder). Time-based hints are polled after every line, as live does.
"""

from __future__ import annotations

from dataclasses import dataclass

from coach.contract import AGENT, SPEAKERS, Event
from coach.rules.base import Rule
from coach.rules.engine import Rulebook, utterance_from_text


@dataclass
class ExampleResult:
    rule: Rule
    expectation: str  # "match" or "no_match"
    example: str | list[str]
    fired: list[Event]

    @property
    def passed(self) -> bool:
        return bool(self.fired) == (self.expectation == "match")

    def describe(self) -> str:
        shown = self.example if isinstance(self.example, str) else " / ".join(self.example)
        if self.passed:
            return f"ok   {self.rule.id} {self.expectation}: {shown}"
        what = "did not fire" if self.expectation == "match" else (
            "fired on '" + "', '".join(e.text for e in self.fired) + "'"
        )
        return f"FAIL {self.rule.id} {self.expectation}: {shown!r} -> {what} ({self.rule.ctx.file})"


PAUSE = "pause"


def pause_seconds(text: str) -> float:
    try:
        return float(text.strip().removesuffix("s").strip())
    except ValueError:
        raise ValueError(f"'pause: {text}' needs a number of seconds") from None


def dialogue(example: str | list[str], default_speaker: str) -> list[tuple[str, str]]:
    if isinstance(example, str):
        return [(default_speaker, example)]
    lines = []
    for line in example:
        head, sep, rest = line.partition(":")
        if sep and (head.strip() in SPEAKERS or head.strip() == PAUSE):
            lines.append((head.strip(), rest.strip()))
        else:
            lines.append((default_speaker, line))
    return lines


def run_example(rule: Rule, example: str | list[str], expectation: str) -> ExampleResult:
    book = Rulebook([rule], rule.language)
    state = book.new_state()
    speaker = AGENT if rule.speaker == "any" else rule.speaker
    t = 0.0
    fired: list[Event] = []
    for who, text in dialogue(example, speaker):
        if who == PAUSE:
            t += pause_seconds(text)
            fired += book.check_time(state, t)
            continue
        utt = utterance_from_text(text, who, start=t)
        t = utt.end + 0.5
        fired += book.check_utterance(utt, state)
        fired += book.check_time(state, utt.end)
    state.duration_s = t
    fired += book.check_call(state)
    return ExampleResult(rule, expectation, example, [e for e in fired if e.rule == rule.id])


def run_rule_examples(rule: Rule) -> list[ExampleResult]:
    return [
        run_example(rule, example, expectation)
        for expectation in ("match", "no_match")
        for example in rule.examples[expectation]
    ]
