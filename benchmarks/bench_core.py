"""Core benchmarks of symgrad against raw Numba, NumPy, numexpr, JAX, PyTensor, PyTorch, SymPy and SymEngine.

Run from the repository root::

    python benchmarks/bench_core.py             # full run, a few minutes on 2 cores
    python benchmarks/bench_core.py --quick     # smoke run, ~30 s: few repetitions, small sizes only,
                                                # no PyTensor cold compile
    python benchmarks/bench_core.py --only w4 startup   # some sections only
    python benchmarks/bench_core.py --skip jax torch    # as if these were not installed

``run_all.py`` runs W1, W2 and W4 with the other scripts' workloads, W3, W5 and W6.

The output is Markdown: a machine line, then one table per workload. Every ratio in a table is
computed from times taken in the same run, on the same inputs.

What is measured
----------------
W4  Per-call overhead. The gradient of ``x**2`` at ``x = 4`` (``theano.function([x], T.grad(x**2, x))``
    with ``x = T.dscalar('x')``), against a raw ``numba.njit(lambda x: 2*x)``, JAX
    ``jax.jit(jax.grad(lambda x: x**2))``, PyTensor (``pytensor.function`` of ``pytensor.grad``, in its
    default mode and in mode ``'NUMBA'``) and ``sympy.lambdify`` of ``sympy.diff``. Reported in µs per
    call. The work is trivial, so this is the cost of a call: argument checks, dispatch, result boxing.

W1  A fused elementwise expression, ``exp(-x**2/2)*sin(3*x) + log1p(y**2)*tanh(x*y)``, over float64
    vectors of n = 1e5 and 1e7, against NumPy (one temporary per operation), numexpr (2 threads), JAX
    jit, PyTensor (default mode, which compiles C, and ``'NUMBA'``), PyTorch eager on the CPU (on 2
    threads, as numexpr and Numba, and on one), ``sympy.lambdify`` (NumPy module) and SymEngine's
    ``Lambdify(..., backend='llvm')`` (which takes x and y as one (n, 2) array, stacked before
    timing; SymEngine has no log1p, so it computes log(1 + y**2)). Floors, not competitors:
    hand-written ``@njit(fastmath=True)`` loops of the same math, serial and ``prange``, calling the
    ``math`` module's functions (libm) or ``codegen.vecmath``'s (reported as skipped when this
    checkout has no ``codegen.vecmath``). Reported in ms per call, as a multiple of NumPy's and of
    symgrad's time; under the table, symgrad against the fastest competitor and the vecmath floor.

W2  A two-layer net's loss and its gradients with respect to both weight matrices::

        h = relu(x @ w1);  pred = h @ w2;  loss = sum((pred - y)**2)

    at (N, D, H, C) = (64, 100, 100, 10) in float64 and (4096, 1024, 1024, 10) in float32. Competitors:
    a hand-written NumPy backprop, JAX ``jit(value_and_grad)``, PyTensor (default mode and ``'NUMBA'``).
    "GEMMs alone" times only the five matrix products (two forward, three backward) on precomputed
    operands: a floor for any implementation that calls BLAS for them. Before timing, every
    competitor's loss and gradients are compared with symgrad's (rtol 1e-6 in float64, 1e-3 in
    float32, with an absolute tolerance of rtol times the largest magnitude of each output, so entries
    near zero do not fail on rounding); a disagreement is flagged in the table and explained below it.

Startup
    Each measurement runs in a fresh interpreter (``subprocess.run([sys.executable, '-c', code])``)
    that first imports NumPy and builds the W2 small inputs, then times the library import and,
    separately, the time from after the import to the first result (build the graph, differentiate,
    compile, call). "Cold" uses a new, empty cache directory (``SYMGRAD_CACHE_DIR`` for symgrad,
    ``PYTENSOR_FLAGS=compiledir=...`` for PyTensor, a new module directory for the hand-written
    ``@numba.njit(cache=True)`` kernel); "warm" is a second fresh process with the same directory.
    "cold + fresh NUMBA_CACHE_DIR" also gives Numba a new cache directory, so that symgrad's own
    ``cache=True`` helpers (cached next to symgrad's sources by default) are compiled too: nothing is
    cached at all. "import symgrad alone" imports symgrad into a bare interpreter. Each is a
    single run, so expect some noise; "process wall" is measured by the parent and includes
    interpreter start-up and exit.

How times are taken (``harness.py``, shared by every script here)
    Each callable is called once to warm up (JIT compilation, caches), then ``timeit`` picks a loop
    count so that one repeat lasts at least ``min_time``. The contenders of a table then take turns,
    one repeat each per round, for ``repeat`` rounds; the median repeat divided by the loop count is
    reported. JAX results are ``block_until_ready()``-ed inside the timed call and JAX inputs are
    placed on the device once beforehand (its usual steady state); every other implementation takes
    and returns NumPy arrays. JAX runs with ``jax_enable_x64`` so float64 stays float64.

The load average is printed before and after: the machine may be shared, and on 2 cores one busy
neighbour slows multi-threaded BLAS calls (NumPy's OpenBLAS spins its threads) far more than it slows
single-threaded code, so read small-GEMM numbers taken under load with care.

Every competitor is optional: if its import fails, a line "skipped: <name> (not installed)" is printed
and its cells read "—". A failure inside symgrad is reported as "error" in its cells, with the
exception listed under the tables, and the run continues.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402 (the path above makes harness importable from anywhere)
    MISSING,
    THREADS,
    Contender,
    Libs,
    Report,
    Settings,
    Timings,
    markdown_table,
    print_section,
    run_contenders,
    run_fresh,
    sized_table,
    when,
)
from harness import main as harness_main  # noqa: E402

W1_EXPR = "exp(-x**2/2)*sin(3*x) + log1p(y**2)*tanh(x*y)"
W2_SMALL = (64, 100, 100, 10)
W2_LARGE = (4096, 1024, 1024, 10)
W2_NUMPY = "NumPy (hand backprop)"
W2_PYTENSOR = "PyTensor (default mode)"
W2_GEMMS = "GEMMs alone (5 np.dot)"


@dataclass(frozen=True)
class CoreSettings(Settings):
    w1_sizes: tuple[int, ...] = ()
    w2_cases: tuple[tuple[tuple[int, int, int, int], str], ...] = ()

    @classmethod
    def make(cls, quick: bool) -> CoreSettings:
        if quick:
            return cls(True, *cls.timing(True), (100_000,), ((W2_SMALL, "float64"),))
        return cls(False, *cls.timing(False), (100_000, 10_000_000), ((W2_SMALL, "float64"), (W2_LARGE, "float32")))


# --------------------------------------------------------------------------- W4: call overhead


def bench_w4(settings: CoreSettings, libs: Libs, report: Report) -> None:
    theano, T, numba = libs["symgrad"], libs["symgrad.tensor"], libs["numba"]
    jax, pytensor, sympy = libs["jax"], libs["pytensor"], libs["sympy"]

    def symgrad_fn(arg: object) -> Callable[[], Callable[[], object]]:
        def build() -> Callable[[], object]:
            x = T.dscalar("x")
            f = theano.function([x], T.grad(x**2, x))
            return lambda: f(arg)

        return build

    def numba_build() -> Callable[[], object]:
        f = numba.njit(lambda x: 2 * x)
        return lambda: f(4.0)

    def jax_build() -> Callable[[], object]:
        f = jax.jit(jax.grad(lambda x: x**2))
        return lambda: f(4.0).block_until_ready()

    def pytensor_fn(mode: str | None) -> Callable[[], Callable[[], object]]:
        def build() -> Callable[[], object]:
            x = pytensor.tensor.dscalar("x")
            f = pytensor.function([x], pytensor.grad(x**2, x), mode=mode)
            return lambda: f(4.0)

        return build

    def sympy_build() -> Callable[[], object]:
        x = sympy.Symbol("x")
        f = sympy.lambdify(x, sympy.diff(x**2, x))
        return lambda: f(4.0)

    contenders = [
        Contender("symgrad `f(4.0)`", symgrad_fn(4.0)),
        Contender("symgrad `f(4)` (int argument)", symgrad_fn(4)),
        Contender("raw `numba.njit(lambda x: 2*x)`", when(numba, numba_build)),
        Contender("JAX `jit(grad(...))`", when(jax, jax_build)),
        Contender("PyTensor (default mode)", when(pytensor, pytensor_fn(None))),
        Contender("PyTensor (mode='NUMBA')", when(pytensor, pytensor_fn("NUMBA"))),
        Contender("`sympy.lambdify`", when(sympy, sympy_build)),
    ]
    base = contenders[0].name
    timings = run_contenders(contenders, settings, report, "W4", [base, contenders[2].name], 1e-12)
    rows = [[c.name, timings.show(c.name, 1e6), timings.ratio(c.name, base)] for c in contenders]
    print_section(
        "W4: per-call overhead, gradient of x**2 at x=4",
        "Median per-call time; every call returns 8.",
        markdown_table(["implementation", "µs/call", "× symgrad"], rows),
    )


# --------------------------------------------------------------------------- W1: fused elementwise


def numpy_w1(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.exp(-(x**2) / 2) * np.sin(3 * x) + np.log1p(y**2) * np.tanh(x * y)


# The hand-written Numba floors: one loop, the same math, compiled with fastmath; ``parallel``
# makes the loop a prange. The functions come from the math module (libm) or codegen.vecmath.
HAND_W1_SOURCE = """
def w1_loop(x, y):
    out = np.empty_like(x)
    for i in LOOP(x.shape[0]):
        a, b = x[i], y[i]
        out[i] = exp(-(a * a) / 2.0) * sin(3.0 * a) + log1p(b * b) * tanh(a * b)
    return out
