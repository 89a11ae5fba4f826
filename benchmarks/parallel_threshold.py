"""Where threads start to pay: the measurement behind ``theano.config.parallel_threshold``.

Run from the repository root::

    python benchmarks/parallel_threshold.py            # about a minute on 2 cores
    python benchmarks/parallel_threshold.py --quick    # smoke run

symgrad compiles each fused loop twice, serial and ``prange``, and picks the parallel one when the
loop's elements times its estimated work per element (``Kernel.cost``: 1 per arithmetic operation,
10 per call of a function such as ``exp``) reach ``config.parallel_threshold`` work units. For three
loops of different cost (``x + y``; ``exp(x)*sin(y)``; W1's expression) this times both kernels of
the compiled module directly, over sizes from 1,000 to 1,000,000 elements, and reports the
smallest size at which the parallel kernel is faster, in elements and in work units. The threshold
should sit near those work units. On a loaded machine the parallel kernels wait for a free core,
which moves the break-even up: read the load average printed with the table.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout this file lives in
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Report, Settings, cpu_model, load_average, markdown_table, time_interleaved  # noqa: E402

import symgrad as theano  # noqa: E402
import symgrad.tensor as T  # noqa: E402

LOOPS = {
    "x + y": lambda x, y: x + y,
    "exp(x)*sin(y)": lambda x, y: T.exp(x) * T.sin(y),
    "W1: exp(-x**2/2)*sin(3*x) + log1p(y**2)*tanh(x*y)": lambda x, y: (
        T.exp(-(x**2) / 2) * T.sin(3 * x) + T.log1p(y**2) * T.tanh(x * y)
    ),
}


def kernels(build) -> tuple[object, object, int]:
    """The serial and parallel kernel of the one loop ``build`` compiles to, and its cost."""
    x, y = T.dvectors("x", "y")
    f = theano.function([x, y], build(x, y))
    module = f._module
    (name,) = [n for n in vars(module) if re.fullmatch(r"k\d+_\w+", n) and not n.endswith("_parallel")
               and not n.isupper()]  # fmt: skip
    cost = int(re.search(r"PARALLEL_THRESHOLD // (\d+)\)", f.source).group(1))
    return getattr(module, name), getattr(module, name + "_parallel"), cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few sizes and rounds")
    quick = parser.parse_args().quick
    settings = Settings.make(quick)
    report = Report()
    sizes = [1000, 10_000, 100_000] if quick else [1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 1_000_000]
    print(f"machine: {cpu_model()}; threshold now {theano.config.parallel_threshold:,} work units")
    print(f"load average at start: {load_average()}\n")
    rows = []
    for label, build in LOOPS.items():
        serial, parallel, cost = kernels(build)
        times = []
        even = None
        for n in sizes:
            rng = np.random.default_rng(0)
            x, y = rng.uniform(-2, 2, n), rng.uniform(-2, 2, n)
            calls = {"serial": lambda k=serial, a=x, b=y: k(a, b), "parallel": lambda k=parallel, a=x, b=y: k(a, b)}
            cells = time_interleaved(calls, settings, report, label)
            times.append(f"{n:,}: {cells['serial'] * 1e6:.3g} / {cells['parallel'] * 1e6:.3g}")
            if even is None and cells["parallel"] < cells["serial"]:
                even = n
        where = f"{even:,} elements, {even * cost:,} units" if even else f"above {sizes[-1]:,} elements"
        rows.append([f"`{label}`", str(cost), where, "; ".join(times)])
    print(markdown_table(["loop", "cost per element", "parallel faster from", "µs serial / parallel by size"], rows))
    print(f"\nload average at end: {load_average()}")
    for note in report.notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
