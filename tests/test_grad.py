"""T.grad: correctness on whole models, and the errors it raises."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T

from .helpers import check_grad, rand


def numpy_two_layer(x, w1, w2, y):
    """Hand-written forward and backward pass of the two-layer net."""
    pre = x @ w1
    h = np.maximum(pre, 0)
    pred = h @ w2
    diff = pred - y
    loss = np.sum(diff**2)
    d_pred = 2 * diff
    d_w2 = h.T @ d_pred
    d_h = d_pred @ w2.T
    d_h[pre <= 0] = 0
    d_w1 = x.T @ d_h
    return loss, d_w1, d_w2


def test_two_layer_net_matches_numpy_backprop():
    x, w1, w2, y = T.dmatrices("x", "w1", "w2", "y")
    h = T.nnet.relu(x @ w1)
    pred = h @ w2
    loss = T.sum((pred - y) ** 2)
    f = theano.function([x, w1, w2, y], [loss, *T.grad(loss, [w1, w2])])
    rng = np.random.default_rng(0)
    values = [rng.normal(size=s) for s in [(64, 100), (100, 100), (100, 10), (64, 10)]]
    for got, want in zip(f(*values), numpy_two_layer(*values)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)


def test_grad_of_a_list_and_of_a_shared_subexpression():
    x, y = T.dscalar("x"), T.dscalar("y")
    z = T.exp(x * y)
    gx, gy = T.grad(z + z * x, [x, y])
    f = theano.function([x, y], [gx, gy])
    ez = np.exp(0.6)
    np.testing.assert_allclose(f(0.3, 2.0), [2.0 * ez + ez + 0.3 * 2.0 * ez, 0.3 * ez + 0.3 * 0.3 * ez])


def test_relu_and_abs_derivative_at_zero_is_zero():
    x = T.dvector("x")
    f = theano.function([x], [T.grad(T.sum(T.nnet.relu(x)), x), T.grad(T.sum(abs(x)), x)])
    relu_grad, abs_grad = f(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(relu_grad, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(abs_grad, [-1.0, 0.0, 1.0])


def test_gradient_through_broadcast_inputs_sums():
    x = T.dmatrix("x")
    b = T.row("b")
    c = T.dscalar("c")
    cost = T.sum((x + b) * c)
    f = theano.function([x, b, c], T.grad(cost, [b, c]))
    xv = rand((4, 3), seed=1)
    gb, gc = f(xv, np.ones((1, 3)), 2.0)
    np.testing.assert_allclose(gb, np.full((1, 3), 8.0))
    np.testing.assert_allclose(gc, (xv + 1).sum())


def test_deep_composition_matches_finite_differences():
    def build(v):
        y = v
        for _ in range(6):
            y = T.sin(y) * y + T.exp(-y * y)
        return y

    check_grad(build, [rand((5,), seed=4)])


def test_grad_errors():
    x, v = T.dscalar("x"), T.dvector("v")
    with pytest.raises(TypeError, match=r"scalar \(0-d\) cost, got .* with 1 dimensions"):
        T.grad(v * 2, v)
    with pytest.raises(TypeError, match="wrt\\[0\\] must be a symgrad variable, got ndarray"):
        T.grad(x * 2, [np.ones(2)])
    with pytest.raises(TypeError, match="dtype int32 is not a float type"):
        i = T.iscalar("i")
        T.grad(T.cast(i, "float64") * x, i)
    with pytest.raises(T.DisconnectedInputError, match="does not depend on y"):
        T.grad(x * 2, T.dscalar("y"))
    with pytest.raises(ValueError, match="disconnected_inputs"):
        T.grad(x * 2, x, disconnected_inputs="maybe")


def test_disconnected_inputs_warn_and_ignore_give_zeros():
    x, y = T.dscalar("x"), T.dvector("y")
    with pytest.warns(UserWarning, match="does not depend on y"):
        gy = T.grad(x * 2, y, disconnected_inputs="warn")
    g_ignored = T.grad(x * 2, y, disconnected_inputs="ignore")
    f = theano.function([x, y], [gy, g_ignored], on_unused_input="ignore")
    a, b = f(1.0, np.ones(3))
    np.testing.assert_array_equal(a, np.zeros(3))
    np.testing.assert_array_equal(b, np.zeros(3))


def test_piecewise_constant_path_gives_zeros_not_an_error():
    x = T.dvector("x")
    g = theano.function([x], T.grad(T.sum(T.floor(x)), x))
    np.testing.assert_array_equal(g(np.array([0.5, 1.5])), [0.0, 0.0])


def test_consider_constant_blocks_gradient():
    x = T.dscalar("x")
    y = x * x
    g = theano.function([x], T.grad(y * x, x, consider_constant=[y]))
    assert g(3.0) == 9.0


def test_broadcastable_dimensions_broadcast_and_their_gradient_sums_over_them():
    r, c, m = T.drow("r"), T.fcol("c"), T.dmatrix("m")
    assert r.broadcastable == (True, False) and c.broadcastable == (False, True) and c.dtype == "float32"
    assert [v.type.shape for v in T.lrows(2)] == [(1, None), (1, None)]
    f = theano.function([m, r], [m + r, T.grad(T.sum((m + r) ** 2), r)])
    data_m, data_r = rand((3, 2), seed=1), rand((1, 2), seed=2)
    total, grad = f(data_m, data_r)
    np.testing.assert_allclose(total, data_m + data_r)
    np.testing.assert_allclose(grad, np.sum(2 * (data_m + data_r), axis=0, keepdims=True))
    with pytest.raises(ValueError, match=r"input 'r' expects shape \(1, \?\), got \(2, 2\)"):
        f(data_m, np.ones((2, 2)))