"""
W1_SYMGRAD = "symgrad"
W1_HAND_LIBM = "hand Numba, libm, prange"
W1_HAND_VEC = "hand Numba, vecmath, prange"
# The floors, not competitors: the "best competitor" of the W1 target leaves them out.
W1_FLOORS = ("hand Numba, libm, serial", W1_HAND_LIBM, "hand Numba, vecmath, serial", W1_HAND_VEC)


def hand_w1(numba: object, functions: str, parallel: bool) -> Callable | str:
    """The hand-written W1 loop calling ``functions`` ("libm": math's, "vecmath": codegen.vecmath's),
    or the reason it cannot be built."""
    if functions == "vecmath":
        try:
            from codegen import vecmath
        except ImportError:
            return "skipped: no codegen.vecmath"
        namespace = {name: getattr(vecmath, name) for name in ("exp", "sin", "log1p", "tanh")}
    else:
        import math

        namespace = {name: getattr(math, name) for name in ("exp", "sin", "log1p", "tanh")}
    namespace.update(np=np, LOOP=numba.prange if parallel else range)
    exec(HAND_W1_SOURCE, namespace)
    return numba.njit(fastmath=True, parallel=parallel)(namespace["w1_loop"])


def with_torch_threads(torch: object, fn: Callable[[], object], threads: int = THREADS) -> Callable[[], object]:
    """``fn`` run with PyTorch's intra-op threads set to ``threads`` (by default numexpr's and Numba's
    count, the machine's cores), restored after the call."""

    def call() -> object:
        default = torch.get_num_threads()
        torch.set_num_threads(threads)  # costs under a microsecond
        try:
            return fn()
        finally:
            torch.set_num_threads(default)

    return call


