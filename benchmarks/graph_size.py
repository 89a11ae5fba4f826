"""How compile time grows with the size of a graph: issue 19's extremes of size.

Cases (``n`` is the size asked for; each builds about ``n`` graph nodes before differentiation):

- ``chain``: ``e = sin(e)*0.5 + e*c_i`` of depth n/4 on one scalar, value and gradient;
- ``wide``: a sum of n/3 terms ``sin(x*c_i)``, value and gradient;
- ``inputs``: a sum of squares of n/2 vector inputs, value and gradient with respect to each;
- ``outputs``: n/2 outputs ``tanh(x + c_k)`` of one matrix;
- ``rank6``: n/6 terms ``exp(x*c_i)`` summed, of a rank-6 tensor, value and gradient;
- ``mlp``: a tanh network of n/4 layers (dot, add bias, tanh, the next layer), its cost and the
  gradient with respect to every weight: a gradient of depth n/4.

Each case and size runs in a fresh process with an empty cache; the columns are the graph nodes
(the outputs' whole graph, gradients included), the time to build the graph and its gradient,
``theano.function`` (rewrites, lowering, printing), and the first call (Numba compiling the
program). The last column, milliseconds per node, is flat where compile time is linear in the size.
Prints a Markdown table; run it from the repository root:
``python benchmarks/graph_size.py [case:size ...]`` (default: every case at 400, 800 and 1600).
"""

from __future__ import annotations

import sys
import tempfile

from harness import load_average, markdown_table, run_fresh

CASES = ("chain", "wide", "inputs", "outputs", "rank6", "mlp")

CHILD = r"""
import json, time
import numpy as np
import symgrad as theano, symgrad.tensor as T
from symgrad.graph import toposort
case, n = CASE, SIZE
rng = np.random.default_rng(0)
start = time.perf_counter()
if case == "chain":
    x = T.dscalar("x")
    e = x
    for _ in range(n // 4):
        e = T.sin(e) * 0.5 + e * float(rng.uniform(0.5, 1.0))
    inputs, outputs, args = [x], [e, T.grad(e, x)], [0.3]
elif case == "wide":
    x = T.dscalar("x")
    e = T.sin(x)
    for _ in range(n // 3):
        e = e + T.sin(x * float(rng.uniform(0.5, 1.0)))
    inputs, outputs, args = [x], [e, T.grad(e, x)], [0.3]
elif case == "inputs":
    inputs = [T.dvector(f"x{i}") for i in range(n // 2)]
    cost = sum(T.sum(x**2) for x in inputs)
    outputs, args = [cost, *T.grad(cost, inputs)], [np.ones(3)] * len(inputs)
elif case == "outputs":
    x = T.dmatrix("x")
    inputs, outputs, args = [x], [T.tanh(x + float(c)) for c in rng.uniform(-1, 1, n // 2)], [np.ones((3, 4))]
elif case == "rank6":
    x = T.tensor("float64", (None,) * 6, name="x")
    e = T.sum(T.exp(x))
    for _ in range(n // 6):
        e = e + T.sum(T.exp(x * float(rng.uniform(0.5, 1.0))))
    inputs, outputs, args = [x], [e, T.grad(e, x)], [np.full((2, 1, 3, 1, 2, 2), 0.1)]
elif case == "mlp":
    x = T.dmatrix("x")
    ws = [T.dmatrix(f"w{i}") for i in range(n // 4)]
    bs = [T.dvector(f"b{i}") for i in range(n // 4)]
    h = x
    for w, b in zip(ws, bs):
        h = T.tanh(T.dot(h, w) + b)
    cost = T.sum(h**2)
    inputs, outputs = [x, *ws, *bs], [cost, *T.grad(cost, ws + bs)]
    args = [np.ones((2, 3))] + [np.eye(3) * 0.5] * len(ws) + [np.zeros(3)] * len(bs)
nodes = len(toposort(outputs))
built = time.perf_counter()
f = theano.function(inputs, outputs)
compiled = time.perf_counter()
result = f(*args)
called = time.perf_counter()
assert all(np.all(np.isfinite(r)) for r in result)
times = {"graph": built - start, "function": compiled - built, "first_call": called - compiled}
print(json.dumps({"nodes": nodes, **times}))
"""


def measure(case: str, size: int) -> dict[str, float]:
    """The times of one case at one size, in a fresh process with an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        code = CHILD.replace("CASE", repr(case)).replace("SIZE", str(size))
        return run_fresh(code, {"SYMGRAD_CACHE_DIR": cache})


def main(runs: list[tuple[str, int]]) -> None:
    rows = []
    for case, size in runs:
        t = measure(case, size)
        per_node = (t["function"] + t["first_call"]) / t["nodes"] * 1000
        times = (f"{t[k]:.2f} s" for k in ("graph", "function", "first_call"))
        rows.append([case, str(size), str(t["nodes"]), *times, f"{per_node:.1f} ms"])
        print(rows[-1], file=sys.stderr, flush=True)
    print(f"load average: {load_average()}\n")
    headers = ["case", "n", "graph nodes", "graph + grad", "theano.function", "first call", "compile per node"]
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    asked = [(a.split(":")[0], int(a.split(":")[1])) for a in sys.argv[1:]]
    main(asked or [(case, n) for case in CASES for n in (400, 800, 1600)])
