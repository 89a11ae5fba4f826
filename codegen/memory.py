"""Freed memory kept for the next call: glibc's malloc told not to hand large blocks back at once.

A compiled function allocates its temporaries and results afresh on every call (Numba's arrays come
from ``malloc``). glibc serves a block of 128 KiB or more (adjusting upwards, at most 32 MiB) with
its own ``mmap`` and unmaps it when it is freed, so the next call's block is fresh memory again, and
every one of its pages faults on first touch: measured here, Rosenbrock's value and gradient at
n = 1e6 (a few 8 MB arrays per call) took 16.9 ms per call, and 5.3 ms once freed blocks were
reused, the same 1.8x of the hand-written loop as the kernels alone. ``keep_freed_memory`` raises
glibc's mmap threshold to its maximum, 32 MiB (larger blocks are still mapped afresh), and its trim
threshold to 1 GiB, so freed blocks stay in the heap for the next call. The price is the process's
own: memory freed is not returned to the system until 1 GiB of it is free at the top of the heap, as
with the caching allocators of PyTorch and JAX.

Done once per process, when the first CPU function is made, unless ``config.reuse_memory`` is
false (``SYMGRAD_REUSE_MEMORY=0``); elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's ceiling on 64-bit systems: mallopt refuses more
_TRIM_THRESHOLD = 1 << 30

_applied: list[bool] = []


def keep_freed_memory() -> bool:
    """Set glibc's thresholds (once per process); whether they are set."""
    if not _applied:
        _applied.append(_set_thresholds())
    return _applied[0]


def _set_thresholds() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mapped = libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
    return bool(mapped and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
