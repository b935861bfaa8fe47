"""What the name rules read from one line, once for all the rules that would read it alike.

A pack's three name rules (asked, used, remind) share their phrase and name lists through
YAML anchors, so on every line they would match the same phrases and look up the same names
three times. These records keep each read on the line's `Doc.memo`, under a key that only
rules agreeing on what the read depends on share (`setup_key` for the phrase reads, the
NameBook itself for the name reads); a rule set up differently keeps its own. A speed-up only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import count
from typing import Any, TypeVar

from coach.rules.matching import Doc
from coach.rules.names import Name, NameBook


@dataclass
class Line:
    """One line as the name rules set up alike read it, each read made once for all of them (the
    packs' three name rules would otherwise match the same phrases and names three times)."""

    asks: list[tuple[Any, int, int]] | None = None  # where the agent asks the name: (phrase, first, last)
    own: set[int] | None = None  # where the agent's own name stands
    capture: dict[bool, Name | None] = field(default_factory=dict)  # the customer's name, by `answering`


@dataclass
class Names:
    """One line as read against a name book: by every name rule that has that book, whatever its
    phrases (a pack's rules may list different phrases but always the same names)."""

    addresses: dict[Name | None, list[tuple[int, Name]]] = field(default_factory=dict)  # by expected name
    says: dict[Name, bool] = field(default_factory=dict)  # the name said anywhere, by name


@lru_cache(maxsize=256)
def setup_key(book: NameBook, *phrases_and_words: object) -> str:
    """One key per set-up of name rules (their name book, phrase and word lists, shared objects, and
    whose lines carry the name), so rules set up alike share their line reads and their follow-up of
    the call. Bounded: a set-up pushed out only stops sharing. A string, so that a copied CallState
    still equals the original (`copy.deepcopy`)."""
    return f"name.setup.{next(_SETUPS)}"


_SETUPS = count(1)
_Read = TypeVar("_Read", Line, Names)


def memo(doc: Doc, key: object, make: type[_Read]) -> _Read:
    """The line's record under `key` in `Doc.memo`, made by the first rule that asks."""
    read = doc.memo.get(key)
    if read is None:
        read = doc.memo[key] = make()
    return read
