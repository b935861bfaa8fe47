"""Call start times: ISO 8601 from what spreadsheets and telephony exports write, and
fields read from file names with a strftime-style pattern."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coach.metadata.fields import MetadataError, without_extension

# --- dates -----------------------------------------------------------------------

# Formats tried after ISO 8601: what spreadsheets and Russian telephony exports write.
_EXTRA_DATE_FORMATS = (
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
)


def normalize_started_at(value: Any, where: str) -> str:
    """`value` as ISO 8601 (`2024-05-01T09:30:00`, with its offset when it had one).

    Accepts ISO 8601 (with `T` or a space, `Z` or an offset, or the basic
    `20240501T093000`), `01.05.2024 09:30[:00]`, `2024/05/01 ...` and Unix
    seconds (taken as UTC). A time without an offset stays without one: it
    is the call centre's local time, and its date is the date the call was
    taken there. `where` names the file/row for the error message.
    """
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC).isoformat(timespec="seconds")
    text = str(value).strip()
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=UTC).isoformat(timespec="seconds")
    try:
        return datetime.fromisoformat(text).isoformat(timespec="seconds")
    except ValueError:
        pass
    for fmt in _EXTRA_DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).isoformat(timespec="seconds")
        except ValueError:
            continue
    raise MetadataError(
        f"{where}: started_at {text!r} is not a date/time "
        "(use ISO 8601, e.g. 2024-05-01T09:30:00 or 2024-05-01 09:30:00+03:00)"
    )


def call_date(iso: str | None) -> str | None:
    """The calendar date (YYYY-MM-DD) of an ISO 8601 time, in that time's own zone."""
    if not iso or not isinstance(iso, str):
        return None
    match = re.match(r"(\d{4})-?(\d{2})-?(\d{2})", iso)
    return f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else None


# --- file name patterns ----------------------------------------------------------

# strftime directives and what they match in a file name (numbers zero-padded,
# as file names from telephony systems are: %Y%m%d has no separators to go by).
_DIRECTIVES = {
    "Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}",
    "I": r"\d{2}", "M": r"\d{2}", "S": r"\d{2}", "f": r"\d{1,6}", "j": r"\d{1,3}",
    "b": r"[A-Za-z]{3}", "B": r"[A-Za-z]+", "p": r"(?:AM|PM|am|pm)", "z": r"(?:Z|[+-]\d{2}:?\d{2})",
    "%": "%",
}


def _strftime_regex(fmt: str, pattern: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            if i + 1 >= len(fmt) or fmt[i + 1] not in _DIRECTIVES:
                bad = fmt[i : i + 2]
                raise MetadataError(
                    f"--name-pattern {pattern!r}: date format {fmt!r}: {bad!r} is not supported "
                    f"(use %{', %'.join(k for k in _DIRECTIVES if k != '%')})"
                )
            out.append(_DIRECTIVES[fmt[i + 1]])
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class NamePattern:
    """A file-name template such as `{agent}_{started_at:%Y%m%d-%H%M%S}_{call_id}`.

    Matched against the whole file name without its extension (with '/' in
    the template, against that many trailing path parts). `{field}` matches
    any text (as little as possible); `{field:FORMAT}` a date/time written
    with strftime FORMAT, stored as ISO 8601. `{{` and `}}` are literal braces.
    """

    template: str
    regex: re.Pattern[str]
    date_formats: dict[str, str]
    parts: int

    @classmethod
    def compile(cls, template: str) -> NamePattern:
        pieces: list[str] = []
        formats: dict[str, str] = {}
        seen: set[str] = set()
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise MetadataError(f"--name-pattern {template!r}: {exc}") from exc
        for literal, name, spec, conversion in parsed:
            pieces.append(re.escape(literal))
            if name is None:
                continue
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or conversion:
                raise MetadataError(
                    f"--name-pattern {template!r}: {{{name}}} is not a field name "
                    "(letters, digits and '_', e.g. {agent})"
                )
            key = name.lower()
            if key in seen:
                raise MetadataError(f"--name-pattern {template!r}: {{{name}}} appears twice")
            seen.add(key)
            if spec:
                formats[key] = spec
                pieces.append(f"(?P<{key}>{_strftime_regex(spec, template)})")
            else:
                pieces.append(f"(?P<{key}>.+?)")
        if not seen:
            raise MetadataError(
                f"--name-pattern {template!r}: no {{field}} in it (e.g. '{{agent}}_{{call_id}}')"
            )
        return cls(template, re.compile("^" + "".join(pieces) + "$"), formats, template.count("/") + 1)

    def match(self, path: Path) -> dict[str, str] | None:
        """The fields read from `path`'s name; None when the name does not fit."""
        parts = list(path.parts[-self.parts :])
        parts[-1] = without_extension(parts[-1])
        found = self.regex.match("/".join(parts))
        if found is None:
            return None
        meta: dict[str, str] = {}
        for key, value in found.groupdict().items():
            if key in self.date_formats:
                try:
                    parsed = datetime.strptime(value, self.date_formats[key])
                except ValueError as exc:
                    raise MetadataError(
                        f"{path}: {key} {value!r} does not fit {self.date_formats[key]!r} "
                        f"of --name-pattern ({exc})"
                    ) from exc
                meta[key] = parsed.isoformat(timespec="seconds")
            else:
                meta[key] = value
        return meta


