"""Loops: ``theano.scan`` against JAX's ``lax.scan``, PyTensor 3's ``scan`` and a hand-written loop.

Measures (issue 15's targets), in one run, medians of repeated calls after a warm-up call:

- ``rnn forward``: ``h_t = tanh(W h_{t-1} + U x_t + b)``, H = 128, T = 1000, batch 32, float32
  (the state is a (32, 128) matrix: ``h @ W + x_t @ U + b``);
- ``rnn grad``: the loss ``sum(h_T**2) + mean(h**2)`` and its gradient with respect to W, U and b;
- ``logistic``: the scalar recurrence ``x_{t+1} = r x_t (1 - x_t)``, T = 1e6, float64, against a
  hand-written ``@njit`` loop;
- ``rnn grad compile``: ``theano.function`` plus the first call of the RNN gradient in a fresh
  process with an empty cache (JAX: tracing and XLA compile at the first call; PyTensor: the same).

JAX and PyTensor run in child processes of the Python given with ``--jax-python`` and
``--pytensor-python`` (default: this one), so that each can live in an environment of its own.
Prints a markdown table; the ratio is the competitor's time over symgrad's (above 1: symgrad faster).

    python benchmarks/bench_scan.py --jax-python /path/to/env/bin/python --pytensor-python /path/to/env/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

H, T_STEPS, BATCH, FEATURES = 128, 1000, 32, 64
LOGISTIC_STEPS = 1_000_000


def _data():
    rng = np.random.default_rng(0)
    return [
        (rng.standard_normal((H, H)) / np.sqrt(H)).astype("float32"),
        (rng.standard_normal((FEATURES, H)) / np.sqrt(FEATURES)).astype("float32"),
        np.zeros(H, "float32"),
        rng.standard_normal((T_STEPS, BATCH, FEATURES)).astype("float32"),
        np.zeros((BATCH, H), "float32"),
    ]


def _median_time(f, *args, repeat: int = 7) -> float:
    f(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_symgrad() -> dict:
    import symgrad as theano
    import symgrad.tensor as T

    W, U, b, X, h0 = T.fmatrix("W"), T.fmatrix("U"), T.fvector("b"), T.ftensor3("X"), T.fmatrix("h0")
    hs, _ = theano.scan(lambda x, h, W, U, b: T.tanh(T.dot(h, W) + T.dot(x, U) + b),
                        sequences=X, outputs_info=h0, non_sequences=[W, U, b])  # fmt: skip
    loss = (hs[-1] ** 2).sum() + (hs**2).mean()
    forward = theano.function([W, U, b, X, h0], hs[-1])
    gradient = theano.function([W, U, b, X, h0], [loss, *T.grad(loss, [W, U, b])])
    data = _data()
    r, x0 = T.dscalar("r"), T.dscalar("x0")
    xs, _ = theano.scan(lambda x, r: r * x * (1 - x), outputs_info=x0, non_sequences=r, n_steps=LOGISTIC_STEPS)
    logistic = theano.function([r, x0], xs[-1])
    return {
        "rnn forward": _median_time(forward, *data),
        "rnn grad": _median_time(gradient, *data),
        "logistic": _median_time(logistic, 3.7, 0.4),
        "check": float(gradient(*data)[0]),
    }


def run_compile_symgrad() -> dict:
    os.environ["SYMGRAD_CACHE_DIR"] = tempfile.mkdtemp()
    start = time.perf_counter()
    import symgrad as theano
    import symgrad.tensor as T

    W, U, b, X, h0 = T.fmatrix("W"), T.fmatrix("U"), T.fvector("b"), T.ftensor3("X"), T.fmatrix("h0")
    hs, _ = theano.scan(lambda x, h, W, U, b: T.tanh(T.dot(h, W) + T.dot(x, U) + b),
                        sequences=X, outputs_info=h0, non_sequences=[W, U, b])  # fmt: skip
    loss = (hs[-1] ** 2).sum() + (hs**2).mean()
    built = time.perf_counter()
    gradient = theano.function([W, U, b, X, h0], [loss, *T.grad(loss, [W, U, b])])
    gradient(*[a[:2] if a.ndim == 3 else a for a in _data()])
    return {"rnn grad compile": time.perf_counter() - built, "import and build": built - start}


def run_njit() -> dict:
    from numba import njit

    @njit(cache=False)
    def logistic(r, x0, n):
        out = np.empty(n)
        x = x0
        for t in range(n):
            x = r * x * (1 - x)
            out[t] = x
        return out[-1]

    return {"logistic": _median_time(logistic, 3.7, 0.4, LOGISTIC_STEPS)}


def run_jax() -> dict:
    import jax
    import jax.numpy as jnp

    def states(W, U, b, X, h0):
        def step(h, x):
            h = jnp.tanh(h @ W + x @ U + b)
            return h, h

        return jax.lax.scan(step, h0, X)[1]

    def loss(W, U, b, X, h0):
        hs = states(W, U, b, X, h0)
        return (hs[-1] ** 2).sum() + (hs**2).mean()

    forward = jax.jit(lambda *a: states(*a)[-1])
    gradient = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
    data = [jnp.asarray(a) for a in _data()]
    start = time.perf_counter()
    jax.block_until_ready(gradient(*data))
    compile_time = time.perf_counter() - start
    return {
        "rnn forward": _median_time(lambda *a: jax.block_until_ready(forward(*a)), *data),
        "rnn grad": _median_time(lambda *a: jax.block_until_ready(gradient(*a)), *data),
        "rnn grad compile": compile_time,
        "check": float(gradient(*data)[0]),
    }


def run_pytensor() -> dict:
    import pytensor
    import pytensor.tensor as pt

    W, U, b, X, h0 = pt.fmatrix("W"), pt.fmatrix("U"), pt.fvector("b"), pt.ftensor3("X"), pt.fmatrix("h0")
    hs = pytensor.scan(lambda x, h, W, U, b: pt.tanh(h @ W + x @ U + b),
                       sequences=X, outputs_info=h0, non_sequences=[W, U, b], return_updates=False)  # fmt: skip
    loss = (hs[-1] ** 2).sum() + (hs**2).mean()
    forward = pytensor.function([W, U, b, X, h0], hs[-1])
    start = time.perf_counter()
    gradient = pytensor.function([W, U, b, X, h0], [loss, *pytensor.grad(loss, [W, U, b])])
    data = _data()
    gradient(*data)
    compile_time = time.perf_counter() - start
    return {
        "rnn forward": _median_time(forward, *data),
        "rnn grad": _median_time(gradient, *data),
        "rnn grad compile": compile_time,
        "check": float(gradient(*data)[0]),
    }


RUNNERS = {"symgrad": run_symgrad, "symgrad compile": run_compile_symgrad, "njit": run_njit,
           "jax": run_jax, "pytensor": run_pytensor}  # fmt: skip


def _child(python: str, which: str) -> dict:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run([python, __file__, "--child", which], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--jax-python", default=sys.executable)
    parser.add_argument("--pytensor-python", default=sys.executable)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(RUNNERS[args.child]()))
        return
    results = {
        "symgrad": {**_child(sys.executable, "symgrad"), **_child(sys.executable, "symgrad compile")},
        "njit": _child(sys.executable, "njit"),
        "jax": _child(args.jax_python, "jax"),
        "pytensor": _child(args.pytensor_python, "pytensor"),
    }
    print(f"load average before/after: {os.getloadavg()[0]:.1f}")
    print(
        "\n| measure | symgrad | JAX | PyTensor | hand @njit | JAX / symgrad | PyTensor / symgrad | @njit / symgrad |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for measure in ["rnn forward", "rnn grad", "logistic", "rnn grad compile"]:
        row = [results[k].get(measure) for k in ("symgrad", "jax", "pytensor", "njit")]
        texts = ["-" if v is None else f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.2f} s" for v in row]
        ratios = ["-" if v is None or row[0] is None else f"{v / row[0]:.2f}" for v in row[1:]]
        print(f"| {measure} | {' | '.join(texts)} | {' | '.join(ratios)} |")
    for name, r in results.items():
        if "error" in r:
            print(f"\n{name}: {r['error']}")
    checks = {k: r["check"] for k, r in results.items() if "check" in r}
    print(f"\nloss values (should agree to float32 precision): {checks}")


if __name__ == "__main__":
    main()
