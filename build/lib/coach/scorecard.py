"""Scorecards: findings -> a 0-100 score per call, with per-category and per-section parts.

The per-call JSON's `score` is `{"total": int, "by_category": {cat: -points}}`
(the contract) plus `by_section`. Weights are data (rules/scorecards/*.yaml)
so a QA lead can change them without code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from coach.contract import Event
from coach.errors import RuleError
from coach.paths import rules_root
from coach.rules.loader import read_yaml


@dataclass(frozen=True)
class Weight:
    per_event: float
    max: float


@dataclass
class Scorecard:
    name: str
    categories: dict[str, Weight]
    default: Weight
    sections: dict[str, list[str]] = field(default_factory=dict)
    fingerprint: str = ""

    def weight(self, category: str) -> Weight:
        return self.categories.get(category, self.default)

    def score(self, events: list[Event]) -> dict:
        counts: dict[str, int] = {}
        for event in events:
            counts[event.category] = counts.get(event.category, 0) + 1
        by_category = {}
        for category, count in sorted(counts.items()):
            weight = self.weight(category)
            by_category[category] = -round(min(weight.max, weight.per_event * count))
        total = max(0, 100 + sum(by_category.values()))
        by_section = {
            section: sum(by_category.get(c, 0) for c in cats)
            for section, cats in self.sections.items()
        }
        return {"total": total, "by_category": by_category, "by_section": by_section}


def _weight(value: object, path: Path, where: str) -> Weight:
    if not isinstance(value, dict):
        raise RuleError(f"{path}: field '{where}': must be {{per_event: N, max: N}}")
    try:
        per_event, cap = float(value["per_event"]), float(value.get("max", 100))
    except (KeyError, TypeError, ValueError) as exc:
        raise RuleError(f"{path}: field '{where}': needs numeric per_event (and max)") from exc
    if per_event < 0 or cap < 0:
        raise RuleError(f"{path}: field '{where}': weights must be >= 0")
    return Weight(per_event, cap)


def load_scorecard(path: Path | None = None) -> Scorecard:
    path = Path(path) if path else rules_root() / "scorecards" / "default.yaml"
    if not path.is_file():
        raise RuleError(f"{path}: scorecard not found")
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise RuleError(f"{path}: field 'categories': required mapping of category -> weight")
    categories = {
        cat: _weight(value, path, f"categories.{cat}") for cat, value in data["categories"].items()
    }
    default = _weight(data.get("default", {"per_event": 5, "max": 15}), path, "default")
    sections = data.get("sections", {})
    if not isinstance(sections, dict) or not all(isinstance(v, list) for v in sections.values()):
        raise RuleError(f"{path}: field 'sections': must map section -> list of categories")
    return Scorecard(
        name=str(data.get("name", path.stem)),
        categories=categories,
        default=default,
        sections=sections,
        fingerprint=hashlib.sha256(path.read_bytes()).hexdigest(),
    )
