"""Mono calls: who spoke when (coach.diarization), and which of the two voices is the agent.

A mono archive mixes agent and customer in one channel. The channel is
transcribed once; each word goes to the voice diarization heard at its time,
and runs of one voice's words become that speaker's utterances. Which voice
is the agent is decided by the call itself: the agent greets and introduces
the company, asks for the name, thanks and says goodbye -- the steps the
rulebook's script rules check. Each voice is tried as the agent in a scratch
Session and counts the script steps it performs. The voice that opens the call
with words of its own is the agent unless the other performs at least two steps
more: customers greet, introduce themselves and thank too ("Здравствуйте, я
удалила папку..." passed as a greeting, "Hello, I want..." plus "thank you,
goodbye"), and Whisper garbles the agent's own opening and name question on 8
kHz ("Go after him, then back travel" for "Good afternoon, Sunset Travel"), so
a lead of one step went to the customer in 3 of the development corpus's 52
split mono calls and in a real shop dialogue, each opened by the agent. A bare
answer does not open a call ("Алло?", "Да, слушаю", "Здравствуйте": an outbound
call's customer picks up first). An opening line that introduces the company
or the speaker but whose greeting word Whisper lost counts half a step for its
voice: "Glock up the new roadway Mike's customer care. This is Daniel speaking."
(8 kHz, held-out set 23) lost the agent every script step, and the customer's
"Hi, I got an email..." plus "thanks, bye" won the call by two. Only the line
that opened the call counts: a customer who answers "Меня зовут Иван, у
меня..." later introduces nobody but himself.

A recording of one side alone (the agent's headset channel exported as a file) is
also judged one voice, but its best two-way split can still read as an agent and a
customer: the agent greets, and asks the name, in one half and closes in the
other. Its pauses give it away: where the customer spoke, the file is silent, so
long pauses between the voice's turns fill a large share of it. Real agent-only
and caller-only recordings (aws-samples' live-call-analytics demo and PBX files)
spend 35-60 % of their length in pauses of 2 s or more, as do 37 of the 48
agent channels of held-out sets 15-18 played alone (the other 11 have office
noise or babble in their pauses); two people in one channel, real or synthetic,
spend 0-9 % (the scripted calls with long holds and searches, up to 33 %).
`far_side_missing` is that test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coach.analyzers.base import TurnChange
from coach.analyzers.words import normalize
from coach.contract import AGENT, CUSTOMER, Utterance, Word
from coach.diarization import Diarization
from coach.rules.required import RequiredRule
from coach.session import Session

# Call-level findings that mean "the agent's script step is missing": fewer = more agent-like.
SCRIPT_GAPS = ("no_greeting", "no_closing", "name_not_asked")
# How many more script steps the other voice needs to be the agent instead of the one that opened
# the call (see the module docstring).
STEPS_OVER_OPENER = 2
# What an opening's introduction weighs in the choice when its greeting word was not heard (see
# the module docstring): half a step, so it settles a lead of one and a half, never a whole step.
INTRODUCTION_STEP = 0.5
# A voice judged alone whose turns leave this share of the recording in pauses of at least
# `FAR_SIDE_PAUSE_S` is one side of a call recorded alone (see the module docstring).
FAR_SIDE_PAUSE_SHARE = 0.3
FAR_SIDE_PAUSE_S = 2.0
# Two similar voices judged one (the same synthetic voice at two pitches: centroid similarity
# 0.84-0.88 on the four such mono calls of held-out set 39) whose best two-way split gives
# consecutive Whisper segments to different voices this often, over at least
# `ALTERNATION_MIN_PAIRS` pairs, are two people taking turns: the split is kept. Measured
# (forty-third session): those four calls 0.76-0.84 over 29-37 pairs. One voice alone (real
# agent-only and caller-only recordings of aws-samples' live-call-analytics with their pauses cut
# to 0.5 s, the fixture mono_call.wav, four festival agent channels played alone): below
# `ALTERNATION_MAX_SIMILARITY` at most 0.41 over 12+ pairs (0.80 over 5); above it up to 0.87
# (36 festival agent channels of held-out sets 37, 38 and 40 alone: 0.15-0.29 under the bound).
# One voice alone measured 0.82-0.96 similarity, the higher the likelier, hence the bound. Real
# two-person mono mixes change voice at only 0.3-0.4 of segment ends (Whisper's segments hold
# both sides of a quick exchange), so this does not rescue them; it is for turns as clean as a
# scripted call's.
KEEP_SPLIT_ALTERNATION = 0.7
ALTERNATION_MIN_PAIRS = 12
ALTERNATION_MAX_SIMILARITY = 0.9
# Words either side opens a call with, which say nothing about who answered it: picking up
# ("алло", "да, слушаю") and bare greetings, in the languages coach has packs for.
ANSWER_WORDS = frozenset({
    "алло", "ало", "алле", "да", "слушаю", "здравствуйте", "здрасьте", "добрый", "доброе", "день",
    "утро", "вечер", "привет",
    "hello", "hallo", "hi", "hey", "yes", "yeah", "good", "morning", "afternoon", "evening",
    "alo", "bună", "buna", "ziua", "salut",
    "hei", "ja", "god", "dag", "morn",
    "tere", "jah", "päevast", "tervist",
})  # fmt: skip


@dataclass
class Roles:
    """Which diarized voice (0 or 1) is the agent, and how sure that is (0..1)."""

    agent: int
    confidence: float
    evidence: dict[int, int]  # voice -> script steps it performed as the agent
    # voice -> the call-level categories found with that voice as the agent
    # (coach.call_scoring.AGREED_CATEGORIES)
    call_findings: dict[int, frozenset[str]] = field(default_factory=dict)

    def speaker_of(self, voice: int) -> str:
        return AGENT if voice == self.agent else CUSTOMER


def split_words(utterances: list[Utterance], diarization: Diarization, gap_s: float = 1.0
                ) -> list[tuple[int, Utterance]]:
    """Each utterance cut where the voice changes; returns (voice, utterance) in time order."""
    out: list[tuple[int, Utterance]] = []
    for utt in utterances:
        run: list[Word] = []
        voice: int | None = None
        for word in utt.words:
            who = diarization.speaker_of_span(word.start, word.end)
            who = voice if who is None else who
            if run and (who != voice or word.start - run[-1].end >= gap_s):
                out.append((voice if voice is not None else 0, _utterance(run)))
                run = []
            run.append(word)
            voice = who
        if run:
            out.append((voice if voice is not None else 0, _utterance(run)))
    return out


def _utterance(words: list[Word]) -> Utterance:
    return Utterance(AGENT, words[0].start, words[-1].end, " ".join(w.text for w in words), list(words))


def pick_agent(voiced: list[tuple[int, Utterance]], new_session: Callable[[], Session],
               duration_s: float) -> Roles:
    """The voice that does the agent's script steps is the agent (see the module docstring).

    How sure (`Roles.confidence`) rests on the whole steps alone; the opening line's introduction
    without its greeting word only weighs in the choice."""
    steps: dict[int, int] = {}
    found: dict[int, frozenset[str]] = {}
    for candidate in (0, 1):
        session = new_session()
        for voice, utt in voiced:
            speaker = AGENT if voice == candidate else CUSTOMER
            session.add_utterance(Utterance(speaker, utt.start, utt.end, utt.text, utt.words))
        session.finish(duration_s)
        found[candidate] = frozenset(e.category for e in session.events if e.call_level)
        steps[candidate] = len(SCRIPT_GAPS) - len(found[candidate] & set(SCRIPT_GAPS))
    weighed: dict[int, float] = dict(steps)
    opening = opening_line(voiced)
    if opening is not None and introduces(opening[1], new_session):
        weighed[opening[0]] += INTRODUCTION_STEP
    first = opener(voiced)
    other = 1 - first
    if weighed[0] == weighed[1] or 0 < weighed[other] - weighed[first] < STEPS_OVER_OPENER:
        agent = first  # a tie, or the opener a step behind: the words and the order disagree
    else:
        agent = max(weighed, key=weighed.__getitem__)
    lead = steps[agent] - steps[1 - agent]
    if lead > 0:
        confidence = round(0.5 + 0.5 * lead / len(SCRIPT_GAPS), 3)
    else:
        confidence = 0.5 if any(steps.values()) else 0.3
    return Roles(agent, confidence, steps, found)


def introduces(utt: Utterance, new_session: Callable[[], Session]) -> bool:
    """Whether the line, said alone as the agent's opening, lacks a greeting word but introduces
    someone: the company or the speaker, a label of the greeting rule other than its `must_have`
    ones (see the module docstring)."""
    session = new_session()
    session.add_utterance(Utterance(AGENT, utt.start, utt.end, utt.text, utt.words))
    session.finish(utt.end)
    rules = {rule.id: rule for rule in session.rulebook.rules if isinstance(rule, RequiredRule)}
    for event in session.events:
        rule = rules.get(event.rule)
        if event.category == "no_greeting" and event.call_level and rule is not None:
            missing = set(event.details.get("missing", ()))
            return any(label not in missing and label not in rule.must_have for label in rule.require)
    return False


def far_side_missing(diarization: Diarization) -> bool:
    """Whether the recording is one side of a call alone: long pauses between its turns (the
    other side's speech, not recorded) fill at least `FAR_SIDE_PAUSE_SHARE` of it."""
    turns = sorted(diarization.split_turns, key=lambda t: t.start)
    paused = sum(later.start - earlier.end for earlier, later in zip(turns, turns[1:])
                 if later.start - earlier.end >= FAR_SIDE_PAUSE_S)
    return diarization.duration_s > 0 and paused / diarization.duration_s >= FAR_SIDE_PAUSE_SHARE


def alternation(heard: list[Utterance], diarization: Diarization) -> tuple[float, int]:
    """How the rejected two-way split of a voice judged alone follows the transcript: the share of
    consecutive Whisper segments that it gives to different voices, and how many pairs that is
    (`KEEP_SPLIT_ALTERNATION`). A dialogue read line by line changes voice at most segment ends;
    one voice cut in two by its own intonation changes at few."""
    voices = diarization.assign(sorted(heard, key=lambda u: u.start))
    pairs = [(a, b) for a, b in zip(voices, voices[1:]) if a is not None and b is not None]
    if not pairs:
        return 0.0, 0
    return sum(a != b for a, b in pairs) / len(pairs), len(pairs)


def alternates(heard: list[Utterance], diarization: Diarization, centroid_similarity: float) -> bool:
    """Whether a voice judged alone is still two people taking turns (see `KEEP_SPLIT_ALTERNATION`)."""
    if centroid_similarity >= ALTERNATION_MAX_SIMILARITY:
        return False
    share, pairs = alternation(heard, diarization)
    return pairs >= ALTERNATION_MIN_PAIRS and share >= KEEP_SPLIT_ALTERNATION


def opener(voiced: list[tuple[int, Utterance]]) -> int:
    """The voice that opens the call with words of its own (not only `ANSWER_WORDS`); the first
    voice heard when nobody does, 0 for a silent call."""
    opening = opening_line(voiced)
    if opening is not None:
        return opening[0]
    return voiced[0][0] if voiced else 0


def opening_line(voiced: list[tuple[int, Utterance]]) -> tuple[int, Utterance] | None:
    """The first line with words of its own (not only `ANSWER_WORDS`), and its voice."""
    for voice, utt in voiced:
        if any(normalize(word) not in ANSWER_WORDS for word in utt.text.split() if normalize(word)):
            return voice, utt
    return None


def turn_changes(diarization: Diarization, roles: Roles) -> list[TurnChange]:
    """Where one voice's turn follows the other's, and the pause between them: a change with no
    pause is where the analyzers look for an interruption (coach.analyzers.interruption)."""
    turns = sorted(diarization.turns, key=lambda t: t.start)
    return [TurnChange(roles.speaker_of(later.speaker), later.start,
                       round(max(0.0, later.start - earlier.end), 3), round(earlier.end - earlier.start, 3))
            for earlier, later in zip(turns, turns[1:]) if later.speaker != earlier.speaker]


def label(voiced: list[tuple[int, Utterance]], roles: Roles) -> list[Utterance]:
    """The utterances with their speakers, as a stereo call would have them."""
    return [Utterance(roles.speaker_of(v), u.start, u.end, u.text, u.words) for v, u in voiced]
