"""Issue 14's targets in one run: per-call times of symgrad beside JAX, PyTensor 3 and hand Numba.

    python benchmarks/targets.py [--quick] [--jax-python PATH] [--pytensor-python PATH]

Each contender runs in a child process of the Python given (default: this one), so that a peer can
live in an environment of its own: PyTensor 3 pins Numba <= 0.65, which symgrad's environment does
not have. The workloads are the same in every child (``WORKLOADS``, below, is the code they run):

- W4: the gradient of ``x**2`` at 4.0, one scalar in and out: the per-call overhead.
- W3: Rosenbrock's value and gradient at n = 10 and n = 1e6.
- HVP: Rosenbrock's Hessian-vector product at n = 1e6.
- W2 small: a two-layer net's loss and four gradients, (64, 100) -> 100 -> 10, float64.

Every workload is timed twice: on a quiet machine, and with another process keeping one core busy
(a Python loop), which is how a shared machine, or a Dask worker beside others, runs it. Times are
medians of 7 rounds, each of enough calls to take 20 ms (2 rounds of 2 ms with ``--quick``); the
children run one after another, so the machine's load may differ between them: the load average is
printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The code each child runs: it builds the contender's functions, checks them against NumPy and
# prints {workload: seconds per call} as JSON.
WORKLOADS = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np

    contender, quick = sys.argv[1], sys.argv[2] == "1"
    rng = np.random.default_rng(0)
    SIZES = {"w3_10": 10, "w3_1e6": 10**6, "hvp_1e6": 10**6}

    def rosen_numpy(x):
        d = x[1:] - x[:-1] ** 2
        g = np.zeros_like(x)
        g[1:] += 200 * d
        g[:-1] += -400 * d * x[:-1] - 2 * (1 - x[:-1])
        return np.sum(100 * d**2 + (1 - x[:-1]) ** 2), g

    net = dict(X=rng.normal(size=(64, 100)), Y=rng.normal(size=(64, 10)), W1=rng.normal(size=(100, 100)) * 0.1,
               b1=np.zeros(100), W2=rng.normal(size=(100, 10)) * 0.1, b2=np.zeros(10))
    build = {}

    def theano_style(function, grad, T):  # the workloads in Theano's API, which symgrad and PyTensor speak
        s = T.dscalar("s")
        f4 = function([s], grad(s**2, s))
        build["w4"] = lambda: f4(4.0)
        x, p = T.dvector("x"), T.dvector("p")
        cost = T.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
        rosen = function([x], [cost, grad(cost, x)])
        hvp = function([x, p], grad(T.sum(grad(cost, x) * p), x))
        X, Y, W1, W2 = T.dmatrices("X", "Y", "W1", "W2")
        b1, b2 = T.dvectors("b1", "b2")
        loss = T.mean(T.sum((T.dot(T.tanh(T.dot(X, W1) + b1), W2) + b2 - Y) ** 2, axis=1))
        return rosen, hvp, function([X, Y, W1, b1, W2, b2], [loss, *grad(loss, [W1, b1, W2, b2])])

    if contender == "symgrad":
        sys.path.insert(0, sys.argv[3])
        import symgrad as theano
        import symgrad.tensor as T

        rosen, hvp, w2 = theano_style(theano.function, T.grad, T)
    elif contender == "hand numba":
        import numba

        @numba.njit(fastmath=True)
        def rosen_fg(x):
            n = x.shape[0]
            g = np.zeros(n)
            f = 0.0
            for i in range(n - 1):
                d = x[i + 1] - x[i] * x[i]
                f += 100 * d * d + (1 - x[i]) ** 2
                g[i] += -400 * d * x[i] - 2 * (1 - x[i])
                g[i + 1] += 200 * d
            return f, g

        @numba.njit(fastmath=True)
        def rosen_hvp(x, p):
            n = x.shape[0]
            h = np.zeros(n)
            for i in range(n - 1):
                h[i] += (1200 * x[i] * x[i] - 400 * x[i + 1] + 2) * p[i] - 400 * x[i] * p[i + 1]
                h[i + 1] += -400 * x[i] * p[i] + 200 * p[i + 1]
            return h

        twice = numba.njit(lambda s: 2.0 * s)
        build["w4"] = lambda: twice(4.0)
        rosen, hvp, w2 = rosen_fg, rosen_hvp, None
    elif contender == "jax":
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        g4 = jax.jit(jax.grad(lambda s: s**2))
        build["w4"] = lambda: g4(4.0).block_until_ready()

        def jcost(x):
            return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

        fg = jax.jit(jax.value_and_grad(jcost))
        hv = jax.jit(lambda x, p: jax.jvp(jax.grad(jcost), (x,), (p,))[1])
        rosen = lambda x: jax.block_until_ready(fg(x))
        hvp = lambda x, p: hv(x, p).block_until_ready()

        def jloss(W1, b1, W2, b2, X, Y):
            return jnp.mean(jnp.sum((jnp.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2, axis=1))

        lg = jax.jit(jax.value_and_grad(jloss, argnums=(0, 1, 2, 3)))
        w2 = lambda X, Y, W1, b1, W2, b2: jax.block_until_ready(lg(W1, b1, W2, b2, X, Y))
    elif contender == "pytensor":
        import pytensor
        import pytensor.tensor as pt

        rosen, hvp, w2 = theano_style(pytensor.function, pytensor.grad, pt)

    for key, n in SIZES.items():
        xv = rng.uniform(-1, 1, n)
        pv = rng.uniform(-1, 1, n)
        if key.startswith("w3"):
            value, grad = rosen(xv)
            ref_value, ref_grad = rosen_numpy(xv)
            assert np.isclose(float(value), ref_value, rtol=1e-9) and np.allclose(np.asarray(grad), ref_grad, rtol=1e-9)
            build[key] = (lambda xv: lambda: rosen(xv))(xv)
        else:
            h = np.asarray(hvp(xv, pv))
            eps = 1e-6
            ref = (rosen_numpy(xv + eps * pv)[1] - rosen_numpy(xv - eps * pv)[1]) / (2 * eps)
            assert np.allclose(h, ref, rtol=1e-5, atol=1e-4)
            build[key] = (lambda xv, pv: lambda: hvp(xv, pv))(xv, pv)
    if w2 is not None:
        args = [net[k] for k in ("X", "Y", "W1", "b1", "W2", "b2")]
        build["w2_small"] = lambda: w2(*args)

    def seconds(call):
        call()
        number = 1
        target = 0.002 if quick else 0.02
        while True:
            start = time.perf_counter()
            for _ in range(number):
                call()
            took = time.perf_counter() - start
            if took >= target:
                break
            number *= 2
        rounds = []
        for _ in range(2 if quick else 7):
            start = time.perf_counter()
            for _ in range(number):
                call()
            rounds.append((time.perf_counter() - start) / number)
        return sorted(rounds)[len(rounds) // 2]

    print(json.dumps({key: seconds(call) for key, call in build.items()}))
    """
)

