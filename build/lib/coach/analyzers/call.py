"""One call's analyzers: audio and words in, interruption / raised voice / speech
rate / dead-air findings and call metrics out.

The same object serves live and batch. Audio may arrive in chunks of any size
and utterances in any order between speakers; each finding is decided only
when everything it depends on is final (the activity of the frames involved,
and the words up to its end), so feeding a call in pieces gives exactly the
findings of feeding it whole. `analyze_call` is that whole-call form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from coach.analyzers.activity import ChannelActivity, segments
from coach.analyzers.config import AnalyzerConfig
from coach.analyzers.loudness import LoudnessTracker, LoudSpan
from coach.analyzers.rate import FastSpan, RateTracker
from coach.analyzers.turns import Gap, Overlap, TurnTimeline
from coach.analyzers.words import SpeakerWords, is_backchannel, text_of, utterance_words
from coach.contract import AGENT, CUSTOMER, SPEAKERS, Event, Utterance
from coach.errors import CoachError

CATEGORIES = ("interruption", "raised_voice", "speech_rate", "long_silence")


class CallAnalyzers:
    """Incremental analyzers for one call (see the module docstring)."""

    def __init__(
        self,
        cfg: AnalyzerConfig,
        sample_rate: int = 16000,
        speakers: Iterable[str] = SPEAKERS,
        language: str | None = None,
    ) -> None:
        speakers = tuple(speakers)
        if speakers not in ((AGENT, CUSTOMER), (AGENT,)):
            raise CoachError(
                f"analyzers: speakers must be ('agent', 'customer') or ('agent',), got {speakers}"
            )
        self.cfg = cfg
        self.language = language or cfg.language
        for section in CATEGORIES:
            if self.language not in getattr(cfg, section).message:
                raise CoachError(f"analyzers: {section}.message has no {self.language!r} text")
        self.sample_rate = sample_rate
        self.speakers = speakers
        self.channels = {s: ChannelActivity(cfg.activity, sample_rate) for s in speakers}
        self.frame_s = self.channels[AGENT].frame_s
        self.words = {s: SpeakerWords() for s in speakers}
        self.turns = TurnTimeline(
            speakers,
            self.frame_s,
            min_overlap_s=cfg.interruption.min_overlap_s,
            simultaneous_start_s=cfg.interruption.simultaneous_start_s,
            monologue_break_s=cfg.metrics.monologue_break_s,
            customer_turn_s=cfg.metrics.customer_turn_s,
        )
        self.loudness = LoudnessTracker(cfg.raised_voice, self.frame_s)
        self.rate = RateTracker(cfg.speech_rate)
        self.backchannels = frozenset(cfg.interruption.backchannels)
        self.interruptions = dict.fromkeys(speakers, 0)
        self.backchannel_overlaps = 0
        self.total_silence_s = 0.0
        self.longest_silence_s = 0.0
        self.events: list[Event] = []
        self.skipped: dict[str, str] = {}
        for section in CATEGORIES:
            if not getattr(cfg, section).enabled:
                self.skipped[section] = "disabled in the analyzer config"
        if speakers == (AGENT,):
            reason = "mono input: needs the customer's own channel"
            self.skipped["interruption"] = f"{reason} to tell who talks over whom"
            self.skipped["talk_ratio"] = f"{reason} to measure who talks how much"
            self.skipped["longest_agent_monologue"] = f"{reason} to see the customer's turns"
        self._finished = False

    # -- input -------------------------------------------------------------

    def feed_audio(self, speaker: str, samples: np.ndarray, start_time: float) -> list[Event]:
        """Add a chunk of one speaker's audio (mono float32 at `sample_rate`)."""
        self._check_open()
        if speaker not in self.channels:
            raise CoachError(f"analyzers: no channel for speaker {speaker!r} ({self.speakers})")
        data = np.asarray(samples)
        if data.ndim != 1:
            raise CoachError(f"analyzers: expected mono samples, got shape {data.shape}")
        if data.dtype == np.int16:
            data = data.astype(np.float32) / 32768.0
        self.channels[speaker].feed(data.astype(np.float32, copy=False), start_time)
        return self._advance()

    def add_utterance(self, utt: Utterance) -> list[Event]:
        """Add a final utterance with word timestamps; partial ones are ignored."""
        self._check_open()
        if not utt.final:
            return []
        if utt.speaker not in self.words:
            raise CoachError(f"analyzers: utterance by unknown speaker {utt.speaker!r}")
        words = utterance_words(utt)
        self.words[utt.speaker].add(words, utt.end)
        new: list[Event] = []
        if utt.speaker == AGENT:
            for w in words:
                self.rate.add(w)
            new += self._take_rate()
        return new + self._advance()

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
        self.rate.finish()
        new = self._take_rate() + self._advance()
        self.turns.finish()
        self.loudness.finish()
        new += self._resolve()
        self._finished = True
        for s, ch in self.channels.items():
            if not ch.fed:
                for name in self._needs_audio(s):
                    self.skipped.setdefault(name, f"no audio for the {s} channel")
        return _ordered(new)

    # -- output ------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Call metrics so far (final after `finish`); None where not measurable.

        Flat scalars only (they go to the summary CSV); what was skipped and why
        is `self.skipped`.
        """
        agent_s = self.turns.talk_frames[AGENT] * self.frame_s
        dual = len(self.speakers) == 2
        customer_s = self.turns.talk_frames.get(CUSTOMER, 0) * self.frame_s
        talk = agent_s + customer_s
        speaking_s = agent_s if agent_s > 0 else self.rate.run_seconds
        monologue = max(self.turns.longest_monologue_frames, self.turns.open_monologue_frames())
        mean_db = self.loudness.mean_speech_dbfs()
        out: dict[str, Any] = {
            "duration_s": round(self.turns.frame * self.frame_s, 2),
            "agent_talk_s": round(agent_s, 2),
            "customer_talk_s": round(customer_s, 2) if dual else None,
            "talk_ratio_agent": round(agent_s / talk, 3) if dual and talk > 0 else None,
            "agent_wpm": round(self.rate.words / speaking_s * 60) if speaking_s > 0 else None,
            "agent_syllables_per_s": (
                round(self.rate.syllables / self.rate.run_seconds, 2) if self.rate.run_seconds > 0 else None
            ),
            "interruptions": self.interruptions[AGENT] if dual else None,
            "interruptions_by_customer": self.interruptions[CUSTOMER] if dual else None,
            "longest_agent_monologue_s": round(monologue * self.frame_s, 2) if dual else None,
            "total_silence_s": round(self.total_silence_s, 2),
            "longest_silence_s": round(self.longest_silence_s, 2),
            "agent_speech_dbfs": round(mean_db, 1) if mean_db is not None else None,
        }
        return out

    def activity(self) -> dict[str, list[list[float]]]:
        """Each speaker's speech spans [[start, end], ...] as the analyzers saw them.

        Final frames only; meant for the per-call JSON ("activity") so a picture
        or a reviewer sees the same overlaps and gaps the findings came from.
        """
        return {
            s: [[round(a, 2), round(b, 2)] for a, b in segments(ch.active, self.frame_s)]
            for s, ch in self.channels.items()
        }

    # -- internals ---------------------------------------------------------

    def _check_open(self) -> None:
        if self._finished:
            raise CoachError("analyzers: this call is finished; start a new CallAnalyzers")

    def _needs_audio(self, speaker: str) -> list[str]:
        if speaker == AGENT:
            return ["raised_voice", "long_silence", "interruption"]
        return ["interruption"] if len(self.speakers) == 2 else []

    def _advance(self) -> list[Event]:
        """Step the joint timeline and the agent's loudness over newly final frames."""
        final = min(ch.final for ch in self.channels.values())
        for k in range(self.turns.frame, final):
            self.turns.step({s: ch.active[k] for s, ch in self.channels.items()})
        agent = self.channels[AGENT]
        for k in range(self.loudness.frame, agent.final):
            self.loudness.step(agent.levels[k], agent.active[k])
        return self._resolve()

    def _resolve(self) -> list[Event]:
        new: list[Event] = []
        while self.turns.gaps:
            new += self._gap(self.turns.gaps.pop(0))
        waiting: list[Overlap] = []
        for ov in self.turns.overlaps:
            if self.words[ov.speaker].known_through(ov.end):
                new += self._overlap(ov)
            else:
                waiting.append(ov)
        self.turns.overlaps = waiting
        spans = self.loudness.spans
        while spans and self.words[AGENT].known_through(spans[0].end):
            new += self._loud(spans.pop(0))
        return _ordered(new)

    def _gap(self, gap: Gap) -> list[Event]:
        if gap.duration >= self.cfg.metrics.silence_min_s:
            self.total_silence_s += gap.duration
        self.longest_silence_s = max(self.longest_silence_s, gap.duration)
        opts = self.cfg.long_silence
        if not opts.enabled or gap.duration < opts.min_silence_s:
            return []
        return [self._event("long_silence", gap.start, gap.end, "", {"silence_s": gap.duration})]

    def _overlap(self, ov: Overlap) -> list[Event]:
        opts = self.cfg.interruption
        words = self.words[ov.speaker].between(ov.start - opts.word_tolerance_s, ov.end)
        if is_backchannel(words, self.backchannels):
            self.backchannel_overlaps += 1
            return []
        self.interruptions[ov.speaker] += 1
        if ov.speaker != AGENT or not opts.enabled:
            return []
        details = {"overlap_s": ov.duration}
        return [self._event("interruption", ov.start, ov.end, text_of(words), details)]

    def _loud(self, span: LoudSpan) -> list[Event]:
        if not self.cfg.raised_voice.enabled:
            return []
        words = self.words[AGENT].between(span.start, span.end)
        details = {
            "db_above": span.db_above,
            "level_dbfs": span.level_dbfs,
            "baseline_dbfs": span.baseline_dbfs,
        }
        return [self._event("raised_voice", span.start, span.end, text_of(words), details)]

    def _take_rate(self) -> list[Event]:
        new: list[Event] = []
        while self.rate.spans:
            span: FastSpan = self.rate.spans.pop(0)
            if not self.cfg.speech_rate.enabled:
                continue
            details = {
                "syllables_per_s": span.peak,
                "threshold": self.cfg.speech_rate.max_syllables_per_s,
                "duration_s": span.end - span.start,
                "syllables": span.syllables,
                "mean_syllables_per_s": span.mean,
            }
            new.append(self._event("speech_rate", span.start, span.end, text_of(list(span.words)), details))
        return new

    def _event(self, category: str, start: float, end: float, text: str, details: dict[str, float]) -> Event:
        opts = getattr(self.cfg, category)
        rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in details.items()}
        event = Event(
            category=category,
            rule=f"analyzer.{category}",
            speaker=AGENT,
            start=round(start, 2),
            end=round(end, 2),
            severity=opts.severity,
            text=text,
            message=opts.message[self.language].format(**details),
            suggestion=opts.suggestion[self.language].format(**details),
            details=rounded,
        )
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
) -> tuple[list[Event], dict[str, Any]]:
    """Whole-call form: the streaming analyzers fed everything at once."""
    speakers = tuple(s for s in SPEAKERS if s in channels) or (AGENT,)
    unknown = set(channels) - set(SPEAKERS)
    if unknown:
        raise CoachError(f"analyzers: unknown channel names {sorted(unknown)}")
    an = CallAnalyzers(cfg, sample_rate=sample_rate, speakers=speakers, language=language)
    events: list[Event] = []
    for speaker, samples in channels.items():
        events += an.feed_audio(speaker, samples, 0.0)
    for utt in sorted(utterances, key=lambda u: (u.start, u.speaker)):
        if utt.speaker in speakers:
            events += an.add_utterance(utt)
    events += an.finish()
    return _ordered(events), an.metrics()
