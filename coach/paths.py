"""Where coach finds its data: the repo's models/, rules/ and ui/ folders, and the cache.

The project is installed editable (see the Makefile), so the data folders sit
next to the package; environment variables let a deployment move them.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def models_manifest() -> Path:
    return Path(os.environ.get("COACH_MODELS_MANIFEST", PROJECT_ROOT / "models" / "manifest.toml"))


def rules_root() -> Path:
    return Path(os.environ.get("COACH_RULES_DIR", PROJECT_ROOT / "rules"))


def ui_root() -> Path:
    return Path(os.environ.get("COACH_UI_DIR", PROJECT_ROOT / "ui"))


def model_cache() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "coach" / "models"
    return Path(os.environ.get("COACH_MODEL_CACHE", default))


def log_file() -> Path:
    """Where coach logs what it did (and tracebacks of unexpected errors)."""
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "coach" / "coach.log"
    return Path(os.environ.get("COACH_LOG_FILE", default))