def w1_contenders(libs: Libs, x: np.ndarray, y: np.ndarray) -> list[Contender]:
    theano, T, jax, ne = libs["symgrad"], libs["symgrad.tensor"], libs["jax"], libs["numexpr"]
    pytensor, torch, sympy, symengine, numba = (libs[k] for k in ("pytensor", "torch", "sympy", "symengine", "numba"))

    def symgrad_build() -> Callable[[], object]:
        xs, ys = T.dvector("x"), T.dvector("y")
        f = theano.function([xs, ys], T.exp(-(xs**2) / 2) * T.sin(3 * xs) + T.log1p(ys**2) * T.tanh(xs * ys))
        return lambda: f(x, y)

    def numexpr_build() -> Callable[[], object]:
        return lambda: ne.evaluate(W1_EXPR, local_dict={"x": x, "y": y})

    def jax_build() -> Callable[[], object]:
        jnp = jax.numpy
        f = jax.jit(lambda x, y: jnp.exp(-(x**2) / 2) * jnp.sin(3 * x) + jnp.log1p(y**2) * jnp.tanh(x * y))
        xd, yd = jax.device_put(x), jax.device_put(y)
        return lambda: f(xd, yd).block_until_ready()

    def pytensor_build(mode: str | None) -> Callable[[], Callable[[], object]]:
        def build() -> Callable[[], object]:
            pt = pytensor.tensor
            xs, ys = pt.dvector("x"), pt.dvector("y")
            expr = pt.exp(-(xs**2) / 2) * pt.sin(3 * xs) + pt.log1p(ys**2) * pt.tanh(xs * ys)
            f = pytensor.function([xs, ys], expr, mode=mode)
            return lambda: f(x, y)

        return build

    def torch_build(threads: int) -> Callable[[], Callable[[], object]]:
        def build() -> Callable[[], object]:
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)  # no copies: the tensors share the arrays
            return with_torch_threads(
                torch,
                lambda: torch.exp(-(xt**2) / 2) * torch.sin(3 * xt) + torch.log1p(yt**2) * torch.tanh(xt * yt),
                threads,
            )

        return build

    def sympy_build() -> Callable[[], object]:
        xs, ys = sympy.symbols("x y", real=True)
        f = sympy.lambdify([xs, ys], sympy.sympify(W1_EXPR, locals={"x": xs, "y": ys}), modules="numpy")
        return lambda: f(x, y)

    def symengine_build() -> Callable[[], object]:
        xs, ys = symengine.symbols("x y")
        expr = symengine.exp(-(xs**2) / 2) * symengine.sin(3 * xs) + symengine.log(1 + ys**2) * symengine.tanh(xs * ys)
        f = symengine.Lambdify([xs, ys], expr, backend="llvm", opt_level=3)
        xy = np.ascontiguousarray(np.stack([x, y], axis=1))  # its input layout (n, 2), built once
        return lambda: f(xy)

    def hand_build(functions: str, parallel: bool) -> Callable[[], Callable[[], object]] | str | None:
        if numba is None:
            return None
        kernel = hand_w1(numba, functions, parallel)
        return kernel if isinstance(kernel, str) else lambda: lambda: kernel(x, y)

    return [
        Contender(W1_SYMGRAD, symgrad_build),
        Contender("NumPy", lambda: lambda: numpy_w1(x, y)),
        Contender(f"numexpr ({THREADS} threads)", when(ne, numexpr_build)),
        Contender("JAX jit", when(jax, jax_build)),
        Contender("PyTensor (default mode: C)", when(pytensor, pytensor_build(None))),
        Contender("PyTensor (mode='NUMBA')", when(pytensor, pytensor_build("NUMBA"))),
        Contender(f"PyTorch eager ({THREADS} threads)", when(torch, torch_build(THREADS))),
        Contender("PyTorch eager (one thread)", when(torch, torch_build(1))),
        Contender("`sympy.lambdify` (numpy)", when(sympy, sympy_build)),
        Contender("SymEngine `Lambdify` (LLVM)", when(symengine, symengine_build)),
        Contender(W1_FLOORS[0], hand_build("libm", False)),
        Contender(W1_FLOORS[1], hand_build("libm", True)),
        Contender(W1_FLOORS[2], hand_build("vecmath", False)),
        Contender(W1_FLOORS[3], hand_build("vecmath", True)),
    ]


