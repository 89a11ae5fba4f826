"""How compile time grows with the size of a graph: the chain ``e = sin(e)*0.5 + e*c_i`` of depth N
and its gradient (value and gradient of one scalar), issue 19's measure of the extremes of size.

Each depth runs in a fresh process with an empty cache; the columns are the time to build the graph
and ``T.grad``, ``theano.function`` (rewrites, lowering, printing), and the first call (Numba
compiling the program). A time that grows faster than the depth is a superlinear step. Prints a
Markdown table; run it from the repository root: ``python benchmarks/graph_size.py [depth ...]``.
"""

from __future__ import annotations

import sys
import tempfile

from harness import load_average, markdown_table, run_fresh

CHILD = r"""
import json, sys, time
import numpy as np
import symgrad as theano, symgrad.tensor as T
depth = int(sys.argv[1]) if len(sys.argv) > 1 else DEPTH
x = T.dscalar("x")
rng = np.random.default_rng(0)
start = time.perf_counter()
e = x
for _ in range(depth):
    e = T.sin(e) * 0.5 + e * float(rng.uniform(0.5, 1.0))
g = T.grad(e, x)
built = time.perf_counter()
f = theano.function([x], [e, g])
compiled = time.perf_counter()
f(0.3)
called = time.perf_counter()
print(json.dumps({"graph": built - start, "function": compiled - built, "first_call": called - compiled}))
"""


def main(depths: list[int]) -> None:
    rows = []
    for depth in depths:
        with tempfile.TemporaryDirectory() as cache:
            t = run_fresh(CHILD.replace("DEPTH", str(depth)), {"SYMGRAD_CACHE_DIR": cache})
        per_op = (t["function"] + t["first_call"]) / depth * 1000
        rows.append([str(depth), *(f"{t[k]:.2f} s" for k in ("graph", "function", "first_call")), f"{per_op:.0f} ms"])
    print(f"load average: {load_average()}\n")
    headers = ["depth", "graph + grad", "theano.function", "first call", "compile per level"]
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [50, 100, 200, 400])
