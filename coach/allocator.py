"""Keep freed memory in the process instead of handing it back to the kernel after every op.

CTranslate2 allocates each layer's output afresh on the CPU and frees it right after;
glibc's malloc then trims the top of the heap back to the kernel, and the next op faults the
same pages in again. Scoring a 40 s mono call took 1.5 million page faults and 5 s of
kernel time on 2 cores (a quarter of the CPU). Asking malloc to keep `TOP_PAD_BYTES` of slack
at the heap's top when it grows or trims (glibc's M_TOP_PAD) cut the faults to 0.66 million,
kernel time to 2.2 s and the call's scoring time from 13.0 to 9.9 s, for about 125 MB more
resident memory (measured 2026-12-01, `bench/batch_throughput.py` reports the ratio).

Speed and memory only: no number the model computes changes. A user who sets glibc's own
MALLOC_TOP_PAD_ keeps it; other C libraries (musl, macOS) are left alone.

Live sessions also cap glibc's arenas (`limit_arenas`): each thread that decodes gets an arena
of its own, and with the pad each keeps tens of MB it no longer uses. With live's two decoding
replicas, 40 fixture calls back to back grew 100 MB after warm-up (issue target: under 100) and
ended 70 MB above a run with one arena; capped at one: 88 MB, the end 13 MB above warm-up, peak
RSS of the 13-call latency run 569 -> 455 MB, hint latency unchanged (p50 0.97 / 1.02 s). Batch
keeps glibc's default: one arena made the two mono calls measured 5-10 % slower (more kernel
time), and a batch process ends with its call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

TOP_PAD_BYTES = 64 << 20
M_TOP_PAD = -2  # glibc's malloc.h
M_ARENA_MAX = -8


def keep_heap_pad(pad_bytes: int = TOP_PAD_BYTES) -> bool:
    """Set glibc's M_TOP_PAD for this process; whether it was set."""
    return _mallopt(M_TOP_PAD, pad_bytes, "MALLOC_TOP_PAD_")


def limit_arenas(arenas: int = 1) -> bool:
    """Cap glibc's malloc arenas for this process (M_ARENA_MAX); whether it was set. Arenas
    already made stay, so call it before the threads that allocate start. A user's own
    MALLOC_ARENA_MAX wins."""
    return _mallopt(M_ARENA_MAX, arenas, "MALLOC_ARENA_MAX")


def _mallopt(param: int, value: int, user_env: str) -> bool:
    """glibc's mallopt, unless the user set the same thing in `user_env` or the C library is
    not glibc."""
    if not sys.platform.startswith("linux") or user_env in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(param, value))