def best_competitor(timings: Timings, leave_out: Sequence[str]) -> tuple[str, float] | None:
    """The fastest contender not in ``leave_out`` (name, seconds), or None if none ran."""
    times = [(name, t) for name, t in timings.cells.items() if name not in leave_out and isinstance(t, float)]
    return min(times, key=lambda item: item[1]) if times else None


def bench_w1(settings: CoreSettings, libs: Libs, report: Report) -> None:
    results: dict[str, Timings] = {}
    for n in settings.w1_sizes:
        rng = np.random.default_rng(0)
        contenders = w1_contenders(libs, rng.standard_normal(n), rng.standard_normal(n))
        label = f"n={n:.0e}"
        results[label] = run_contenders(contenders, settings, report, f"W1 {label}", [W1_SYMGRAD, "NumPy"], 1e-9)
    lines = []
    for label, t in results.items():
        best = best_competitor(t, (W1_SYMGRAD, *W1_FLOORS))
        own = t.cells[W1_SYMGRAD]
        if best is None or isinstance(own, str):
            continue
        lines.append(
            f"- {label}: symgrad {own * 1e3:.3g} ms; best competitor {best[0]} {best[1] * 1e3:.3g} ms, "
            f"symgrad {best[1] / own:.2f}× faster (target ≥ 1.5×); symgrad ÷ hand vecmath prange: "
            f"{t.ratio(W1_SYMGRAD, W1_HAND_VEC)}, ÷ hand libm prange: {t.ratio(W1_SYMGRAD, W1_HAND_LIBM)} "
            "(target ≤ 1.2× the vecmath kernel)"
        )
    print_section(
        "W1: fused elementwise, float64 vectors",
        f"`{W1_EXPR}`; median ms per call and time ÷ NumPy's and ÷ symgrad's (< 1 is faster). "
        "The hand Numba rows are floors, not competitors: one `@njit(fastmath=True)` loop of the same math "
        "calling libm (`math`) or `codegen.vecmath`. SymEngine's input is the (n, 2) array of x and y, "
        "stacked once outside the timed call.",
        sized_table([c.name for c in contenders], results, {"NumPy": "NumPy", W1_SYMGRAD: "symgrad"})
        + ("\n\n" + "\n".join(lines) if lines else ""),
    )


