"""The one loader of rule packs, for `coach score`, `live` and `coach rules check|test` alike.

A rulebook is layers: the built-in pack `rules/<language>/`, then each
company folder given with `--rules`, in order. Within one layer (a folder
and all its subfolders) every id must be unique: two files defining one id
is an error naming both, wherever they sit. Across layers, a later folder
may replace a rule of an earlier one by using its id, or switch it off with
`{id: ..., disabled: true}`; that is how a company tunes the built-in packs.

A company folder holds YAML files directly (they apply to every language),
or per-language subfolders named by ISO 639 code (`DIR/ru/`, `DIR/en/`):
then only `DIR/<language>/` is read for a language. Hidden files and
folders (`.git`, `.github`), `analyzers.yaml` and `scorecards/` are not
rules.

The fingerprint is a hash of what the files say, not where they are: the
same folder given by another path, or an identical copy, gives the same
fingerprint, so a re-run does not rescore calls.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coach.errors import RuleError
from coach.paths import rules_root
from coach.rules.base import Rule, RuleContext
from coach.rules.kinds import KINDS
from coach.rules.text import read_yaml

__all__ = ["LoadedRules", "language_folders", "load_rules", "read_yaml", "rule_files"]

NON_RULE_FILES = {"analyzers.yaml"}
NON_RULE_DIRS = {"scorecards"}
LANGUAGE_DIR = re.compile(r"^[a-z]{2,3}$")


@dataclass
class LoadedRules:
    """The rules in effect (later folders applied) and the fingerprint of what they were read from."""

    rules: list[Rule]
    fingerprint: str = ""


def rule_files(folder: Path) -> list[Path]:
    """Every rule file under `folder`, sorted; hidden paths, scorecards and analyzers.yaml left out."""
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        if any(p.startswith(".") for p in rel) or NON_RULE_DIRS & set(rel[:-1]):
            continue
        if path.name not in NON_RULE_FILES:
            out.append(path)
    return out


def language_folders(root: Path) -> dict[str, Path]:
    """Per-language subfolders of a rules folder (`ru/`, `en/`...), by language code."""
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir())
            if p.is_dir() and LANGUAGE_DIR.match(p.name) and rule_files(p)}


def company_folder(extra: Path, language: str) -> Path | None:
    """The part of a company folder that applies to `language`; None when it has nothing for it."""
    if not extra.is_dir():
        raise RuleError(f"{extra}: rules folder not found")
    packs = language_folders(extra)
    if packs:
        return packs.get(language)
    return extra


def documents(path: Path) -> list[Any]:
    """A file holds one rule, or a small family under `rules: [...]`."""
    data = read_yaml(path)
    if isinstance(data, dict) and "rules" in data and "id" not in data:
        extra = sorted(set(data) - {"rules"})
        if extra:
            raise RuleError(f"{path}: field '{extra[0]}': a file with 'rules: [...]' holds nothing else")
        if not isinstance(data["rules"], list) or not data["rules"]:
            raise RuleError(f"{path}: field 'rules' must be a list of rules")
        return data["rules"]
    return [data]


def is_switch_off(data: Any) -> bool:
    return isinstance(data, dict) and data.get("disabled") is True


def build_rule(data: Any, path: Path, language: str) -> Rule:
    if not isinstance(data, dict):
        raise RuleError(f"{path}: a rule must be a mapping of fields, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise RuleError(
            f"{path}: rule '{data.get('id', '?')}', field 'kind': must be one of "
            f"{', '.join(sorted(KINDS))}, got {kind!r}"
        )
    return KINDS[kind].from_data(data, RuleContext(file=path, language=language))


@dataclass
class _Entry:
    """One id in one layer: the rule, or None for a switch-off."""

    rule: Rule | None
    file: Path


def _read_file(path: Path, language: str) -> list[tuple[str, _Entry]]:
    entries = []
    for data in documents(path):
        if is_switch_off(data):
            rule_id = data.get("id")
            if not isinstance(rule_id, str) or not rule_id.strip():
                raise RuleError(f"{path}: rule '?', field 'id': is required (the rule to switch off)")
            entries.append((rule_id, _Entry(None, path)))
        else:
            rule = build_rule(data, path, language)
            entries.append((rule.id, _Entry(rule, path)))
    return entries


def load_layer(
    files: list[Path], language: str, errors: list[RuleError] | None = None
) -> dict[str, _Entry]:
    """Every rule of one folder's files by id; a duplicate id among them is an error naming both files.

    With `errors`, a bad file is recorded there and left out (the rest still
    loads: `coach rules check` lists every bad file); without, it raises.
    """
    layer: dict[str, _Entry] = {}
    for path in files:
        try:
            entries = _read_file(path, language)
            here: dict[str, _Entry] = {}
            for rule_id, entry in entries:
                earlier = layer.get(rule_id) or here.get(rule_id)
                if earlier is not None:
                    where = "earlier in this file" if earlier.file == path else f"in {earlier.file}"
                    raise RuleError(f"{path}: rule '{rule_id}', field 'id': also defined {where} (ids "
                                    "must be unique within a rules folder; to replace a rule of another "
                                    "folder, use its id in a folder given after it)")
                here[rule_id] = entry
        except RuleError as exc:
            if errors is None:
                raise
            errors.append(exc)
            continue
        layer.update(here)
    return layer


def load_rules(
    language: str,
    extra_dirs: list[Path] | None = None,
    errors: list[RuleError] | None = None,
) -> LoadedRules:
    """Built-in pack rules/<language>/ plus each company folder on top, in order.

    With `errors`, problems are collected there instead of raised (see `load_layer`).
    """
    folders: list[Path | None] = [rules_root() / language]
    for extra in extra_dirs or []:
        folders.append(company_folder(Path(extra), language))
    by_id: dict[str, Rule] = {}
    digest = hashlib.sha256()
    for folder in folders:
        if folder is None or not folder.is_dir():
            digest.update(b"\0layer")
            continue
        files = rule_files(folder)
        layer = load_layer(files, language, errors)
        digest.update(b"\0layer")
        for content in sorted(_digest_file(p) for p in files):
            digest.update(content.encode())
        for rule_id, entry in layer.items():
            if entry.rule is None:
                by_id.pop(rule_id, None)
            else:
                by_id[rule_id] = entry.rule  # replaces a rule of an earlier folder in place
    extra_digests = sorted(_digest_file(p) for rule in by_id.values() for p in rule.extra_files())
    for content in extra_digests:  # data files a rule reads (a names list) decide results too
        digest.update(content.encode())
    return LoadedRules(list(by_id.values()), digest.hexdigest())


def _digest_file(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror or exc}") from None
