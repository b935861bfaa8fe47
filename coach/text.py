"""The one text normaliser of the package: what "the same words" means when comparing text.

Speech recognition writes the same words with different case, punctuation
and (in Russian) "ё" or "е"; the hallucination guard, LocalAgreement and the
loop detector must all see through that in the same way, or a line would
count as repeated for one of them and not for another.
"""

from __future__ import annotations

import re

_SEPARATORS: dict[str, re.Pattern[str]] = {}


def normalise(text: str, keep: str = "") -> str:
    """Lower case, "ё" -> "е", every run of non-word characters (except those in `keep`,
    e.g. "-" for "mm-hm") -> one space, no leading or trailing space."""
    pattern = _SEPARATORS.get(keep)
    if pattern is None:
        pattern = _SEPARATORS[keep] = re.compile(rf"[^\w{re.escape(keep)}]+", re.UNICODE)
    return pattern.sub(" ", text.lower().replace("ё", "е")).strip()
