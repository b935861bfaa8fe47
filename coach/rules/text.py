"""Reading rule files: UTF-8 text and YAML, with one-line errors that point at the line at fault.

QA leads edit these files in whatever editor they have: a file saved as
Windows-1251 or UTF-16, an unclosed quote, a key given twice. Each must be
a message naming the file and the line, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from coach.errors import RuleError

# Contexts where PyYAML reports the start of what is broken (an opened quote or bracket, a line
# that is not `key: value`); elsewhere the problem mark (where it gave up) is the line at fault.
_OPENED_AT = {
    "while scanning a quoted scalar": "a quote opened here is not closed",
    "while parsing a flow sequence": "a '[' list opened here is not closed",
    "while parsing a flow mapping": "a '{' mapping opened here is not closed",
    "while scanning a simple key": "this line is not a 'field: value' pair",
}


def read_text(path: Path) -> str:
    """The file as text: UTF-8 (a BOM is fine); anything else is an error naming the line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RuleError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RuleError(f"{path}: saved as UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        guess = ""
        try:
            if any("\u0400" <= ch <= "\u04ff" for ch in data.decode("cp1251")):
                guess = ", it looks like Windows-1251"
        except UnicodeDecodeError:
            pass
        raise RuleError(f"{path}: line {line} is not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                        f"column {column}{guess}); save the file as UTF-8") from None


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults`: merged keys may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, str) and key in seen:
                raise yaml.MarkedYAMLError(
                    problem=f"field '{key}' is given twice (also on line {seen[key]}); the second "
                            "would silently win", problem_mark=key_node.start_mark)
            if isinstance(key, str):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """The file parsed as YAML; problems are RuleErrors `FILE: line N invalid YAML: ...`."""
    text = read_text(path)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        raise RuleError(yaml_problem(path, exc)) from None
    except yaml.YAMLError as exc:
        where = ""
        position = getattr(exc, "position", None)
        if isinstance(position, int):
            where = f" line {text.count(chr(10), 0, position) + 1}"
        reason = " ".join(str(getattr(exc, "reason", "") or exc).split())
        raise RuleError(f"{path}:{where} invalid YAML: {reason}") from None


def yaml_problem(path: Path, exc: yaml.MarkedYAMLError) -> str:
    """One line, at the line at fault: the opening of an unclosed quote/bracket, else where it broke."""
    problem = " ".join(str(exc.problem or "").split())
    pmark, cmark = exc.problem_mark, exc.context_mark
    opened = _OPENED_AT.get(exc.context or "")
    if opened and cmark is not None:
        gave_up = f", the parser gave up at line {pmark.line + 1}" if pmark is not None else ""
        return (f"{path}: line {cmark.line + 1} invalid YAML: {opened} (column {cmark.column + 1}"
                f"{gave_up}: {problem})")
    if pmark is not None:
        return f"{path}: line {pmark.line + 1} invalid YAML: {problem} (column {pmark.column + 1})"
    return f"{path}: invalid YAML: {problem}"
