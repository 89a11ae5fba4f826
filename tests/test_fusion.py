"""Fusion, stated as properties of the generated code: what shares one loop, what needs no
temporary array, and what is computed once. Each test also checks the values."""

from __future__ import annotations

import inspect

import numpy as np

import symgrad as theano
import symgrad.tensor as T

from .helpers import kernels, nested_g, rand


def loops(f) -> dict[str, int]:
    """For each single-threaded kernel, how many loops over data it runs."""
    return {name: inspect.getsource(k.py_func).count(" in range(") for name, k in kernels(f).items()}


def statements(f) -> list[str]:
    """The assignments and returns of the single-threaded kernels (docstrings left out)."""
    lines = []
    for k in kernels(f).values():
        for line in inspect.getsource(k.py_func).splitlines():
            if (" = " in line or line.strip().startswith("return")) and '"""' not in line:
                lines.append(line.strip())
    return lines


def test_a_reduction_absorbs_the_elementwise_chain_it_reduces():
    a, b = T.dvectors("a", "b")
    f = theano.function([a, b], T.sum((a - b) ** 2))
    assert list(loops(f).values()) == [1]
    assert not any("np.empty" in s for s in statements(f))  # no temporary for (a - b)**2
    x, y = rand(7), rand(7, seed=1)
    np.testing.assert_allclose(f(x, y), np.sum((x - y) ** 2), rtol=1e-13)


def test_a_mean_cost_and_its_gradient_share_one_pass_over_the_data():
    # 1/n, which the gradient reads, is computed before the sum; computed after it (beside
    # sum/n), it made the gradient wait for the sum and read x and y a second time.
    x, y = T.dvectors("x", "y")
    cost = T.mean((x - y) ** 2)
    f = theano.function([x, y], [cost, T.grad(cost, x)])
    assert sum(loops(f).values()) == 1
    a, b = rand(9), rand(9, seed=1)
    value, grad = f(a, b)
    np.testing.assert_allclose(value, np.mean((a - b) ** 2), rtol=1e-13)
    np.testing.assert_allclose(grad, 2 * (a - b) / 9, rtol=1e-13)


def test_a_value_and_its_gradient_are_one_loop_with_shared_work():
    x = T.dvector("x")
    y = T.exp(x) * T.sin(x)
    f = theano.function([x], [y, T.grad(T.sum(y), x)])
    assert sum(loops(f).values()) == 1
    code = statements(f)
    assert sum(s.count("exp(") for s in code) == 1 and sum(s.count("sin(") for s in code) == 1
    a = rand(6)
    value, grad = f(a)
    np.testing.assert_allclose(value, np.exp(a) * np.sin(a), rtol=1e-13)
    np.testing.assert_allclose(grad, np.exp(a) * (np.sin(a) + np.cos(a)), rtol=1e-13)


def test_sibling_reductions_over_axis_0_share_one_loop_nest():
    # The gradients of a layer's bias and of a scale both sum over the rows of the same data, and
    # the elementwise work they both read is computed in that loop nest, not stored first.
    x, w, b = T.dmatrix("x"), T.dvector("w"), T.dvector("b")
    cost = T.sum(T.tanh(x * w + b) ** 2)
    f = theano.function([x, w, b], T.grad(cost, [w, b]))
    assert len(kernels(f)) == 1 and sum(loops(f).values()) == 2  # one nest: rows, then columns
    assert not any("np.empty" in s for s in statements(f))  # the chain rule's factor is a local
    a, u, v = rand((6, 3)), rand(3, seed=1), rand(3, seed=2)
    inner = np.tanh(a * u + v)
    chain = 2 * inner * (1 - inner**2)
    grad_w, grad_b = f(a, u, v)
    np.testing.assert_allclose(grad_w, np.sum(chain * a, axis=0), rtol=1e-12)
    np.testing.assert_allclose(grad_b, np.sum(chain, axis=0), rtol=1e-12)


def test_fusion_crosses_broadcasting():
    X, v = T.dmatrix("X"), T.dvector("v")
    f = theano.function([X, v], T.tanh(X + v) * (X - v))
    assert list(loops(f).values()) == [2]  # one loop nest over the matrix
    assert any("v[i1]" in s for s in statements(f))  # the vector read along the loop, not copied out
    a, b = rand((3, 4)), rand(4, seed=1)
    np.testing.assert_allclose(f(a, b), np.tanh(a + b) * (a - b), rtol=1e-13)


def test_repeated_work_in_a_nested_gradient_is_computed_once():
    # The gradient of g(g(g(x))), g(t) = sin(t)*t + exp(t), reuses each level's values: one exp and
    # one sin per level and one cos per level of the backward pass, nothing recomputed.
    x = T.dscalar("x")
    t = nested_g(x, 3)
    f = theano.function([x], T.grad(t, x))
    code = statements(f)
    assert [sum(s.count(name + "(") for s in code) for name in ("exp", "sin", "cos")] == [3, 3, 3]
    eps = 1e-6
    g = theano.function([x], t)
    assert abs(f(0.1) - (g(0.1 + eps) - g(0.1 - eps)) / (2 * eps)) < 1e-6 * abs(f(0.1))


def test_a_deep_nested_gradient_compiles_in_time_linear_in_depth():
    # Its tree is exponential in depth; the module header used to print it as one formula (minutes
    # at depth 8). Now a big graph's header line gives its size, and compiling depth 30 is quick.
    x = T.dscalar("x")
    f = theano.function([x], T.grad(nested_g(x, 30), x))
    assert "(a graph of 265 operations: see the kernels)" in f.source
    assert isinstance(f(-0.5), np.ndarray)  # (its value overflows: g grows too fast to check it)
