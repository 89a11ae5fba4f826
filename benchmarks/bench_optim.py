"""Optimization and training benchmarks of symgrad against SciPy, JAX, PyTensor, CasADi, PyTorch and Numba.

Run from the repository root::

    python benchmarks/bench_optim.py                    # full run, about 4 minutes on 2 cores
    python benchmarks/bench_optim.py --quick            # smoke run, under a minute: small sizes only
    python benchmarks/bench_optim.py --only w3 lbfgsb   # some sections only

The output is Markdown: a machine line, then one table per workload; every ratio in a table is
computed from times taken in the same run, on the same inputs. Timing, checks and formatting are
``harness.py``'s, shared by every script here: each callable is called once to warm up, the
contenders of a table take turns for ``repeat`` rounds and the median is reported; JAX inputs live
on the device and JAX results are ``block_until_ready()``-ed; missing competitors are skipped with
a note.

What is measured
----------------
W3  The extended Rosenbrock function ``sum(100 (x[1:] - x[:-1]**2)**2 + (1 - x[:-1])**2)``, value
    and gradient together, at n = 10, 1000 and 1e6 (random x). symgrad is timed as SciPy calls it,
    ``objective(cost, x).fun(x)`` (a float and a gradient array), and as the plain compiled
    ``theano.function([x], [cost, grad])``. Competitors: a hand-written ``numba.njit`` loop (the
    floor: one pass, value and gradient together), SciPy's NumPy ``rosen`` + ``rosen_der``, JAX
    ``jit(value_and_grad)``, PyTensor ``function([x], [cost, grad(cost, x)])`` in its default mode,
    and a CasADi ``SX`` function of value and ``gradient`` (n ≤ 1000: its expression graph has a
    node per element).

HVP The Hessian-vector product of the same function at n = 1000 and 1e6: symgrad's
    ``objective(...).hessp``, a hand-written Numba loop, SciPy's ``rosen_hess_prod``, JAX
    forward-over-reverse ``jit(jvp(grad(f)))``, PyTensor ``grad(dot(grad(f), p), x)`` and CasADi
    ``jtimes`` (n ≤ 1000).

L-BFGS-B  ``scipy.optimize.minimize(method='L-BFGS-B')`` solving n = 1000 from the standard start
    (-1.2, 1, -1.2, 1, ...) with default tolerances, each contender's value and gradient handed over
    as one ``jac=True`` function returning a float and a NumPy array (SciPy's own: ``rosen`` with
    ``jac=rosen_der``). Seconds per solve, with the iterations and evaluations each took (rounding
    differences can change the path slightly). BLAS is limited to one thread here: SciPy's L-BFGS-B
    makes thousands of tiny BLAS calls, and OpenBLAS threads spinning on a shared 2-core machine
    made every solve 10-20 times slower, whatever computed the gradient.

Train  One training step of the W2 net of ``bench_core.py`` (``h = relu(x @ w1); loss = sum((h @ w2 -
    y)**2)``): forward, backward and an Adam update of ``w1`` and ``w2`` (learning rate 1e-3, torch's
    formulas) written in place, at (N, D, H, C) = (64, 100, 100, 10) float64 and (4096, 1024, 1024,
    10) float32. symgrad: shared weights and ``function([x, y], loss, updates=optim.adam(loss,
    [w1, w2]))``. JAX: ``jit`` of value_and_grad plus optax's ``adam`` (and plus a hand-written Adam),
    parameters and optimizer state donated so XLA updates their buffers in place. PyTorch: eager
    ``loss.backward()`` and ``torch.optim.Adam.step()``, with its default threads and with one
    (on a busy 2-core machine its two OpenMP threads made the small step 50-100 times slower).
    Before timing, the losses of three steps from the same start are compared with symgrad's (rtol
    1e-6 in float64, 1e-3 in float32).

The machine may be shared: the load average is printed before and after, and medians of interleaved
rounds are reported to damp the noise. Unit tests never assert these times.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy
import scipy.optimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import make_w2_data, with_torch_threads  # noqa: E402 (the path above makes the benchmarks importable from anywhere)
from harness import (  # noqa: E402
    MISSING,
    Contender,
    Libs,
    Report,
    Settings,
    Timings,
    fmt_ratio,
    fmt_time,
    markdown_table,
    mismatch,
    print_section,
    run_contenders,
    sized_table,
    time_interleaved,
    try_import,
    when,
)
from harness import main as harness_main  # noqa: E402

HAND = "hand Numba (floor)"
SYMGRAD_FUN = "symgrad `objective(...).fun`"
SYMGRAD_RAW = "symgrad `theano.function`"
JAX_FG = "JAX `jit(value_and_grad)`"
JAX_HVP = "JAX `jit(jvp(grad(f)))`"
LEARNING_RATE = 1e-3


@dataclass(frozen=True)
class OptimSettings(Settings):
    w3_sizes: tuple[int, ...] = ()
    hvp_sizes: tuple[int, ...] = ()
    train_cases: tuple[tuple[tuple[int, int, int, int], str], ...] = ()

    @classmethod
    def make(cls, quick: bool) -> OptimSettings:
        small, large = ((64, 100, 100, 10), "float64"), ((4096, 1024, 1024, 10), "float32")
        if quick:
            return cls(True, *cls.timing(True), (10, 1000), (1000,), (small,))
        return cls(False, *cls.timing(False), (10, 1000, 1_000_000), (1000, 1_000_000), (small, large))


def rosen_x(n: int) -> np.ndarray:
    return np.random.default_rng(n).uniform(-2.0, 2.0, n)


def standard_start(n: int) -> np.ndarray:
    return np.tile([-1.2, 1.0], n // 2)


# --------------------------------------------------------------------------- the Rosenbrock contenders


def symgrad_rosen(libs: Libs):
    """symgrad's objective (the SciPy bridge) for the Rosenbrock function, built once and shared."""
    T = libs["symgrad.tensor"]
    from symgrad.optimize import objective

    x = T.dvector("x")
    return objective(T.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2), x, name="rosen")


