"""Core benchmarks of symgrad against raw Numba, NumPy, numexpr, JAX, PyTensor and SymPy.

Run from the repository root::

    python benchmarks/bench_core.py             # full run, a few minutes on 2 cores
    python benchmarks/bench_core.py --quick     # smoke run, ~30 s: few repetitions, small sizes only,
                                                # no PyTensor cold compile
    python benchmarks/bench_core.py --only w4 startup   # some sections only

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
    vectors of n = 1e5 and 1e7, against NumPy (one temporary per operation), numexpr (2 threads) and
    JAX jit. Reported in ms per call and as a multiple of NumPy's time.

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

How times are taken
    Each callable is called once to warm up (JIT compilation, caches), then ``timeit`` picks a loop
    count so that one repeat lasts at least ``min_time``. The contenders of a table then take turns,
    one repeat each per round, for ``repeat`` rounds; the median repeat divided by the loop count is
    reported. JAX results are ``block_until_ready()``-ed inside the timed call and JAX inputs are
    placed on the device once beforehand (its usual steady state); every other implementation takes
    and returns NumPy arrays. JAX runs with ``jax_enable_x64`` so float64 stays float64.

The load average is printed before and after: the machine may be shared, and on 2 cores one busy
neighbour slows multi-threaded BLAS calls (NumPy's OpenBLAS spins its threads) far more than it slows
single-threaded code, so read small-GEMM numbers taken under load with care.

Every competitor is optional: if its import fails, a line "skipped: <name> not installed" is printed
and its cells read "—". A failure inside symgrad is reported as "error" in its cells, with the
exception listed under the tables, and the run continues.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import timeit
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# Benchmark the checkout this file lives in, not some other installed symgrad.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MISSING = "—"
W1_EXPR = "exp(-x**2/2)*sin(3*x) + log1p(y**2)*tanh(x*y)"
W2_SMALL = (64, 100, 100, 10)
W2_LARGE = (4096, 1024, 1024, 10)
W2_NUMPY = "NumPy (hand backprop)"
W2_PYTENSOR = "PyTensor (default mode)"
W2_GEMMS = "GEMMs alone (5 np.dot)"


# --------------------------------------------------------------------------- settings and report


@dataclass(frozen=True)
class Settings:
    quick: bool
    repeat: int  # timeit repeats; the median is reported
    min_time: float  # seconds one repeat should last at least
    w1_sizes: tuple[int, ...]
    w2_cases: tuple[tuple[tuple[int, int, int, int], str], ...]

    @classmethod
    def make(cls, quick: bool) -> Settings:
        if quick:
            return cls(True, 3, 0.01, (100_000,), ((W2_SMALL, "float64"),))
        return cls(False, 7, 0.2, (100_000, 10_000_000), ((W2_SMALL, "float64"), (W2_LARGE, "float32")))


@dataclass
class Report:
    """Collects notes (errors, mismatches) printed after the tables."""

    notes: list[str] = field(default_factory=list)

    def error(self, what: str, exc: BaseException) -> str:
        """Record an exception (with the innermost frames of its traceback); return the cell "error"."""
        if isinstance(exc, ChildFailed):  # its message already is the child's traceback
            detail = str(exc)
        else:
            detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
        self.notes.append(f"**{what}** failed:\n\n```\n{detail.rstrip()}\n```")
        return "error"


class ChildFailed(RuntimeError):
    """A fresh benchmark process exited with an error; the message is the end of its stderr."""


# A cell is either a time in seconds or a string shown as is ("—", "error").
Cell = float | str


# --------------------------------------------------------------------------- optional libraries


def try_import(name: str) -> object | None:
    """Import an optional competitor (configured for the benchmark), or None when unavailable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTensor warns at import when it finds no BLAS flags
            module = importlib.import_module(name)
            if name == "pytensor":
                importlib.import_module("pytensor.tensor")
    except Exception:  # any import failure means "not available"
        return None
    if name == "jax":
        module.config.update("jax_enable_x64", True)
    if name == "numexpr":
        module.set_num_threads(2)
    return module


def version_of(module: object | None) -> str:
    return getattr(module, "__version__", "?") if module is not None else "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"


# --------------------------------------------------------------------------- timing and checks


def loop_count(fn: Callable[[], object], min_time: float) -> int:
    """After a warm-up call, the number of calls of ``fn`` that lasts at least ``min_time`` seconds."""
    fn()
    number = 1
    while True:
        elapsed = timeit.timeit(fn, number=number)
        if elapsed >= min_time:
            return number
        grow = min_time / elapsed * 1.1 if elapsed > 0 else 10
        number = max(number * 2, int(number * grow))


