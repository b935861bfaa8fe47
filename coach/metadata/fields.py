"""Names every metadata module shares: the known fields and the error type."""

from __future__ import annotations

from coach.errors import CoachError

# Fields every consumer knows (summary.csv, the store's columns, the report).
KNOWN_FIELDS = ("agent", "call_id", "started_at", "queue")
# The manifest column naming the recording; `call` is what the report's old
# agent manifest used, so those files keep working.
FILE_COLUMNS = ("file", "call", "path")
SIDECAR_SUFFIX = ".meta.json"


class MetadataError(CoachError):
    """A manifest, sidecar or name pattern that cannot be used."""


def without_extension(name: str) -> str:
    """"call.2024.wav" -> "call.2024": a file name without its last extension."""
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem and ext else name
