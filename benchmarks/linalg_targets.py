"""Issue 16's targets in one run: linear algebra and array gradients beside JAX, PyTensor 3 and the floors.

    python benchmarks/linalg_targets.py [--quick] [--jax-python PATH] [--pytensor-python PATH]

Each contender runs in a child process of the Python given (default: this one), so that a peer can
live in an environment of its own (PyTensor 3 pins Numba <= 0.65). The workloads (``WORKLOADS``,
below, is the code every child runs; each checks its results against NumPy before timing):

- ``gp_500``, ``gp_2000``: a Gaussian process's negative log marginal likelihood and its gradient
  with respect to 3 kernel hyperparameters (log signal, log length scale, log noise; squared
  exponential kernel on n points in 1-d), float64: Cholesky, ``cho_solve`` and the log-determinant.
  Floors: ``lapack``, the LAPACK calls alone in SciPy (``cho_factor`` of the kernel matrix, then
  ``cho_solve`` of ``y`` and of the identity, whose triangular solves give ``K^{-1}`` for the
  gradient), and ``numpy``, the whole computation written by hand in NumPy/SciPy.
- ``cumsum_grad``: the gradient of ``sum(cumsum(x) * w)`` with respect to ``x``, n = 1e7 float64
  (a reversed cumulative sum of ``w``); floor: a hand-written ``@njit`` loop.
- ``batched_matmul``: ``a @ b`` of (256, 64, 64) float32 stacks with the gradients of
  ``sum((a @ b) * g)`` with respect to ``a`` and ``b``; floor: NumPy's ``matmul`` for the three
  products (``a @ b``, ``g @ b^T``, ``a^T @ g``).

Times are medians of 7 rounds, each of enough calls to take 0.2 s (3 rounds of 10 ms with
``--quick``); the children run one after another, so the machine's load may differ between them.
``--threads 1`` runs every contender (BLAS, OpenMP, XLA, Numba) on one thread: on a machine shared
with other work, idle BLAS threads spinning for a core distort the times far more than the work does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKLOADS = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import scipy.linalg

    contender, quick = sys.argv[1], sys.argv[2] == "1"
    rng = np.random.default_rng(0)
    PARAMS = np.log([1.0, 0.7, 0.3])

    def gp_data(n):
        x = np.sort(rng.uniform(-5, 5, n))
        return x, np.sin(x) + 0.3 * rng.standard_normal(n)

    def gp_numpy(p, x, y):  # the reference, by hand: d nll / d K = (K^-1 - a a^T) / 2
        s2, l, s_n2 = np.exp(2 * p[0]), np.exp(p[1]), np.exp(2 * p[2])
        d2 = (x[:, None] - x[None, :]) ** 2
        e = s2 * np.exp(-d2 / (2 * l * l))
        k = e + s_n2 * np.eye(len(x))
        c = scipy.linalg.cho_factor(k, lower=True)
        a = scipy.linalg.cho_solve(c, y)
        nll = 0.5 * y @ a + np.sum(np.log(np.diag(c[0]))) + 0.5 * len(x) * np.log(2 * np.pi)
        w = 0.5 * (scipy.linalg.cho_solve(c, np.eye(len(x))) - np.outer(a, a))
        return nll, np.array([np.sum(w * 2 * e), np.sum(w * e * d2 / (l * l)), 2 * s_n2 * np.trace(w)])

    def gp_lapack(p, x, y):  # the LAPACK calls alone, on a kernel matrix built beforehand
        k = LAPACK_K[len(x)]
        c = scipy.linalg.cho_factor(k, lower=True)
        return scipy.linalg.cho_solve(c, y), scipy.linalg.cho_solve(c, np.eye(len(x)))

    def timed(fn, repeat, min_time):
        fn()
        loops = 1
        while True:
            start = time.perf_counter()
            for _ in range(loops):
                fn()
            if time.perf_counter() - start >= min_time:
                break
            loops *= 2
        rounds = []
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(loops):
                fn()
            rounds.append((time.perf_counter() - start) / loops)
        return sorted(rounds)[len(rounds) // 2]

    data = {f"gp_{n}": gp_data(n) for n in (500, 2000)}
    LAPACK_K = {}
    for key, (x, y) in data.items():
        s2, l, s_n2 = np.exp(2 * PARAMS[0]), np.exp(PARAMS[1]), np.exp(2 * PARAMS[2])
        LAPACK_K[len(x)] = s2 * np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * l * l)) + s_n2 * np.eye(len(x))
    n_cumsum = 10**6 if quick else 10**7
    cx, cw = rng.standard_normal(n_cumsum), rng.standard_normal(n_cumsum)
    ma, mb, mg = (rng.standard_normal((256, 64, 64)).astype(np.float32) for _ in range(3))
    expected = {key: gp_numpy(PARAMS, *data[key]) for key in data}
    expected["cumsum_grad"] = np.cumsum(cw[::-1])[::-1]
    expected["batched_matmul"] = (ma @ mb, mg @ mb.transpose(0, 2, 1), ma.transpose(0, 2, 1) @ mg)
    calls = {}

    def theano_style(function, T, slinalg, cast):  # symgrad and PyTensor speak the same API
        p, x, y = T.dvector("p"), T.dvector("x"), T.dvector("y")
        s2, l, s_n2 = T.exp(2 * p[0]), T.exp(p[1]), T.exp(2 * p[2])
        d2 = (x.dimshuffle(0, "x") - x.dimshuffle("x", 0)) ** 2
        k = s2 * T.exp(-d2 / (2 * l * l)) + s_n2 * T.eye(x.shape[0])
        c = slinalg.cholesky(k)
        a = slinalg.cho_solve((c, True), y)
        n = cast(x.shape[0], "float64")
        nll = 0.5 * T.dot(y, a) + T.sum(T.log(T.diagonal(c))) + 0.5 * n * np.log(2 * np.pi)
        gp = function([p, x, y], [nll, T.grad(nll, p)])
        for key, (xv, yv) in data.items():
            calls[key] = lambda gp=gp, xv=xv, yv=yv: gp(PARAMS, xv, yv)
        xs, ws = T.dvector("x"), T.dvector("w")
        cumsum_grad = function([xs, ws], T.grad(T.sum(T.cumsum(xs) * ws), xs))
        calls["cumsum_grad"] = lambda: cumsum_grad(cx, cw)
        a3, b3, g3 = T.ftensor3("a"), T.ftensor3("b"), T.ftensor3("g")
        product = a3 @ b3
        mm = function([a3, b3, g3], [product, *T.grad(T.sum(product * g3), [a3, b3])])
        calls["batched_matmul"] = lambda: mm(ma, mb, mg)

    if contender == "symgrad":
        sys.path.insert(0, sys.argv[3])
        import symgrad as theano
        import symgrad.tensor as T
        theano_style(theano.function, T, T.slinalg, T.cast)
    elif contender == "pytensor":
        import pytensor
        import pytensor.tensor as T
        import pytensor.tensor.slinalg as slinalg
        theano_style(pytensor.function, T, slinalg, T.cast)
    elif contender == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import jax.scipy.linalg as jsl

        def nll(p, x, y):
            s2, l, s_n2 = jnp.exp(2 * p[0]), jnp.exp(p[1]), jnp.exp(2 * p[2])
            k = s2 * jnp.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * l * l)) + s_n2 * jnp.eye(x.shape[0])
            c = jsl.cho_factor(k, lower=True)
            a = jsl.cho_solve(c, y)
            return 0.5 * y @ a + jnp.sum(jnp.log(jnp.diag(c[0]))) + 0.5 * x.shape[0] * jnp.log(2 * jnp.pi)

        gp = jax.jit(jax.value_and_grad(nll))
        for key, (xv, yv) in data.items():
            calls[key] = lambda xv=jnp.asarray(xv), yv=jnp.asarray(yv): jax.block_until_ready(gp(PARAMS, xv, yv))
        cumsum_grad = jax.jit(jax.grad(lambda x, w: jnp.sum(jnp.cumsum(x) * w)))
        jx, jw = jnp.asarray(cx), jnp.asarray(cw)
        calls["cumsum_grad"] = lambda: jax.block_until_ready(cumsum_grad(jx, jw))

        def mm(a, b, g):
            out, pullback = jax.vjp(jnp.matmul, a, b)
            return out, *pullback(g)

        mm = jax.jit(mm)
        ja, jb, jg = jnp.asarray(ma), jnp.asarray(mb), jnp.asarray(mg)
        calls["batched_matmul"] = lambda: jax.block_until_ready(mm(ja, jb, jg))
    elif contender == "floor":
        import numba

        @numba.njit(cache=False)
        def reverse_cumsum(w):
            out = np.empty_like(w)
            total = 0.0
            for i in range(w.size - 1, -1, -1):
                total += w[i]
                out[i] = total
            return out

        for key, (xv, yv) in data.items():
            calls[key] = lambda xv=xv, yv=yv: gp_lapack(PARAMS, xv, yv)
            calls[key + "_numpy"] = lambda xv=xv, yv=yv: gp_numpy(PARAMS, xv, yv)
        calls["cumsum_grad"] = lambda: reverse_cumsum(cw)
        calls["batched_matmul"] = lambda: (ma @ mb, mg @ mb.transpose(0, 2, 1), ma.transpose(0, 2, 1) @ mg)

    results = {}
    for key, call in calls.items():
        got = call()
        want = expected.get(key)
        if want is not None and not (contender == "floor" and key.startswith("gp_")):
            tolerance = 1e-3 if key == "batched_matmul" else 1e-6
            pairs = zip(got if isinstance(got, (tuple, list)) else [got], want if isinstance(want, tuple) else [want])
            for g, w in pairs:
                g, w = np.asarray(g), np.asarray(w)
                if not np.allclose(g, w, rtol=tolerance, atol=tolerance * np.max(np.abs(w))):
                    raise SystemExit(f"{contender} {key}: wrong result, largest difference {np.max(np.abs(g - w))}")
        results[key] = timed(call, 3 if quick else 7, 0.01 if quick else 0.2)
    print(json.dumps(results))
    """
)

