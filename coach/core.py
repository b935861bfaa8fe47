"""`Coach`: the loaded model and everything that judges a call, and the only maker of Sessions.

    from coach import Coach, CoachConfig
    coach = Coach.load(CoachConfig(language="ru"))
    result = coach.score("call.wav")          # a CallResult (coach.contract)
    for path in paths:                         # one loaded model, many calls
        print(coach.score(path).total_score)

Batch (`coach score`, local or `--jobs`), live, replay and the Ray actors all
hold a Coach and make their Sessions with `new_session`, so there is one way a
call is judged. `Coach.load` validates the config and loads rules, thresholds
and scorecard before the model (coach.checks), so a bad option fails at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coach import __version__, allocator
from coach.analyzers import CallAnalyzers
from coach.asr import Transcriber, TranscriberOptions, load_whisper
from coach.audio import CallAudio
from coach.checks import CallChecks, call_fingerprint, file_sha256
from coach.config import AUTO, CoachConfig
from coach.contract import AGENT, CUSTOMER, CallResult, Utterance
from coach.models import ResolvedModel, model_identity, resolve
from coach.session import Session

if TYPE_CHECKING:
    from coach.verify import AudioSource

log = logging.getLogger(__name__)


def transcriber_options(config: CoachConfig) -> TranscriberOptions:
    compute = config.compute_type
    if config.device == "cuda" and compute == "int8":
        compute = "int8_float16"  # int8 weights, float16 activations: CUDA's fast path
    return TranscriberOptions(
        language=config.language,
        beam_size=config.beam_size,
        mode=config.asr_mode,
        cpu_threads=config.cpu_threads,
        decode_workers=config.decode_workers,
        compute_type=compute,
        device=config.device,
    )


@dataclass
class Fingerprints:
    """Resume fingerprints without a loaded model: what judges a call + which model + the audio."""

    checks: CallChecks
    model: ResolvedModel

    @cached_property
    def model_id(self) -> str:
        return model_identity(self.model)

    def for_file(self, path: Path) -> str | None:
        """None when the file cannot be read (it will fail to score and be reported)."""
        try:
            audio = file_sha256(path)
        except OSError:
            return None
        return call_fingerprint(self.checks.fingerprint, self.model_id, audio)

    @classmethod
    def load(cls, config: CoachConfig) -> Fingerprints:
        return cls(CallChecks.load(config), resolve(config.model))


class Coach:
    """A loaded model plus rules, thresholds and scorecard (see the module docstring)."""

    def __init__(self, config: CoachConfig, checks: CallChecks, model: ResolvedModel, whisper: Any):
        self.config = config
        self.checks = checks
        self.model = model
        self.whisper = whisper
        self.transcriber = Transcriber(whisper, transcriber_options(config))
        self.fingerprints = Fingerprints(checks, model)
        # Two calls may be scored at once on one Coach (coach.engines.local: one call's
        # single-threaded steps fill the cores the other leaves idle). Whisper, VAD and the
        # diarizer are safe to share; the rules' tokenizer, morphology and analyzers are only
        # ever used by one call at a time: `score` holds this lock around a call's rules phase.
        self.rules_lock = threading.RLock()

    @classmethod
    def load(cls, config: CoachConfig | None = None, *, warm_up: bool = False) -> Coach:
        """Check the config, load rules/thresholds/scorecard, then the model (verified)."""
        config = config or CoachConfig()
        checks = CallChecks.load(config)
        if config.malloc_arenas:  # before the decoding threads start (each would make its own)
            allocator.limit_arenas(config.malloc_arenas)
        model = resolve(config.model)
        whisper = load_whisper(model, transcriber_options(config))
        coach = cls(config, checks, model, whisper)
        if warm_up:
            coach.warm_up()
        return coach

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages a call may be judged in (one when --language pins it)."""
        return tuple(sorted(self.checks.rulebooks))

    def warm_up(self, language: str | None = None) -> None:
        """Allocate decoder memory and parse the rules once, before the first live hint."""
        from coach.asr.streaming import warm_up

        language = language or (self.config.language if self.config.language != AUTO else "ru")
        warm_up(self.whisper, language)
        session = self.new_session((AGENT,), language)
        session.add_utterance(Utterance(AGENT, 0.0, 1.0, "ok"))

    # -- sessions ----------------------------------------------------------------------------
    def new_session(self, speakers: tuple[str, ...] = (AGENT, CUSTOMER),
                    language: str | None = None, layout: str = "separate",
                    audio: AudioSource | None = None, every_voice: bool = False) -> Session:
        """The only way a Session is made: the rulebook of `language`, fresh analyzers.

        `layout` says what the channels are (coach.analyzers): "separate" (each
        speaker on their own channel, or an agent-only recording), "mono" (one
        channel holding both voices), "diarized" (a mono call split by voice); `every_voice`:
        the one channel of a "separate" layout is a mono recording heard as one voice, whose
        silence is everyone's (coach.analyzers.CallAnalyzers).
        With `verify_phrases` on, the Session settles phrase near misses on the audio
        (coach.verify): `audio(speaker, start_s, end_s)` gives a speaker's samples (batch);
        without it the Session keeps the recent audio it is fed (live).
        """
        language = language or self.config.language
        rulebook = self.checks.rulebook(language)
        analyzers = CallAnalyzers(self.checks.analyzer_config, speakers=speakers, language=language,
                                  layout=layout, every_voice=every_voice)
        verifier = None
        if self.config.verify_phrases:
            from coach.verify import Verifier

            verifier = Verifier(self.transcriber.ops, language, audio, shared_channel=layout != "separate")
        return Session(rulebook, analyzers, speakers, verifier)

    def detect_language(self, audio: Any, speech: Any = None) -> tuple[str, float | None]:
        """The call's language from one speaker's speech, among the loaded packs (once per
        call); the pinned language with no probability when --language names one."""
        if self.config.language != AUTO:
            return self.config.language, None
        return self.transcriber.detect_language(audio, candidates=self.languages, speech=speech)

    # -- batch -------------------------------------------------------------------------------
    def fingerprint_for(self, path: Path) -> str | None:
        return self.fingerprints.for_file(Path(path))

    def score(self, path: str | Path, fingerprint: str | None = None,
              meta: dict[str, Any] | None = None) -> CallResult:
        """Score one recording (coach.call_scoring); raises AudioError for unusable input.
        Safe to call from two threads at once (see `rules_lock`)."""
        from coach.call_scoring import score_call

        return score_call(self, Path(path), fingerprint, meta)

    def result(self, session: Session, call_name: str, call: CallAudio | None,
               transcript: list[Utterance], extra: dict[str, Any]) -> CallResult:
        """The per-call result of a finished Session (batch and live alike)."""
        duration = call.duration_s if call is not None else (session.duration_s or 0.0)
        events = session.sorted_events()
        notes = list(call.notes) if call is not None else []
        notes += [f"{name} skipped: {why}" for name, why in session.skipped().items()]
        channel_index = {name: i for i, name in enumerate(self.config.channels)}
        mono = call.mono if call is not None else len(session.speakers) == 1
        channels = {s: (0 if mono else channel_index[s]) for s in session.speakers}
        return CallResult(
            call=call_name,
            duration_s=duration,
            language=session.language,
            channels=channels,
            model={"name": self.model.name, "sha256": self.model.sha256},
            transcript=[u for u in transcript if u.final],
            events=events,
            metrics=session.metrics(duration),
            score=self.checks.scorecard.score(events),
            extra={
                "activity": session.activity(),
                "mono": mono,
                "notes": notes,
                "skipped_analyzers": session.skipped(),
                "customer_name": session.customer_name,
                "coach_version": __version__,
                "scored_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "pid": os.getpid(),
                **extra,
            },
        )