HAND_NUMBA_SOURCE = '''
def rosen_fg(x):
    """Value and gradient in one pass."""
    n = x.shape[0]
    g = np.empty(n)
    f = 0.0
    g[0] = 0.0
    for i in range(n - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1.0 - x[i]
        f += 100.0 * a * a + b * b
        g[i] += -400.0 * a * x[i] - 2.0 * b
        g[i + 1] = 200.0 * a
    return f, g


def rosen_hessp(x, p):
    n = x.shape[0]
    hp = np.empty(n)
    for i in range(n):
        d = 0.0
        if i < n - 1:
            d += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        if i > 0:
            d += 200.0
        v = d * p[i]
        if i < n - 1:
            v -= 400.0 * x[i] * p[i + 1]
        if i > 0:
            v -= 400.0 * x[i - 1] * p[i - 1]
        hp[i] = v
    return hp
'''


def hand_numba(numba: object) -> dict[str, Callable]:
    """The hand-written kernels, compiled by ``numba.njit`` (the floor for a per-element loop)."""
    namespace: dict[str, object] = {"np": np}
    exec(HAND_NUMBA_SOURCE, namespace)
    return {name: numba.njit(namespace[name]) for name in ("rosen_fg", "rosen_hessp")}


def jax_rosen(jax: object) -> Callable:
    jnp = jax.numpy
    return lambda x: jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def pytensor_rosen(pytensor: object, hvp: bool) -> Callable:
    pt = pytensor.tensor
    x = pt.dvector("x")
    cost = pt.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    grad = pytensor.grad(cost, x)
    if not hvp:
        return pytensor.function([x], [cost, grad])
    p = pt.dvector("p")
    return pytensor.function([x, p], pytensor.grad(pt.dot(grad, p), x))


