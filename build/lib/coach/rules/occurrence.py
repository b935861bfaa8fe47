"""`kind: occurrence`: a word family said too often — fillers per minute of the agent's speech.

One "ну" is Russian; "ну, короче, как бы" every few seconds is a habit. The
rule counts occurrences of `words` (fixed forms, multiword allowed: "как бы",
"в принципе", "you know"; plus `regexes` for stretched hesitations such as
"эээ"/"ммм") in the rule speaker's utterances, and divides by that speaker's
own speaking time so far (utterance durations, not call time, so a long
customer story does not dilute it). The first `min_speech_s` seconds count
as that long, so a burst at the very start must be a real burst.

When the count reaches `min_count` and the rate reaches `per_minute`, the
rule fires: one line event per run of adjacent fillers ("ну, короче") at
those words — all of them said so far, earlier ones included, then each new
one for as long as the rate stays at or above the threshold. Below it, new
fillers wait; they are reported if the rate climbs back.

Live and batch feed the same final utterances in the same order, and the
decision uses only what has been said up to each utterance, so both give the
same events (live reports the earlier fillers at the moment the rate is
crossed; their start/end are still where they were said).

`exceptions` are phrases that contain a listed word without it being a filler
("как бы вы хотели", "would you like"); `standalone` words count only when
set off by punctuation (", like,"), as ASR writes a filler. In the message
and suggestion, `{per_minute}` is the threshold and `{rate}` the measured rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from coach.contract import Event, Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import Hit, Rule, RuleContext
from coach.rules.matching import FormSet, as_doc


@dataclass
class _Tally:
    """What the rule has seen of one call (kept in CallState.facts under the rule id)."""

    speech_s: float = 0.0
    count: int = 0
    pending: list[Hit] = field(default_factory=list)


class OccurrenceRule(Rule):
    """Fillers (or any word family) above a rate per minute of the speaker's speech.

    Fields: `words` (forms or phrases, required unless `regexes`), `regexes`
    (whole-word patterns), `exceptions` (phrases), `standalone` (words that
    count only next to punctuation), `per_minute` (default 4), `min_count`
    (default 2), `min_speech_s` (default 20).
    """

    kind: ClassVar[str] = "occurrence"
    KIND_FIELDS: ClassVar[set[str]] = {
        "words", "regexes", "exceptions", "standalone", "per_minute", "min_count", "min_speech_s",
    }

    def __init__(self, data: dict[str, Any], ctx: RuleContext):
        super().__init__(data, ctx)
        r = self.reader
        analyzer = analyzer_for(self.language)
        patterns = r.str_list("regexes", required=False)
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise r.fail("regexes", f"'{pattern}' is not a valid regular expression: {exc}") from None
        # One alternation: one match call per word, whatever the number of patterns.
        self.regex = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None
        self.forms = FormSet.build(r.str_list("words", required=self.regex is None), analyzer)
        self.exceptions = FormSet.build(r.str_list("exceptions", required=False), analyzer)
        self.standalone = frozenset(
            t.lower for w in r.str_list("standalone", required=False) for t in analyzer.tokens(w)
        )
        self.per_minute = r.number("per_minute", 4, minimum=0)
        self.min_count = int(r.number("min_count", 2, minimum=1))
        self.min_speech_s = r.number("min_speech_s", 20, minimum=1)

    def occurrences(self, tokens: list[Token]) -> tuple[list[list[Token]], int]:
        """Runs of adjacent fillers in one utterance and how many fillers they hold.

        Exceptions and standalone words not set off by punctuation are left out.
        """
        doc = as_doc(tokens, self.language)
        words = doc.words
        found = [(a, b) for a, b, _ in self.forms.find(words)]
        if self.regex is not None:
            taken = {i for a, b in found for i in range(a, b + 1)}
            fullmatch = self.regex.fullmatch
            found += [(i, i) for i, w in enumerate(words) if i not in taken and fullmatch(w.lower)]
        if not found:
            return [], 0
        blocked = [(a, b) for a, b, _ in self.exceptions.find(words)] if self.exceptions.phrases else []
        set_off = _set_off(doc) if self.standalone else set()
        kept = []
        for a, b in sorted(found):
            if any(a <= y and x <= b for x, y in blocked):
                continue
            if a == b and words[a].lower in self.standalone and a not in set_off:
                continue
            kept.append((a, b))
        runs: list[list[Token]] = []
        last = -2
        for a, b in kept:
            if runs and a == last + 1:
                runs[-1].extend(words[a : b + 1])
            else:
                runs.append(list(words[a : b + 1]))
            last = b
        return runs, len(kept)

    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        tally: _Tally = state.facts.setdefault(self.id, _Tally())
        tally.speech_s += max(0.0, utt.end - utt.start)
        runs, count = self.occurrences(tokens)
        tally.count += count
        tally.pending += [Hit(tokens=run, utterance=utt) for run in runs]
        rate = tally.count / (max(tally.speech_s, self.min_speech_s) / 60.0)
        if not tally.pending or tally.count < self.min_count or rate < self.per_minute:
            return []
        hits, tally.pending = tally.pending, []
        for hit in hits:
            hit.details = {"count": tally.count, "rate_per_minute": round(rate, 1),
                           "threshold": self.per_minute, "speech_s": round(tally.speech_s, 1)}
        return hits

    def event(self, hit: Hit, utt: Utterance | None, state: Any) -> Event:
        event = super().event(hit, utt, state)
        values = {"{per_minute}": f"{self.per_minute:g}",
                  "{rate}": f"{hit.details.get('rate_per_minute', 0):g}"}
        for key, value in values.items():
            event.message = event.message.replace(key, value)
            event.suggestion = event.suggestion.replace(key, value)
        return event


def _set_off(tokens: list[Token]) -> set[int]:
    """Indexes (among words) of words with punctuation right before or after them."""
    out, index, prev_punct = set(), -1, True
    for pos, tok in enumerate(tokens):
        if tok.is_punct:
            if index >= 0:
                out.add(index)
            prev_punct = True
            continue
        index += 1
        if prev_punct and pos > 0:
            out.add(index)
        prev_punct = False
    return out
