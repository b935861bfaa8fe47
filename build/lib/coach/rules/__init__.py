"""Rules as data: YAML rule packs, the kinds that interpret them, and the Rulebook."""

from coach.rules.engine import Rulebook, utterance_from_text
from coach.rules.state import CallState

__all__ = ["CallState", "Rulebook", "utterance_from_text"]
