"""Freed memory kept for the next call (glibc's malloc told not to hand large blocks back at once),
and huge pages for the large arrays that are fresh memory on every call.

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
false (``SYMGRAD_REUSE_MEMORY=0``); elsewhere than glibc it does nothing. Blocks above the 32 MiB
ceiling still fault page by page on every call: ``advise_huge_pages`` (below) lets a compiled step
ask the kernel for 2 MiB pages under such an array before it writes it, as NumPy does for its own.
"""

from __future__ import annotations

import ctypes
import platform
import sys

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

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


# Transparent huge pages for large arrays, as NumPy's allocator asks for them: a fresh block above
# glibc's mmap ceiling (above) faults on first touch, one fault per 4 KiB page unless the kernel is
# told it may use 2 MiB pages there (``/sys/kernel/mm/transparent_hugepage/enabled`` is commonly
# ``madvise``). Measured here: an 80 MB array made and filled in a compiled function, 50 ms per call,
# 13 ms with the advice (NumPy's own ``np.empty`` and ``fill``: 14 ms).
_MADV_HUGEPAGE = 14  # Linux's value
_PAGE_LOW_BITS = np.uint64(4095)  # of an address inside a 4 KiB page
HUGE_PAGES_FROM = 1 << 22  # bytes: NumPy's threshold


@intrinsic
def _madvise_huge(typingctx, address, length):
    """``madvise(address, length, MADV_HUGEPAGE)``, found by name when the machine code is loaded
    (so a cached function can call it); elsewhere than Linux, nothing (-1, as if refused)."""
    signature = types.intc(types.uintp, types.uintp)

    def codegen(context, builder, sig, args):
        result = ir.IntType(32)
        if not sys.platform.startswith("linux"):
            return result(-1)  # as a refused advice
        word = ir.IntType(64)
        prototype = ir.FunctionType(result, [word, word, result])
        madvise = cgutils.get_or_insert_function(builder.module, prototype, "madvise")
        return builder.call(madvise, [*args, result(_MADV_HUGEPAGE)])

    return signature, codegen


@numba.njit(cache=True, inline="always")
def advise_huge_pages(a):
    """Asks for huge pages under the whole pages of the contiguous array ``a`` if it spans at least
    HUGE_PAGES_FROM bytes (call it before the array's pages are first written); whether the kernel
    took the advice. A hint: nothing but the time of the first writes depends on it."""
    if a.nbytes < HUGE_PAGES_FROM:
        return False
    address = np.uint64(a.ctypes.data)
    start = (address + _PAGE_LOW_BITS) & ~_PAGE_LOW_BITS
    stop = (address + np.uint64(a.nbytes)) & ~_PAGE_LOW_BITS
    return _madvise_huge(start, stop - start) == 0
