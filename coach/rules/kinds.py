"""The registry of rule kinds: the `kind:` field of a rule file picks one of these."""

from __future__ import annotations

from coach.rules.base import Rule
from coach.rules.diminutive import DiminutiveRule
from coach.rules.name import NameRule
from coach.rules.negative import NegativeRule
from coach.rules.occurrence import OccurrenceRule
from coach.rules.phrase import PhraseRule
from coach.rules.required import RequiredRule

KINDS: dict[str, type[Rule]] = {
    kind.kind: kind
    for kind in (PhraseRule, NegativeRule, OccurrenceRule, RequiredRule, NameRule, DiminutiveRule)
}
