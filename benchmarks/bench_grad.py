"""Gradient benchmarks: W5, logistic regression, and W6, the gradient of a deeply nested expression.

Run from the repository root::

    python benchmarks/bench_grad.py              # full run, about 5 minutes on 2 cores
    python benchmarks/bench_grad.py --quick      # smoke run: N = 400 only, depth 5 only
    python benchmarks/bench_grad.py --only w6    # one section

Timing, checks and tables are ``harness.py``'s (each callable is called once to warm up, the
contenders take turns for ``repeat`` rounds, the median is reported; missing competitors are skipped).

What is measured
----------------
W5  The Theano tutorial's logistic regression, its cost and its gradient with respect to the weights
    ``w`` and the bias ``b`` in one call, written in the naive form the tutorial uses::

        p = 1 / (1 + exp(-x·w - b))
        cost = mean(-y*log(p) - (1-y)*log(1-p)) + 0.01*sum(w**2)

    on N examples of 784 features in float64 (N = 400, the tutorial's, and 4000), labels y in {0, 1}.
    It exercises the stability rewrites (``log(sigmoid)`` → ``-softplus``), a reduction and the two
    matrix-vector products (x·w forward, xᵀ·(p - y) backward). Competitors: NumPy with the gradient
    derived by hand (``(p - y)/N``), JAX ``jit(value_and_grad)``, PyTensor (default mode and NUMBA)
    and PyTorch eager (``torch.autograd.grad``, on ``THREADS`` threads). The timed data has
    ``w ~ 0.01 N(0, 1)`` (so x·w has standard deviation 0.28 and every formula stays finite);
    the "finite" column then calls each contender once on the tutorial's own start, ``w ~ N(0, 1)``
    (x·w of standard deviation 28): there ``1 - p`` rounds to 0 for a fifth of the examples and the
    naive formula gives an infinite cost unless it is rewritten into a stable form.

W6  The gradient of ``g(g(...g(x)))``, ``g(t) = sin(t)*t + exp(t)`` nested ``depth`` times
    (5, 10, 20, 40), at x = -18.2012 (an orbit that stays finite to depth 40). Its expression
    *tree* grows as 3^depth (each level reads t three times), its *graph* linearly: the test is
    whether a tool keeps the sharing.

    symgrad (each depth in a fresh process with a fresh, empty ``SYMGRAD_CACHE_DIR``, after one
    unrelated warm-up compilation, so Numba's own start-up is not charged to the first depth):

    - *graph nodes*: the Apply nodes of the optimized graph that ``theano.function`` compiles
      (``symgrad.rewrite.optimize`` of the output, as ``compile_function`` runs it); one node per
      op, whatever its scalar expression (as JAX's equations);
    - *kernel ops*: the distinct scalar operations in the fused kernels that graph is lowered to
      (``codegen.lower.lower``): every kernel's local bindings and results are SymPy expressions;
      each distinct node of them counts as one operation per operand beyond the first (``a+b+c`` is
      2, ``sin(a)`` 1, ``a**2`` 1), a node that occurs twice counts once (LLVM computes it once);
    - *code ops*: the operations written in the generated kernel source (``f.source``): binary and
      unary operators, comparisons and calls, counted where they occur (a repeated ``(s1 + s2)``
      counts each time);
    - times: ``T.grad``; compiling the gradient and the forward function (cold cache); the same
      gradient compilation with the generated module's header comment (``codegen.module._formula``,
      the output's formula printed for the reader) replaced by a constant, a diagnostic that
      isolates that step; the gradient function's median per-call time.

    Competitors: JAX, the equations of ``jax.make_jaxpr`` of the forward and of ``jax.grad`` (with
    those of nested jaxprs), the trace time of ``make_jaxpr(grad)``, the compile time of
    ``jit(grad).lower(x).compile()`` and the per-call time; ``sympy.diff`` then ``sympy.cse`` of the
    result, and SymEngine's ``diff`` and ``cse``, with the size of their results counted as for
    symgrad's kernels (*tree ops*: with repetition, what a printer writes; *distinct ops*: each
    distinct node once; *after cse*: the operations of the straight-line program ``cse`` returns);
    and SymEngine's ``Lambdify(..., backend='llvm', cse=True)`` of the gradient, compiled and called.

    symgrad, SymPy and SymEngine run in child processes, each step of which gets a deadline (60 s,
    20 s with ``--quick``); a step past it is killed and reported as "> 60 s", and the deeper
    depths of that tool are not run.

The load average is printed before and after: the machine may be shared.
"""

from __future__ import annotations