# --------------------------------------------------------------------------- W2: two-layer net


def make_w2_data(size: tuple[int, int, int, int], dtype: str) -> tuple[np.ndarray, ...]:
    """Inputs ``x, w1, w2, y`` of the W2 net, deterministic."""
    n, d, h, c = size
    rng = np.random.default_rng(42)
    x = rng.standard_normal((n, d))
    w1 = rng.standard_normal((d, h)) / np.sqrt(d)
    w2 = rng.standard_normal((h, c)) / np.sqrt(h)
    y = rng.standard_normal((n, c))
    return tuple(a.astype(dtype) for a in (x, w1, w2, y))


def symgrad_w2_function(theano: object, T: object, dtype: str) -> Callable:
    """symgrad's compiled ``f(x, w1, w2, y) -> [loss, dloss/dw1, dloss/dw2]``."""
    matrix = T.dmatrix if dtype == "float64" else T.fmatrix
    x, w1, w2, y = (matrix(name) for name in ("x", "w1", "w2", "y"))
    h = T.nnet.relu(T.dot(x, w1))
    pred = T.dot(h, w2)
    loss = T.sum((pred - y) ** 2)
    return theano.function([x, w1, w2, y], [loss, *T.grad(loss, [w1, w2])])


def pytensor_w2_function(pytensor: object, dtype: str, mode: str | None = None) -> Callable:
    """PyTensor's compiled ``f(x, w1, w2, y) -> [loss, dloss/dw1, dloss/dw2]``."""
    pt = pytensor.tensor
    matrix = pt.dmatrix if dtype == "float64" else pt.fmatrix
    x, w1, w2, y = (matrix(name) for name in ("x", "w1", "w2", "y"))
    h = pt.maximum(pt.dot(x, w1), 0)
    pred = pt.dot(h, w2)
    loss = pt.sum((pred - y) ** 2)
    return pytensor.function([x, w1, w2, y], [loss, *pytensor.grad(loss, [w1, w2])], mode=mode)


