"""Process-wide CPU allocator setting for training with large per-call buffers.

PyTorch's CPU tensors come from glibc's malloc. Buffers above its mmap threshold (128 KiB at start, raised
dynamically up to 32 MiB) are mapped fresh on every allocation and unmapped on free, and memory freed at the
top of the heap is given back to the OS past the trim threshold. Every fresh page is then zero-filled by the
kernel on first touch. An LSTM's forward keeps (T, B, 4H) buffers for backward (13 MB each at B=32, T=100,
H=256); whether they are reused or freshly mapped on each step depends on the heap's history, so the same
forward is fast in one process and slow in another (measured in docs/BENCHMARKS.md and docs/PERFORMANCE.md).
Fixing both thresholds removes the slow case.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1  # <malloc.h>
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest accepted value (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 2**31 - 1  # mallopt takes an int


def keep_freed_memory(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Ask glibc to serve allocations below ``mmap_threshold`` bytes from its heap and to keep up to
    ``trim_threshold`` bytes of freed heap memory instead of returning it to the OS, so that large tensors
    allocated and freed on every training step reuse already-mapped pages.

    Call it once at program start (``scripts/train.py`` does, see ``extras.keep_freed_memory``); it affects
    later allocations of the whole process. The cost: the process's resident memory stays near its peak.
    Returns whether the setting was applied: ``False`` (and nothing changes) off Linux/glibc.
    Hand-written because no maintained package exposes ``mallopt``; it is one ctypes call per setting.
    """
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= TRIM_THRESHOLD:
            raise ValueError(f"{name}: expected an int in [0, {TRIM_THRESHOLD}], got {value!r}")
    if mmap_threshold > MMAP_THRESHOLD:
        raise ValueError(f"mmap_threshold: glibc accepts at most {MMAP_THRESHOLD} bytes, got {mmap_threshold}")
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
