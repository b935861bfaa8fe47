"""The package works when installed from its wheel, not only from a checkout.

IT installs coach with pip; the rule packs, the overlay, the model manifest and
the analyzer thresholds must come with it as package data. The slow test
builds the wheel, installs it into a fresh virtual environment and scores the
bundled sample from a folder outside the checkout, as a new user would.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_for_the_wheel():
    """pyproject.toml lists packages explicitly (the data folders are mapped into coach.data):
    a new subpackage that is not listed would be missing from the wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "coach").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found <= listed, f"add to pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
    for data in ("coach.data.rules", "coach.data.ui", "coach.data.models"):
        assert data in listed


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_scores_the_sample(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = dist.glob("coach-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), str(wheel)],
        capture_output=True, text=True, timeout=1200,
    )
    assert install.returncode == 0, install.stderr[-2000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sample = elsewhere / "call.wav"
    sample.write_bytes((ROOT / "samples" / "demo_call.wav").read_bytes())
    coach = [str(env_dir / "bin" / "coach")]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COACH_RULES_DIR",
                                                            "COACH_UI_DIR", "COACH_MODELS_MANIFEST")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*coach, *args], cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=900)

    where = subprocess.run([str(py), "-c", "import coach.paths as p; print(p.rules_root())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True)
    assert "site-packages" in where.stdout, where.stdout + where.stderr  # package data, not the checkout
    models = run("models")
    assert models.returncode == 0 and "whisper-base" in models.stdout, models.stderr
    check = run("rules", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    explain = run("rules", "explain", "Не надо на меня кричать!", "--lang", "ru")
    assert explain.returncode == 0 and "ru.forbidden.dont-shout" in explain.stdout, explain.stdout

    scored = run("score", "call.wav", "-o", "out", "--language", "ru", "--quiet")
    assert scored.returncode == 0, scored.stderr
    result = json.loads((elsewhere / "out" / "call.json").read_text(encoding="utf-8"))
    assert result["events"] and result["transcript"]
    umask = os.umask(0)
    os.umask(umask)
    for name in ("call.json", "summary.csv", "report.html"):
        mode = stat.S_IMODE((elsewhere / "out" / name).stat().st_mode)
        assert mode == 0o666 & ~umask, f"{name}: {oct(mode)}"
