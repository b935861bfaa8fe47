"""One call's analyzers: audio and words in, findings and call metrics out.

`CallAnalyzers` owns what the analyzers share (per-channel speech activity,
the joint frame clock, each speaker's words and their watermark) and loops
over the registry: every frame that is final on every channel goes to each
analyzer's `step`, every final word to `add_words`, and after each input each
analyzer `decide`s what has become certain. It turns the analyzers' findings
into contract Events (texts from YAML, severity, `details.confidence`, the
per-call cap).

The same object serves live and batch. Audio may arrive in chunks of any
size and utterances in any order between speakers; each finding is decided
only when everything it depends on is final, so feeding a call in pieces
gives exactly the findings of feeding it whole. `advance(now)` is how a live
caller lets word-bearing decisions through early: see its docstring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from coach.analyzers import registry
from coach.analyzers.activity import ChannelActivity, segments
from coach.analyzers.base import LAYOUTS, Analyzer, Context, Finding, TurnChange
from coach.analyzers.config import AnalyzerConfig
from coach.analyzers.turns import TurnTimeline
from coach.analyzers.words import ProvisionalWords, SpeakerWords, TimedWord, utterance_words
from coach.contract import AGENT, CUSTOMER, SPEAKERS, Event, Utterance
from coach.errors import CoachError

CATEGORIES = tuple(cls.name for cls in registry.BUILTIN)  # the built-in ones; registry.names() for all
MONO_REASON = "mono input: needs the customer's own channel"


class CallAnalyzers:
    """Incremental analyzers for one call (see the module docstring)."""

    def __init__(
        self,
        cfg: AnalyzerConfig,
        sample_rate: int = 16000,
        speakers: Iterable[str] = SPEAKERS,
        language: str | None = None,
        layout: str = "separate",
        every_voice: bool = False,
    ) -> None:
        """`layout` says what the channels hold, which the audio cannot tell:

        - "separate": each speaker on a channel of their own (a stereo call, or
          live agent-only mode with the agent's own microphone);
        - "mono": a mono recording holding both voices, fed as the agent's
          channel (speakers ("agent",)). Raised voice is skipped (the customer's
          voice is in the same level), speech rate is less sure (the customer's
          words count as the agent's), dead air is judged on the one channel;
        - "diarized": a mono recording split by diarization into virtual
          channels (speakers ("agent", "customer")). An overlap cannot be seen
          (overlapping speech goes to one speaker only): interruption reads the
          diarizer's turn changes instead (`add_turn_changes`); raised voice and
          speech rate are less sure (a diarization error moves words and level).

        `every_voice`: the agent's one channel is a mono recording that holds every voice, though
        its words are taken as the agent's ("separate": diarization heard one voice). Analyzers
        that read a mix (`runs_on_mix`: dead air) run on it: nobody else can be speaking in its
        silence. Three of set 21's ten holds were lost on mono copies judged one voice.
        """
        speakers = tuple(speakers)
        if speakers not in ((AGENT, CUSTOMER), (AGENT,)):
            raise CoachError(
                f"analyzers: speakers must be ('agent', 'customer') or ('agent',), got {speakers}"
            )
        if layout not in LAYOUTS:
            raise CoachError(f"analyzers: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        if layout == "mono" and speakers != (AGENT,):
            raise CoachError(
                "analyzers: layout 'mono' is one channel holding both voices: speakers ('agent',)"
            )
        if layout == "diarized" and speakers != (AGENT, CUSTOMER):
            raise CoachError(
                "analyzers: layout 'diarized' needs both virtual channels: speakers ('agent', 'customer')"
            )
        self.layout = layout
        self.cfg = cfg
        self.language = language or cfg.language
        if self.language not in cfg.languages():
            have = ", ".join(sorted(cfg.languages())) or "none"
            raise CoachError(f"analyzers: no texts for language {self.language!r} (have: {have})")
        self.sample_rate = sample_rate
        self.speakers = speakers
        gated = layout == "diarized"
        self.channels = {s: ChannelActivity(cfg.activity, sample_rate, gated) for s in speakers}
        self.frame_s = self.channels[AGENT].frame_s
        self.words = {s: SpeakerWords() for s in speakers}
        self.turns = TurnTimeline(speakers, self.frame_s, cfg.metrics)
        self.ctx = Context(
            speakers, self.frame_s, cfg.metrics, self.words, self.turns.talk_frames, self.language, layout
        )
        self.skipped: dict[str, str] = {}
        self.analyzers: dict[str, Analyzer] = {}
        self._classes = registry.registered()
        for cls in self._classes:
            options = cfg.options(cls.name)
            absent = [s for s in cls.needs.audio if s not in speakers]
            if absent and not ((layout == "mono" or every_voice) and cls.runs_on_mix):
                self.skipped[cls.name] = cls.skip_reason or f"needs the {', '.join(absent)} channel"
                continue
            if layout in cls.skip_layouts:
                self.skipped[cls.name] = cls.skip_layouts[layout]
                continue
            if not options.enabled:
                self.skipped[cls.name] = "disabled in the analyzer config"
            self.analyzers[cls.name] = cls(options, self.ctx)
        if speakers == (AGENT,):
            self.skipped["talk_ratio"] = f"{MONO_REASON} to measure who talks how much"
            self.skipped["longest_agent_monologue"] = f"{MONO_REASON} to see the customer's turns"
        self.events: list[Event] = []
        self.found = dict.fromkeys(self.analyzers, 0)  # findings decided per analyzer, cap or not
        self._finished = False

    # -- input -------------------------------------------------------------

    def feed_audio(self, speaker: str, samples: np.ndarray, start_time: float) -> list[Event]:
        """Add a chunk of one speaker's audio (mono float32 or int16 at `sample_rate`)."""
        self._check_open()
        channel = self._channel(speaker)
        data = np.asarray(samples)
        if data.ndim != 1:
            raise CoachError(f"analyzers: expected mono samples, got shape {data.shape}")
        if data.dtype == np.int16:
            data = data.astype(np.float32) / 32768.0
        channel.feed(data.astype(np.float32, copy=False), start_time)
        return self._step()

    def mark_gap(self, speaker: str, start: float, end: float) -> list[Event]:
        """Audio of `speaker` in [start, end) was not captured (the device was gone).

        Its frames are neither speech nor silence: no dead air is reported
        over them, speech does not continue across them, and the channel's
        noise floor restarts after them. Call it in stream order, instead of
        feeding zeros for the missing stretch (zeros would be silence).
        """
        self._check_open()
        if end < start:
            raise CoachError(f"analyzers: gap ends ({end}) before it starts ({start})")
        self._channel(speaker).gap(start, end)
        return self._step()

    def add_utterance(self, utt: Utterance) -> list[Event]:
        """Add a final utterance with word timestamps; partial ones are ignored.

        Each speaker's utterances must come in time order. Only the words and
        their times matter: an utterance split into smaller final pieces gives
        the same findings.
        """
        self._check_open()
        if not utt.final:
            return []
        if utt.speaker not in self.words:
            raise CoachError(f"analyzers: utterance by unknown speaker {utt.speaker!r}")
        words = utterance_words(utt, self.language)
        self.words[utt.speaker].add(words, utt.end)
        for an in self.analyzers.values():
            if utt.speaker in an.needs.words:
                an.add_words(utt.speaker, words)
        return self._decide()

    def advance(self, now: float, speakers: Iterable[str] | None = None) -> list[Event]:
        """Audio time `now` is past for words: no final word that starts before `now` is still to come
        from `speakers` (default: all of them). Returns the findings this makes certain.

        Without it, a decision that needs a speaker's words over [a, b] is
        made when an utterance of that speaker ending at or after b arrives,
        which for the last words of a turn is the speaker's *next* utterance.
        A live caller knows sooner: a streaming transcriber that is between
        utterances will produce no word before its current position (less its
        speech padding), and one inside an utterance none before that
        utterance's start (less padding). Calling `advance` with that time, per
        speaker or the minimum over speakers, lets the decision through as soon
        as the audio allows. Promising too much (a word starting before `now`
        arrives afterwards) is the caller's bug: that word is ignored by
        decisions already made, and live would then differ from batch.
        Audio needs no promise: each chunk carries its own time.
        """
        self._check_open()
        for s in self.speakers if speakers is None else tuple(speakers):
            if s not in self.words:
                raise CoachError(f"analyzers: no speaker {s!r} ({self.speakers})")
            self.words[s].promise(now)
        return self._decide()

    def preview(self, committed: Mapping[str, Utterance]) -> list[Event]:
        """Live only: acoustic findings that the words still being spoken already show.

        `committed` holds, per speaker, the committed (not yet final) words of
        the utterance still open. Each analyzer judges what waits for words as
        if those words were final (`Analyzer.preview`); nothing is recorded, so
        the call's findings are still exactly batch's, and a preview the final
        words do not confirm is only ever a card. Past the per-call cap,
        nothing is previewed.
        """
        wanting = [(name, an) for name, an in self.analyzers.items() if an.wants_preview()]
        if self._finished or not wanting:
            return []
        views = {
            s: ProvisionalWords(self.words[s], self._words_of(committed.get(s)))
            for s in self.speakers
        }
        new: list[Event] = []
        for name, an in wanting:
            for finding in an.preview(views):
                event = self._event(name, an, finding, record=False)
                if event is not None:
                    new.append(event)
        return _ordered(new)

    def add_turn_changes(self, changes: list[TurnChange]) -> None:
        """Diarized mono: where one voice gave way to the other, from the diarizer's turns (see
        `TurnChange`); with another layout nothing reads them."""
        self._check_open()
        for an in self.analyzers.values():
            an.add_turn_changes(changes)

    def _words_of(self, utt: Utterance | None) -> list[TimedWord]:
        return utterance_words(utt, self.language) if utt is not None else []

    def finish(self) -> list[Event]:
        """End of call: flush every analyzer and return the last findings."""
        if self._finished:
            return []
        for ch in self.channels.values():
            ch.finish()
        frames = max(ch.frames for ch in self.channels.values())
        for ch in self.channels.values():
            ch.extend_to(frames)
        for w in self.words.values():
            w.close()
        new = self._step()
        self.turns.finish()
        for an in self.analyzers.values():
            an.finish()
        new += self._decide()
        self._finished = True
        for s, ch in self.channels.items():
            if not ch.fed:
                for cls in self._classes:
                    if s in cls.needs.audio:
                        self.skipped.setdefault(cls.name, f"no audio for the {s} channel")
        return _ordered(new)

    # -- output ------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Call metrics so far (final after `finish`); None where not measurable.

        Flat scalars only (they go to the summary CSV); what was skipped and why
        is `self.skipped`. `<analyzer>_beyond_cap` counts findings decided past
        the analyzer's `max_per_call` (not listed as events).
        """
        agent_s = self.turns.talk_frames[AGENT] * self.frame_s
        dual = len(self.speakers) == 2
        customer_s = self.turns.talk_frames.get(CUSTOMER, 0) * self.frame_s
        talk = agent_s + customer_s
        monologue = max(self.turns.longest_monologue_frames, self.turns.open_monologue_frames())
        out: dict[str, Any] = {
            "duration_s": round(self.turns.frame * self.frame_s, 2),
            "agent_talk_s": round(agent_s, 2),
            "customer_talk_s": round(customer_s, 2) if dual else None,
            "talk_ratio_agent": round(agent_s / talk, 3) if dual and talk > 0 else None,
            "longest_agent_monologue_s": round(monologue * self.frame_s, 2) if dual else None,
        }
        for cls in self._classes:
            an = self.analyzers.get(cls.name)
            if an is None:
                out.update(dict.fromkeys(cls.metric_keys))
                out[f"{cls.name}_beyond_cap"] = None
                continue
            out.update(an.metrics())
            cap = an.options.max_per_call
            out[f"{cls.name}_beyond_cap"] = max(0, self.found[cls.name] - cap) if cap else 0
        return out

    def voice_s(self, speaker: str, start: float, end: float) -> float | None:
        """Seconds of `speaker`'s voice activity between two call times, from final frames.

        None where the channels cannot say who spoke (one channel; a diarized
        mix, whose virtual channels come from the words' speakers) or the audio
        has not been analysed up to `end` yet (live)."""
        channel = self.channels.get(speaker)
        if channel is None or self.layout != "separate":
            return None
        first, last = max(0, int(start / self.frame_s)), int(end / self.frame_s)
        if last > channel.final:
            return None
        return channel.active[first:last].count(1) * self.frame_s

    def activity(self) -> dict[str, list[list[float]]]:
        """Each speaker's speech spans [[start, end], ...] as the analyzers saw them.

        Final frames only; meant for the per-call JSON ("activity") so a picture
        or a reviewer sees the same overlaps and gaps the findings came from.
        """
        return {
            s: [[round(a, 2), round(b, 2)] for a, b in segments(ch.active, self.frame_s)]
            for s, ch in self.channels.items()
        }

    def live_figures(self, now: float, window_s: float = 30.0) -> dict[str, Any]:
        """What the live overlay shows, over the last `window_s` seconds before `now`.

        `syllables_per_s`, `wpm`: the agent's recent pace (per second of the
        agent's speech runs, pauses excluded) and `max_syllables_per_s` its
        configured limit; `talk_ratio_agent`: agent speech / all speech in the
        window (None for one channel or no speech); `talk_ratio_agent_call`:
        the same over the call so far; `monologue_s`: the agent's current
        monologue (0 when none is open; None for one channel); `through_s`: the
        time up to which audio has been analysed on every channel.
        """
        out: dict[str, Any] = {"window_s": window_s, "through_s": round(self.turns.frame * self.frame_s, 2)}
        for an in self.analyzers.values():
            out.update(an.live(now, window_s))
        dual = len(self.speakers) == 2
        lo = max(0, round((now - window_s) / self.frame_s))
        hi = min(self.turns.frame, max(lo, round(now / self.frame_s)))
        counts = {s: ch.active[lo:hi].count(1) for s, ch in self.channels.items()}
        recent = sum(counts.values())
        out["talk_ratio_agent"] = round(counts[AGENT] / recent, 3) if dual and recent else None
        out["talk_ratio_agent_call"] = self.metrics()["talk_ratio_agent"] if dual else None
        mono = self.turns.open_monologue_frames() * self.frame_s
        out["monologue_s"] = round(mono, 2) if dual else None
        return out

    # -- internals ---------------------------------------------------------

    def _check_open(self) -> None:
        if self._finished:
            raise CoachError("analyzers: this call is finished; start a new CallAnalyzers")

    def _channel(self, speaker: str) -> ChannelActivity:
        if speaker not in self.channels:
            raise CoachError(f"analyzers: no channel for speaker {speaker!r} ({self.speakers})")
        return self.channels[speaker]

    def _step(self) -> list[Event]:
        """Step every analyzer through the frames now final on every channel, then decide."""
        chans = self.channels.items()
        final = min(ch.final for ch in self.channels.values())
        steppers = [an for an in self.analyzers.values() if type(an).step is not Analyzer.step]
        for k in range(self.turns.frame, final):
            frame = self.turns.frame_at(
                k,
                {s: ch.active[k] for s, ch in chans},
                {s: ch.levels[k] for s, ch in chans},
                any(ch.missing[k] for _, ch in chans),
            )
            self.turns.step(frame)
            for an in steppers:
                an.step(frame)
        return self._decide()

    def _decide(self) -> list[Event]:
        new: list[Event] = []
        for name, an in self.analyzers.items():
            for finding in an.decide():
                event = self._event(name, an, finding)
                if event is not None:
                    new.append(event)
        return _ordered(new)

    def _event(self, name: str, an: Analyzer, f: Finding, record: bool = True) -> Event | None:
        """A finding as a contract Event, or None when disabled or past the per-call cap;
        `record=False` (a preview) counts nothing and keeps nothing."""
        opts = an.options
        if not opts.enabled:
            return None
        found = self.found[name] + 1
        if record:
            self.found[name] = found
        if opts.max_per_call and found > opts.max_per_call:
            return None
        details = {**f.details, "confidence": f.confidence}
        rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in details.items()}
        event = Event(
            category=name,
            rule=f"analyzer.{name}",
            speaker=f.speaker,
            start=round(f.start, 2),
            end=round(f.end, 2),
            severity=opts.severity,
            text=f.text,
            message=getattr(opts, f.message_field)[self.language].format(**details),
            suggestion=opts.suggestion[self.language].format(**details),
            details=rounded,
        )
        if record:
            self.events.append(event)
        return event


def _ordered(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (e.start if e.start is not None else -1.0, e.category))


def analyze_call(
    channels: Mapping[str, np.ndarray],
    utterances: Iterable[Utterance],
    cfg: AnalyzerConfig,
    sample_rate: int = 16000,
    language: str | None = None,
    layout: str = "separate",
    every_voice: bool = False,
) -> tuple[list[Event], dict[str, Any]]:
    """Whole-call form: the streaming analyzers fed everything at once."""
    speakers = tuple(s for s in SPEAKERS if s in channels) or (AGENT,)
    unknown = set(channels) - set(SPEAKERS)
    if unknown:
        raise CoachError(f"analyzers: unknown channel names {sorted(unknown)}")
    an = CallAnalyzers(cfg, sample_rate=sample_rate, speakers=speakers, language=language, layout=layout,
                       every_voice=every_voice)
    events: list[Event] = []
    for speaker, samples in channels.items():
        events += an.feed_audio(speaker, samples, 0.0)
    for utt in sorted(utterances, key=lambda u: (u.start, u.speaker)):
        if utt.speaker in speakers:
            events += an.add_utterance(utt)
    events += an.finish()
    return _ordered(events), an.metrics()