def time_interleaved(
    fns: dict[str, Callable[[], object]], settings: Settings, report: Report, workload: str
) -> dict[str, Cell]:
    """Median per-call seconds of each callable, in ``settings.repeat`` rounds that take turns.

    Taking turns (one repeat of each contender per round) spreads slow drifts of the machine (clock
    changes, a neighbour's burst of work) over every contender instead of landing on one.
    """
    numbers: dict[str, int] = {}
    cells: dict[str, Cell] = {}
    for name, fn in fns.items():
        try:
            numbers[name] = loop_count(fn, settings.min_time)
        except Exception as exc:
            cells[name] = report.error(f"{workload}, {name} (timing)", exc)
    samples: dict[str, list[float]] = {name: [] for name in numbers}
    for _ in range(settings.repeat):
        for name, number in numbers.items():
            samples[name].append(timeit.timeit(fns[name], number=number) / number)
    cells.update({name: statistics.median(times) for name, times in samples.items()})
    return cells


def as_arrays(out: object) -> list[np.ndarray]:
    """Flatten a result (array, scalar, tuple/list, JAX's ``(value, (g1, g2))``) to NumPy arrays."""
    if isinstance(out, (list, tuple)):
        return [a for item in out for a in as_arrays(item)]
    return [np.asarray(out)]


def mismatch(got: object, want: object, rtol: float) -> str | None:
    """None if ``got`` agrees with ``want`` output by output, else a description of the worst error."""
    got_arrays, want_arrays = as_arrays(got), as_arrays(want)
    if len(got_arrays) != len(want_arrays):
        return f"{len(got_arrays)} outputs, expected {len(want_arrays)}"
    for i, (g, w) in enumerate(zip(got_arrays, want_arrays, strict=True)):
        if g.shape != w.shape:
            return f"output {i}: shape {g.shape}, expected {w.shape}"
        w64, g64 = w.astype(np.float64), g.astype(np.float64)
        atol = rtol * float(np.max(np.abs(w64), initial=0.0))
        if not np.allclose(g64, w64, rtol=rtol, atol=atol):
            err = float(np.max(np.abs(g64 - w64) / (np.abs(w64) + atol + 1e-300)))
            return f"output {i}: max relative error {err:.2e} > rtol {rtol:g}"
    return None


@dataclass
class Contender:
    """One implementation of a workload: ``build()`` compiles and returns a zero-argument callable."""

    name: str
    build: Callable[[], Callable[[], object]] | None  # None: library not installed
    checked: bool = True  # compare its output with the reference's (False for partial work)


def when(lib: object | None, build: Callable) -> Callable | None:
    """``build`` if the library it needs is installed, else None (shown as "—")."""
    return build if lib is not None else None


@dataclass
class Timings:
    """Per-call seconds (or "—"/"error") by contender name, and the names whose output disagreed."""

    cells: dict[str, Cell]
    flagged: set[str]

    def show(self, name: str, scale: float) -> str:
        return fmt_time(self.cells[name], scale) + (" †" if name in self.flagged else "")

    def ratio(self, name: str, base: str) -> str:
        return fmt_ratio(self.cells[name], self.cells[base])


def run_contenders(
    contenders: Sequence[Contender],
    settings: Settings,
    report: Report,
    workload: str,
    references: Sequence[str],
    rtol: float,
) -> Timings:
    """Build each contender, check its output against the first of ``references`` that ran, time it."""
    outputs: dict[str, object] = {}
    callables: dict[str, Callable[[], object]] = {}
    cells: dict[str, Cell] = {}
    for c in contenders:
        if c.build is None:
            cells[c.name] = MISSING
            continue
        try:
            fn = c.build()
            outputs[c.name] = fn()
            callables[c.name] = fn
        except Exception as exc:
            cells[c.name] = report.error(f"{workload}, {c.name}", exc)
    flagged: set[str] = set()
    checked = {c.name: c.checked for c in contenders}
    reference = next((r for r in references if r in outputs), None)
    for name, out in outputs.items():
        if reference is None or name == reference or not checked[name]:
            continue
        problem = mismatch(out, outputs[reference], rtol)
        if problem:
            flagged.add(name)
            report.notes.append(f"**{workload}, {name}** disagrees with {reference} (†): {problem}")
    cells.update(time_interleaved(callables, settings, report, workload))
    return Timings(cells, flagged)


# --------------------------------------------------------------------------- formatting


