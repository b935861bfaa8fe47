"""Everything derived from the rule specs: the JSON Schema of a rule file and the docs' field tables.

Both are generated, never edited: `coach rules schema` prints the schema for
an editor, and `python -m coach.rules.schema --write` refreshes the two
committed copies (coach/rules/rule.schema.json, the tables in docs/rules.md);
a test fails when either is stale.

The schema is JSON Schema draft-07, what VS Code's YAML extension (and most
editors' YAML language servers) check fully. It is as strict as the loader
on names, types, choices and ranges; checks that need the language tools
(a phrase with no words, `words` required where there is no morphology)
happen at load only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import Field, is_dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from coach.rules.base import Rule, RuleSpec
from coach.rules.kinds import KINDS
from coach.rules.spec import default_of, hints, info_of, is_required, optional_inner, spec_fields

SCHEMA_FILE = Path(__file__).with_name("rule.schema.json")
DOCS_FILE = Path(__file__).resolve().parents[2] / "docs" / "rules.md"  # in a checkout (--write)
NON_BLANK = {"type": "string", "pattern": r"\S"}


# --- JSON Schema -------------------------------------------------------------------------------

def type_schema(tp: Any, f: Field | None = None) -> dict[str, Any]:
    """The JSON Schema of one spec type (see `coach.rules.spec.decode_value` for the same cases)."""
    info = info_of(f) if f is not None else None
    tp, _ = optional_inner(tp)
    origin = get_origin(tp)
    if hasattr(tp, "json_schema") and isinstance(tp, type):
        return tp.json_schema()
    if is_dataclass(tp):
        return object_schema(tp)
    if tp is bool:
        return {"type": "boolean"}
    if tp in (int, float):
        out: dict[str, Any] = {"type": "integer" if tp is int else "number"}
        if info is not None and info.minimum is not None:
            out["minimum"] = info.minimum
        return out
    if tp is str:
        return dict(NON_BLANK)
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin is list:
        item = get_args(tp)[0]
        array: dict[str, Any] = {"type": "array", "items": type_schema(item)}
        if info is not None and info.min_items:
            array["minItems"] = info.min_items
        if item is str:
            return {"anyOf": [dict(NON_BLANK), array]}  # one item may be written alone
        return array
    if origin is dict:
        return {"type": "object", "minProperties": 1,
                "additionalProperties": type_schema(get_args(tp)[1])}
    raise TypeError(f"no JSON Schema for spec type {tp!r}")


def field_schema(cls: type, f: Field) -> dict[str, Any]:
    out = type_schema(hints(cls)[f.name], f)
    info = info_of(f)
    if info.doc:
        out = {"description": _plain(info.doc), **out}
    default = default_of(f)
    if default is not None and default != [] and default != "" and not is_required(f) and \
            info.default_doc is None:
        out["default"] = default
    return out


def object_schema(cls: type, overrides: dict[str, dict] | None = None) -> dict[str, Any]:
    """An object of the spec's fields: unknown fields rejected, required ones and conditions set."""
    props = {f.name: field_schema(cls, f) for f in spec_fields(cls)}
    props.update(overrides or {})
    out: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "required": [f.name for f in spec_fields(cls) if is_required(f)],
        "additionalProperties": False,
    }
    conditions = []
    for f in spec_fields(cls):
        info = info_of(f)
        if info.required_when is not None:
            other, value = info.required_when
            conditions.append({"if": {"properties": {other: {"const": value}}, "required": [other]},
                               "then": {"required": [f.name]}})
        if info.required_without is not None:
            conditions.append({"if": {"not": {"required": [info.required_without]}},
                               "then": {"required": [f.name]}})
    if conditions:
        out["allOf"] = conditions
    return out


def template_schema(cls: type[RuleSpec], f: Field) -> dict[str, Any]:
    """A message or suggestion: text whose {placeholders} are only those the kind fills in."""
    names = "|".join(re.escape(k) for k in cls.placeholders())
    known = ", ".join("{" + k + "}" for k in cls.placeholders())
    return {"description": f"{_plain(info_of(f).doc)}; placeholders: {known}", "type": "string",
            "minLength": 1 if is_required(f) else 0, "pattern": rf"^(?:[^{{}}]|\{{(?:{names})\}})*$"}


def kind_schema(rule: type[Rule]) -> dict[str, Any]:
    overrides = {"kind": {"const": rule.kind}}
    for f in spec_fields(rule.Spec):
        if info_of(f).template:
            overrides[f.name] = template_schema(rule.Spec, f)
    if not rule.can_run_early:
        overrides["early"] = {"description": f"kind '{rule.kind}' cannot run early", "const": False}
    out = object_schema(rule.Spec, overrides)
    out["description"] = f"a rule of kind '{rule.kind}'"
    return out


