"""Keeping freed memory for the next file, in processes that decode one image after another.

glibc gives the top of its heap back to the kernel once more than a threshold of it is free,
and takes it again a moment later for the next picture: every page of it faulted in and
cleared anew. For an import worker on 512 px files that was about 600 page faults and 1 ms of
system time per file (bench/imports.py). Raising the thresholds keeps the memory in the
process; it is bounded by the largest picture's working set, and larger blocks than
``MMAP_THRESHOLD`` still come from and go back to the kernel on their own.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 64 << 20
MMAP_THRESHOLD = 32 << 20


def keep_freed_memory() -> bool:
    """Raise this process's heap thresholds; False where the C library has no ``mallopt``."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
