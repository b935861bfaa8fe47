"""What a Coach is loaded with: model, language, rules, scorecard and how to run Whisper.

One dataclass for batch, live, replay and the Ray actors, so a call is judged the
same way whichever path it takes. `validate()` checks everything that can be
checked without a model (languages, channel order, modes), because a typo must
cost seconds, not a model load and a transcription.

Which fields decide a result is said once, in `result_options()`: the resume
fingerprint hashes those (plus the contents of the rules, the scorecard and
the thresholds), and not `cpu_threads`, which changes speed only (see
coach.numerics).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coach.contract import AGENT, CUSTOMER
from coach.errors import CoachError

AUTO = "auto"
ASR_MODES = ("fast", "batched", "sequential")
MONO_MODES = ("diarize", "agent")
DEVICES = ("cpu", "cuda")


@dataclass
class CoachConfig:
    """Everything `Coach.load` needs. Defaults are what `coach score` does with no options."""

    model: str | None = None  # manifest name, local CTranslate2 folder or HF repo id
    language: str = AUTO  # a rule pack (ru, en, ro, nb, et) or "auto": detected once per call
    channels: tuple[str, str] = (AGENT, CUSTOMER)  # who is on the left and right channel
    mono: str = "diarize"  # mono recordings: "diarize" (split agent and customer) or "agent" (agent only)
    rules_dirs: list[str] = field(default_factory=list)  # company folders over the built-in packs
    scorecard: str | None = None  # scorecard YAML (default: the built-in one)
    beam_size: int = 1
    asr_mode: str = "fast"
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0  # per Coach; 0 = all cores. Never changes a result.
    # Segment batches Whisper decodes at once, each on its own single-thread model replica, the
    # threads split between them; 0 = one per thread. A whole call (score) gains ~20 % on 2 cores
    # (a decoder step on a batch of short segments keeps one core busy better than two), for
    # ~110 MB per extra replica; live and replay take two replicas (`for_live`). Never changes a
    # result (coach.numerics).
    decode_workers: int = 0
    # Settle phrase near misses and slip-tolerant finds on the audio (coach.verify): on by default,
    # it raised forbidden-phrase F1 on both corpus sets; the second readings of missing parts cost
    # a 30 s beam decode per finding about to be reported (docs/asr.md).
    verify_phrases: bool = True
    # glibc malloc arenas for the process, set when the Coach loads (0: glibc's default, one per
    # thread that allocates, up to 8 per core). Live takes 1 (`for_live`): its decoding threads'
    # arenas kept ~70 MB each that an agent's day of calls never gave back (coach.allocator).
    # Memory and speed only, never a result.
    malloc_arenas: int = 0

    def validate(self, languages: frozenset[str] | None = None) -> None:
        """Raise CoachError for anything wrong that needs no model to see.

        `languages`: the packs this installation can judge (rule packs that also
        have analyzer texts); None skips the language check (rules not read yet).
        """
        if languages is not None and self.language != AUTO and self.language not in languages:
            known = ", ".join(sorted(languages))
            raise CoachError(f"--language {self.language}: no rule pack for it (known: {known}, or auto)")
        if tuple(sorted(self.channels)) != (AGENT, CUSTOMER):
            raise CoachError(f"--channels must be 'agent,customer' or 'customer,agent', got {self.channels}")
        if self.mono not in MONO_MODES:
            raise CoachError(f"--mono must be one of {', '.join(MONO_MODES)}, got '{self.mono}'")
        if self.asr_mode not in ASR_MODES:
            raise CoachError(f"--asr-mode must be one of {', '.join(ASR_MODES)}, got '{self.asr_mode}'")
        if self.device not in DEVICES:
            raise CoachError(f"--device must be one of {', '.join(DEVICES)}, got '{self.device}'")
        if self.beam_size < 1:
            raise CoachError(f"--beam must be at least 1, got {self.beam_size}")
        if self.malloc_arenas < 0:
            raise CoachError(f"malloc_arenas must be 0 (glibc's default) or more, got {self.malloc_arenas}")
        if self.cpu_threads < 0:
            raise CoachError(f"--threads must be 0 (all cores) or more, got {self.cpu_threads}")
        if self.decode_workers < 0:
            raise CoachError(f"decode_workers must be 0 (one per thread) or more, got {self.decode_workers}")
        for folder in self.rules_dirs:
            if not Path(folder).is_dir():
                raise CoachError(f"{folder}: rules folder not found")
        if self.scorecard and not Path(self.scorecard).is_file():
            raise CoachError(f"{self.scorecard}: scorecard not found")

    def for_live(self) -> CoachConfig:
        """This configuration as live and replay load it: the threads split between two model
        replicas (one per channel), and one malloc arena (`malloc_arenas`).

        Live decodes one short buffer at a time, and on the 2-core machines measured a decoder
        step is slower on two threads than on one (thread hand-offs for small matrices): a 2 s
        buffer 0.52 -> 0.29 s, a 5.5 s one 0.66 -> 0.58 s, a line's 30 s second reading with
        beam 5 3.2 -> 2.5 s (docs/live.md). On a machine with more cores each replica keeps
        half of them for the 30 s windows' encoder."""
        threads = self.cpu_threads or os.cpu_count() or 1
        return replace(self, decode_workers=min(2, threads), malloc_arenas=1)

    def result_options(self) -> dict[str, Any]:
        """The options that decide a call's result, for the fingerprint.

        Paths are left out on purpose: what they point to is hashed by content
        (rules, scorecard, model), so the same folder given another way, or an
        identical copy, does not force a re-score.
        """
        options = {
            "language": self.language,
            "channels": list(self.channels),
            "mono": self.mono,
            "beam_size": self.beam_size,
            "asr_mode": self.asr_mode,
            "device": self.device,
            "compute_type": self.compute_type,
        }
        if self.verify_phrases:  # only when on: results scored with it off keep their fingerprint
            options["verify_phrases"] = True
        return options

    def with_threads(self, threads: int) -> CoachConfig:
        return replace(self, cpu_threads=threads)


def parse_channel_order(value: str) -> tuple[str, str]:
    """'agent,customer' -> ('agent', 'customer'); anything else is a clear error."""
    order = tuple(part.strip() for part in value.split(","))
    if sorted(order) != sorted((AGENT, CUSTOMER)):
        raise CoachError(f"--channels must be 'agent,customer' or 'customer,agent', got '{value}'")
    return order  # type: ignore[return-value]
