"""Rule specs: a dataclass per kind declares its fields, and one decoder reads YAML into it.

Why: a kind's fields used to be listed four times (an allow-list, the reader
calls, the docstring, docs/rules.md) and drifted. Now the dataclass is the
only list. Its annotations give the types, `spec_field` the one-line doc,
the default, the range and conditions; the loader validates with `decode`,
and `coach.rules.schema` derives the JSON Schema that editors use and the
field tables in docs/rules.md from the same classes.

The decoder is written for people, not programs: the first problem stops it
with the field's name and a sentence ("must be one of info, minor, major,
critical, got 'huge'"); a lone string is accepted where a list is expected
(`phrases: не кричите`), and `field:` left empty (YAML null) means the
default. The supported types are few on purpose: str, bool, int, float,
Literal choices, list[str], dict[str, list[str]], nested spec dataclasses,
lists of those, and custom types with a `decode` classmethod (an example).
"""

from __future__ import annotations

import copy
import difflib
import re
import types
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class SpecError(Exception):
    """A field that does not fit its spec: the field's dotted name and the problem."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"field '{field}': {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class FieldInfo:
    """What `spec_field` records about a field, besides its type and default."""

    doc: str
    minimum: float | None = None
    min_items: int = 0
    required_when: tuple[str, Any] | None = None  # (other field, value): required when equal
    required_without: str | None = None  # required when this other field is absent
    template: bool = False  # a message whose {placeholders} are checked
    default_doc: str | None = None  # the default as the docs should say it
    hint: str = ""  # appended to "is required" (the shape expected)


def spec_field(
    doc: str,
    default: Any = MISSING,
    *,
    minimum: float | None = None,
    min_items: int = 0,
    required_when: tuple[str, Any] | None = None,
    required_without: str | None = None,
    template: bool = False,
    default_doc: str | None = None,
    hint: str = "",
) -> Any:
    """A spec field: its one-line doc and checks; no default means the field is required."""
    info = FieldInfo(doc, minimum, min_items, required_when, required_without, template,
                     default_doc, hint)
    metadata = {"spec": info}
    if isinstance(default, (list, dict, set)):
        value = default
        return field(default_factory=lambda: copy.copy(value), metadata=metadata)
    return field(default=default, metadata=metadata)


def info_of(f: Field) -> FieldInfo:
    return f.metadata.get("spec") or FieldInfo(doc="")


@cache
def hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def spec_fields(cls: type) -> list[Field]:
    """The fields of a spec, common ones first (dataclass order: base class first)."""
    return list(fields(cls))


def is_required(f: Field) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def default_of(f: Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def optional_inner(tp: Any) -> tuple[Any, bool]:
    """(T, True) for `T | None`, else (tp, False)."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(args) < len(get_args(tp)):
            return args[0], True
    return tp, False


# --- decoding ---------------------------------------------------------------------------

def decode(cls: type, data: Any, prefix: str = "") -> Any:
    """Build spec `cls` from a YAML mapping, or raise SpecError naming the first bad field.

    Unknown fields are reported first: a typo ("mesage") is the likeliest
    cause of a "missing" field, and naming the typo fixes both.
    """
    if not isinstance(data, dict):
        raise SpecError(prefix.rstrip(".") or "?", f"must be a mapping of fields, got {_shown(data)}")
    known = spec_fields(cls)
    names = {f.name for f in known}
    unknown = [k for k in data if k not in names]
    if unknown:
        allowed = ", ".join(sorted(names))
        close = difflib.get_close_matches(str(unknown[0]), sorted(names), n=1)
        guess = f"did you mean '{close[0]}'? " if close else ""
        raise SpecError(prefix + str(unknown[0]), f"unknown field ({guess}allowed: {allowed})")
    values: dict[str, Any] = {}
    types_ = hints(cls)
    for f in known:
        info = info_of(f)
        name = prefix + f.name
        raw = data.get(f.name)
        if raw == "" and not is_required(f):
            raw = None  # `suggestion: ""` is no suggestion
        if raw is None:
            if _required_now(f, info, data):
                problem = "is required"
                if info.required_when:
                    problem += f" when {info.required_when[0]} is {info.required_when[1]}"
                raise SpecError(name, problem + (f" ({info.hint})" if info.hint else ""))
            continue  # the dataclass default
        values[f.name] = decode_value(types_[f.name], raw, name, info)
    spec = cls(**values)
    check = getattr(spec, "validate", None)
    if check is not None:
        check()
    return spec


