"""Hand freed memory back to the system, so a long call's peak RSS is what it really uses.

glibc serves allocations above its mmap threshold with their own mappings,
returned on free; but after such a block is freed it raises the threshold
(up to 32 MB), and from then on blocks that large come from the heap, which
keeps freed memory. Transcription allocates and frees many 1-30 MB blocks
(mel features, encoder outputs, VAD pieces, CTranslate2's working memory),
so a 6-minute call left 150 MB of freed memory in the heap and raised its
peak RSS from 620 to 750 MB. A fixed 1 MB threshold keeps the peak at the
live data; the cost, fresh pages for each large block, did not show in the
throughput benchmark. Only glibc has `mallopt`; elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 1 << 20


def return_large_frees(threshold: int = MMAP_THRESHOLD) -> bool:
    """Serve (and so return on free) every block of `threshold` bytes or more with its own
    mapping. Returns False where the C library has no `mallopt` (not glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError) as exc:
        log.debug("mallopt unavailable: %s", exc)
        return False