def rule_schema() -> dict[str, Any]:
    """The schema of a rule file: one rule, a switch-off, or a family under `rules:`."""
    definitions: dict[str, Any] = {name: kind_schema(cls) for name, cls in sorted(KINDS.items())}
    definitions["switch_off"] = {
        "type": "object",
        "description": "switches off the rule with this id from an earlier folder",
        "required": ["id", "disabled"],
        "properties": {"id": dict(NON_BLANK), "disabled": {"const": True}},
    }
    definitions["rule"] = {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"description": "the check", "enum": sorted(KINDS)}},
        "allOf": [
            {"if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
             "then": {"$ref": f"#/definitions/{name}"}}
            for name in sorted(KINDS)
        ],
    }
    definitions["entry"] = {
        "if": {"type": "object", "properties": {"disabled": {"const": True}}, "required": ["disabled"]},
        "then": {"$ref": "#/definitions/switch_off"},
        "else": {"$ref": "#/definitions/rule"},
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "coach rule file",
        "description": "One rule, or a family of rules under `rules:`. Generated from the rule specs "
                       "(coach/rules/*.py) by `coach rules schema`; see docs/rules.md.",
        "definitions": definitions,
        "if": {"type": "object", "required": ["rules"], "not": {"required": ["id"]}},
        "then": {
            "type": "object",
            "required": ["rules"],
            "properties": {"rules": {"type": "array", "minItems": 1,
                                     "items": {"$ref": "#/definitions/entry"}}},
            "additionalProperties": False,
        },
        "else": {"$ref": "#/definitions/entry"},
    }


def _plain(doc: str) -> str:
    """Markdown of a field doc as plain text for editor tooltips."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", doc)
    return text.replace("**", "").replace("`", "")


# --- docs tables ----------------------------------------------------------------------------------

def type_words(tp: Any) -> str:
    tp, _ = optional_inner(tp)
    origin = get_origin(tp)
    if tp is bool:
        return "true / false"
    if tp is int:
        return "whole number"
    if tp is float:
        return "number"
    if tp is str:
        return "text"
    if origin is Literal:
        return " \\| ".join(f"`{c}`" for c in get_args(tp))
    if origin is list:
        return "list" if get_args(tp)[0] is str else "list of examples"
    if origin is dict:
        return "word → word" if get_args(tp)[1] is str else "label → list"
    if is_dataclass(tp):
        return "`{" + ", ".join(f.name for f in spec_fields(tp)) + "}`"
    return getattr(tp, "DOC_TYPE", tp.__name__)


def default_words(f: Field) -> str:
    info = info_of(f)
    if info.default_doc is not None:
        return info.default_doc
    if is_required(f):
        return "**required**"
    value = default_of(f)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    return f"`{value}`" if value else "none"


def field_table(cls: type, names: list[str] | None = None) -> str:
    types_ = hints(cls)
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for f in spec_fields(cls):
        if names is not None and f.name not in names:
            continue
        info = info_of(f)
        meaning = info.doc
        if info.minimum is not None:
            meaning += f" (≥ {info.minimum:g})"
        kind = " \\| ".join(f"`{k}`" for k in KINDS) if (cls, f.name) == (RuleSpec, "kind") else None
        rows.append(f"| `{f.name}` | {kind or type_words(types_[f.name])} | {default_words(f)} | {meaning} |")
    return "\n".join(rows)


def placeholder_line(spec: type[RuleSpec], own_only: bool) -> str:
    own = spec.placeholders() if not own_only else {
        k: v for k, v in spec.placeholders().items() if k not in RuleSpec.placeholders()
    }
    if not own:
        return ""
    items = "; ".join(f"`{{{k}}}`: {v}" for k, v in own.items())
    return f"\n\nPlaceholders in `message` and `suggestion`: {items}."


def docs_sections() -> dict[str, str]:
    """Generated text for each `<!-- generated: NAME -->` region of docs/rules.md."""
    common = [f.name for f in spec_fields(RuleSpec)]
    out = {"common-fields": field_table(RuleSpec) + placeholder_line(RuleSpec, own_only=False)}
    for name, cls in KINDS.items():
        own = [f.name for f in spec_fields(cls.Spec) if f.name not in common]
        out[f"{name}-fields"] = field_table(cls.Spec, own) + placeholder_line(cls.Spec, own_only=True)
    return out


REGION = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n).*?(\n<!-- end generated -->)", re.S)


def render_docs(text: str) -> str:
    """docs/rules.md with every generated region refreshed from the specs."""
    sections = docs_sections()
    missing = set(sections) - {m.group("name") for m in REGION.finditer(text)}
    if missing:
        raise ValueError(f"docs/rules.md lacks the regions {sorted(missing)}")
    return REGION.sub(lambda m: m.group(1) + sections[m.group("name")] + m.group(3), text)


def schema_text() -> str:
    return json.dumps(rule_schema(), ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Refresh (or check) the files generated from the "
                                                 "rule specs: the JSON Schema and docs/rules.md's tables.")
    parser.add_argument("--write", action="store_true", help="rewrite the files (else: check them)")
    args = parser.parse_args(argv)
    stale = []
    for path, fresh in ((SCHEMA_FILE, schema_text()),
                        (DOCS_FILE, render_docs(DOCS_FILE.read_text(encoding="utf-8")))):
        if path.is_file() and path.read_text(encoding="utf-8") == fresh:
            continue
        if args.write:
            path.write_text(fresh, encoding="utf-8")
            print(f"wrote {path}")
        else:
            stale.append(str(path))
    if stale:
        print("stale (run python -m coach.rules.schema --write): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
