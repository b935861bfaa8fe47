"""The registry of rule kinds: the `kind:` field of a rule file picks one of these."""

from __future__ import annotations

from coach.rules.base import Rule
from coach.rules.phrase import PhraseRule

KINDS: dict[str, type[Rule]] = {
    PhraseRule.kind: PhraseRule,
}
