"""The numerical path is pinned in every process that imports coach (coach.numerics).

Each check runs in a fresh interpreter, as a CLI run, a `--jobs` worker or a
Ray actor starts: what is pinned must hold whatever the environment says
(Ray's workers run with OMP_NUM_THREADS=1) and whatever was imported first.
The end-to-end proof (local, `--jobs 2` and Ray give identical results on real
calls) is tests/test_ray_engine.py.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

X86 = platform.machine().lower() in ("x86_64", "amd64")
PROBE = (
    "import json, logging, threadpoolctl\n"
    "logging.basicConfig(level=logging.WARNING)\n"
    "{first}\n"
    "import coach, numpy\n"
    "from coach import numerics\n"
    "blas = [i for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas']\n"
    "print(json.dumps({{'blas': blas, 'profile': numerics.profile()}}))\n"
)


def probe(first: str = "", **env: str) -> tuple[dict, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("OPENBLAS_", "NPY_", "CT2_", "ONEDNN_", "OMP_"))}
    proc = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], capture_output=True,
                          text=True, env={**clean, **env}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


@pytest.mark.skipif(not X86, reason="the BLAS and numpy pins are for x86-64")
@pytest.mark.parametrize("env", [{}, {"OMP_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": "2"}])
def test_blas_runs_one_thread_and_the_avx2_kernel_whatever_the_environment(env):
    got, stderr = probe(**env)
    assert [b["num_threads"] for b in got["blas"]] == [1]
    assert got["blas"][0]["architecture"] == "Haswell"
    assert got["profile"]["OPENBLAS_NUM_THREADS"] == "1"
    assert "X86_V4" in got["profile"]["NPY_DISABLE_CPU_FEATURES"]
    assert "imported before coach" not in stderr


@pytest.mark.skipif(not X86, reason="the BLAS and numpy pins are for x86-64")
def test_numpy_imported_first_still_gets_one_blas_thread_and_a_warning():
    got, stderr = probe(first="import numpy")
    assert [b["num_threads"] for b in got["blas"]] == [1]  # threadpoolctl, at run time
    assert "numpy was imported before coach" in stderr


def test_a_value_the_user_chose_is_kept_and_goes_into_the_fingerprint():
    got, _ = probe(CT2_FORCE_CPU_ISA="GENERIC", OPENBLAS_NUM_THREADS="2")
    assert got["profile"]["CT2_FORCE_CPU_ISA"] == "GENERIC"  # coach.checks puts it in the fingerprint
    if X86:
        assert [b["num_threads"] for b in got["blas"]] == [2]
        assert got["profile"]["OPENBLAS_NUM_THREADS"] == "2"
