"""symgrad.ifelse: a lazy scalar conditional, beside T.switch."""

from __future__ import annotations

import re

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad.ifelse import ifelse

from .helpers import numeric_grad, program_text


def test_ifelse_picks_a_branch_and_matches_switch():
    a, b = T.dscalars("a", "b")
    x, y = T.dmatrices("x", "y")
    lazy = theano.function([a, b, x, y], ifelse(T.lt(a, b), T.mean(x), T.mean(y)))
    eager = theano.function([a, b, x, y], T.switch(T.lt(a, b), T.mean(x), T.mean(y)))
    data_x, data_y = np.ones((3, 4)), np.zeros((2, 2))
    for first, second in [(1.0, 2.0), (2.0, 1.0)]:
        assert lazy(first, second, data_x, data_y) == eager(first, second, data_x, data_y)
    assert lazy(1.0, 2.0, data_x, data_y) == 1.0 and lazy(2.0, 1.0, data_x, data_y) == 0.0


def test_only_the_branch_taken_runs():
    # The false branch multiplies matrices whose shapes do not fit: it would raise if it ran.
    flag = T.lscalar("flag")
    x, w = T.dmatrices("x", "w")
    f = theano.function([flag, x, w], ifelse(flag, T.sum(x), T.sum(T.dot(x, w))))
    source = f.source
    assert "if flag:" in source and "else:" in source
    assert f(1, np.ones((2, 3)), np.ones((2, 2))) == 6.0
    with pytest.raises(ValueError, match="dot"):
        f(0, np.ones((2, 3)), np.ones((2, 2)))


def test_work_shared_by_both_branches_runs_once_before_the_if():
    c = T.bscalar("c")
    x = T.dvector("x")
    common = T.exp(x) + 1
    f = theano.function([c, x], ifelse(c, T.sum(common), T.max(common)))
    branches = program_text(f).partition("if c:")[2]
    called = set(re.findall(r"\b(k\d+_\w+?)[(\[]", branches))  # a call on the CPU, a launch on CUDA
    assert called  # the sum and the max, one in each branch
    for name in called:  # exp is computed once, before the branches
        assert "exp(" not in f.source.split(f"def {name}(")[1].split("\n\n")[0]
    data = np.array([0.0, 1.0])
    assert f(1, data) == pytest.approx(np.sum(np.exp(data) + 1))
    assert f(0, data) == pytest.approx(np.max(np.exp(data) + 1))


def test_lists_nesting_and_python_numbers():
    c, d = T.lscalars("c", "d")
    x = T.fvector("x")
    inner = ifelse(d, x * 2, x * 3)
    first, second = ifelse(c, [inner, T.sum(x)], [x, 0.0])
    f = theano.function([c, d, x], [first, second])
    data = np.array([1.0, 2.0], dtype="float32")
    out = f(1, 0, data)
    assert out[0].dtype == np.float32 and out[0].tolist() == [3.0, 6.0] and out[1] == 3.0
    out = f(0, 1, data)
    assert out[0].tolist() == [1.0, 2.0] and out[1] == 0.0 and out[1].dtype == np.float32


def test_gradient_flows_into_the_branch_taken():
    c = T.lscalar("c")
    x, y = T.dvectors("x", "y")
    cost = T.sum(ifelse(c, T.sin(x) * y, y**2))
    grads = theano.function([c, x, y], T.grad(cost, [x, y]))
    value = theano.function([c, x, y], cost)
    data = [np.array([0.3, -1.2]), np.array([2.0, 0.5])]
    for flag in (0, 1):
        for i, got in enumerate(grads(flag, *data)):
            expected = numeric_grad(lambda u, v, flag=flag: value(flag, u, v), data, i)
            np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)


def test_ifelse_errors():
    x, y = T.dvectors("x", "y")
    with pytest.raises(TypeError, match="the condition must be a scalar"):
        ifelse(x, x, y)
    with pytest.raises(TypeError, match="both branches must have one type"):
        ifelse(T.dscalar("c"), x, T.fvector("z"))
    with pytest.raises(ValueError, match="the branches have 2 and 1 values"):
        ifelse(T.dscalar("c"), [x, y], [x])


