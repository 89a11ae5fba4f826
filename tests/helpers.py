"""Shared test helpers: random data, central finite differences, the LLVM IR of kernels."""

from __future__ import annotations

import inspect
import os
import re
import shutil

import numba
import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad.ops.loop import evaluate


def has_graphviz() -> bool:
    """Whether pictures can be rendered here: Graphviz's ``dot`` is on PATH.

    CI must render them (``.ci/run`` installs Graphviz, and sets ``CI``): there a missing ``dot``
    fails the test. Elsewhere, on a machine with only Python and pip, the rendering is skipped, with
    that reason in pytest's summary; the DOT text itself is tested either way.
    """
    if shutil.which("dot"):
        return True
    if os.environ.get("CI"):
        pytest.fail("Graphviz's dot must be installed in CI (.ci/run installs it)")
    return False


def require_graphviz() -> None:
    """Skip the rest of a test that renders a picture where ``dot`` is missing (see has_graphviz)."""
    if not has_graphviz():
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz): pictures are not rendered here")


def rand(shape, dtype="float64", low=-2.0, high=2.0, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(low), int(high) + 1, size=shape).astype(dtype)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    return rng.uniform(low, high, size=shape).astype(dtype)


def numeric_grad(f, values, i, eps=1e-6):
    """Central differences of the scalar f(*values) with respect to values[i]."""
    x = np.array(values[i], dtype="float64", order="C")  # C order: the flat view below must alias x
    grad = np.zeros_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + eps
        plus = float(f(*[x if k == i else v for k, v in enumerate(values)]))
        flat[j] = old - eps
        minus = float(f(*[x if k == i else v for k, v in enumerate(values)]))
        flat[j] = old
        g[j] = (plus - minus) / (2 * eps)
    return grad


def check_grad(build, values, rtol=1e-6, atol=1e-8):
    """Compare T.grad of sum(build(*vars) * w), for fixed random w, with central differences.

    One compiled function gives the cost and its gradients (the central differences read its
    first result); the output's shape, which w needs, comes from the ops' NumPy references."""
    variables = [T.tensor("float64", [None] * np.ndim(v), name=f"v{i}") for i, v in enumerate(values)]
    out = build(*variables)
    w = T.tensor("float64", [None] * out.ndim, name="w")
    cost = T.sum(out * w)
    (out_value,) = evaluate([out], {id(v): np.asarray(x, dtype="float64") for v, x in zip(variables, values)})
    w_value = rand(np.shape(out_value), low=0.5, high=1.5, seed=11)
    f = theano.function([*variables, w], [cost, *T.grad(cost, variables)])
    args = [*values, w_value]
    _, *grads = f(*args)
    for i, symbolic in enumerate(grads):
        expected = numeric_grad(lambda *a: f(*a)[0], args, i)
        np.testing.assert_allclose(symbolic, expected, rtol=rtol, atol=atol, err_msg=f"gradient {i}")


def program_text(f_or_source) -> str:
    """The text that runs a compiled function's steps in order: the CPU module's (serial) programs
    (one, or ``program_1``, ``program_2``, ... where it is cut), or the CUDA module's entry."""
    source = f_or_source if isinstance(f_or_source, str) else f_or_source.source
    programs = re.findall(r"\ndef program(?:_\d+)?\(.*?(?=\n\n\n)", source, re.DOTALL)
    return "\n".join(programs) if programs else source.split("\ndef make_entry(")[1].split("\n\n\n")[0]


def kernels(f, *args) -> dict:
    """The single-threaded kernels (``k0_...``) of a compiled function's module, by name.

    Inside the program they are inlined, so Numba never compiles them on their own: given the
    function's arguments, the program runs once as Python, which compiles each kernel it calls
    for the arguments it passes (what ``llvm_of`` then reads)."""
    if args:
        program = f._module.program.py_func
        given = dict(zip(f._module.PARAMETERS, args))
        program(*(given[p] if p in given else getattr(f._module, p) for p in inspect.signature(program).parameters))
    return {
        name: value
        for name, value in vars(f._module).items()
        if re.match(r"k\d+_", name) and not name.endswith("_parallel") and hasattr(value, "py_func")
    }


def llvm_of(dispatcher, signature=None) -> str:
    """The LLVM IR of the function's own code (not Numba's Python wrapper), freshly compiled for
    ``signature`` (by default, the one the dispatcher was called with): Numba shows no code for
    functions it loaded from its disk cache."""
    options = {k: v for k, v in dispatcher.targetoptions.items() if k not in ("cache", "nopython")}
    fresh = numba.njit(**options)(dispatcher.py_func)
    fresh.compile(signature or dispatcher.signatures[0])
    functions = re.findall(r"define [^\n]*\{.*?\n\}", fresh.inspect_llvm(fresh.signatures[0]), re.S)
    return next(f for f in functions if "cpython" not in f.split("(")[0])


# An LLVM instruction computing with a double (loading float64 data and rounding it to float32, what
# a cast does, is no computation in double).
DOUBLE_ARITHMETIC = re.compile(r"\b(fadd|fsub|fmul|fdiv|frem|fneg|fcmp|fpext|select|phi|call)\b.*\bdouble\b")


def double_arithmetic(llvm: str) -> list[str]:
    """The instructions of ``llvm`` that compute in double precision."""
    return [line.strip() for line in llvm.splitlines() if DOUBLE_ARITHMETIC.search(line)]


def nested_g(x, depth: int):
    """g(g(...g(x))), ``depth`` times, with g(t) = sin(t)*t + exp(t): benchmark W6's expression,
    whose gradient reuses every level's values (its tree is exponential in depth, its graph linear)."""
    t = x
    for _ in range(depth):
        t = T.sin(t) * t + T.exp(t)
    return t
