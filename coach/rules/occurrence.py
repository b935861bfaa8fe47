"""`kind: occurrence`: a word family said too often — fillers per minute of the agent's speech.

One "ну" is Russian; "ну, короче, как бы" every few seconds is a habit. The
rule counts occurrences of `words` (fixed forms, multiword allowed: "как бы",
"в принципе", "you know"; plus `regexes` for stretched hesitations such as
"эээ"/"ммм") in the rule speaker's utterances, and divides by that speaker's
own speaking time so far (utterance durations, not call time, so a long
customer story does not dilute it). The first `min_speech_s` seconds count
as that long, so a burst at the very start must be a real burst.

When the count reaches `min_count` and the rate reaches `per_minute`, the
rule reports **one finding per filler episode**, not one per word: an
episode is a stretch of the speaker's speech (utterances with pauses shorter
than `episode_pause_s`, no other speaker in between, at most `episode_max_s`
long; on a dual-channel call the other channel's voice activity counts as the
other speaker too, for replies ASR did not write: `episode_other_voice_s`), and
its finding spans the episode's first to last filler and carries
`details.count` (fillers in the episode) and `details.words` (each filler as
said). One rambling sentence with five fillers is one finding, as a QA lead
would mark it. An episode is reported when it ends (the other speaker talks,
the speaker pauses, the call ends) if the rate is at or above the threshold
then; episodes that ended below it wait and are reported if the rate climbs
back. Two options report an episode under the rate: `burst_min` (that many
fillers in one episode are clutter whatever the call's rate: "ну, значит, тут
как бы две брони") and `habit_episode_min` (once the habit has shown, by the
rate or by a burst, a later episode with that many is reported: a QA lead
labels every episode of such a call, while a call of four minutes with three
such turns stays under 5 a minute once the rest of the agent's speech is
counted). The live counter (`Rulebook.live_counts`) still counts every filler
word as it is said.

Live and batch feed the same final utterances in the same order, and the
decision uses only what has been said up to each utterance, so both give the
same events; an episode is defined by times and turns, not by how ASR cut
the speech into utterances, so live commits and batch segments give the same
episodes (their start/end are where the fillers were said).

`exceptions` are phrases that contain a listed word without it being a filler
("как бы вы хотели", "would you like"); `standalone` words count only when
set off by punctuation (", like,"), as ASR writes a filler. In the message
and suggestion, `{per_minute}` is the threshold and `{rate}` the measured rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import re2

from coach.contract import Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import Hit, Rule, RuleContext, RuleSpec, words_for_tokens
from coach.rules.forms import FormSet
from coach.rules.matching import Doc, as_doc
from coach.rules.spec import SpecError, spec_field
from coach.rules.state import mostly_in


@dataclass(kw_only=True)
class OccurrenceSpec(RuleSpec):
    """A word family above a rate: fillers per minute of the speaker's own speech."""

    PLACEHOLDERS: ClassVar[dict[str, str]] = {
        "per_minute": "the threshold (`per_minute`)",
        "rate": "the measured rate per minute",
        "count": "fillers in the episode",
        "words": "the episode's fillers as said, quoted («ну», «короче»)",
    }

    words: list[str] = spec_field("fixed forms, multiword allowed (\"как бы\", \"в принципе\", "
                                  "\"you know\")", default=[], required_without="regexes",
                                  default_doc="required unless `regexes`")
    regexes: list[str] = spec_field("whole-word patterns for stretched sounds: `\"э+\"`, `\"м{2,}\"`, "
                                    "`\"u+m+\"` (RE2 syntax: no look-arounds or back-references)",
                                    default=[], default_doc="none")
    exceptions: list[str] = spec_field("phrases where a listed word is not a filler (\"как бы вы "
                                       "хотели\", \"would you like\")", default=[], default_doc="none")
    standalone: list[str] = spec_field("words that count only when set off by punctuation "
                                       "(\", like,\")", default=[], default_doc="none")
    standalone_next_to: list[str] = spec_field(
        "two-word phrases in which a `standalone` word counts without punctuation: \"so like\" "
        "(\"So like we can do that\"), \"like #\" (\"with like 10 minutes\"; `#` is a number)",
        default=[], default_doc="none")
    not_before: dict[str, list[str]] = spec_field(
        "listed words that are no filler before a word of these parts of speech (pymorphy3 tags: "
        "\"это самое\" before an adjective is a superlative, \"это самое главное\")",
        default={}, default_doc="none")
    per_minute: float = spec_field("the rate that makes it a finding", default=4, minimum=0)
    min_count: int = spec_field("never fewer occurrences than this", default=2, minimum=1)
    min_speech_s: float = spec_field("the first seconds of speech count as this long", default=20,
                                     minimum=1)
    episode_pause_s: float = spec_field("a pause at least this long between the speaker's utterances "
                                        "ends a filler episode (so does the other speaker talking)",
                                        default=2.0, minimum=0)
    episode_max_s: float = spec_field("an episode is at most this long: a filler later than that "
                                      "starts a new one (a long monologue gives several findings)",
                                      default=30.0, minimum=1)
    episode_other_voice_s: float = spec_field(
        "the other speaker's voice heard this long between two of the speaker's utterances ends an "
        "episode even when ASR wrote none of their words (dual-channel calls only; 0 turns it off)",
        default=0.4, minimum=0)
    habit_episode_min: int = spec_field(
        "once the habit has shown in the call (the rate reached, or a burst), a later episode with "
        "at least this many fillers is reported even when the rate is under the threshold (0: off)",
        default=0, minimum=0)
    burst_min: int = spec_field("an episode with at least this many fillers is reported whatever "
                                "the call's rate (0: off)", default=0, minimum=0)