@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_a_number_on_one_side_and_a_0d_array_on_the_other_compile(dtype):
    # A 0-d value is a number (an input, a kernel's result) or a 0-d array (a reshape to ()); an
    # ifelse with one of each on its two sides failed Numba's typing ("Cannot unify array(float64,
    # 0d, C) and float64").
    c, x, v = T.dscalar("c"), T.scalar("x", dtype=dtype), T.vector("v", dtype=dtype)
    f = theano.function([c, x, v], [ifelse(c > 0, x, T.reshape(v, ())) * 2, ifelse(c > 0, T.reshape(v, ()), x)])
    for condition, expected in [(1.0, [6, 5]), (-1.0, [10, 3])]:
        got = f(condition, np.array(3, dtype=dtype), np.array([5], dtype=dtype))
        assert [g.item() for g in got] == expected and [g.dtype for g in got] == [dtype, dtype]


def test_second_derivatives_through_an_ifelse_reach_a_value_both_branches_read():
    # The sweep of T.Rop's second pass (with respect to a computed value, the gradient's seed)
    # met S in ifelse(c, ifelse(c, S, 0), 0) and ifelse(c, ifelse(c, 0, S), 0) and took S's own
    # node into a branch's region: the value differentiated with respect to got no gradient, and
    # the Rop was 0.
    x1, x2, v1, v2 = T.dscalars("x1", "x2", "v1", "v2")
    y = ifelse(x1 > 2, x1, x2)
    gradient = T.grad(y**3, [x1, x2])
    f = theano.function([x1, x2, v1, v2], T.Rop(gradient, [x1, x2], [v1, v2]))
    for first, second in [(3.0, 0.5), (1.0, 0.5)]:
        y_value = first if first > 2 else second
        expected = [6 * y_value * 0.25, 0.0] if first > 2 else [0.0, 6 * y_value * -0.5]
        np.testing.assert_allclose(f(first, second, 0.25, -0.5), expected, rtol=1e-15)


def test_a_value_read_in_a_branch_and_outside_it_gets_its_branch_gradient_once():
    # exp(u) is read inside the branch and outside it, u inside the branch too: the branch's own
    # sweep passed exp(u)'s adjoint on to u, and so did the outer sweep, so u * exp(u)'s term was
    # counted twice. Found by the long fuzz run as a wrong Hessian of
    # w * ifelse(x0 < 2, dot(reshape(x1), log_softmax(x2)), ...), whose gradient with respect to
    # both inputs reads log(sum(exp(x2))) in both ifelse's regions.
    c, u = T.dscalars("c", "u")
    cost = ifelse(c < 1, u * T.exp(u), u * 0) + T.exp(u)
    g = theano.function([c, u], T.grad(cost, u))
    assert g(0.0, 0.7) == pytest.approx(2 * np.exp(0.7) + 0.7 * np.exp(0.7), rel=1e-15)
    assert g(2.0, 0.7) == pytest.approx(np.exp(0.7), rel=1e-15)

    a, x = T.dvectors("a", "x")
    ga, gx = T.grad(ifelse(c < 1, T.sum(a) * T.log(T.sum(T.exp(x))), c * 0), [a, x])
    hessian_rows = theano.function([c, a, x], T.jacobian(T.concatenate([ga, gx]), x))
    av, xv = np.array([-1.38, -2.75, -2.9]), np.array([1.88, 2.48, 0.64])
    softmax = np.exp(xv) / np.exp(xv).sum()
    expected = np.vstack([np.tile(softmax, (3, 1)), av.sum() * (np.diag(softmax) - np.outer(softmax, softmax))])
    np.testing.assert_allclose(hessian_rows(0.0, av, xv), expected, rtol=1e-12, atol=1e-15)