def fmt_time(cell: Cell, scale: float) -> str:
    """A time in seconds shown in the unit ``scale`` (1e3: ms, 1e6: µs); strings pass through."""
    if isinstance(cell, str):
        return cell
    value = cell * scale
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def fmt_ratio(cell: Cell, base: Cell) -> str:
    if isinstance(cell, str) or isinstance(base, str) or base == 0:
        return MISSING
    return f"{cell / base:.2f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def sized_table(names: Sequence[str], results: dict[str, Timings], bases: Sequence[str]) -> str:
    """Rows: implementations; per problem size, a ms column and one "× base" column per base."""
    headers = ["implementation"]
    for label in results:
        headers += [f"{label}: ms", *(f"× {base.split(' (')[0]}" for base in bases)]
    rows = []
    for name in names:
        row = [name]
        for t in results.values():
            row += [t.show(name, 1e3), *(t.ratio(name, base) for base in bases)]
        rows.append(row)
    return markdown_table(headers, rows)


def print_section(title: str, intro: str, table: str) -> None:
    print(f"\n## {title}\n\n{intro}\n\n{table}", flush=True)


# --------------------------------------------------------------------------- W4: call overhead


def bench_w4(settings: Settings, libs: dict[str, object | None], report: Report) -> None:
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


def w1_contenders(libs: dict[str, object | None], x: np.ndarray, y: np.ndarray) -> list[Contender]:
    theano, T, jax, ne = libs["symgrad"], libs["symgrad.tensor"], libs["jax"], libs["numexpr"]

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

    return [
        Contender("symgrad", symgrad_build),
        Contender("NumPy", lambda: lambda: numpy_w1(x, y)),
        Contender("numexpr (2 threads)", when(ne, numexpr_build)),
        Contender("JAX jit", when(jax, jax_build)),
    ]


def bench_w1(settings: Settings, libs: dict[str, object | None], report: Report) -> None:
    results: dict[str, Timings] = {}
    for n in settings.w1_sizes:
        rng = np.random.default_rng(0)
        contenders = w1_contenders(libs, rng.standard_normal(n), rng.standard_normal(n))
        label = f"n={n:.0e}"
        results[label] = run_contenders(contenders, settings, report, f"W1 {label}", ["symgrad", "NumPy"], 1e-9)
    print_section(
        "W1: fused elementwise, float64 vectors",
        f"`{W1_EXPR}`; median ms per call and time ÷ NumPy's time (< 1 is faster than NumPy).",
        sized_table([c.name for c in contenders], results, ["NumPy"]),
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


def w2_contenders(libs: dict[str, object | None], data: tuple[np.ndarray, ...], dtype: str) -> list[Contender]:
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


def bench_w2(settings: Settings, libs: dict[str, object | None], report: Report) -> None:
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
        sized_table([c.name for c in contenders], results, [W2_NUMPY, W2_PYTENSOR]),
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


def run_fresh(code: str, env: dict[str, str], extra_path: Sequence[str] = ()) -> dict[str, float]:
    """Run ``code`` in a new interpreter; return its JSON line plus ``wall_s`` seen from here."""
    full_env = {**os.environ, **env}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), str(BENCH_DIR), *extra_path, os.environ.get("PYTHONPATH", "")]
    )
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ChildFailed(f"fresh process exited with status {proc.returncode}:\n{tail}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


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


def bench_startup(settings: Settings, libs: dict[str, object | None], report: Report) -> None:
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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, small sizes only")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS), help="sections to run")
    args = parser.parse_args(argv)
    settings = Settings.make(args.quick)

    print("# symgrad core benchmarks\n")
    libs: dict[str, object | None] = {}
    import symgrad  # the subject: not optional
    import symgrad.tensor

    libs["symgrad"], libs["symgrad.tensor"] = symgrad, symgrad.tensor
    optional = ("numba", "jax", "pytensor", "numexpr", "sympy")
    for name in optional:
        libs[name] = try_import(name)

    versions = ", ".join(
        [f"python {platform.python_version()}", f"numpy {np.__version__}"]
        + [f"{name} {version_of(libs[name])}" for name in optional]
        + [f"symgrad {version_of(symgrad)}"]
    )
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; {versions}")
    print(f"\nload average at start: {load_average()}")
    for name in optional:
        if libs[name] is None:
            print(f"\nskipped: {name} not installed")
    pytensor = libs["pytensor"]
    # PyTensor warns at length when it finds no BLAS to link to; the line below says it once.
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    if pytensor is not None and not pytensor.config.blas__ldflags:
        print("\nPyTensor found no BLAS to link its C code to (pip install): its default mode's dot and gemm")
        print("call BLAS through NumPy's C API instead.")
    print(
        f"\nmode: {'quick' if settings.quick else 'full'} "
        f"(timeit median of {settings.repeat} repeats, each ≥ {settings.min_time * 1e3:g} ms)"
    )

    report = Report()
    for name in args.only:
        SECTIONS[name](settings, libs, report)
    print(f"\nload average at end: {load_average()} (other work on the machine makes times noisy)")
    if report.notes:
        print("\n## Notes\n")
        for note in report.notes:
            print(f"- {note}\n")


if __name__ == "__main__":
    main()
