"""coach: local, real-time speech coaching for contact-center agents.

Importing coach pins CTranslate2's numerical path first (see coach.numerics),
so every process that scores calls takes the same path. The public Python API
is `coach.Coach` (see the README, "Python API").
"""

from coach import numerics

numerics.pin()

__version__ = "0.2.0"
