"""Counter-based random draws against NumPy's generator (issue 15's target: >= 1.0x NumPy's
``Generator.normal`` for 1e7 float64 normals).

Run from the repository root::

    python benchmarks/random_draws.py            # n = 1e6 and 1e7, about a minute on 2 cores
    python benchmarks/random_draws.py --quick    # smoke run, n = 1e5

Times, per call, a compiled ``theano.function([], srng.normal((n,)))`` (and ``uniform``), whose
Philox4x32-10 draws fill the result inside the program (on threads from 2^20 elements), against
NumPy's ``Generator.normal`` (ziggurat on PCG64) and ``Generator.random``, each writing a fresh
array as the compiled function does. symgrad's call includes its state update. The ratio column is
NumPy's time over symgrad's: above 1, symgrad is faster. At 1e7 the compiled call also pays for
fresh pages: an 80 MB result is above the 32 MiB that glibc's malloc can be told to keep for the
next call (``codegen/memory.py``); the fill asks the kernel for huge pages under it first, as
NumPy's allocator does for its own result. Also times the fill loops alone, serial and on threads
(always both cores, where a compiled call on threads takes only the free ones), to show what the
threads add. Timings interleave the contenders; on a loaded machine, read the load averages
printed with the table.

Results (AMD EPYC, 2 cores, 1-minute load average 3.5-6.5 from other processes; two runs of each,
alternating; benchmarks/RESULTS.md has the tables). 1e7 normals, NumPy's time over symgrad's
call: 1.98x and 1.74x before (119.6 and 109.4 ms a call, 54-66 ms of it 4 KiB page faults), 3.21x
and 2.85x after huge pages and a cheaper logarithm (59.7 and 73.9 ms); 1e7 uniforms 0.90x and
0.64x before, 1.39x and 1.76x after. The serial normal fill, 1e5 elements in cache: 3.05 ns per element
of CPU time before, 2.63 after (uniform: 0.98).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout this file lives in
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Report, Settings, cpu_model, load_average, markdown_table, time_interleaved  # noqa: E402

import symgrad as theano  # noqa: E402
from codegen.cpu_steps import random_fill, random_fill_parallel  # noqa: E402
from codegen.runtime import RANDOM_KINDS  # noqa: E402
from symgrad.tensor.shared_randomstreams import RandomStreams  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 1e5 and few rounds")
    quick = parser.parse_args().quick
    settings = Settings.make(quick)
    report = Report()
    sizes = [100_000] if quick else [1_000_000, 10_000_000]
    print(f"machine: {cpu_model()}; float64; NumPy {np.__version__}")
    print(f"load average at start: {load_average()}\n")
    srng = RandomStreams(seed=1)
    generator = np.random.default_rng(1)
    rows = []
    cases = [(n, d, call) for n in sizes for d, call in (("normal", generator.normal), ("uniform", generator.random))]
    for n, distribution, numpy_call in cases:
        draw = theano.function([], getattr(srng, distribution)((n,), dtype="float64"))
        draw()  # compiles
        out, state = np.empty(n), np.array([12345, 0], dtype=np.uint64)
        kind = RANDOM_KINDS[distribution, "float64"]
        calls = {
            "numpy": lambda call=numpy_call, n=n: call(size=n),
            "symgrad": draw,
            "fill, serial": lambda out=out, state=state, kind=kind: random_fill(out, state, kind),
            "fill, threads": lambda out=out, state=state, kind=kind: random_fill_parallel(out, state, kind),
        }
        cells = time_interleaved(calls, settings, report, distribution)
        base = cells["numpy"]
        for name, seconds in cells.items():
            if name == "numpy":
                continue
            ratio = f"{base / seconds:.2f}x" if isinstance(seconds, float) else "error"
            rows.append([f"{n:.0e}", distribution, name, f"{seconds * 1e3:.2f}", f"{base * 1e3:.2f}", ratio])
    print(markdown_table(["n", "draw", "symgrad", "ms", "NumPy ms", "NumPy / symgrad"], rows))
    print(f"\nload average at end: {load_average()}")
    for note in report.notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
