"""coach: local, real-time speech coaching for contact-center agents.

Importing coach pins CTranslate2's numerical path first (see coach.numerics),
so every process that scores calls takes the same path, and asks malloc to keep
freed memory (coach.allocator: CTranslate2's page faults cost a quarter of the CPU). The public Python API
is `coach.Coach` (see the README, "Python API").
"""

from coach import allocator, numerics

numerics.pin()
allocator.keep_heap_pad()

__version__ = "0.2.0"

__all__ = ["Coach", "CoachConfig", "__version__"]


def __getattr__(name: str):
    """`from coach import Coach, CoachConfig` without importing Whisper at `import coach`."""
    if name == "Coach":
        from coach.core import Coach

        return Coach
    if name == "CoachConfig":
        from coach.config import CoachConfig

        return CoachConfig
    raise AttributeError(f"module 'coach' has no attribute {name!r}")