def numpy_w2(x: np.ndarray, w1: np.ndarray, w2: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Hand-written forward and backward pass."""
    hpre = x @ w1
    h = np.maximum(hpre, 0)
    pred = h @ w2
    diff = pred - y
    loss = np.sum(diff * diff)
    dpred = 2 * diff
    dw2 = h.T @ dpred
    dh = dpred @ w2.T
    dh[hpre <= 0] = 0
    dw1 = x.T @ dh
    return loss, dw1, dw2


def gemms_only(data: tuple[np.ndarray, ...]) -> Callable[[], object]:
    """The five matrix products of ``numpy_w2`` on precomputed operands, nothing else."""
    x, w1, w2, y = data
    hpre = x @ w1
    h = np.maximum(hpre, 0)
    dpred = 2 * (h @ w2 - y)
    dh = dpred @ w2.T
    return lambda: (np.dot(x, w1), np.dot(h, w2), np.dot(h.T, dpred), np.dot(dpred, w2.T), np.dot(x.T, dh))


def jax_w2_function(jax: object) -> Callable:
    jnp = jax.numpy

    def loss(x, w1, w2, y):
        pred = jnp.maximum(x @ w1, 0) @ w2
        return jnp.sum((pred - y) ** 2)

    return jax.jit(jax.value_and_grad(loss, argnums=(1, 2)))


def w2_contenders(libs: Libs, data: tuple[np.ndarray, ...], dtype: str) -> list[Contender]:
    theano, T, jax, pytensor = libs["symgrad"], libs["symgrad.tensor"], libs["jax"], libs["pytensor"]

    def symgrad_build() -> Callable[[], object]:
        f = symgrad_w2_function(theano, T, dtype)
        return lambda: f(*data)

    def jax_build() -> Callable[[], object]:
        f, on_device = jax_w2_function(jax), [jax.device_put(a) for a in data]
        return lambda: jax.block_until_ready(f(*on_device))

    def pytensor_build(mode: str | None) -> Callable[[], Callable[[], object]]:
        def build() -> Callable[[], object]:
            f = pytensor_w2_function(pytensor, dtype, mode)
            return lambda: f(*data)

        return build

    return [
        Contender("symgrad", symgrad_build),
        Contender(W2_NUMPY, lambda: lambda: numpy_w2(*data)),
        Contender("JAX jit(value_and_grad)", when(jax, jax_build)),
        Contender(W2_PYTENSOR, when(pytensor, pytensor_build(None))),
        Contender("PyTensor (mode='NUMBA')", when(pytensor, pytensor_build("NUMBA"))),
        Contender(W2_GEMMS, lambda: gemms_only(data), checked=False),
    ]


def bench_w2(settings: CoreSettings, libs: Libs, report: Report) -> None:
    results: dict[str, Timings] = {}
    for size, dtype in settings.w2_cases:
        data = make_w2_data(size, dtype)
        contenders = w2_contenders(libs, data, dtype)
        label = f"{size} {dtype}"
        rtol = 1e-6 if dtype == "float64" else 1e-3
        results[label] = run_contenders(contenders, settings, report, f"W2 {label}", ["symgrad", W2_NUMPY], rtol)
    print_section(
        "W2: two-layer net, loss + gradients wrt w1 and w2; sizes are (N, D, H, C)",
        "Median ms per call; time ÷ NumPy's and ÷ PyTensor (default mode)'s time (< 1 is faster).",
        sized_table([c.name for c in contenders], results, {W2_NUMPY: "NumPy", W2_PYTENSOR: "PyTensor"}),
    )


# --------------------------------------------------------------------------- startup: fresh processes

# Each child prints one JSON line: the import time and the time from after the import to the result.
CHILD_TEMPLATE = """
import json, time
import numpy as np
from bench_core import make_w2_data
data = make_w2_data({size!r}, "float64")
t0 = time.perf_counter()
{import_code}
t1 = time.perf_counter()
{first_result_code}
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "first_s": t2 - t1}}))
"""

SYMGRAD_CHILD = (
    "import symgrad as theano\nimport symgrad.tensor as T",
    "from bench_core import symgrad_w2_function\nout = symgrad_w2_function(theano, T, 'float64')(*data)",
)
PYTENSOR_CHILD = (
    "import pytensor\nimport pytensor.tensor",
    "from bench_core import pytensor_w2_function\nout = pytensor_w2_function(pytensor, 'float64')(*data)",
)
NUMBA_CHILD = ("import numba", "import w2_numba_kernel\nout = w2_numba_kernel.loss_and_grads(*data)")
IMPORT_ONLY_CHILD = """
import json, time
t0 = time.perf_counter()
import symgrad
print(json.dumps({"import_s": time.perf_counter() - t0}))
"""

# The hand-written Numba baseline: the W2 forward and backward pass in one cached kernel.
NUMBA_KERNEL_MODULE = """
import numba
import numpy as np


@numba.njit(cache=True)
def loss_and_grads(x, w1, w2, y):
    hpre = np.dot(x, w1)
    h = np.maximum(hpre, 0.0)
    diff = np.dot(h, w2) - y
    loss = np.sum(diff * diff)
    dpred = 2.0 * diff
    dw2 = np.dot(h.T, dpred)
    dh = np.dot(dpred, w2.T) * (hpre > 0.0)
    dw1 = np.dot(x.T, dh)
    return loss, dw1, dw2
"""


StartupRow = tuple[str, dict[str, float] | str]


def fresh_row(label: str, code: str, env: dict[str, str], report: Report, extra_path: Sequence[str] = ()) -> StartupRow:
    """One table row: ``run_fresh``'s timings, or "error" (with a note) if the child failed."""
    try:
        return label, run_fresh(code, env, extra_path)
    except Exception as exc:
        return label, report.error(f"startup, {label}", exc)