ROWS = [("w4", "W4 f(4.0) per call", 1e6, "us"), ("w3_10", "W3 Rosenbrock value+grad, n = 10", 1e6, "us"),
        ("w3_1e6", "W3 n = 1e6", 1e3, "ms"), ("hvp_1e6", "HVP n = 1e6", 1e3, "ms"),
        ("w2_small", "W2 small f64 loss + 4 grads", 1e3, "ms")]  # fmt: skip


def run_child(python: str, contender: str, quick: bool, cache: str) -> dict[str, float] | str:
    env = dict(os.environ, SYMGRAD_CACHE_DIR=cache)
    done = subprocess.run([python, "-c", WORKLOADS, contender, "1" if quick else "0", str(ROOT)],
                          capture_output=True, text=True, env=env, timeout=1200)  # fmt: skip
    if done.returncode != 0:
        return f"error: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def version(python: str, module: str) -> str:
    code = f"import {module}; print({module}.__version__)"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or "not installed"


def busy_core() -> subprocess.Popen:
    """Another process keeping one core busy until it is killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jax-python", default=sys.executable, help="the Python of an environment with JAX")
    parser.add_argument("--pytensor-python", default=sys.executable, help="the Python of one with PyTensor 3")
    args = parser.parse_args()
    contenders = [("symgrad", sys.executable), ("hand numba", sys.executable), ("jax", args.jax_python),
                  ("pytensor", args.pytensor_python)]  # fmt: skip
    results: dict[tuple[str, bool], dict[str, float] | str] = {}
    loads = []
    cache = tempfile.mkdtemp(prefix="symgrad-targets-")  # symgrad's compiled code, removed at the end
    for loaded in (False, True):
        loads.append(os.getloadavg()[0])
        other = busy_core() if loaded else None
        time.sleep(1.0 if loaded else 0.0)
        try:
            for name, python in contenders:
                results[name, loaded] = run_child(python, name, args.quick, cache)
        finally:
            if other is not None:
                other.kill()
                other.wait()
    shutil.rmtree(cache, ignore_errors=True)
    print(f"Machine: {os.cpu_count()} cores; symgrad at {ROOT.name}, numba {version(sys.executable, 'numba')}; "
          f"JAX {version(args.jax_python, 'jax')} (XLA CPU, its default threads, x64); PyTensor "
          f"{version(args.pytensor_python, 'pytensor')} (default mode: whole graph in one Numba function; "
          f"numba {version(args.pytensor_python, 'numba')}); hand Numba serial, fastmath. "
          f"1-minute load average at the start of the quiet and loaded runs: {loads[0]:.2f}, "
          f"{loads[1]:.2f}.")  # fmt: skip
    print()
    header = ["measure", *(f"{name}{' (one core busy)' if loaded else ''}" for loaded in (False, True)
                           for name, _ in contenders)]  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for key, label, scale, unit in ROWS:
        cells = []
        for loaded in (False, True):
            for name, _ in contenders:
                got = results[name, loaded]
                if isinstance(got, str):
                    cells.append(got)
                else:
                    cells.append(f"{got[key] * scale:.3g} {unit}" if key in got else "—")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    print("Ratios, symgrad / contender (below 1: symgrad is faster):")
    print()
    print("| measure | " + " | ".join(f"vs {name}{' (busy)' if loaded else ''}" for loaded in (False, True)
                                        for name, _ in contenders[1:]) + " |")  # fmt: skip
    print("|" + "---|" * (1 + 2 * (len(contenders) - 1)))
    for key, label, _, _ in ROWS:
        cells = []
        for loaded in (False, True):
            mine = results["symgrad", loaded]
            for name, _ in contenders[1:]:
                theirs = results[name, loaded]
                ok = isinstance(mine, dict) and isinstance(theirs, dict)
                ok = ok and key in mine and key in theirs
                cells.append(f"{mine[key] / theirs[key]:.2f}x" if ok else "—")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
