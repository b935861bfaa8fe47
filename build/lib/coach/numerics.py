"""One numerical path for CTranslate2, whatever the machine, thread count or engine.

CTranslate2 picks its matrix-multiply backend (Intel MKL on Intel CPUs, oneDNN
elsewhere) and its instruction set (AVX2, AVX-512) from the CPU, and MKL's
kernels also follow the process environment (Ray starts its workers with
OMP_NUM_THREADS=1). Each choice rounds differently, and greedy decoding turns
a rounding difference into a different word ("Сдравствуйте" for
"Здравствуйте"). So the same call scored by the local engine, by `--jobs` and
by a Ray actor could disagree.

Measured on whisper-base int8 over six fixture calls: oneDNN with AVX2 gives
byte-identical transcripts with 1 or 2 threads and with OMP_NUM_THREADS=1;
MKL, and AVX-512, each give other (equally good) text. We therefore pin
oneDNN + AVX2 for CTranslate2 and oneDNN, which every x86-64 CPU of the last
decade runs, at a cost of a few per cent of speed on AVX-512 machines.

`pin()` must run before CTranslate2 is loaded; `coach/__init__.py` calls it, so
every entry point (the CLI, a `--jobs` worker, a Ray actor) is pinned. A user
who sets one of these variables on purpose keeps it: `profile()` records the
values in effect, and the resume fingerprint includes them, so a result is
never reused across numerical paths. The thread count is not in the profile:
it does not change results.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import lru_cache
from importlib import metadata

log = logging.getLogger(__name__)

PINNED_ENV = {
    "CT2_USE_MKL": "0",  # oneDNN on every vendor: MKL's path depends on threads and environment
    "CT2_FORCE_CPU_ISA": "AVX2",  # CTranslate2's own kernels (softmax, layer norm, ...)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN's GEMM kernels
}


def pin() -> None:
    """Set the pinned variables unless the user already chose a value."""
    if "ctranslate2" in sys.modules and any(k not in os.environ for k in PINNED_ENV):
        log.warning("ctranslate2 was imported before coach: its numerical path is not pinned, "
                    "so results may depend on the machine")
    for key, value in PINNED_ENV.items():
        os.environ.setdefault(key, value)


@lru_cache(maxsize=1)
def profile() -> dict[str, str]:
    """What decides the numbers besides the model and options: for fingerprints and results."""
    out = {key: os.environ.get(key, "") for key in PINNED_ENV}
    for package in ("ctranslate2", "faster-whisper", "onnxruntime"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = ""
    return out
