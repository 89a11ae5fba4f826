"""The extremes of size (issue 19): a big graph compiles in time linear in its size, with no
recursion error, and what keeps it linear (kernels of at most ``MAX_FUSED`` of weight: results,
locals, calls of transcendental functions and the ranks of the arrays read; producers inlined at
most ``MAX_INLINE_DEPTH`` deep; programs of at most ``MAX_PROGRAM`` steps; adjoints summed at most
``MAX_TERMS`` terms per node) computes the same values.

The default run compiles a chain of 60 nodes against a generous bound per node; ``pytest -m long``
runs the cases of ``benchmarks/graph_size.py`` at their full sizes, each in a fresh process.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from codegen import lower, segments
from symgrad.graph import toposort
from symgrad.ops.elemwise import Elemwise

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import graph_size  # noqa: E402

gradient = importlib.import_module("symgrad.grad")  # the module (the package's grad is the function)

# Seconds of compile time per graph node (theano.function and the first call, Numba's compile);
# measured: 20 to 60 ms on a loaded two-core machine, flat from 100 to 1,600 nodes.
PER_NODE = 0.4


def _chain(depth: int, coefficients: np.ndarray):
    x = T.dscalar("x")
    e = x
    for c in coefficients[:depth]:
        e = T.sin(e) * 0.5 + e * float(c)
    return x, e


def _chain_reference(value: float, coefficients: np.ndarray) -> tuple[float, float]:
    e, de = value, 1.0
    for c in coefficients:
        e, de = np.sin(e) * 0.5 + e * c, (np.cos(e) * 0.5 + c) * de
    return e, de


def test_a_chain_compiles_in_time_linear_in_its_size():
    coefficients = np.random.default_rng(1).uniform(0.5, 1.0, 15)
    x, e = _chain(15, coefficients)
    outputs = [e, T.grad(e, x)]
    start = time.perf_counter()
    f = theano.function([x], outputs)
    got = f(0.3)
    seconds = time.perf_counter() - start
    np.testing.assert_allclose(got, _chain_reference(0.3, coefficients), rtol=1e-12)
    assert seconds < PER_NODE * len(toposort(outputs))


def test_kernels_and_programs_cut_short_compute_the_same_values(monkeypatch):
    # The caps made tiny, so that a small graph is cut as a huge one would be: a chain into many
    # kernels, a network's gradient into many programs, each returning what later ones read.
    monkeypatch.setattr(lower, "MAX_FUSED", 4)
    monkeypatch.setattr(segments, "MAX_PROGRAM", 3)
    coefficients = np.random.default_rng(2).uniform(0.5, 1.0, 6)
    x, e = _chain(6, coefficients)
    f = theano.function([x], [e, T.grad(e, x)])
    assert f.source.count("_mul(") + f.source.count("_add(") > 4 and "def program_3(" in f.source
    np.testing.assert_allclose(f(0.7), _chain_reference(0.7, coefficients), rtol=1e-12)

    h0 = T.dmatrix("h0")
    ws = [T.dmatrix(f"w{i}") for i in range(3)]
    h = h0
    for w in ws:
        h = T.tanh(T.dot(h, w) + 0.1)
    cost = T.sum(h**2)
    g = theano.function([h0, *ws], [cost, *T.grad(cost, ws)])
    assert "def program_3(" in g.source
    rng = np.random.default_rng(3)
    values = [rng.normal(size=(2, 3)), *(rng.normal(size=(3, 3)) for _ in ws)]

    def reference(*args):
        hs = [args[0]]
        for w in args[1:]:
            hs.append(np.tanh(hs[-1] @ w + 0.1))
        delta, grads = 2 * hs[-1], []
        for k in reversed(range(len(ws))):
            delta = delta * (1 - hs[k + 1] ** 2)
            grads.insert(0, hs[k].T @ delta)
            delta = delta @ args[1 + k].T
        return [np.sum(hs[-1] ** 2), *grads]

    for got, want in zip(g(*values), reference(*values)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_chain_of_values_used_once_is_inlined_to_a_bounded_depth(monkeypatch):
    # A sum of many terms, each used once, was inlined into one expression by recursion, which
    # passed Python's limit at 1,000 inputs; the producer at MAX_INLINE_DEPTH gets its own kernel.
    monkeypatch.setattr(lower, "MAX_INLINE_DEPTH", 3)
    depths, inline = [], lower._Fuser._inline

    def watched(fuser, *args, **keywords):
        depths.append(fuser.depth)
        return inline(fuser, *args, **keywords)

    monkeypatch.setattr(lower._Fuser, "_inline", watched)
    xs = [T.dscalar(f"x{i}") for i in range(10)]
    total = xs[0] ** 2
    for x in xs[1:]:
        total = total + T.sin(x)
    f = theano.function(xs, [total, *T.grad(total, xs[:2])])
    assert max(depths) == 3
    values = np.linspace(-1.0, 2.0, 10)
    want = [values[0] ** 2 + np.sum(np.sin(values[1:])), 2 * values[0], np.cos(values[1])]
    np.testing.assert_allclose(f(*values), want, rtol=1e-14)


def test_kernels_are_cut_by_their_weight_and_long_sums_by_their_terms(monkeypatch):
    # A sum of terms sin(x*c_i) and its gradient: each call of sin or cos weighs HEAVY_WEIGHT, so
    # a kernel stops growing (a sum of 400 such terms was one kernel of 834 calls, whose compile
    # time grew more than linearly); the gradient adds at most MAX_TERMS adjoint terms per node
    # (a loop nest reading 100 arrays compiled in quadratic time).
    monkeypatch.setattr(lower, "MAX_FUSED", 40)
    monkeypatch.setattr(gradient, "MAX_TERMS", 3)
    coefficients = np.random.default_rng(4).uniform(0.5, 1.0, 20)
    x = T.dscalar("x")
    cost = sum(T.sin(x * float(c)) for c in coefficients)
    g = T.grad(cost, x)
    sums = [n for n in toposort([g]) if isinstance(n.op, Elemwise) and len(n.inputs) > 1]
    assert sums and max(len(n.inputs) for n in sums) <= 3
    f = theano.function([x], [cost, g])
    bodies = [kernel.split('"""')[2] for kernel in f.source.split("\ndef k")[1:]]  # docstrings left out
    calls = [body.count("sin(") + body.count("cos(") for body in bodies]
    assert sum(calls) == 40 and max(calls) <= 40 // lower.HEAVY_WEIGHT, calls  # one kernel of 40 before
    np.testing.assert_allclose(f(0.3), [np.sum(np.sin(0.3 * coefficients)), coefficients @ np.cos(0.3 * coefficients)])


@pytest.mark.long
@pytest.mark.parametrize(
    "case, size",
    [("chain", 10_000), ("wide", 10_000), ("inputs", 2_000), ("outputs", 200), ("rank6", 1_200), ("mlp", 240)],
)
def test_the_extremes_of_size_compile_in_time_linear_in_their_size(case, size):
    # 10,000-node chains and sums, 1,000 inputs, 100 outputs, a rank-6 tensor, a gradient through
    # 60 layers: in a fresh process each (Numba keeps every function's machine code).
    t = graph_size.measure(case, size)
    assert t["function"] + t["first_call"] < PER_NODE * t["nodes"], t
