"""A tiny real file system (tmpfs) to fill up, for the disk-full tests.

Mounting needs root (CAP_SYS_ADMIN); elsewhere the tests that use it skip
with the reason. The mount is always taken down, even when a test fails.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tiny_disk(where: Path, size_kib: int = 512) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path, leave_bytes: int = 0) -> Path:
    """Fill `folder`'s file system up to `leave_bytes` free; returns the filler file."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as fh:
        chunk = b"\0" * 4096
        try:
            while os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize > leave_bytes + 4096:
                fh.write(chunk)
                fh.flush()
        except OSError:
            pass
    return filler
