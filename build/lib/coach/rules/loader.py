"""Loading rule packs from folders: built-in packs first, a company's folders on top.

A later folder overrides an earlier rule with the same id; a rule file with
`disabled: true` (and just an `id`) switches a built-in rule off. Every file
is validated on load; the first problem stops the load with file and field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from coach.errors import RuleError
from coach.paths import rules_root
from coach.rules.base import Rule, RuleContext
from coach.rules.kinds import KINDS

NON_RULE_FILES = {"analyzers.yaml"}


@dataclass
class LoadedRules:
    rules: list[Rule]
    files: list[Path] = field(default_factory=list)
    fingerprint: str = ""


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RuleError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror}") from exc


def rule_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))
    return [p for p in files if p.name not in NON_RULE_FILES and "scorecards" not in p.parts]


def build_rule(data: Any, path: Path, language: str) -> Rule:
    if not isinstance(data, dict):
        raise RuleError(f"{path}: a rule file must be a mapping of fields, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise RuleError(
            f"{path}: rule '{data.get('id', '?')}', field 'kind': must be one of "
            f"{', '.join(sorted(KINDS))}, got {kind!r}"
        )
    return KINDS[kind](data, RuleContext(file=path, language=language))


def documents(path: Path) -> list[Any]:
    """A file holds one rule, or a small family under `rules: [...]`."""
    data = read_yaml(path)
    if isinstance(data, dict) and "rules" in data and "id" not in data:
        if not isinstance(data["rules"], list):
            raise RuleError(f"{path}: field 'rules' must be a list of rules")
        return data["rules"]
    return [data]


def load_rules(language: str, extra_dirs: list[Path] | None = None) -> LoadedRules:
    """Built-in pack rules/<language>/ plus each company folder (its <language>/ or itself)."""
    folders = [rules_root() / language]
    for extra in extra_dirs or []:
        extra = Path(extra)
        if not extra.is_dir():
            raise RuleError(f"{extra}: rules folder not found")
        folders.append(extra / language if (extra / language).is_dir() else extra)
    by_id: dict[str, Rule] = {}
    disabled: set[str] = set()
    files: list[Path] = []
    digest = hashlib.sha256()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in rule_files(folder):
            files.append(path)
            digest.update(path.read_bytes())
            for data in documents(path):
                if isinstance(data, dict) and data.get("disabled") is True and "id" in data:
                    disabled.add(data["id"])
                    by_id.pop(data["id"], None)
                    continue
                rule = build_rule(data, path, language)
                if rule.id in by_id and by_id[rule.id].ctx.file.parent == path.parent:
                    raise RuleError(
                        f"{path}: rule '{rule.id}', field 'id': also defined in "
                        f"{by_id[rule.id].ctx.file}"
                    )
                by_id[rule.id] = rule
                disabled.discard(rule.id)
    for rule in by_id.values():  # data files a rule reads (a names list) decide results too
        for extra in rule.extra_files():
            digest.update(extra.read_bytes())
    return LoadedRules(list(by_id.values()), files, digest.hexdigest())