# pymorphy3's parts of speech (OpenCorpora), what `not_before` may name
POS_TAGS = frozenset({"NOUN", "ADJF", "ADJS", "COMP", "VERB", "INFN", "PRTF", "PRTS", "GRND", "NUMR", "ADVB",
                      "NPRO", "PRED", "PREP", "CONJ", "PRCL", "INTJ"})


@dataclass
class _Run:
    """Adjacent fillers in one utterance ("ну, короче"): their tokens and each filler as said."""

    tokens: list[Token]
    fillers: list[str]


@dataclass
class _Episode:
    """Fillers in one stretch of the speaker's speech; becomes one finding."""

    utterance: Utterance  # the first utterance with a filler (speaker, word times)
    start: float  # the first filler's start
    end: float  # the last filler's end
    last_speech: float  # end of the speaker's latest utterance in the episode
    texts: list[str] = field(default_factory=list)  # each run as said ("ну, короче")
    fillers: list[str] = field(default_factory=list)


@dataclass
class _Tally:
    """What the rule has seen of one call (kept in CallState.facts under the rule id)."""

    speech_s: float = 0.0
    count: int = 0
    open: _Episode | None = None
    pending: list[_Episode] = field(default_factory=list)  # ended, not reported yet
    habit: bool = False  # the rate, or a burst, has shown the habit in this call


def compile_regexes(patterns: list[str]) -> Any:
    """All patterns as one case-insensitive RE2 alternation, or None.

    RE2 matches in linear time, so a pattern such as `(a+)+b` cannot hang a
    call (Python's backtracking `re` takes exponential time on it). The price
    is RE2's syntax: no look-arounds or back-references, which whole-word
    filler patterns do not need.
    """
    if not patterns:
        return None
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    for pattern in patterns:
        try:
            re2.compile(pattern, options)
        except re2.error as exc:
            problem = exc.args[0].decode() if isinstance(exc.args[0], bytes) else str(exc.args[0])
            raise SpecError("regexes", f"'{pattern}' is not a valid pattern ({problem}; RE2 syntax: "
                                       "no look-arounds or back-references)") from None
    return re2.compile("|".join(f"(?:{p})" for p in patterns), options)