ROWS = [
    ("gp_500", "GP NLL + gradient, 3 hyperparameters, n = 500, float64"),
    ("gp_2000", "the same, n = 2000"),
    ("cumsum_grad", "`cumsum` gradient, n = 1e7 float64"),
    ("batched_matmul", "batched `@`, (256, 64, 64) float32, forward + gradient"),
]


def run_child(python: str, contender: str, quick: bool, cache: str, threads: int | None) -> dict[str, float] | str:
    env = dict(os.environ, SYMGRAD_CACHE_DIR=cache, PYTHONPATH="")
    if threads:  # BLAS, OpenMP and XLA alike: on a shared machine, spinning threads distort the times
        env.update({name: str(threads) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                    "NUMBA_NUM_THREADS")})  # fmt: skip
        env["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
    done = subprocess.run(
        [python, "-c", WORKLOADS, contender, "1" if quick else "0", str(ROOT)],
        capture_output=True, text=True, env=env, timeout=1800,
    )  # fmt: skip
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(done.stdout.strip().splitlines()[-1])


def version(python: str, module: str) -> str:
    code = f"import {module}; print({module}.__version__)"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jax-python", default=sys.executable)
    parser.add_argument("--pytensor-python", default=sys.executable)
    parser.add_argument("--threads", type=int, default=None, help="threads for every contender (default: theirs)")
    args = parser.parse_args()
    pythons = {"symgrad": sys.executable, "floor": sys.executable, "jax": args.jax_python,
               "pytensor": args.pytensor_python}  # fmt: skip
    print(f"symgrad on {sys.executable}; JAX {version(args.jax_python, 'jax')}, PyTensor "
          f"{version(args.pytensor_python, 'pytensor')}, NumPy {version(sys.executable, 'numpy')}, "
          f"SciPy {version(sys.executable, 'scipy')}; threads {args.threads or 'default'}; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as cache:
        results = {name: run_child(python, name, args.quick, cache, args.threads) for name, python in pythons.items()}
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")

    def cell(name: str, key: str) -> str:
        got = results[name]
        if isinstance(got, str) or key not in got:
            return "—"
        return f"{got[key] * 1e3:.3g} ms"

    def ratio(name: str, key: str) -> str:
        got, base = results[name], results["symgrad"]
        if isinstance(got, str) or isinstance(base, str) or key not in got or key not in base:
            return "—"
        return f"{base[key] / got[key]:.2f}x"

    peers = ("floor", "jax", "pytensor")
    headers = ["measure", "symgrad", "floor", "symgrad / floor", "JAX (jit)", "symgrad / JAX", "PyTensor 3",
               "symgrad / PyTensor"]  # fmt: skip
    print(f"| {' | '.join(headers)} |\n|{'---|' * len(headers)}")
    for key, title in ROWS:
        cells = [cell("symgrad", key)] + [text for name in peers for text in (cell(name, key), ratio(name, key))]
        print(f"| {title} | {' | '.join(cells)} |")
    floor = results["floor"]
    if not isinstance(floor, str):
        for n in (500, 2000):
            if f"gp_{n}_numpy" in floor:
                print(f"\nGP n = {n}: the whole computation by hand in NumPy/SciPy takes "
                      f"{floor[f'gp_{n}_numpy'] * 1e3:.3g} ms.", end="")  # fmt: skip
        print()
    print("\nfloors: GP, the LAPACK calls alone (cho_factor, cho_solve of y and of the identity); cumsum, a "
          "hand-written @njit loop; batched @, NumPy's matmul for the three products.")  # fmt: skip
    for name, got in results.items():
        if isinstance(got, str):
            print(f"- {name}: {got}")


if __name__ == "__main__":
    main()
