"""Where coach finds its data (rule packs, overlay UI, model manifest) and its caches.

The data folders are the repository's top-level `rules/`, `ui/` and `models/`;
the wheel ships them as package data (`coach.data.rules`, `coach.data.ui`,
`coach.data.models`, mapped in pyproject.toml), read with importlib.resources.
A checkout (editable install, or a tree on PYTHONPATH) uses its own folders,
so an edit to a rule file takes effect without reinstalling.

Environment overrides, for deployments that keep data elsewhere (README,
"Environment"): COACH_RULES_DIR (rule packs, analyzers.yaml, scorecards),
COACH_UI_DIR (overlay page), COACH_MODELS_MANIFEST (model list),
COACH_MODEL_CACHE (assembled models), COACH_LOG_FILE.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]


def _data_dir(name: str) -> Path:
    """A data folder: the checkout's own when running from one, else the installed package data."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / name).is_dir():
        return _CHECKOUT / name
    # coach.data is a namespace package (its folders are mapped from the repository), so go
    # through the regular package `coach`: that gives a plain path inside site-packages.
    return Path(str(resources.files("coach"))) / "data" / name


def models_manifest() -> Path:
    return Path(os.environ.get("COACH_MODELS_MANIFEST") or _data_dir("models") / "manifest.toml")


def rules_root() -> Path:
    return Path(os.environ.get("COACH_RULES_DIR") or _data_dir("rules"))


def ui_root() -> Path:
    return Path(os.environ.get("COACH_UI_DIR") or _data_dir("ui"))


def model_cache() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "coach" / "models"
    return Path(os.environ.get("COACH_MODEL_CACHE", default))


def log_file() -> Path:
    """Where coach logs what it did (and tracebacks of unexpected errors)."""
    default = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "coach" / "coach.log"
    return Path(os.environ.get("COACH_LOG_FILE", default))
