"""Running the examples every rule carries: the rulebook's own test suite.

An example is a sentence said by the rule's speaker, or a short dialogue as
a list of "agent: ..." / "customer: ..." lines (for call-level rules such as
name use). A `match` example must make the rule fire; a `no_match` example
must not. A match example written as `{text: ..., span: ..., suggestion: ...}`
must also point at those words and suggest that text. The pytest suite and
`coach rules test` both call this.

Words are spaced 0.35 s apart and lines 0.5 s apart; a "pause: 40" line lets
40 s pass (for rules that depend on time: a minimum call length, the name
reminder). Time-based hints are polled after every line, as live does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from coach.contract import AGENT, SPEAKERS, Event, Utterance
from coach.errors import RuleError
from coach.rules.base import PAUSE, Example, Rule, clean_text
from coach.rules.engine import Rulebook, filler_rules, utterance_from_text
from coach.rules.loader import load_rules


@dataclass
class ExampleResult:
    rule: Rule
    expectation: str  # "match" or "no_match"
    example: Example
    fired: list[Event]

    @property
    def problem(self) -> str | None:
        """Why the example fails, or None when it passes."""
        if self.expectation == "no_match":
            if self.fired:
                return "fired on '" + "', '".join(e.text for e in self.fired) + "'"
            return None
        if not self.fired:
            return "did not fire"
        found = self.fired
        if self.example.span is not None:
            found = [e for e in found if e.text == clean_text(self.example.span)]
            if not found:
                return ("fired on '" + "', '".join(e.text for e in self.fired)
                        + f"', expected span '{clean_text(self.example.span)}'")
        if self.example.suggestion is not None and not any(
            e.suggestion == self.example.suggestion for e in found
        ):
            return (f"suggested '{found[0].suggestion}', expected '{self.example.suggestion}'")
        return None

    @property
    def passed(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        shown = self.example.shown
        if self.passed:
            return f"ok   {self.rule.id} {self.expectation}: {shown}"
        return f"FAIL {self.rule.id} {self.expectation}: {shown!r} -> {self.problem} ({self.rule.ctx.file})"


def pause_seconds(text: str) -> float:
    try:
        return float(text.strip().removesuffix("s").strip())
    except ValueError:
        raise ValueError(f"'pause: {text}' needs a number of seconds") from None


def dialogue(
    example: Example | str | list[str] | tuple[str, ...], default_speaker: str
) -> list[tuple[str, str]]:
    """(speaker, text) lines of an example; 'pause' lines carry their seconds as text."""
    if isinstance(example, Example):
        example = example.text
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


def timeline(lines: list[tuple[str, str]]) -> Iterator[tuple[Utterance | None, float]]:
    """Dialogue lines as a call delivers them: (utterance, its end) for each spoken line (the next
    starts 0.5 s after it), (None, the time after it) for a pause line. One clock for every
    player of examples, so a rule's time checks see the same call in each."""
    t = 0.0
    for who, text in lines:
        if who == PAUSE:
            t += pause_seconds(text)
            yield None, t
            continue
        utt = utterance_from_text(text, who, start=t)
        t = utt.end + 0.5
        yield utt, t


@cache
def _pack_rules(language: str) -> tuple[Rule, ...]:
    """The built-in pack's rules (none for a language coach has no pack for)."""
    try:
        return tuple(load_rules(language).rules)
    except (OSError, RuleError):
        return ()


def example_book(rule: Rule) -> Rulebook:
    """A rulebook of this rule, its pack's filler rules and the pack's rules it `yields_to`: an
    example is read as the pack reads it, a filler inside a phrase taken out
    (`Doc.without_fillers`), an excuse beside "не знаю" speaking for it; only the rule's own
    findings are compared."""
    pack = _pack_rules(rule.language)
    others = [r for r in [*filler_rules(list(pack)), *(r for r in pack if r.id in rule.yields_to)]
              if r.id != rule.id]
    return Rulebook([rule, *others], rule.language)


def run_example(
    rule: Rule, example: Example, expectation: str, book: Rulebook | None = None
) -> ExampleResult:
    """Play one example as a call through `example_book`."""
    book = book or example_book(rule)
    state = book.new_state()
    speaker = AGENT if rule.speaker == "any" else rule.speaker
    t = 0.0
    fired: list[Event] = []
    for utt, t in timeline(dialogue(example, speaker)):
        if utt is None:
            fired += book.check_time(state, t)
            continue
        fired += book.check_utterance(utt, state)
        fired += book.cues(utt, state)
        fired += book.check_time(state, utt.end)
    state.duration_s = t
    fired += book.check_call(state)
    return ExampleResult(rule, expectation, example, [e for e in fired if e.rule == rule.id])


def run_rule_examples(rule: Rule) -> list[ExampleResult]:
    book = example_book(rule)
    return [
        run_example(rule, example, expectation, book)
        for expectation in ("match", "no_match")
        for example in rule.examples[expectation]
    ]
