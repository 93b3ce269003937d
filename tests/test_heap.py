"""The import workers keep freed memory for the next file instead of faulting it in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

SECOND_ALLOCATION_FAULTS = """
import resource, sys
from kiln.heap import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def touched(size):
    block = bytearray(size)  # zeroed, so every page is written
    return len(block)
touched(20 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touched(20 << 20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's thresholds are glibc's")
def test_a_freed_picture_s_memory_is_used_again_without_page_faults():
    def faults(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", SECOND_ALLOCATION_FAULTS, mode], capture_output=True, text=True,
                              check=True)
        return int(done.stdout)

    pages = (20 << 20) // 4096
    assert faults("default") > pages // 2  # given back to the kernel, then faulted in again
    assert faults("keep") < pages // 20