def casadi_rosen(casadi: object, n: int, hvp: bool) -> Callable:
    x = casadi.SX.sym("x", n)
    cost = casadi.sum1(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    grad = casadi.gradient(cost, x)
    if not hvp:
        return casadi.Function("rosen_fg", [x], [cost, grad])
    p = casadi.SX.sym("p", n)
    return casadi.Function("rosen_hessp", [x, p], [casadi.jtimes(grad, x, p)])


def casadi_arrays(out: object) -> list[np.ndarray]:
    """CasADi's DM results as flat NumPy arrays (for the correctness check)."""
    return [np.asarray(dm).ravel() if np.asarray(dm).size > 1 else np.asarray(dm).reshape(()) for dm in out]


# --------------------------------------------------------------------------- W3: value and gradient


def w3_contenders(libs: Libs, x: np.ndarray, rosen, hand: dict[str, Callable] | None) -> list[Contender]:
    jax, pytensor, casadi = libs["jax"], libs["pytensor"], libs["casadi"]
    n = x.size

    def symgrad_raw() -> Callable[[], object]:
        f = libs["symgrad"].function([rosen.x], [rosen.cost, libs["symgrad.tensor"].grad(rosen.cost, rosen.x)])
        return lambda: f(x)

    def jax_build() -> Callable[[], object]:
        f, on_device = jax.jit(jax.value_and_grad(jax_rosen(jax))), jax.device_put(x)
        return lambda: jax.block_until_ready(f(on_device))

    def pytensor_build() -> Callable[[], object]:
        f = pytensor_rosen(pytensor, hvp=False)
        return lambda: f(x)

    def casadi_build() -> Callable[[], object]:
        f = casadi_rosen(casadi, n, hvp=False)
        check = casadi_arrays(f(x))  # DMs convert to NumPy outside the timed call
        return CheckedCall(lambda: f(x), check)

    return [
        Contender(SYMGRAD_FUN, lambda: lambda: rosen.fun(x)),
        Contender(SYMGRAD_RAW, symgrad_raw),
        Contender(HAND, when(hand, lambda: lambda: hand["rosen_fg"](x))),
        Contender(
            "SciPy `rosen` + `rosen_der` (NumPy)",
            lambda: lambda: (scipy.optimize.rosen(x), scipy.optimize.rosen_der(x)),
        ),
        Contender(JAX_FG, when(jax, jax_build)),
        Contender("PyTensor (default mode)", when(pytensor, pytensor_build)),
        Contender("CasADi `SX` Function", when(casadi if n <= 1000 else None, casadi_build)),
    ]


class CheckedCall:
    """A timed callable whose first call returns ``check`` (NumPy arrays) for the correctness check."""

    def __init__(self, fn: Callable[[], object], check: object) -> None:
        self.fn, self.check, self.first = fn, check, True

    def __call__(self) -> object:
        if self.first:
            self.first = False
            return self.check
        return self.fn()


def bench_w3(settings: OptimSettings, libs: Libs, report: Report) -> None:
    rosen = symgrad_rosen(libs)
    hand = hand_numba(libs["numba"]) if libs["numba"] is not None else None
    results: dict[str, Timings] = {}
    for n in settings.w3_sizes:
        contenders = w3_contenders(libs, rosen_x(n), rosen, hand)
        label = f"n={n:g}"
        results[label] = run_contenders(contenders, settings, report, f"W3 {label}", [HAND, SYMGRAD_FUN], 1e-9)
    print_section(
        "W3: Rosenbrock value + gradient",
        "Median µs per call; time ÷ the hand-written Numba loop's and ÷ JAX's (< 1 is faster).",
        sized_table([c.name for c in contenders], results, {HAND: "hand Numba", JAX_FG: "JAX"}, unit="µs"),
    )


# --------------------------------------------------------------------------- HVP


def hvp_contenders(libs: Libs, x: np.ndarray, p: np.ndarray, rosen, hand) -> list[Contender]:
    jax, pytensor, casadi = libs["jax"], libs["pytensor"], libs["casadi"]

    def jax_build() -> Callable[[], object]:
        f = jax_rosen(jax)
        hvp = jax.jit(lambda x, p: jax.jvp(jax.grad(f), (x,), (p,))[1])
        xd, pd = jax.device_put(x), jax.device_put(p)
        return lambda: hvp(xd, pd).block_until_ready()

    def pytensor_build() -> Callable[[], object]:
        f = pytensor_rosen(pytensor, hvp=True)
        return lambda: f(x, p)

    def casadi_build() -> Callable[[], object]:
        f = casadi_rosen(casadi, x.size, hvp=True)
        return CheckedCall(lambda: f(x, p), casadi_arrays([f(x, p)]))

    return [
        Contender("symgrad `objective(...).hessp`", lambda: lambda: rosen.hessp(x, p)),
        Contender(HAND, when(hand, lambda: lambda: hand["rosen_hessp"](x, p))),
        Contender("SciPy `rosen_hess_prod` (NumPy)", lambda: lambda: scipy.optimize.rosen_hess_prod(x, p)),
        Contender(JAX_HVP, when(jax, jax_build)),
        Contender("PyTensor (default mode)", when(pytensor, pytensor_build)),
        Contender("CasADi `jtimes`", when(casadi if x.size <= 1000 else None, casadi_build)),
    ]


def bench_hvp(settings: OptimSettings, libs: Libs, report: Report) -> None:
    rosen = symgrad_rosen(libs)
    hand = hand_numba(libs["numba"]) if libs["numba"] is not None else None
    results: dict[str, Timings] = {}
    for n in settings.hvp_sizes:
        x, p = rosen_x(n), np.random.default_rng(n + 1).standard_normal(n)
        contenders = hvp_contenders(libs, x, p, rosen, hand)
        label = f"n={n:g}"
        results[label] = run_contenders(contenders, settings, report, f"HVP {label}", [HAND], 1e-9)
    print_section(
        "HVP: Rosenbrock Hessian-vector product",
        "Median µs per call; time ÷ the hand-written Numba loop's and ÷ JAX's (< 1 is faster).",
        sized_table([c.name for c in contenders], results, {HAND: "hand Numba", JAX_HVP: "JAX"}, unit="µs"),
    )


# --------------------------------------------------------------------------- L-BFGS-B


def lbfgsb_fg(libs: Libs, rosen, hand) -> dict[str, Callable | None]:
    """Each contender's ``x -> (float, ndarray)``, the form SciPy's ``jac=True`` takes."""
    jax, pytensor, casadi = libs["jax"], libs["pytensor"], libs["casadi"]
    fgs: dict[str, Callable | None] = {
        HAND: hand["rosen_fg"] if hand else None,
        SYMGRAD_FUN: rosen.fun,
        JAX_FG: None,
        "PyTensor (default mode)": None,
        "CasADi `SX` Function": None,
    }
    if jax is not None:
        f = jax.jit(jax.value_and_grad(jax_rosen(jax)))

        def jax_fg(x: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = f(x)
            return float(value), np.asarray(grad)

        fgs[JAX_FG] = jax_fg
    if pytensor is not None:
        g = pytensor_rosen(pytensor, hvp=False)

        def pytensor_fg(x: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = g(x)
            return float(value), grad

        fgs["PyTensor (default mode)"] = pytensor_fg
    if casadi is not None:
        c = casadi_rosen(casadi, 1000, hvp=False)

        def casadi_fg(x: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = c(x)
            return float(value), np.asarray(grad).ravel()

        fgs["CasADi `SX` Function"] = casadi_fg
    return fgs


def bench_lbfgsb(settings: OptimSettings, libs: Libs, report: Report) -> None:
    threadpoolctl = try_import("threadpoolctl")
    rosen = symgrad_rosen(libs)
    hand = hand_numba(libs["numba"]) if libs["numba"] is not None else None
    x0 = standard_start(1000)
    solvers: dict[str, Callable[[], object]] = {
        name: (lambda fg=fg: scipy.optimize.minimize(fg, x0, jac=True, method="L-BFGS-B"))
        for name, fg in lbfgsb_fg(libs, rosen, hand).items()
        if fg is not None
    }
    scipy_name = "SciPy `rosen`, `jac=rosen_der` (NumPy)"
    solvers[scipy_name] = lambda: scipy.optimize.minimize(
        scipy.optimize.rosen, x0, jac=scipy.optimize.rosen_der, method="L-BFGS-B"
    )
    names = [HAND, SYMGRAD_FUN, scipy_name, JAX_FG, "PyTensor (default mode)",
             "CasADi `SX` Function"]  # fmt: skip
    limits = threadpoolctl.threadpool_limits(1, user_api="blas") if threadpoolctl else None
    try:
        results = {}
        for name, solve in solvers.items():
            try:
                results[name] = solve()  # also the warm-up: compiles what the contender compiles
            except Exception as exc:
                report.error(f"L-BFGS-B, {name}", exc)
        cells = time_interleaved({name: solvers[name] for name in results}, settings, report, "L-BFGS-B")
    finally:
        if limits is not None:
            limits.restore_original_limits()
    rows = []
    for name in names:
        cell = cells.get(name, MISSING if name not in solvers else "error")
        r = results.get(name)
        stats = [str(r.nit), str(r.nfev), f"{np.max(np.abs(r.x - 1)):.1e}"] if r is not None else [MISSING] * 3
        rows.append([name, fmt_time(cell, 1e3), fmt_ratio(cell, cells.get(HAND, MISSING)), *stats])
    note = "" if threadpoolctl else " (threadpoolctl is not installed: BLAS threads were not limited)"
    print_section(
        "L-BFGS-B: a full solve of Rosenbrock n = 1000 from the standard start",
        "Median ms per solve (default tolerances, BLAS on one thread" + note + "); time ÷ the hand-written "
        "Numba value+gradient's; iterations, value+gradient evaluations and the largest |x - 1| at the end.",
        markdown_table(
            ["value + gradient from", "ms/solve", "× hand Numba", "iterations", "evaluations", "max |x - 1|"], rows
        ),
    )


# --------------------------------------------------------------------------- training step


def symgrad_trainer(libs: Libs, data: tuple[np.ndarray, ...], dtype: str) -> Callable[[], object]:
    theano, T = libs["symgrad"], libs["symgrad.tensor"]
    from symgrad import optim

    x_data, w1_data, w2_data, y_data = data
    matrix = T.dmatrix if dtype == "float64" else T.fmatrix
    x, y = matrix("x"), matrix("y")
    w1, w2 = theano.shared(w1_data, name="w1"), theano.shared(w2_data, name="w2")
    loss = T.sum((T.dot(T.nnet.relu(T.dot(x, w1)), w2) - y) ** 2)
    train = theano.function([x, y], loss, updates=optim.adam(loss, [w1, w2], learning_rate=LEARNING_RATE))
    return lambda: train(x_data, y_data)


def jax_trainer(jax: object, optax: object | None, data: tuple[np.ndarray, ...]) -> Callable[[], object]:
    """JAX jit; with ``optax`` None, a hand-written Adam with torch's formulas."""
    jnp = jax.numpy
    x, w1, w2, y = (jax.device_put(a) for a in data)

    def loss_fn(params, x, y):
        w1, w2 = params
        return jnp.sum((jnp.maximum(x @ w1, 0) @ w2 - y) ** 2)

    params = (w1, w2)
    if optax is not None:
        opt = optax.adam(LEARNING_RATE)
        state = opt.init(params)

        def update(params, state, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            updates, state = opt.update(grads, state, params)
            return optax.apply_updates(params, updates), state, loss

    else:
        zero = jnp.zeros((), w1.dtype)  # the step count, in the parameters' dtype so they keep it
        state = (jnp.zeros_like(w1), jnp.zeros_like(w2), jnp.zeros_like(w1), jnp.zeros_like(w2), zero)

        def update(params, state, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            *moments, t = state
            t = t + 1
            m = [0.9 * mi + 0.1 * g for mi, g in zip(moments[:2], grads)]
            v = [0.999 * vi + 0.001 * g * g for vi, g in zip(moments[2:], grads)]
            new = tuple(
                p - LEARNING_RATE * (mi / (1 - 0.9**t)) / (jnp.sqrt(vi / (1 - 0.999**t)) + 1e-8)
                for p, mi, vi in zip(params, m, v)
            )
            return new, (*m, *v, t), loss

    step_fn = jax.jit(update, donate_argnums=(0, 1))
    carry = [params, state]

    def step() -> object:
        carry[0], carry[1], loss = step_fn(carry[0], carry[1], x, y)
        return loss.block_until_ready()

    return step


def torch_trainer(torch: object, data: tuple[np.ndarray, ...], threads: int | None = None) -> Callable[[], object]:
    """PyTorch eager; with ``threads``, its intra-op thread count during the step (restored after)."""
    x, w1, w2, y = (torch.from_numpy(a.copy()) for a in data)
    w1.requires_grad_(True)
    w2.requires_grad_(True)
    opt = torch.optim.Adam([w1, w2], lr=LEARNING_RATE)

    def step() -> object:
        opt.zero_grad(set_to_none=True)
        loss = ((torch.relu(x @ w1) @ w2 - y) ** 2).sum()
        loss.backward()
        opt.step()
        return loss.detach()

    return step if threads is None else with_torch_threads(torch, step, threads)


def bench_train(settings: OptimSettings, libs: Libs, report: Report) -> None:
    jax, optax, torch = libs["jax"], libs["optax"], libs["torch"]
    names = ["symgrad", "JAX jit + optax `adam`", "JAX jit + hand Adam", "PyTorch eager (`torch.optim.Adam`)",
             "PyTorch eager, one thread"]  # fmt: skip
    tables: dict[str, Timings] = {}
    for size, dtype in settings.train_cases:
        data = make_w2_data(size, dtype)
        label = f"{size} {dtype}"
        builders: dict[str, Callable[[], Callable[[], object]] | None] = {
            names[0]: lambda data=data, dtype=dtype: symgrad_trainer(libs, data, dtype),
            names[1]: (lambda data=data: jax_trainer(jax, optax, data)) if jax and optax else None,
            names[2]: (lambda data=data: jax_trainer(jax, None, data)) if jax else None,
            names[3]: (lambda data=data: torch_trainer(torch, data)) if torch else None,
            names[4]: (lambda data=data: torch_trainer(torch, data, threads=1)) if torch else None,
        }
        rtol = 1e-6 if dtype == "float64" else 1e-3
        steps: dict[str, Callable[[], object]] = {}
        cells: dict[str, object] = {}
        flagged: set[str] = set()
        reference = None
        for name, build in builders.items():
            if build is None:
                cells[name] = MISSING
                continue
            try:
                check = build()  # a fresh start: three steps, for the check
                losses = [float(np.asarray(check())) for _ in range(3)]
                steps[name] = build()  # another fresh start, for the timing
            except Exception as exc:
                cells[name] = report.error(f"train {label}, {name}", exc)
                continue
            if reference is None:
                reference = losses
            elif problem := mismatch(losses, reference, rtol):
                flagged.add(name)
                report.notes.append(f"**train {label}, {name}** disagrees with symgrad's losses (†): {problem}")
        cells.update(time_interleaved(steps, settings, report, f"train {label}"))
        tables[label] = Timings(cells, flagged)
    headers = ["implementation"]
    for label in tables:
        headers += [f"{label}: ms", "× JAX+optax", "× PyTorch"]
    rows = []
    for name in names:
        row = [name]
        for t in tables.values():
            row += [t.show(name, 1e3), t.ratio(name, names[1]), t.ratio(name, names[3])]
        rows.append(row)
    print_section(
        "Train: one step (forward, backward, Adam in place) of the W2 net; sizes are (N, D, H, C)",
        "Median ms per step; time ÷ JAX-with-optax's and ÷ PyTorch's time (< 1 is faster).",
        markdown_table(headers, rows),
    )


# --------------------------------------------------------------------------- main


SECTIONS = {"w3": bench_w3, "hvp": bench_hvp, "lbfgsb": bench_lbfgsb, "train": bench_train}
OPTIONAL = ("numba", "jax", "optax", "pytensor", "casadi", "torch")


def main(argv: Sequence[str] | None = None) -> None:
    harness_main(
        "symgrad optimization and training benchmarks",
        __doc__.split("\n\n")[0],
        SECTIONS,
        OPTIONAL,
        OptimSettings.make,
        argv,
        always=[("scipy", scipy)],
    )


if __name__ == "__main__":
    main()