import ast
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import with_torch_threads  # noqa: E402 (the path above makes the benchmarks importable)
from harness import (  # noqa: E402
    MISSING,
    THREADS,
    ChildSteps,
    Contender,
    Libs,
    Report,
    Settings,
    Timings,
    markdown_table,
    mismatch,
    print_section,
    run_contenders,
    run_with_deadlines,
    sized_table,
    time_interleaved,
    when,
)
from harness import main as harness_main  # noqa: E402

W5_FEATURES = 784
W5_NUMPY = "NumPy (hand gradient)"
W5_JAX = "JAX `jit(value_and_grad)`"
W6_X0 = -18.2012
W6_TARGET_RATIO = 3.0


@dataclass(frozen=True)
class GradSettings(Settings):
    w5_sizes: tuple[int, ...] = ()
    w6_depths: tuple[int, ...] = ()
    deadline: float = 60.0  # seconds a W6 child may spend in one step

    @classmethod
    def make(cls, quick: bool) -> GradSettings:
        if quick:
            return cls(True, *cls.timing(True), (400,), (5,), 20.0)
        return cls(False, *cls.timing(False), (400, 4000), (5, 10, 20, 40), 60.0)


# --------------------------------------------------------------------------- W5: logistic regression


def w5_data(n: int, tutorial_start: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``x, y, w, b``: N(0, 1) features, 0/1 labels, weights N(0, 1) scaled by 0.01 (or not)."""
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, W5_FEATURES))
    y = rng.integers(0, 2, n).astype(np.float64)
    w = rng.standard_normal(W5_FEATURES) * (1.0 if tutorial_start else 0.01)
    return x, y, w, 0.0


def numpy_w5(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple:
    """The naive cost, and its gradient derived by hand."""
    p = 1 / (1 + np.exp(-(x @ w) - b))
    cost = np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p)) + 0.01 * np.sum(w**2)
    d = (p - y) / x.shape[0]
    return cost, x.T @ d + 0.02 * w, np.sum(d)


def w5_functions(libs: Libs) -> dict[str, Callable[[], Callable] | str | None]:
    """Each contender's builder of ``f(x, y, w, b) -> (cost, dcost/dw, dcost/db)`` (None: not installed)."""
    theano, T, jax, pytensor, torch = (libs[k] for k in ("symgrad", "symgrad.tensor", "jax", "pytensor", "torch"))

    def symgrad_build() -> Callable:
        x, y, w, b = T.dmatrix("x"), T.dvector("y"), T.dvector("w"), T.dscalar("b")
        p = 1 / (1 + T.exp(-T.dot(x, w) - b))
        cost = T.mean(-y * T.log(p) - (1 - y) * T.log(1 - p)) + 0.01 * T.sum(w**2)
        return theano.function([x, y, w, b], [cost, *T.grad(cost, [w, b])])

    def jax_build() -> Callable:
        jnp = jax.numpy

        def cost(w, b, x, y):
            p = 1 / (1 + jnp.exp(-(x @ w) - b))
            return jnp.mean(-y * jnp.log(p) - (1 - y) * jnp.log(1 - p)) + 0.01 * jnp.sum(w**2)

        f = jax.jit(jax.value_and_grad(cost, argnums=(0, 1)))
        return lambda x, y, w, b: jax.block_until_ready(f(w, b, x, y))

    def pytensor_build(mode: str | None) -> Callable[[], Callable]:
        def build() -> Callable:
            pt = pytensor.tensor
            x, y, w, b = pt.dmatrix("x"), pt.dvector("y"), pt.dvector("w"), pt.dscalar("b")
            p = 1 / (1 + pt.exp(-pt.dot(x, w) - b))
            cost = pt.mean(-y * pt.log(p) - (1 - y) * pt.log(1 - p)) + 0.01 * pt.sum(w**2)
            return pytensor.function([x, y, w, b], [cost, *pytensor.grad(cost, [w, b])], mode=mode)

        return build

    def torch_build() -> Callable:
        def f(x, y, w, b):
            w = w.detach().requires_grad_(True)
            b = b.detach().requires_grad_(True)
            p = 1 / (1 + torch.exp(-(x @ w) - b))
            cost = torch.mean(-y * torch.log(p) - (1 - y) * torch.log(1 - p)) + 0.01 * torch.sum(w**2)
            gw, gb = torch.autograd.grad(cost, [w, b])
            return cost.detach(), gw, gb

        return f

    return {
        "symgrad": symgrad_build,
        W5_NUMPY: lambda: numpy_w5,
        W5_JAX: when(jax, jax_build),
        "PyTensor (default mode: C)": when(pytensor, pytensor_build(None)),
        "PyTensor (mode='NUMBA')": when(pytensor, pytensor_build("NUMBA")),
        f"PyTorch eager ({THREADS} threads)": when(torch, torch_build),
        "PyTorch eager (one thread)": when(torch, torch_build),
    }


def w5_arguments(name: str, libs: Libs, data: tuple) -> tuple:
    """``data`` as the contender takes it: JAX arrays on the device, PyTorch tensors, else NumPy."""
    if name == W5_JAX:
        return tuple(libs["jax"].device_put(a) for a in data)
    if name.startswith("PyTorch"):
        torch = libs["torch"]
        return tuple(torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in data)
    return data


def bench_w5(settings: GradSettings, libs: Libs, report: Report) -> None:
    builders = w5_functions(libs)
    functions: dict[str, Callable] = {}
    for name, build in builders.items():
        if build is not None:
            try:
                functions[name] = build()
            except Exception as exc:
                builders[name] = report.error(f"W5, {name} (build)", exc)
    torch = libs["torch"]

    def timed(name: str, data: tuple) -> Callable[[], object]:
        args = w5_arguments(name, libs, data)
        call = (lambda: functions[name](*args)) if name in functions else None
        if name.startswith("PyTorch"):
            return with_torch_threads(torch, call, 1 if "one thread" in name else THREADS)
        return call

    results: dict[str, Timings] = {}
    for n in settings.w5_sizes:
        data = w5_data(n)
        contenders = [
            Contender(name, (lambda name=name, data=data: timed(name, data)) if name in functions else build)
            for name, build in builders.items()
        ]
        label = f"N={n}"
        results[label] = run_contenders(contenders, settings, report, f"W5 {label}", ["symgrad", W5_NUMPY], 1e-7)
    # The tutorial's start, w ~ N(0, 1): who returns a finite cost and gradient?
    hard = w5_data(settings.w5_sizes[0], tutorial_start=True)
    finite: dict[str, str] = {}
    for name, build in builders.items():
        if name not in functions:
            finite[name] = MISSING if build is None else "error"
            continue
        try:
            with np.errstate(all="ignore"):  # NumPy's naive formula divides by zero there
                out = [np.asarray(a.detach() if hasattr(a, "detach") else a) for a in flatten(timed(name, hard)())]
            finite[name] = "yes" if all(np.all(np.isfinite(a)) for a in out) else f"no (cost {float(out[0]):g})"
        except Exception as exc:
            finite[name] = report.error(f"W5, {name} (tutorial start)", exc)
    table = sized_table(list(builders), results, {W5_NUMPY: "NumPy", W5_JAX: "JAX"})
    lines = table.splitlines()
    lines[0] += f" finite at w ~ N(0, 1), N={settings.w5_sizes[0]} |"
    lines[1] += "---|"
    lines[2:] = [line + f" {finite[name]} |" for line, name in zip(lines[2:], builders)]
    rewrites = getattr(functions.get("symgrad"), "rewrites", ())
    print_section(
        f"W5: logistic regression cost + gradient wrt w and b, {W5_FEATURES} features, float64",
        "Median ms per call; time ÷ NumPy's (hand gradient) and ÷ JAX's (< 1 is faster). Naive cost "
        "`mean(-y*log(p) - (1-y)*log(1-p)) + 0.01*sum(w**2)`, `p = 1/(1+exp(-x·w-b))`, timed at "
        "w ~ 0.01·N(0, 1); the last column calls each once at the tutorial's start w ~ N(0, 1).",
        "\n".join(lines) + f"\n\nsymgrad's rewrites that fired: {', '.join(rewrites) or 'none'}.",
    )


def flatten(out: object) -> list:
    if isinstance(out, (list, tuple)):
        return [a for item in out for a in flatten(item)]
    return [out]


# --------------------------------------------------------------------------- W6: op counting


def expression_ops(exprs: Iterable, cost: Callable[[object], int]) -> tuple[int, int]:
    """(tree ops, distinct ops) of SymPy or SymEngine expressions: ``cost(node)`` operations per
    node with arguments, counted with repetition (tree: what a printer writes, 3^depth here) and
    once per distinct node (shared subexpressions computed once). Linear in the distinct nodes."""
    tree: dict[object, int] = {}
    distinct = 0
    for root in exprs:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in tree:
                continue
            args = node.args
            if not args:
                tree[node] = 0
            elif expanded:
                own = cost(node)
                distinct += own
                tree[node] = own + sum(tree[a] for a in args)
            else:
                stack.append((node, True))
                stack.extend((a, False) for a in args if a not in tree)
    return sum(tree[root] for root in exprs), distinct


def node_cost(node: object) -> int:
    """Operations of one node: n - 1 for an n-ary sum or product, else 1 (a call, a power, ...)."""
    name = type(node).__name__
    return len(node.args) - 1 if name in ("Add", "Mul") else 1


def cse_ops(replacements: Sequence[tuple[object, object]], reduced: Sequence[object]) -> int:
    """Operations of the straight-line program ``cse`` returns (its symbols are leaves)."""
    return expression_ops([rhs for _, rhs in replacements] + list(reduced), node_cost)[0]


CODE_SKIP_CALLS = {"range", "prange", "len"}


def code_ops(source: str) -> dict[str, object]:
    """The operations written in the bodies of the ``@njit`` kernels of a generated module: binary
    and unary operators, comparisons and calls (not ``range``/``len``), where they occur.

    Returns ``total``, ``kinds`` (count by operator or function name) and ``repeats``: how many of
    them recompute an operation already written with the same operands in the same module (the
    total minus the distinct operation texts), with the most repeated texts in ``examples``."""
    kinds: dict[str, int] = {}
    texts: dict[str, int] = {}
    for fn in ast.parse(source).body:
        if not isinstance(fn, ast.FunctionDef) or not any("njit" in ast.unparse(d) for d in fn.decorator_list):
            continue
        for node in (n for statement in fn.body for n in ast.walk(statement)):
            if isinstance(node, (ast.BinOp, ast.UnaryOp)):
                kind = type(node.op).__name__
            elif isinstance(node, (ast.Compare, ast.BoolOp)):
                kind = type(node).__name__
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in CODE_SKIP_CALLS:
                kind = node.func.id
            else:
                continue
            kinds[kind] = kinds.get(kind, 0) + 1
            text = ast.unparse(node)
            texts[text] = texts.get(text, 0) + 1
    total = sum(kinds.values())
    examples = sorted((t for t, k in texts.items() if k > 1), key=lambda t: -texts[t])[:3]
    return {
        "total": total,
        "kinds": dict(sorted(kinds.items(), key=lambda item: -item[1])),
        "repeats": total - len(texts),
        "examples": [f"`{t}` ×{texts[t]}" for t in examples],
    }


def nest(t: object, depth: int, sin: Callable, exp: Callable) -> object:
    """g(g(...g(t))) with g(t) = sin(t)*t + exp(t), ``depth`` times, with the library's sin and exp."""
    for _ in range(depth):
        t = sin(t) * t + exp(t)
    return t


def emit(step: str, **values: object) -> None:
    """A child's report of one finished step: one JSON line."""
    print(json.dumps({"step": step, **values}), flush=True)


# --------------------------------------------------------------------------- W6: children


SYMGRAD_STEPS = ("warmup", "build", "grad", "count", "compile_grad", "first_call_grad", "compile_fwd",
                 "first_call_fwd", "source", "call")  # fmt: skip


def w6_symgrad_child(depth: int, stub_header: bool, repeat: int, min_time: float) -> None:
    """In a fresh process (a fresh SYMGRAD_CACHE_DIR set by the parent): symgrad's W6 steps.

    Numba compiles a kernel at its first call, so a compilation is ``theano.function`` (graph
    rewrites, lowering, code generation, the cache) and then the first call (Numba and LLVM).
    """
    import symgrad as theano
    import symgrad.tensor as T
    from codegen.lower import Kernel, lower, walk
    from symgrad.graph import toposort
    from symgrad.rewrite import optimize

    if stub_header:  # diagnostic: the header comment's formula, printed by pp, replaced by a constant
        import codegen.module

        codegen.module._formula = lambda var: "(formula left out by the benchmark)"
    x = T.dscalar("x")
    theano.function([x], T.grad(T.cos(x) * x, x))(1.0)  # Numba's and symgrad's start-up, not charged below
    emit("warmup")
    start = time.perf_counter()
    y = nest(x, depth, T.sin, T.exp)
    emit("build", s=time.perf_counter() - start)
    start = time.perf_counter()
    g = T.grad(y, x)
    emit("grad", s=time.perf_counter() - start)
    counts = {}
    for label, out in (("fwd", y), ("grad", g)):
        (optimized,) = optimize([out])
        program = lower([x], [optimized])
        kernels = [k for k in walk(program.steps) if isinstance(k, Kernel)]
        exprs = [e for k in kernels for e in [rhs for _, rhs in k.bindings] + [r.expr for r in k.results]]
        counts[f"{label}_nodes"] = len(toposort([optimized]))
        counts[f"{label}_kernel_ops"] = expression_ops(exprs, node_cost)[1]
        counts[f"{label}_kernels"] = len(kernels)
    emit("count", **counts)
    compiled = {}
    for label, out in (("grad", g), ("fwd", y)):
        start = time.perf_counter()
        f = compiled[label] = theano.function([x], out)
        emit(f"compile_{label}", s=time.perf_counter() - start)
        start = time.perf_counter()
        f(W6_X0)
        emit(f"first_call_{label}", s=time.perf_counter() - start)
    fwd_code, grad_code = code_ops(compiled["fwd"].source), code_ops(compiled["grad"].source)
    emit("source", fwd_code_ops=fwd_code["total"], grad_code_ops=grad_code["total"], grad_code=grad_code)
    from harness import Report, Settings, time_interleaved

    fg = compiled["grad"]
    cells = time_interleaved({"grad": lambda: fg(W6_X0)}, Settings(False, repeat, min_time), Report(), "W6")
    emit("call", s=cells["grad"], value=float(fg(W6_X0)))


SYMPY_STEPS = ("build", "diff", "size", "cse", "cse_size")


def symbolic_steps(x: object, depth: int, sin: Callable, exp: Callable, diff: Callable, cse: Callable) -> object:
    """SymPy's or SymEngine's W6 steps, from building the forward to the size of ``cse``'s result;
    returns the derivative."""
    cse([diff(nest(x, 2, sin, exp), x)])  # first-use costs, not charged below
    start = time.perf_counter()
    y = nest(x, depth, sin, exp)
    emit("build", s=time.perf_counter() - start, fwd_ops=expression_ops([y], node_cost)[1])
    start = time.perf_counter()
    d = diff(y, x)
    emit("diff", s=time.perf_counter() - start)
    tree, distinct = expression_ops([d], node_cost)
    emit("size", tree_ops=tree, distinct_ops=distinct)
    start = time.perf_counter()
    replacements, reduced = cse([d])
    emit("cse", s=time.perf_counter() - start)
    emit("cse_size", ops=cse_ops(replacements, reduced), temporaries=len(replacements))
    return d


def w6_sympy_child(depth: int) -> None:
    import sympy

    symbolic_steps(sympy.Symbol("x", real=True), depth, sympy.sin, sympy.exp, sympy.diff, sympy.cse)


SYMENGINE_STEPS = ("build", "diff", "size", "cse", "cse_size", "lambdify", "call")


def w6_symengine_child(depth: int, repeat: int, min_time: float) -> None:
    import symengine

    x = symengine.Symbol("x")
    symengine.Lambdify([x], symengine.sin(x), backend="llvm", cse=True)(1.0)  # LLVM's start-up, not charged below
    d = symbolic_steps(x, depth, symengine.sin, symengine.exp, symengine.diff, symengine.cse)
    start = time.perf_counter()
    f = symengine.Lambdify([x], d, backend="llvm", cse=True)
    emit("lambdify", s=time.perf_counter() - start)
    from harness import Report, Settings, time_interleaved

    cells = time_interleaved({"f": lambda: f(W6_X0)}, Settings(False, repeat, min_time), Report(), "W6")
    emit("call", s=cells["f"], value=float(np.asarray(f(W6_X0)).reshape(-1)[0]))


# --------------------------------------------------------------------------- W6: the parent


@dataclass
class ToolRuns:
    """One tool's child results by depth; ``stopped`` is the first depth a step ran out of time."""

    runs: dict[int, ChildSteps | str]
    stopped: int | None = None


def run_children(
    settings: GradSettings, report: Report, what: str, code: Callable[[int], str], steps: Sequence[str], env=None
) -> ToolRuns:
    """Run ``code(depth)`` in a child per depth; after a step runs out of time, deeper depths are skipped."""
    result = ToolRuns({})
    for depth in settings.w6_depths:
        if result.stopped is not None:
            result.runs[depth] = f"not run (> {settings.deadline:g} s at depth {result.stopped})"
            continue
        try:
            child_env = env(depth) if env else {}
            steps_done = run_with_deadlines(code(depth), child_env, steps, settings.deadline)
        except Exception as exc:
            result.runs[depth] = report.error(f"W6 {what}, depth {depth}", exc)
            continue
        result.runs[depth] = steps_done
        if steps_done.killed_in is not None:
            result.stopped = depth
    return result


def cell(run: ChildSteps | str, step: str, key: str, deadline: float, scale: float = 1.0, digits: str = ".3g") -> str:
    """A value from a child's step: formatted, "> deadline s" if the step was killed, "—" if never reached."""
    if isinstance(run, str):
        return run
    for line in run.steps:
        if line.get("step") == step:
            value = line.get(key)
            if value is None:
                return MISSING
            if digits == "n":  # a count: exact up to 10 million, then 3 digits
                return str(value) if value < 10_000_000 else f"{value:.2e}"
            return format(value * scale, digits)
    if run.killed_in == step:
        return f"> {deadline:g} s"
    return MISSING if run.killed_in is None else f"not reached ({run.killed_in} > {deadline:g} s)"


def seconds_sum(run: ChildSteps | str, steps: Sequence[str], deadline: float) -> str:
    """The total of several steps' seconds, "a + b" shown after it; else what ``cell`` shows for the first missing."""
    parts = [cell(run, step, "s", deadline) for step in steps]
    if isinstance(run, str) or any(p == MISSING or not p[0].isdigit() for p in parts):
        return next((p for p in parts if p == MISSING or not p[0].isdigit()), MISSING)
    values = [next(line["s"] for line in run.steps if line.get("step") == step) for step in steps]
    return f"{sum(values):.3g} ({' + '.join(f'{v:.3g}' for v in values)})"


def either(run: ChildSteps | str, stub: ChildSteps | str, render: Callable[[ChildSteps | str], str]) -> str:
    """``render(run)`` if it is a number, else ``render(stub)`` marked "‡" (the diagnostic child's
    value: the same graph and kernels) if that is, else ``render(run)``."""
    own = render(run)
    if own[:1].isdigit():
        return own
    other = render(stub)
    return f"{other} ‡" if other[:1].isdigit() else own


def ratio_cell(run: ChildSteps | str, fwd_key: str, grad_key: str, step: str) -> tuple[str, float | None]:
    """ "fwd → grad (r×)" from one step of a child, and the ratio (None when not measured)."""
    if isinstance(run, str):
        return run, None
    fwd, grad = run.get(fwd_key), run.get(grad_key)
    if fwd is None or grad is None:
        return (MISSING if run.killed_in != step else "killed"), None
    ratio = grad / fwd
    flag = " **over 3×**" if ratio > W6_TARGET_RATIO else ""
    return f"{fwd} → {grad} ({ratio:.2f}×){flag}", ratio


def count_jaxpr(jaxpr: object) -> int:
    """Equations of a jaxpr, with those of the jaxprs nested in its equations' parameters."""
    total = 0
    for eqn in jaxpr.eqns:
        total += 1
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else [value]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    total += count_jaxpr(inner)
    return total


def w6_jax(jax: object, depth: int, settings: GradSettings, report: Report) -> dict[str, object]:
    jnp = jax.numpy

    def f(t):
        return nest(t, depth, jnp.sin, jnp.exp)

    fwd = count_jaxpr(jax.make_jaxpr(f)(W6_X0).jaxpr)
    start = time.perf_counter()
    traced = jax.make_jaxpr(jax.grad(f))(W6_X0)
    trace_s = time.perf_counter() - start
    start = time.perf_counter()
    compiled = jax.jit(jax.grad(f)).lower(W6_X0).compile()
    compile_s = time.perf_counter() - start
    x0 = jax.device_put(W6_X0)
    cells = time_interleaved({"jax": lambda: compiled(x0).block_until_ready()}, settings, report, "W6 JAX")
    return {
        "fwd": fwd,
        "grad": count_jaxpr(traced.jaxpr),
        "trace_s": trace_s,
        "compile_s": compile_s,
        "call_s": cells["jax"],
        "value": float(compiled(x0)),
    }


def child_code(call: str) -> str:
    return f"import sys; sys.setrecursionlimit(100000)\nfrom bench_grad import *\n{call}\n"


def bench_w6(settings: GradSettings, libs: Libs, report: Report) -> None:
    jax, sympy, symengine = libs["jax"], libs["sympy"], libs["symengine"]
    depths = settings.w6_depths
    timing = f"{settings.repeat}, {settings.min_time}"
    with tempfile.TemporaryDirectory(prefix="symgrad-bench-w6-") as tmp:

        def fresh_cache(tag: str) -> Callable[[int], dict[str, str]]:
            return lambda depth: {"SYMGRAD_CACHE_DIR": str(Path(tmp) / f"{tag}-{depth}")}

        symgrad_runs = run_children(
            settings, report, "symgrad", lambda d: child_code(f"w6_symgrad_child({d}, False, {timing})"),
            SYMGRAD_STEPS, fresh_cache("real"),
        )  # fmt: skip
        stubbed = run_children(
            settings, report, "symgrad (header formula stubbed)",
            lambda d: child_code(f"w6_symgrad_child({d}, True, {timing})"), SYMGRAD_STEPS, fresh_cache("stub"),
        )  # fmt: skip
    jax_runs: dict[int, dict | str] = {}
    if jax is not None:  # XLA's first compilation in a process costs more: not charged to depth 5
        jax.jit(jax.grad(jax.numpy.sin))(1.0).block_until_ready()
    for depth in depths:
        if jax is None:
            jax_runs[depth] = MISSING
            continue
        try:
            jax_runs[depth] = w6_jax(jax, depth, settings, report)
        except Exception as exc:
            jax_runs[depth] = report.error(f"W6 JAX, depth {depth}", exc)
    no_tool = ToolRuns(dict.fromkeys(depths, MISSING))
    sympy_runs = (
        run_children(settings, report, "sympy", lambda d: child_code(f"w6_sympy_child({d})"), SYMPY_STEPS)
        if sympy is not None
        else no_tool
    )
    symengine_runs = (
        run_children(
            settings,
            report,
            "SymEngine",
            lambda d: child_code(f"w6_symengine_child({d}, {timing})"),
            SYMENGINE_STEPS,
        )  # fmt: skip
        if symengine is not None
        else no_tool
    )
    dl = settings.deadline

    # Table 1: sizes, gradient vs forward.
    over: list[str] = []
    rows = []
    for depth in depths:
        run = symgrad_runs.runs[depth]
        counts_from = run if isinstance(run, ChildSteps) and run.get("fwd_nodes") is not None else stubbed.runs[depth]
        nodes, r1 = ratio_cell(counts_from, "fwd_nodes", "grad_nodes", "count")
        kernel, r2 = ratio_cell(counts_from, "fwd_kernel_ops", "grad_kernel_ops", "count")
        code_from = run if isinstance(run, ChildSteps) and run.get("grad_code_ops") is not None else stubbed.runs[depth]
        code, r3 = ratio_cell(code_from, "fwd_code_ops", "grad_code_ops", "source")
        j = jax_runs[depth]
        jax_cell = j if isinstance(j, str) else f"{j['fwd']} → {j['grad']} ({j['grad'] / j['fwd']:.2f}×)"
        rows.append([str(depth), nodes, kernel, code, jax_cell])
        for what, ratio in (("graph nodes", r1), ("kernel ops", r2), ("generated-code ops", r3)):
            if ratio is not None and ratio > W6_TARGET_RATIO:
                over.append(f"depth {depth}: {what} {ratio:.2f}× the forward's")
                if what == "generated-code ops" and isinstance(code_from, ChildSteps):
                    stats = code_from.get("grad_code")
                    kinds = ", ".join(f"{k} {n}" for k, n in stats["kinds"].items())
                    over[-1] += (
                        f" (the gradient's {stats['total']}: {kinds}; {stats['repeats']} of them recompute an "
                        f"operation already written with the same operands, e.g. {', '.join(stats['examples'])})"
                    )
    intro = (
        "Forward → gradient, and the gradient's size as a multiple of the forward's (target ≤ 3×). "
        "symgrad: *graph nodes* of the optimized graph, *kernel ops* (distinct scalar operations of the "
        "lowered kernels), *code ops* (operations written in the generated kernels, repetitions counted; "
        "from the compiled source, or from the diagnostic compilation when the real one ran out of time). "
        "JAX: equations of `make_jaxpr`."
    )
    table = markdown_table(
        ["depth", "symgrad graph nodes", "symgrad kernel ops", "symgrad code ops", "JAX jaxpr equations"], rows
    )
    if over:
        table += "\n\n**Over the 3× target:**\n\n" + "\n".join(f"- {line}" for line in over)
    print_section("W6: gradient of g(g(…g(x))), g(t) = sin(t)*t + exp(t): sizes", intro, table)

    # Table 2: times.
    rows = []
    for depth in depths:
        run, stub, j = symgrad_runs.runs[depth], stubbed.runs[depth], jax_runs[depth]
        se = symengine_runs.runs[depth]
        jax_cells = (
            [j] * 4
            if isinstance(j, str)
            else [f"{j['trace_s'] * 1e3:.3g}", f"{j['compile_s'] * 1e3:.3g}", f"{j['call_s'] * 1e6:.3g}"]
        )
        rows.append(
            [
                str(depth),
                either(run, stub, lambda r: cell(r, "grad", "s", dl, 1e3)),
                seconds_sum(run, ("compile_grad", "first_call_grad"), dl),
                seconds_sum(run, ("compile_fwd", "first_call_fwd"), dl),
                seconds_sum(stub, ("compile_grad", "first_call_grad"), dl),
                either(run, stub, lambda r: cell(r, "call", "s", dl, 1e6)),
                *jax_cells[:3],
                cell(se, "lambdify", "s", dl),
                cell(se, "call", "s", dl, 1e6),
            ]
        )
    headers = ["depth", "symgrad `T.grad` ms", "compile grad s (cold)", "compile fwd s (cold)",
               "compile grad s, header stubbed (diagnostic)", "symgrad µs/call", "JAX `make_jaxpr(grad)` ms",
               "JAX `jit(grad)` compile ms", "JAX µs/call", "SymEngine LLVM `Lambdify` s",
               "SymEngine µs/call"]  # fmt: skip
    checks = []
    for depth in depths:
        values = {}
        run = symgrad_runs.runs[depth]
        for name, source in (
            ("symgrad", run),
            ("symgrad", stubbed.runs[depth]),
            ("SymEngine", symengine_runs.runs[depth]),
        ):
            if isinstance(source, ChildSteps) and source.get("value") is not None and name not in values:
                values[name] = source.get("value")
        if isinstance(jax_runs[depth], dict):
            values["JAX"] = jax_runs[depth]["value"]
        if values:
            ref = values.get("JAX", next(iter(values.values())))
            parts = [f"{k} {v:.10g}" + (f" (rel. diff {abs(v - ref) / abs(ref):.1e})" if k != "JAX" else "")
                     for k, v in values.items()]  # fmt: skip
            checks.append(f"depth {depth}: " + ", ".join(parts))
            if any(mismatch(v, ref, 1e-6) for v in values.values()):
                report.notes.append(f"**W6 depth {depth}**: the gradients disagree beyond rtol 1e-6: {checks[-1]}")
    print_section(
        "W6: times (cold compilations, fresh processes)",
        "`T.grad` builds the gradient graph; *compile*: `theano.function` with an empty cache plus the first "
        "call (Numba compiles the kernels then), as total (function + first call); *header stubbed*: the same "
        "with `codegen.module._formula` (the output's formula in the generated module's header comment) replaced "
        "by a constant, a diagnostic. Per-call times at x = -18.2012. ‡: from the diagnostic process (same "
        "graph, same kernels), the real one having stopped before.",
        markdown_table(headers, rows) + "\n\nGradient values at x = -18.2012: " + "; ".join(checks) + ".",
    )

    # Table 3: symbolic differentiation.
    rows = []
    for depth in depths:
        sp, se = sympy_runs.runs[depth], symengine_runs.runs[depth]
        rows.append(
            [
                str(depth),
                cell(sp, "build", "fwd_ops", dl, digits="n"),
                cell(sp, "build", "s", dl),
                cell(sp, "diff", "s", dl),
                cell(sp, "size", "tree_ops", dl, digits="n"),
                cell(sp, "size", "distinct_ops", dl, digits="n"),
                cell(sp, "cse", "s", dl),
                cell(sp, "cse_size", "ops", dl, digits="n"),
                cell(se, "diff", "s", dl, 1e3),
                cell(se, "size", "tree_ops", dl, digits="n"),
                cell(se, "size", "distinct_ops", dl, digits="n"),
                cell(se, "cse", "s", dl, 1e3),
                cell(se, "cse_size", "ops", dl, digits="n"),
            ]
        )
    headers = ["depth", "forward distinct ops", "SymPy: build forward s", "`sympy.diff` s", "tree ops",
               "distinct ops", "`sympy.cse` s", "ops after cse", "SymEngine `diff` ms", "tree ops", "distinct ops",
               "SymEngine `cse` ms", "ops after cse"]  # fmt: skip
    print_section(
        "W6: symbolic differentiation with SymPy and SymEngine",
        "Sizes of the derivative: *tree ops* with repetition (what printing it writes), *distinct ops* each "
        "distinct subexpression once, *ops after cse* the operations of the program `cse` returns; counted as "
        f"symgrad's kernel ops. Each step of a child gets {dl:g} s; a depth past that stops the deeper ones.",
        markdown_table(headers, rows),
    )


# --------------------------------------------------------------------------- main


SECTIONS = {"w5": bench_w5, "w6": bench_w6}
OPTIONAL = ("jax", "pytensor", "torch", "sympy", "symengine")


def main(argv: Sequence[str] | None = None) -> None:
    harness_main("symgrad gradient benchmarks", __doc__.split("\n\n")[0], SECTIONS, OPTIONAL, GradSettings.make, argv)


if __name__ == "__main__":
    main()
