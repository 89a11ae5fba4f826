"""Where a cold compile's time goes, phase by phase, for five functions users compile.

Each workload runs in a fresh process with an empty cache, under ``cProfile``; the phases are the
cumulative times of the functions that do them:

- *import*: ``import symgrad`` (SymPy loads later, with the first expression);
- *graph + grad*: building the expression and ``T.grad``/``T.hessian_vector_product`` (SymPy's
  import, its ``diff`` of each elementwise op);
- *rewrites*: ``symgrad.rewrite.optimize``;
- *lowering*: ``codegen.lower.lower`` (fusion, SymPy substitution);
- *printing*: ``ModulePrinter.emit`` (SymPy's CSE and code printing of the kernels);
- *Numba, all*: everything Numba does at the first call (``Dispatcher._compile_for_args``), of which:
- *Numba typing*: the type inference passes of every kernel Numba compiles;
- *Numba lowering*: Numba's lowering of typed IR to LLVM IR;
- *LLVM*: LLVM's optimization and code generation (``CodeLibrary.finalize``);
- *total*: from before the graph is built to the end of the first call (import excluded), profiled.

cProfile slows the Python parts (SymPy most), so the phases are a share of the profiled total, and
compile times measured without it (``examples/spiral.py``'s ``compile:`` line) are lower.
Prints a Markdown table; run it from the repository root: ``python benchmarks/compile_phases.py``
(``--only rnn`` for some of the workloads).
"""

from __future__ import annotations

import argparse
import tempfile

from harness import load_average, markdown_table, run_fresh

CHILD = r"""
import cProfile, json, pstats, sys, time
start = time.perf_counter()
import numpy as np
import symgrad as theano
import symgrad.tensor as T
imported = time.perf_counter()

def spiral():
    x, onehot = T.dmatrices("x", "onehot")
    w1, w2 = T.dmatrices("w1", "w2")
    b1, b2 = T.dvectors("b1", "b2")
    scores = T.nnet.relu(x @ w1 + b1) @ w2 + b2
    shifted = scores - T.max(scores, axis=1, keepdims=True)
    log_probs = shifted - T.log(T.sum(T.exp(shifted), axis=1, keepdims=True))
    loss = -T.mean(T.sum(log_probs * onehot, axis=1)) + 5e-4 * (T.sum(w1**2) + T.sum(w2**2))
    params = [w1, b1, w2, b2]
    rng = np.random.default_rng(0)
    args = [rng.normal(size=(300, 2)), np.eye(3)[rng.integers(0, 3, 300)], rng.normal(size=(2, 100)),
            np.zeros(100), rng.normal(size=(100, 3)), np.zeros(3)]
    return [x, onehot, *params], [loss, *T.grad(loss, params)], args

def w2():
    x, y, w1, w2 = T.dmatrices("x", "y", "w1", "w2")
    loss = T.sum((T.nnet.relu(x @ w1) @ w2 - y) ** 2)
    rng = np.random.default_rng(0)
    args = [rng.normal(size=s) for s in [(64, 100), (64, 10), (100, 100), (100, 10)]]
    return [x, y, w1, w2], [loss, *T.grad(loss, [w1, w2])], args

def rosenbrock():
    x = T.dvector("x")
    cost = T.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return [x], [cost, T.grad(cost, x)], [np.linspace(-1, 1, 10)]

def hvp():
    x, v = T.dvectors("x", "v")
    cost = T.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return [x, v], T.hessian_vector_product(cost, x, v), [np.linspace(-1, 1, 10), np.ones(10)]

def rnn():
    # benchmarks/bench_scan.py's "rnn grad compile": H = 128, batch 32, float32, two steps of data
    W, U, b, X, h0 = T.fmatrix("W"), T.fmatrix("U"), T.fvector("b"), T.ftensor3("X"), T.fmatrix("h0")
    hs, _ = theano.scan(lambda x, h, W, U, b: T.tanh(T.dot(h, W) + T.dot(x, U) + b),
                        sequences=X, outputs_info=h0, non_sequences=[W, U, b])  # fmt: skip
    loss = (hs[-1] ** 2).sum() + (hs**2).mean()
    rng = np.random.default_rng(0)
    shapes = [(128, 128), (64, 128), (128,), (2, 32, 64), (32, 128)]
    args = [(rng.standard_normal(s) / 10).astype("float32") for s in shapes]
    return [W, U, b, X, h0], [loss, *T.grad(loss, [W, U, b])], args

profile = cProfile.Profile()
profile.enable()
begin = time.perf_counter()
inputs, outputs, args = WORKLOAD()
built = time.perf_counter()
f = theano.function(inputs, outputs)
f(*args)
end = time.perf_counter()
profile.disable()
stats = pstats.Stats(profile).stats

def cumulative(file_part, name):
    return sum(entry[3] for (file, _, function), entry in stats.items() if file_part in file and function == name)

print(json.dumps({
    "import": imported - start,
    "graph + grad": built - begin,
    "rewrites": cumulative("symgrad/rewrite/__init__.py", "optimize"),
    "lowering": cumulative("codegen/lower.py", "lower") - cumulative("codegen/lower.py", "_loop"),
    "printing": cumulative("codegen/module.py", "emit"),
    "Numba, all": cumulative("numba/core/dispatcher.py", "_compile_for_args"),
    "Numba typing": cumulative("numba/core/typed_passes.py", "type_inference_stage"),
    "Numba lowering": cumulative("numba/core/lowering.py", "lower"),
    "LLVM": cumulative("numba/core/codegen.py", "finalize"),
    "total": end - begin,
}))
"""

PHASES = ["import", "graph + grad", "rewrites", "lowering", "printing", "Numba, all", "Numba typing", "Numba lowering",
          "LLVM", "total"]  # fmt: skip
WORKLOADS = {
    "spiral": "spiral net, loss + 4 gradients (examples/spiral.py)",
    "w2": "W2 small: two-layer net, loss + 2 gradients",
    "rosenbrock": "W3: Rosenbrock value + gradient",
    "hvp": "Rosenbrock Hessian-vector product",
    "rnn": "tanh RNN, loss + BPTT gradient wrt W, U, b (bench_scan.py)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    only = parser.parse_args().only
    print(f"load average: {load_average()}")
    rows = []
    for workload, label in WORKLOADS.items():
        if workload not in only:
            continue
        with tempfile.TemporaryDirectory(prefix="symgrad-phases-") as cache:
            phases = run_fresh(CHILD.replace("WORKLOAD", workload), {"SYMGRAD_CACHE_DIR": cache})
        rows.append([label, *(f"{phases[p]:.2f}" for p in PHASES)])
    print("\nSeconds per phase of a cold compile (fresh process, empty cache):\n")
    print(markdown_table(["function", *PHASES], rows))
    print(f"\nload average: {load_average()}")


if __name__ == "__main__":
    main()
