"""Memory leaks: does the resident set size (RSS) stay bounded under long use?

Run from the repository root::

    python benchmarks/leaks.py            # 1e6 calls per function, 1000 distinct compiled functions
    python benchmarks/leaks.py --quick    # smoke run: 2e4 calls, 20 functions

Three phases, each reporting RSS (``VmRSS`` of ``/proc/self/status``) as it goes:

calls      One compiled function (a fused elementwise expression and a sum over a 100-element
           vector) called N times; then a training step with shared-variable updates (its calls
           take a lock) called N times; then N/10 calls with a bad argument, each raising. RSS is
           read after a warm-up of 1% of the calls, then at every tenth; the growth after warm-up
           must stay under 2 MiB per phase.
compiles   M distinct small functions (each a new content key: a new module on disk, new Numba
           machine code), ``[sum(exp(x)*c1) + k, tanh(x)*c2]`` with constants depending on k, each
           called once and kept alive: RSS and malloc'd memory (glibc's ``mallinfo2``: bytes in use,
           a better witness than RSS, since symgrad asks glibc to keep freed memory, see
           codegen/memory.py) per function. It grows with M: Numba's JIT engine never frees machine
           code. The check is that the cost per function stays flat (the last tenth of the
           compiles costs at most twice the per-function average of the first half).
drop       The M functions are dropped and the garbage collector run: how many of their modules
           were collected, and the memory freed per function (reported, not asserted).
warm       A second process compiles the same M functions, now in the disk cache, and drops them:
           the same figures (``--warm`` runs only this phase).

The cache directory is a temporary one, removed at the end. Exit status 1 if a bound is exceeded.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Measure the checkout this file lives in, not some other installed symgrad.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MIB = 2**20
CALL_GROWTH_LIMIT = 2 * MIB


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]  # fmt: skip


def malloced() -> int | None:
    """Bytes malloc has handed out and not had back (glibc 2.33 or later), after a collection; else None."""
    gc.collect()
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd


def kib_each(before: int | None, after: int | None, n: int) -> str:
    return "n/a" if before is None or after is None else f"{(after - before) / n / 1024:.0f} KiB"


def rss() -> int:
    """The resident set size of this process, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def repeat_calls(label: str, call, n: int) -> bool:
    """Call ``call()`` n times; report RSS after warm-up and at each tenth; True if bounded."""
    warm = max(1, n // 100)
    for _ in range(warm):
        call()
    gc.collect()
    start, samples, began = rss(), [], time.perf_counter()
    for _tenth in range(10):
        for _ in range((n - warm) // 10):
            call()
        samples.append(rss())
    elapsed = time.perf_counter() - began
    growth = max(samples) - start
    ok = growth < CALL_GROWTH_LIMIT
    print(f"{label}: {n} calls in {elapsed:.1f} s ({elapsed / (n - warm) * 1e6:.2f} us each); RSS {mib(start)} "
          f"after warm-up, {mib(samples[-1])} at the end, largest growth {mib(growth)} "
          f"({'bounded' if ok else 'TOO MUCH'}: limit {mib(CALL_GROWTH_LIMIT)})")  # fmt: skip
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls per function (default 1e6)")
    parser.add_argument("--functions", type=int, default=1000, help="distinct functions to compile (default 1000)")
    parser.add_argument("--quick", action="store_true", help="2e4 calls and 20 functions")
    parser.add_argument("--warm", action="store_true", help="only the warm phase, in the cache directory set")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.functions = 20_000, 20
    if args.warm:
        compile_and_drop("warm", args.functions)
        return 0
    directory = tempfile.mkdtemp(prefix="symgrad-leaks-")
    os.environ["SYMGRAD_CACHE_DIR"] = directory
    try:
        ok = run(args.calls, args.functions)
        warm = subprocess.run([sys.executable, __file__, "--warm", "--functions", str(args.functions)])
        ok &= warm.returncode == 0
        print("result: " + ("bounded" if ok else "UNBOUNDED GROWTH"))
        return 0 if ok else 1
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def compile_and_drop(label: str, functions: int) -> bool:
    """Compile ``functions`` distinct functions, call each once, drop them; report the memory per
    function at each step. True if the cost per function stayed flat."""
    import numpy as np

    import symgrad as theano
    import symgrad.tensor as T

    x, value = T.dvector("x"), np.linspace(-1.0, 1.0, 100)

    def compiled(k: int):
        return theano.function([x], [T.sum(T.exp(x) * (k + 1.5)) + k, T.tanh(x) * (k + 2.5)])

    compiled(-1)(value)  # what the first function of a process costs once, outside the figures
    gc.collect()
    before, heap, kept, began = rss(), malloced(), [], time.perf_counter()
    marks = []
    for k in range(functions):
        g = compiled(k)
        g(value)
        kept.append(g)
        marks.append(rss())
    elapsed = time.perf_counter() - began
    grown, heap_grown = marks[-1] - before, malloced()
    first_half = (marks[functions // 2 - 1] - before) / (functions // 2)
    last_tenth = (marks[-1] - marks[-functions // 10 - 1]) / (functions // 10)
    flat = last_tenth <= 2 * max(first_half, 1)
    print(f"{label}: {functions} distinct functions in {elapsed:.1f} s; RSS {mib(before)} -> {mib(marks[-1])}, "
          f"{grown / functions / 1024:.0f} KiB per function (first half {first_half / 1024:.0f} KiB, last tenth "
          f"{last_tenth / 1024:.0f} KiB: {'flat' if flat else 'GROWING'}); malloc'd "
          f"{kib_each(heap, heap_grown, functions)} per function")  # fmt: skip

    modules = [weakref.ref(g._module) for g in kept]
    kept.clear()
    del g
    heap_dropped = malloced()
    collected = sum(module() is None for module in modules)
    print(f"{label} drop: {collected} of {functions} modules collected; malloc'd memory freed "
          f"{kib_each(heap_dropped, heap_grown, functions)} per function; RSS {mib(rss())} "
          f"({mib(rss() - before)} above the start)")  # fmt: skip
    return flat


def run(calls: int, functions: int) -> bool:
    import numpy as np

    import symgrad as theano
    import symgrad.tensor as T

    print(f"python {sys.version.split()[0]}, RSS at start {mib(rss())}")
    ok = True

    x = T.dvector("x")
    f = theano.function([x], [T.exp(-(x**2)) * T.sin(3 * x) + 1, T.sum(x**2)])
    value = np.linspace(-1.0, 1.0, 100)
    ok &= repeat_calls("plain calls", lambda: f(value), calls)

    w = theano.shared(np.zeros(100), name="w")
    step = theano.function([x], T.sum((w - x) ** 2), updates=[(w, w - 0.01 * (w - x))])
    ok &= repeat_calls("calls with updates", lambda: step(value), calls)

    def bad_call() -> None:
        try:
            f(np.ones((2, 2)))
        except TypeError:
            pass

    ok &= repeat_calls("calls raising an error", bad_call, calls // 10)

    ok &= compile_and_drop("cold", functions)
    return ok


if __name__ == "__main__":
    sys.exit(main())
