"""Errors a user can act on: each message says what is wrong and how to fix it."""


class CoachError(Exception):
    """A problem the user can fix (bad input, missing model, bad rule file)."""


class AudioError(CoachError):
    """An input recording that cannot be decoded or holds no usable audio."""


class ModelError(CoachError):
    """The Whisper model is missing, corrupt or cannot be loaded."""


class RuleError(CoachError):
    """A rule file or scorecard that does not validate; names file and field."""
