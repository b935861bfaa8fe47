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
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

TOP_PAD_BYTES = 64 << 20
M_TOP_PAD = -2  # glibc's malloc.h


def keep_heap_pad(pad_bytes: int = TOP_PAD_BYTES) -> bool:
    """Set glibc's M_TOP_PAD for this process; whether it was set."""
    if not sys.platform.startswith("linux") or "MALLOC_TOP_PAD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_TOP_PAD, pad_bytes))