def _required_now(f: Field, info: FieldInfo, data: dict) -> bool:
    if is_required(f):
        return True
    if info.required_when is not None:
        other, value = info.required_when
        return data.get(other) == value
    if info.required_without is not None:
        return data.get(info.required_without) in (None, [], "")
    return False


def decode_value(tp: Any, value: Any, name: str, info: FieldInfo) -> Any:
    tp, optional = optional_inner(tp)
    if value is None and optional:
        return None
    origin = get_origin(tp)
    if hasattr(tp, "decode") and isinstance(tp, type):
        return tp.decode(value, name)
    if is_dataclass(tp):
        return decode(tp, value, prefix=name + ".")
    if tp is bool:
        if not isinstance(value, bool):
            raise SpecError(name, f"must be true or false, got {_shown(value)}")
        return value
    if tp in (int, float):
        return _number(tp, value, name, info)
    if tp is str:
        if not isinstance(value, str) or not value.strip():
            raise SpecError(name, "must be a non-empty text")
        return value
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise SpecError(name, f"must be one of {', '.join(map(str, choices))}, got {_shown(value)}")
        return value
    if origin is list:
        return _list(get_args(tp)[0], value, name, info)
    if origin is dict:
        return _mapping(get_args(tp)[1], value, name, info)
    raise TypeError(f"spec type {tp!r} of {name} is not supported")  # a programming error


def _number(tp: type, value: Any, name: str, info: FieldInfo) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        what = "a whole number" if tp is int else "a number"
        raise SpecError(name, f"must be {what}, got {_shown(value)}")
    if tp is int and isinstance(value, float):
        if not value.is_integer():
            raise SpecError(name, f"must be a whole number, got {value}")
        value = int(value)
    if info.minimum is not None and value < info.minimum:
        raise SpecError(name, f"must be >= {info.minimum:g}, got {value}")
    return tp(value)


def _list(item: Any, value: Any, name: str, info: FieldInfo) -> list:
    if item is str:
        if isinstance(value, str):
            value = [value]  # `phrases: не кричите` is one phrase
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise SpecError(name, "must be a list of non-empty texts")
    elif not isinstance(value, list):
        raise SpecError(name, f"must be a list, got {_shown(value)}")
    if len(value) < info.min_items:
        raise SpecError(name, f"needs at least {info.min_items}")
    if item is str:
        return list(value)
    return [decode_value(item, v, name, FieldInfo(doc="")) for v in value]


def _mapping(item: Any, value: Any, name: str, info: FieldInfo) -> dict:
    if not isinstance(value, dict):
        raise SpecError(name, f"must be a mapping{' (' + info.hint + ')' if info.hint else ''}, "
                              f"got {_shown(value)}")
    if len(value) < max(info.min_items, 1):
        raise SpecError(name, f"must not be empty{' (' + info.hint + ')' if info.hint else ''}")
    return {str(k): decode_value(item, v, f"{name}.{k}", FieldInfo(doc="", min_items=1))
            for k, v in value.items()}


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


# --- placeholders ---------------------------------------------------------------------------

def placeholders_in(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def check_placeholders(spec: Any, known: dict[str, str]) -> None:
    """Every `{placeholder}` in a template field must be one this kind fills in."""
    for f in spec_fields(type(spec)):
        if not info_of(f).template:
            continue
        text = getattr(spec, f.name) or ""
        for name in placeholders_in(text):
            if name not in known:
                allowed = ", ".join("{" + k + "}" for k in known)
                close = difflib.get_close_matches(name, list(known), n=1)
                guess = f"did you mean {{{close[0]}}}? " if close else ""
                raise SpecError(f.name, f"unknown placeholder {{{name}}} ({guess}this kind fills in: "
                                        f"{allowed})")
        rest = PLACEHOLDER.sub("", text)
        if "{" in rest or "}" in rest:
            raise SpecError(f.name, "a lone brace: write placeholders as {name}")
