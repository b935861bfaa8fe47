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

The audio features Whisper reads (the log-mel spectrogram) are computed with
numpy before CTranslate2 sees anything, and they round by the machine too:
numpy's matrix product goes to OpenBLAS, whose result changed with its thread
count on a 2-core AMD machine (2 threads by default, 1 in a Ray worker, where
OMP_NUM_THREADS=1: "У меня не работает" became "У меня они работают" on a
fixture call, and local and Ray disagreed), and whose kernel is picked per CPU
(Haswell on AVX2 machines, SkylakeX on AVX-512 ones); numpy's own loops also
dispatch to AVX-512 where the CPU has it. So on x86-64 OpenBLAS is pinned to
one thread and its Haswell (AVX2) kernel, and numpy's AVX-512 loops are
switched off: the AVX2 path again. The thread count is pinned at run time as
well (threadpoolctl), for a process that imported numpy before coach; the
kernel and numpy's loops can only be chosen before numpy is loaded, so such a
process is warned.

Not pinned yet (2026-12-05): the same commit streamed a fixture's opening as "thank you for
calling" on the CI machine of 2026-12-04 and as "thank you for call until they come" on the
machines of 2026-12-05 (Intel Xeon, 2 MiB L2 a core), with every variable above in effect.
oneDNN runs the encoder's two Conv1D layers as a brgemm convolution ("brgconv:avx2" under
ONEDNN_VERBOSE=1), whose blocking, and so its summation order, is chosen from the cache sizes:
the likeliest remaining machine dependence, with no switch to pin it. Tests that read Whisper's
wording therefore check what the test is about (the language, the key words), not a whole line.

`pin()` must run before CTranslate2 and numpy are loaded; `coach/__init__.py`
calls it, so every entry point (the CLI, a `--jobs` worker, a Ray actor) is pinned. A user
who sets one of these variables on purpose keeps it: `profile()` records the
values in effect, and the resume fingerprint includes them, so a result is
never reused across numerical paths. CTranslate2's thread count is not in the
profile: it does not change results (OpenBLAS's does, so it is pinned and in it).
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from functools import lru_cache
from importlib import metadata

log = logging.getLogger(__name__)

PINNED_ENV = {
    "CT2_USE_MKL": "0",  # oneDNN on every vendor: MKL's path depends on threads and environment
    "CT2_FORCE_CPU_ISA": "AVX2",  # CTranslate2's own kernels (softmax, layer norm, ...)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN's GEMM kernels
}


# numpy's side of the features (x86-64 only: other CPUs have other kernels and loops).
NUMPY_ENV = {
    "OPENBLAS_NUM_THREADS": "1",  # read before OMP_NUM_THREADS, which Ray sets to 1 in its workers
    "OPENBLAS_CORETYPE": "Haswell",  # the AVX2 kernel, also on AVX-512 CPUs
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's AVX-512 loops
}
if platform.machine().lower() in ("x86_64", "amd64"):
    PINNED_ENV.update(NUMPY_ENV)


def pin() -> None:
    """Set the pinned variables unless the user already chose a value."""
    for module in ("ctranslate2", "numpy"):
        if module in sys.modules and any(k not in os.environ for k in PINNED_ENV):
            log.warning("%s was imported before coach: its numerical path is not pinned, "
                        "so results may depend on the machine", module)
    for key, value in PINNED_ENV.items():
        os.environ.setdefault(key, value)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "")
    if "numpy" in sys.modules and "OPENBLAS_NUM_THREADS" in PINNED_ENV and threads.isdigit():
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(threads), user_api="blas")


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
