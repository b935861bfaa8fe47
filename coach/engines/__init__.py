"""Where the calls of a batch are scored: one protocol, two engines.

The batch runner (coach.batch) decides what to score and alone writes files;
an engine only turns jobs into results, calling `on_result(job, result, error)`
as each finishes (exactly one of result/error is None). Engines import the
scorer (coach.core.Coach), never the batch runner.

- `LocalEngine`: this process (one job) or a pool of `--jobs` processes;
- `RayEngine`: Ray actors, locally or on a cluster (coach.engines.ray, optional).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from coach.contract import CallResult


@dataclass(frozen=True)
class Job:
    """One call to score: where it is, and its fingerprint (recorded in the result)."""

    path: Path
    fingerprint: str = ""


OnResult = Callable[[Job, CallResult | None, str | None], None]


class Engine(Protocol):
    """Scores jobs somewhere; reports each result or error through `on_result`."""

    name: str

    def run(self, jobs: Sequence[Job], on_result: OnResult) -> None: ...


def score_safely(coach: Any, job: Job) -> tuple[CallResult | None, str | None]:
    """Score one job; any failure becomes a one-line reason, so one bad call never stops a batch."""
    from coach.errors import AudioError, CoachError

    try:
        return coach.score(job.path, job.fingerprint or None), None
    except AudioError as exc:
        return None, str(exc)
    except CoachError as exc:
        return None, f"{job.path}: {exc}"
    except MemoryError:
        return None, f"{job.path}: out of memory while scoring"
    except Exception as exc:  # one broken call must not stop the batch
        import logging

        logging.getLogger(__name__).debug("scoring %s failed", job.path, exc_info=True)
        return None, f"{job.path}: unexpected {type(exc).__name__}: {exc}"