class OccurrenceRule(Rule):
    """Fillers (or any word family) above a rate per minute of the speaker's speech."""

    kind: ClassVar[str] = "occurrence"
    Spec: ClassVar[type[RuleSpec]] = OccurrenceSpec
    sees_every_speaker: ClassVar[bool] = True  # the other speaker talking ends an episode
    CACHE_WORDS: ClassVar[int] = 50_000

    def __init__(self, spec: OccurrenceSpec, ctx: RuleContext):
        super().__init__(spec, ctx)
        analyzer = analyzer_for(self.language)
        self.regex = compile_regexes(spec.regexes)
        self._regex_hits: dict[str, bool] = {}  # word -> pattern matched (the vocabulary is small)
        self.forms = FormSet.build(spec.words, analyzer)
        self.exceptions = FormSet.build(spec.exceptions, analyzer)
        self.standalone = frozenset(t.lower for w in spec.standalone for t in analyzer.tokens(w))
        bad = [p for p in spec.standalone_next_to if len(p.split()) != 2]
        if bad:
            raise SpecError("standalone_next_to", f"each entry is two words, got {bad[0]!r}")
        self.standalone_pairs = frozenset(tuple(p.lower().split()) for p in spec.standalone_next_to)
        unknown = [t for tags in spec.not_before.values() for t in tags if t not in POS_TAGS]
        if unknown:
            raise SpecError("not_before", f"'{unknown[0]}' is no part of speech pymorphy3 tags "
                                          f"({', '.join(sorted(POS_TAGS))})")
        self.not_before = {tuple(t.lower for t in analyzer.tokens(w) if not t.is_punct): frozenset(tags)
                           for w, tags in spec.not_before.items()}
        self.per_minute = spec.per_minute
        self.min_count = spec.min_count
        self.min_speech_s = spec.min_speech_s
        self.episode_pause_s = spec.episode_pause_s
        self.episode_max_s = spec.episode_max_s
        self.episode_other_voice_s = spec.episode_other_voice_s
        self.habit_episode_min = spec.habit_episode_min
        self.burst_min = spec.burst_min

    def _matches_regex(self, word: str) -> bool:
        """RE2 on a word not seen before; the answer is kept (call-centre vocabulary is small)."""
        if len(self._regex_hits) > self.CACHE_WORDS:
            self._regex_hits.clear()
        hit = self._regex_hits[word] = self.regex.fullmatch(word) is not None
        return hit

    def occurrences(self, tokens: list[Token]) -> tuple[list[_Run], int]:
        """Runs of adjacent fillers in one utterance and how many fillers they hold.

        Exceptions and standalone words not set off by punctuation are left out. Kept on the Doc:
        the phrase rules read the line without these words (`Doc.without_fillers`).
        """
        doc = as_doc(tokens)
        key = ("occurrences", id(self))
        if key not in doc.memo:
            doc.memo[key] = self._occurrences(doc)
        return doc.memo[key]  # type: ignore[return-value]

    def _occurrences(self, doc: Doc) -> tuple[list[_Run], int]:
        words = doc.words
        found = [(a, b) for a, b, _ in self.forms.find(words)]
        if self.regex is not None:
            taken = {i for a, b in found for i in range(a, b + 1)}
            seen = self._regex_hits
            for i, w in enumerate(words):
                hit = seen.get(w.lower)
                if hit is None:
                    hit = self._matches_regex(w.lower)
                if hit and i not in taken:
                    found.append((i, i))
        if not found:
            return [], 0
        blocked = [(a, b) for a, b, _ in self.exceptions.find(words)] if self.exceptions.phrases else []
        set_off = _set_off(doc) if self.standalone else set()
        kept = []
        for a, b in sorted(found):
            if any(a <= y and x <= b for x, y in blocked):
                continue
            if (a == b and words[a].lower in self.standalone and a not in set_off
                    and not self._in_pair(words, a)):
                continue
            if self.not_before and self._before_barred(words, a, b):
                continue
            kept.append((a, b))
        runs: list[_Run] = []
        last = -2
        for a, b in kept:
            said = " ".join(w.lower for w in words[a : b + 1])
            if runs and a == last + 1:
                runs[-1].tokens.extend(words[a : b + 1])
                runs[-1].fillers.append(said)
            else:
                runs.append(_Run(list(words[a : b + 1]), [said]))
            last = b
        return runs, len(kept)

    def _before_barred(self, words: list[Token], a: int, b: int) -> bool:
        """Whether the filler words[a..b] stands before a word `not_before` bars for it: Whisper
        writes the filler "это самое" as "это самая", "это самый" ("Это самая онжа для связи",
        held-out set 36), which before an adjective make a superlative ("это самая простая")."""
        tags = self.not_before.get(tuple(w.lower for w in words[a : b + 1]))
        return tags is not None and b + 1 < len(words) and words[b + 1].pos in tags

    def _in_pair(self, words: list[Token], i: int) -> bool:
        """Whether the standalone word at i stands in one of `standalone_next_to` with its neighbour:
        Whisper writes "So like we…" and "with like 10 minutes" without the commas of ", like,"."""
        if not self.standalone_pairs:
            return False
        me = words[i].lower

        def shape(k: int) -> str | None:
            if not 0 <= k < len(words):
                return None
            w = words[k].lower
            return "#" if w.isdigit() or w in NUMBER_WORDS else w

        return (shape(i - 1), me) in self.standalone_pairs or (me, shape(i + 1)) in self.standalone_pairs

    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        """Every speaker's utterance ends or extends the open episode; the speaker's own add fillers."""
        tally: _Tally | None = state.facts.get(self.id)
        if tally is None:
            tally = state.facts[self.id] = _Tally()
        # a mono call scored as the agent alone gives the customer's lines as the agent's: where its
        # doubted split heard the other voice they are not the agent's (held-out set 14's filler
        # call, judged one voice, ran its episodes together: 4 found for 12)
        mine = self.applies_to(utt.speaker) and not mostly_in(utt, getattr(state, "elsewhere", None))
        if tally.open is not None and (
            not mine or utt.start - tally.open.last_speech >= self.episode_pause_s
            or self._other_voice_between(utt.speaker, tally.open.last_speech, utt.start, state)
        ):
            self._close(tally)
        if mine:
            tally.speech_s += max(0.0, utt.end - utt.start)
            runs, count = self.occurrences(tokens)
            tally.count += count
            for run in runs:
                self._add(tally, utt, run)
            if tally.open is not None:
                tally.open.last_speech = max(tally.open.last_speech, utt.end)
        return self._due(tally)

    def _other_voice_between(self, speaker: str, start: float, end: float, state: Any) -> bool:
        """Another speaker's own channel had voice for `episode_other_voice_s` in this pause.

        On 8 kHz calls Whisper drops short replies ("А когда?" between two agent
        lines 1.8 s apart), and without them the two lines made one episode; the
        channel's voice activity still shows the reply (`CallState.voice_s`: final
        frames only, and none on one channel or a diarized mix)."""
        voice = state.voice_s
        if voice is None or self.episode_other_voice_s <= 0 or end <= start:
            return False
        for other in state.speakers:
            if other == speaker:
                continue
            heard = voice(other, start, end)
            if heard is not None and heard >= self.episode_other_voice_s:
                return True
        return False

    def check_call(self, state: Any) -> list[Hit]:
        tally: _Tally | None = state.facts.get(self.id)
        if tally is None:
            return []
        self._close(tally)
        return self._due(tally)

    def _add(self, tally: _Tally, utt: Utterance, run: _Run) -> None:
        words = words_for_tokens(utt, run.tokens)
        start, end = (words[0].start, words[-1].end) if words else (utt.start, utt.end)
        if tally.open is not None and start - tally.open.start > self.episode_max_s:
            self._close(tally)
        if tally.open is None:
            tally.open = _Episode(utt, start, end, utt.end)
        episode = tally.open
        episode.end = max(episode.end, end)
        episode.texts.append(utt.text[run.tokens[0].start_char : run.tokens[-1].end_char])
        episode.fillers += run.fillers

    def _stands_alone(self, episode: _Episode, tally: _Tally) -> bool:
        """An episode reported under the rate: a burst (`burst_min`, which also marks the call's
        habit), or one of a call whose habit has shown before (`habit_episode_min`)."""
        n = len(episode.fillers)
        if self.burst_min and n >= self.burst_min:
            tally.habit = True  # a burst shows the habit as the rate does
            return True
        return bool(self.habit_episode_min and tally.habit and n >= self.habit_episode_min)

    @staticmethod
    def _close(tally: _Tally) -> None:
        if tally.open is not None:
            tally.pending.append(tally.open)
            tally.open = None

    def _due(self, tally: _Tally) -> list[Hit]:
        """The ended episodes, once the rate is at or above the threshold (else they wait)."""
        rate = tally.count / (max(tally.speech_s, self.min_speech_s) / 60.0)
        if not tally.pending:
            return []
        if tally.count >= self.min_count and rate >= self.per_minute:
            tally.habit = True
            episodes, tally.pending = tally.pending, []
        else:
            episodes, waiting = [], []
            for ep in tally.pending:
                (episodes if self._stands_alone(ep, tally) else waiting).append(ep)
            tally.pending = waiting
        return [
            Hit(text=" … ".join(ep.texts), utterance=ep.utterance, span=(ep.start, ep.end), details={
                "count": len(ep.fillers), "words": ep.fillers, "call_count": tally.count,
                "rate_per_minute": round(rate, 1), "threshold": self.per_minute,
                "speech_s": round(tally.speech_s, 1),
            })
            for ep in episodes
        ]

    def live_count(self, state: Any) -> int:
        tally: _Tally | None = state.facts.get(self.id)
        return tally.count if tally is not None else 0

    def values(self, hit: Hit) -> dict[str, str]:
        return {"per_minute": f"{self.per_minute:g}", "rate": f"{hit.details.get('rate_per_minute', 0):g}",
                "count": str(hit.details.get("count", 0)),
                "words": ", ".join(f"«{w}»" for w in dict.fromkeys(hit.details.get("words", [])))}


# Number words a "#" in `standalone_next_to` stands for besides digits ("like two days").
NUMBER_WORDS = frozenset("""one two three four five six seven eight nine ten eleven twelve fifteen twenty
thirty forty fifty hundred""".split())


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