def child_code(child: tuple[str, str]) -> str:
    return CHILD_TEMPLATE.format(size=W2_SMALL, import_code=child[0], first_result_code=child[1])


def cold_and_warm(
    name: str, child: tuple[str, str], env: dict[str, str], report: Report, extra_path: Sequence[str] = ()
) -> list[StartupRow]:
    """Two fresh processes sharing one cache: the first is cold, the second warm."""
    return [fresh_row(f"{name}, {kind}", child_code(child), env, report, extra_path) for kind in ("cold", "warm")]


def bench_startup(settings: CoreSettings, libs: Libs, report: Report) -> None:
    rows: list[StartupRow] = []
    with tempfile.TemporaryDirectory(prefix="symgrad-bench-") as tmp:
        tmp_path = Path(tmp)
        rows.append(fresh_row("import symgrad alone (bare interpreter)", IMPORT_ONLY_CHILD, {}, report))
        rows += cold_and_warm("symgrad", SYMGRAD_CHILD, {"SYMGRAD_CACHE_DIR": str(tmp_path / "sg")}, report)
        # symgrad's own cache=True helpers live in Numba's cache next to symgrad's sources, which the
        # row above leaves warm; a fresh NUMBA_CACHE_DIR as well makes nothing cached at all.
        nothing_cached = {
            "SYMGRAD_CACHE_DIR": str(tmp_path / "sg2"),
            "NUMBA_CACHE_DIR": str(tmp_path / "nbc"),
        }
        rows.append(
            fresh_row("symgrad, cold + fresh NUMBA_CACHE_DIR", child_code(SYMGRAD_CHILD), nothing_cached, report)
        )
        if settings.quick:  # PyTensor's cold C compilation alone takes ~10 s
            rows += [(f"PyTensor (default mode), {kind}", "skipped (--quick)") for kind in ("cold", "warm")]
        elif libs["pytensor"] is not None:
            flags = {"PYTENSOR_FLAGS": f"compiledir={tmp_path / 'pt'}"}
            rows += cold_and_warm("PyTensor (default mode)", PYTENSOR_CHILD, flags, report)
        else:
            rows += [("PyTensor (default mode), cold", MISSING), ("PyTensor (default mode), warm", MISSING)]
        if libs["numba"] is not None:
            kernel_dir = tmp_path / "nb"
            kernel_dir.mkdir()
            (kernel_dir / "w2_numba_kernel.py").write_text(textwrap.dedent(NUMBA_KERNEL_MODULE))
            name = "hand `@numba.njit(cache=True)`"
            rows += cold_and_warm(name, NUMBA_CHILD, {}, report, [str(kernel_dir)])
        else:
            rows += [(f"hand `@numba.njit(cache=True)`, {kind}", MISSING) for kind in ("cold", "warm")]

    table_rows = []
    for name, r in rows:
        if isinstance(r, str):
            table_rows.append([name, r, r, r])
            continue
        first = f"{r['first_s']:.3f}" if "first_s" in r else MISSING
        table_rows.append([name, f"{r['import_s']:.3f}", first, f"{r['wall_s']:.3f}"])
    print_section(
        f"Startup: W2 small {W2_SMALL} float64 gradient function, fresh processes",
        "Seconds. *import*: the library import (NumPy already loaded, except in the first row); "
        "*to first result*: build graph + grad + compile + first call, after the import; "
        "*process wall*: the whole child process seen from the parent. Single run each.",
        markdown_table(["measurement", "import s", "to first result s", "process wall s"], table_rows),
    )


# --------------------------------------------------------------------------- main


SECTIONS = {"w4": bench_w4, "w1": bench_w1, "w2": bench_w2, "startup": bench_startup}
OPTIONAL = ("numba", "jax", "pytensor", "numexpr", "sympy", "torch", "symengine")


def main(argv: Sequence[str] | None = None) -> None:
    harness_main(
        "symgrad core benchmarks",
        __doc__.split("\n\n")[0],
        SECTIONS,
        OPTIONAL,
        CoreSettings.make,
        argv,
    )


if __name__ == "__main__":
    main()
