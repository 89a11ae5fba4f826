"""Higher derivatives: T.jacobian, T.hessian, T.Lop, T.Rop and Hessian-vector products, checked
against finite differences (of the function, or of the compiled gradient), plus symbolic indexing
``x[i]`` (which gives each Jacobian row its one-hot seed) and the loop that builds the rows."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.optimize
import scipy.special

import symgrad as theano
import symgrad.tensor as T
from symgrad.graph import graph_inputs, toposort
from symgrad.ops.loop import evaluate
from symgrad.rewrite import optimize, rebuild

from .helpers import program_text, rand


def numeric_jacobian(f, x, eps=1e-6):
    """Central differences of the array-valued ``f`` at ``x``: shape ``f(x).shape + x.shape``."""
    x = np.array(x, dtype="float64")
    y = np.asarray(f(x))
    jac = np.zeros(y.shape + x.shape)
    for j in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[j] = eps
        jac[(..., *j)] = (np.asarray(f(x + step), dtype="float64") - np.asarray(f(x - step), dtype="float64")) / (
            2 * eps
        )
    return jac


def rosenbrock(x):
    return T.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


# ------------------------------------------------------------------------------------------------
# Symbolic indexing


def test_symbolic_integer_indices_and_slices():
    x, m = T.dvector("x"), T.dmatrix("m")
    i, j = T.lscalar("i"), T.iscalar("j")
    f = theano.function([x, m, i, j], [x[i] * 2, x[i:j], m[i, 1:], m[:, j], x[1 : j + 1]])
    xv, mv = rand(6, seed=1), rand((4, 3), seed=2)
    for iv, jv in [(1, 2), (-1, 0), (0, -1)]:
        got = f(xv, mv, iv, jv)
        want = [xv[iv] * 2, xv[iv:jv], mv[iv, 1:], mv[:, jv], xv[1 : jv + 1]]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_gradient_through_a_symbolic_index_is_one_hot():
    x, i = T.dvector("x"), T.lscalar("i")
    f = theano.function([x, i], T.grad(T.exp(x[i]) + T.sum(x[i:] ** 2), x))
    xv = rand(5, seed=3)
    want = 2 * xv * (np.arange(5) >= 2)
    want[2] += np.exp(xv[2])
    np.testing.assert_allclose(f(xv, 2), want)


def test_out_of_range_symbolic_index_names_the_variable():
    x, i = T.dvector("x"), T.lscalar("i")
    f = theano.function([x, i], [x[i], T.grad(x[i] * 3, x)])
    with pytest.raises(IndexError, match=r"index 7 in i is out of bounds for dimension 0 of length 3 in x"):
        f(np.zeros(3), 7)
    g = theano.function([x, i], T.grad(x[i] * 3, x))
    with pytest.raises(IndexError, match=r"index -4 in i is out of bounds .* in x \(built at .*test_higher"):
        g(np.zeros(3), -4)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with length 3"):
        x[i].owner.op.perform(np.zeros(3), np.int64(3))  # the NumPy reference says the same
    with pytest.raises(TypeError, match="an index must be an integer scalar"):
        _ = x[T.dscalar("s")]


# ------------------------------------------------------------------------------------------------
# Lop and Rop


def _f_of(x, a):
    return T.tanh(T.dot(a, x)) * T.exp(x[0])


def test_lop_and_rop_match_the_jacobian():
    x, a = T.dvector("x"), T.dmatrix("a")
    u, v = T.dvector("u"), T.dvector("v")
    y = _f_of(x, a)
    f = theano.function([x, a, u, v], [y, T.Lop(y, x, u), T.Rop(y, x, v)])
    xv, av, uv, vv = rand(3, seed=1), rand((4, 3), seed=2), rand(4, seed=3), rand(3, seed=4)
    _, lop, rop = f(xv, av, uv, vv)
    jac = numeric_jacobian(lambda w: f(w, av, uv, vv)[0], xv)
    np.testing.assert_allclose(lop, uv @ jac, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(rop, jac @ vv, rtol=1e-6, atol=1e-8)


def test_lop_and_rop_with_lists():
    x, a = T.dvector("x"), T.dmatrix("a")
    u1, u2, vx, va = T.dvector("u1"), T.dscalar("u2"), T.dvector("vx"), T.dmatrix("va")
    y1, y2 = _f_of(x, a), T.sum(T.dot(a, x) ** 2)
    lx, la = T.Lop([y1, y2], [x, a], [u1, u2])
    r1, r2 = T.Rop([y1, y2], [x, a], [vx, va])
    f = theano.function([x, a, u1, u2, vx, va], [lx, la, r1, r2])
    xv, av = rand(3, seed=1), rand((4, 3), seed=2)
    u1v, u2v, vxv, vav = rand(4, seed=3), 0.7, rand(3, seed=4), rand((4, 3), seed=5)
    got = f(xv, av, u1v, u2v, vxv, vav)
    y = theano.function([x, a], [y1, y2])
    jx = [numeric_jacobian(lambda w, k=k: y(w, av)[k], xv) for k in range(2)]
    ja = [numeric_jacobian(lambda w, k=k: y(xv, w)[k], av) for k in range(2)]
    tol = dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got[0], u1v @ jx[0] + u2v * jx[1], **tol)
    np.testing.assert_allclose(got[1], np.tensordot(u1v, ja[0], 1) + u2v * ja[1], **tol)
    np.testing.assert_allclose(got[2], jx[0] @ vxv + np.tensordot(ja[0], vav, 2), **tol)
    np.testing.assert_allclose(got[3], jx[1] @ vxv + np.tensordot(ja[1], vav, 2), **tol)


def test_lop_with_a_point_of_unknown_shape_for_a_broadcastable_output():
    # Found by the second-order fuzzer: Lop(grad(sum(w * x), x), x, u) for x of static shape
    # (1, 1) and a point u typed (?, ?) failed building the sweep ("dimshuffle() drops
    # dimension(s) [0, 1] of u"): a point takes the static shape of its output, checked at run time.
    x, w, u = T.tensor("float64", (1, 1), name="x"), T.dmatrix("w"), T.dmatrix("u")
    g = T.grad(T.sum(w * x**3), x)
    f = theano.function([x, w, u], [T.Lop(g, x, u), T.Lop(x * 2, x, u), T.Rop(g, x, u)])
    got = f(np.full((1, 1), 2.0), np.full((1, 1), 3.0), np.full((1, 1), 5.0))
    np.testing.assert_array_equal(got, [[[6 * 3 * 2 * 5]], [[10]], [[6 * 3 * 2 * 5]]])
    with pytest.raises(ValueError, match="specify_shape"):
        f(np.full((1, 1), 2.0), np.full((1, 1), 3.0), np.full((2, 1), 5.0))


def test_rop_float32_and_of_the_identity():
    x, v = T.fvector("x"), T.fvector("v")
    f = theano.function([x, v], [T.Rop(T.exp(x) * 2, x, v), T.Rop(x, x, v)])
    xv, vv = rand(5, "float32", seed=1), rand(5, "float32", seed=2)
    rop, identity = f(xv, vv)
    assert rop.dtype == np.float32
    np.testing.assert_allclose(rop, 2 * np.exp(xv) * vv, rtol=1e-6)
    np.testing.assert_array_equal(identity, vv)


def test_rebuild_keeps_a_replacement_of_a_computed_variable():
    # Replacing x and exp(x) at once: exp(x)'s own node must not be rebuilt over x's replacement.
    x, p, q = T.dvector("x"), T.dvector("p"), T.dvector("q")
    h = T.exp(x)
    (out,) = rebuild([h * x], {x: p, h: q})
    assert {v.name for v in graph_inputs([out])} == {"p", "q"}


def test_rop_leaves_no_reference_to_its_dummy_seed():
    # The transposed Jacobian of a broadcast keeps the seed u as an input that only lends its
    # shape (to the gradient of the sum over the broadcast axis); it must be replaced, or the
    # function would depend on an unlisted input.
    x, ys, v = T.dvector("x"), T.dmatrix("ys"), T.dvector("v")
    f_out = T.exp(x.dimshuffle(0, "x") + ys)
    rop = T.Rop(f_out, x, v)
    assert {r.name for r in graph_inputs([rop])} <= {"x", "ys", "v"}
    f = theano.function([x, ys, v], rop)
    xv, yv, vv = rand(3, seed=1), rand((3, 2), seed=2), rand(3, seed=3)
    np.testing.assert_allclose(f(xv, yv, vv), np.exp(xv[:, None] + yv) * vv[:, None], rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# Hessian-vector products


def test_hessian_vector_product_matches_finite_differences_of_the_gradient():
    x, v = T.dvector("x"), T.dvector("v")
    cost = rosenbrock(x) + T.sum(T.sin(x) * T.exp(x[::-1]))
    g = theano.function([x], T.grad(cost, x))
    f = theano.function([x, v], [T.hessian_vector_product(cost, x, v), T.Rop(T.grad(cost, x), x, v)])
    xv, vv = rand(7, seed=1, low=-1, high=1), rand(7, seed=2)
    eps = 1e-6
    along_v = (g(xv + eps * vv) - g(xv - eps * vv)) / (2 * eps)
    hvp, rop = f(xv, vv)
    np.testing.assert_allclose(hvp, along_v, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(rop, hvp, rtol=1e-11, atol=1e-10)


def _net_cost(W, b, X):
    return T.sum(T.tanh(T.dot(X, W) + b) ** 2)


def test_hessian_vector_product_with_lists_and_float32():
    W, b, X, vW, vb = T.fmatrix("W"), T.fvector("b"), T.fmatrix("X"), T.fmatrix("vW"), T.fvector("vb")
    f = theano.function([W, b, X, vW, vb], T.hessian_vector_product(_net_cost(W, b, X), [W, b], [vW, vb]))
    W64, b64, X64 = T.dmatrix("W"), T.dvector("b"), T.dmatrix("X")
    g = theano.function([W64, b64, X64], T.grad(_net_cost(W64, b64, X64), [W64, b64]))
    Wv, bv, Xv, vWv, vbv = rand((3, 2), seed=1), rand(2, seed=2), rand((5, 3), seed=3), rand((3, 2), seed=4), rand(2)
    got = f(*(a.astype("float32") for a in (Wv, bv, Xv, vWv, vbv)))
    eps = 1e-6
    plus, minus = g(Wv + eps * vWv, bv + eps * vbv, Xv), g(Wv - eps * vWv, bv - eps * vbv, Xv)
    for got_k, p, m in zip(got, plus, minus):
        assert got_k.dtype == np.float32
        np.testing.assert_allclose(got_k, (p - m) / (2 * eps), rtol=1e-4, atol=1e-4)


def _graph_size(outputs):
    """(nodes, elements computed) of the optimized graph: a count of work by static shapes."""
    nodes = toposort(optimize(outputs))
    return len(nodes), sum(int(np.prod(n.output.type.shape)) for n in nodes), nodes


def test_hessian_vector_product_costs_a_small_multiple_of_one_gradient():
    m, n = 7, 50
    X, y = T.tensor("float64", (m, n), name="X"), T.tensor("float64", (m,), name="y")
    w, v = T.tensor("float64", (n,), name="w"), T.tensor("float64", (n,), name="v")
    cost = T.sum(T.nnet.softplus(-y * T.dot(X, w))) + 0.5 * T.sum(w**2) + T.sum(T.sin(w) * T.sum(T.exp(w[1:])))
    grad_nodes, grad_work, _ = _graph_size([T.grad(cost, w)])
    for hvp in (T.hessian_vector_product(cost, w, v), T.Rop(T.grad(cost, w), w, v)):
        nodes, work, graph = _graph_size([hvp])
        assert nodes <= 3 * grad_nodes and work <= 3 * grad_work, (nodes, grad_nodes, work, grad_work)
        assert not [node for node in graph if node.output.type.shape.count(n) >= 2], "an n x n intermediate"


# ------------------------------------------------------------------------------------------------
# Errors of Lop, Rop and the Hessian-vector product


def test_lop_and_rop_errors_name_the_inputs():
    x, a, v, s = T.dvector("x"), T.dmatrix("a"), T.dmatrix("v"), T.dscalar("s")
    with pytest.raises(ValueError, match=r"T.Rop: got 1 eval_points for 2 wrt \(x, a\)"):
        T.Rop(T.dot(a, x), [x, a], [x])
    with pytest.raises(ValueError, match=r"eval_points\[0\] v \(float64\[\?, \?\]\) must have the shape of wrt\[0\] x"):
        T.Rop(T.exp(x), x, v)
    fixed = T.tensor("float64", (3,), name="fixed")
    with pytest.raises(ValueError, match=r"\(4,\) does not fit \(3,\)"):
        T.Rop(T.exp(fixed), fixed, np.ones(4))
    with pytest.raises(ValueError, match=r"T.Lop: eval_points\[0\] s \(float64\) must have the shape of f\[0\]"):
        T.Lop(T.exp(x), x, s)
    with pytest.raises(ValueError, match=r"T.Lop: got 2 eval_points for 1 f"):
        T.Lop(T.exp(x), x, [x, x])
    with pytest.raises(ValueError, match=r"T.hessian_vector_product: eval_points\[0\] v .* wrt\[0\] x"):
        T.hessian_vector_product(T.sum(x**2), x, v)
    with pytest.raises(T.DisconnectedInputError, match=r"T.Rop: f\[0\] .* does not depend on any of wrt"):
        T.Rop(x * 2, s, s)
    with pytest.raises(TypeError, match="T.Rop needs a float f"):
        T.Rop(T.lvector("n"), x, x)


# ------------------------------------------------------------------------------------------------
# Jacobians

# name: (y as a function of x (3,) and a (4, 3), which of x and a to differentiate with respect to)
JACOBIAN_CASES = {
    "elementwise": (lambda x, a: T.exp(x) * T.sin(x) + x**3, "x"),
    "dot": (lambda x, a: T.dot(a, x), "x"),
    "dot, matrix wrt": (lambda x, a: T.tanh(T.dot(a, x)), "a"),
    "softmax": (lambda x, a: T.exp(x - T.max(x)) / T.sum(T.exp(x - T.max(x))), "x"),
    "reductions": (lambda x, a: x * T.sum(x**2) + T.mean(x) + T.prod(x) + T.sum(a, axis=1)[:3], "x"),
    "slices": (lambda x, a: (x[1:] - x[:-1] ** 2) * x[0], "x"),
    "composition": (lambda x, a: T.nnet.sigmoid(T.dot(a.T, T.tanh(T.dot(a, x)))), "x"),
}


@pytest.mark.parametrize("name", sorted(JACOBIAN_CASES))
def test_jacobian_matches_finite_differences(name):
    build, wrt = JACOBIAN_CASES[name]
    x, a = T.dvector("x"), T.dmatrix("a")
    y = build(x, a)
    target = {"x": x, "a": a}[wrt]
    f = theano.function([x, a], [y, T.jacobian(y, target)], on_unused_input="ignore")
    xv, av = rand(3, low=0.2, high=1.5, seed=1), rand((4, 3), seed=2)
    value, jac = f(xv, av)
    if wrt == "x":
        expected = numeric_jacobian(lambda v: f(v, av)[0], xv)
    else:
        expected = numeric_jacobian(lambda v: f(xv, v)[0], av)
    assert jac.shape == value.shape + target_shape(wrt)
    np.testing.assert_allclose(jac, expected, rtol=1e-6, atol=1e-8)


def target_shape(wrt):
    return (3,) if wrt == "x" else (4, 3)


def test_jacobian_float32():
    x, a = T.fvector("x"), T.fmatrix("a")
    f = theano.function([x, a], T.jacobian(T.tanh(T.dot(a, x)) * T.exp(x[0]), x))
    xv, av = rand(3, seed=1), rand((4, 3), seed=2)
    jac = f(xv.astype("float32"), av.astype("float32"))
    assert jac.dtype == np.float32
    expected = numeric_jacobian(lambda v: np.tanh(av @ v) * np.exp(v[0]), xv)
    np.testing.assert_allclose(jac, expected, rtol=1e-5, atol=1e-6)


def test_jacobian_of_a_list_of_wrt_and_of_a_scalar():
    x, a = T.dvector("x"), T.dmatrix("a")
    y = T.dot(a, x) ** 2
    jx, ja = T.jacobian(y, [x, a])
    scalar = T.jacobian(T.sum(x**2), x)  # a scalar's Jacobian is its gradient
    f = theano.function([x, a], [jx, ja, scalar])
    xv, av = rand(3, seed=1), rand((4, 3), seed=2)
    gx, ga, gs = f(xv, av)
    np.testing.assert_allclose(gx, 2 * (av @ xv)[:, None] * av, rtol=1e-12)
    np.testing.assert_allclose(ga, numeric_jacobian(lambda v: (v @ xv) ** 2, av), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gs, 2 * xv)


def test_jacobian_size_one_and_size_zero():
    x, z = T.dvector("x"), T.dvector("z")
    f = theano.function([x], T.jacobian(T.exp(x) * 3, x))
    np.testing.assert_allclose(f(np.array([0.5])), [[3 * np.exp(0.5)]])
    assert f(np.zeros(0)).shape == (0, 0)
    empty_rows = theano.function([x], T.jacobian(x[5:] * 2, x))
    np.testing.assert_array_equal(empty_rows(np.ones(3)), np.zeros((0, 3)))
    empty_wrt = theano.function([x, z], T.jacobian(z * T.sum(x), x))
    np.testing.assert_array_equal(empty_wrt(np.zeros(0), np.ones(2)), np.zeros((2, 0)))


def test_jacobian_with_a_static_length_and_consider_constant():
    x = T.tensor("float64", (3,), name="x")
    h = T.exp(x)
    y = h * x
    f = theano.function([x], [T.jacobian(y, x), T.jacobian(y, x, consider_constant=[h])])
    xv = rand(3, seed=4)
    full, held = f(xv)
    np.testing.assert_allclose(full, np.diag(np.exp(xv) * (1 + xv)))
    np.testing.assert_allclose(held, np.diag(np.exp(xv)))


def test_jacobian_and_hessian_errors_name_the_inputs():
    x, a, s = T.dvector("x"), T.dmatrix("a"), T.dscalar("s")
    with pytest.raises(TypeError, match=r"T.hessian needs a scalar \(0-d\) cost, got .* with 1 dimensions"):
        T.hessian(x * 2, x)
    with pytest.raises(TypeError, match="vector or scalar expression, got .* 2 dimensions; flatten it first"):
        T.jacobian(a * 2, a)
    with pytest.raises(T.DisconnectedInputError, match="T.jacobian: the expression does not depend on s"):
        T.jacobian(x * 2, s)


# ------------------------------------------------------------------------------------------------
# Hessians


def test_hessian_of_a_quadratic_form_is_exactly_a_plus_a_transposed():
    x, a = T.dvector("x"), T.dmatrix("a")
    f = theano.function([x, a], T.hessian(T.dot(x, T.dot(a, x)), x))
    av = rand((5, 5), seed=1)
    np.testing.assert_array_equal(f(rand(5, seed=2), av), av + av.T)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_hessian_of_rosenbrock(dtype):
    x = T.tensor(dtype, (None,), name="x")
    cost = rosenbrock(x)
    f = theano.function([x], [T.grad(cost, x), T.hessian(cost, x)])
    xv = rand(6, seed=3, low=-1.5, high=1.5)
    grad, hess = f(xv.astype(dtype))
    assert hess.dtype == np.dtype(dtype)
    tolerance = dict(rtol=1e-12, atol=1e-10) if dtype == "float64" else dict(rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(hess, scipy.optimize.rosen_hess(xv), **tolerance)
    if dtype == "float64":
        np.testing.assert_allclose(hess, numeric_jacobian(lambda v: f(v)[0], xv), rtol=1e-6, atol=1e-5)


def test_hessian_of_the_logistic_loss():
    w, X, y = T.dvector("w"), T.dmatrix("X"), T.dvector("y")
    cost = T.sum(T.nnet.softplus(-y * T.dot(X, w))) + 0.05 * T.sum(w**2)
    f = theano.function([w, X, y], [T.grad(cost, w), T.hessian(cost, w)])
    wv, Xv, yv = rand(4, seed=1), rand((9, 4), seed=2), np.sign(rand(9, seed=3))
    _, hess = f(wv, Xv, yv)
    s = scipy.special.expit(-yv * (Xv @ wv))
    np.testing.assert_allclose(hess, Xv.T @ np.diag(s * (1 - s)) @ Xv + 0.1 * np.eye(4), rtol=1e-12)
    np.testing.assert_allclose(hess, numeric_jacobian(lambda v: f(v, Xv, yv)[0], wv), rtol=1e-6, atol=1e-8)


def test_hessian_with_respect_to_a_matrix_and_a_list():
    W, x = T.dmatrix("W"), T.dvector("x")
    cost = T.sum(T.tanh(T.dot(W, x)) ** 2) + T.sum(x**3)
    hW, hx = T.hessian(cost, [W, x])
    f = theano.function([W, x], [T.grad(cost, W), hW, hx])
    Wv, xv = rand((2, 3), seed=1), rand(3, seed=2)
    _, hess_W, hess_x = f(Wv, xv)
    assert hess_W.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(hess_W, numeric_jacobian(lambda v: f(v, xv)[0], Wv), rtol=1e-6, atol=1e-8)
    gx = theano.function([W, x], T.grad(cost, x))
    np.testing.assert_allclose(hess_x, numeric_jacobian(lambda v: gx(Wv, v), xv), rtol=1e-6, atol=1e-8)


def test_hessian_sizes_one_and_zero_and_a_linear_cost():
    x = T.dvector("x")
    f = theano.function([x], T.hessian(T.sum(T.exp(x)), x))
    np.testing.assert_allclose(f(np.array([0.3])), [[np.exp(0.3)]])
    assert f(np.zeros(0)).shape == (0, 0)
    linear = theano.function([x], T.hessian(T.sum(x * 3), x))
    np.testing.assert_array_equal(linear(np.ones(2)), np.zeros((2, 2)))
    s = T.dscalar("s")
    np.testing.assert_allclose(theano.function([s], T.hessian(s**3, s))(2.0), 12.0)


def test_hessian_through_piecewise_functions():
    x = T.dvector("x")
    cost = T.sum(T.maximum(x, 0.3) ** 3 + T.switch(x > 0, x**2 * T.sin(x), T.exp(x)) + T.clip(x, -1, 1) ** 4)
    f = theano.function([x], [T.grad(cost, x), T.hessian(cost, x)])
    xv = np.array([-1.7, -0.4, 0.1, 0.6, 0.9, 1.4])  # away from the kinks at -1, 0, 0.3 and 1
    np.testing.assert_allclose(f(xv)[1], numeric_jacobian(lambda v: f(v)[0], xv), rtol=1e-6, atol=1e-6)


def test_hessian_times_v_is_the_hessian_vector_product():
    x, v = T.dvector("x"), T.dvector("v")
    cost = rosenbrock(x) + T.sum(T.sin(x) * T.exp(x[::-1]))
    f = theano.function([x, v], [T.hessian(cost, x), T.hessian_vector_product(cost, x, v)])
    xv, vv = rand(7, seed=1, low=-1, high=1), rand(7, seed=2)
    hess, hvp = f(xv, vv)
    np.testing.assert_allclose(hess @ vv, hvp, rtol=1e-11, atol=1e-10)


def chebyquad(x, lib, n=8):
    """Moré, Garbow and Hillstrom's problem 35 (Chebyquad) with m = n residuals, in ``lib`` (``T``
    or ``np``): the squared distances of the means of the shifted Chebyshev polynomials T_1..T_n
    over x from their integrals over [0, 1]."""
    y = 2 * x - 1
    chebyshev = [lib.ones_like(y), y]
    for _ in range(n - 1):
        chebyshev.append(2 * y * chebyshev[-1] - chebyshev[-2])
    integrals = [0.0 if i % 2 else -1.0 / (i * i - 1) for i in range(1, n + 1)]
    return sum((lib.mean(t) - c) ** 2 for t, c in zip(chebyshev[1:], integrals))


def test_hessian_of_chebyquad():
    # Rewrites merged values the rows read (the 1/n of each mean) after the loop was built, and its
    # body printed a kernel taking one argument twice: "SyntaxError: duplicate argument".
    x = T.dvector("x")
    cost = chebyquad(x, T)
    grad = theano.function([x], T.grad(cost, x))
    hess = theano.function([x], T.hessian(cost, x))
    x0 = np.arange(1, 9) / 9  # the problem's starting point
    np.testing.assert_allclose(grad(x0), numeric_jacobian(lambda v: chebyquad(v, np), x0), rtol=1e-6, atol=1e-8)
    h = hess(x0)
    np.testing.assert_allclose(h, numeric_jacobian(grad, x0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-12)


def test_hessian_when_rewrites_bind_two_loop_inputs_to_one_value():
    # The smallest graph of the Chebyquad failure: the 1/size of the two means are two inputs of
    # the loop until a rewrite reads size(x * x) as size(x), and then one node.
    x = T.dvector("x")
    f = theano.function([x], T.hessian(T.mean(x) * T.mean(x * x), x))
    xv = rand(5, seed=1)
    n, ones, g = len(xv), np.ones(len(xv)), 2 * xv / len(xv)  # g: the gradient of mean(x * x)
    want = (np.outer(ones, g) + np.outer(g, ones)) / n + np.mean(xv) * 2 / n * np.eye(n)
    np.testing.assert_allclose(f(xv), want, rtol=1e-12, atol=1e-14)


def test_hessian_when_rewrites_make_a_loop_input_a_constant_the_body_reads():
    # (x + a) - x, an input of the loop, is a only after the rewrites; the body reads a directly
    # too (the rows of the gradient of sum(a * x)), and a kernel took both under a's name.
    x = T.dvector("x")
    av = np.array([1.0, 2.0, 3.0])
    a = T.as_tensor_variable(av)
    f = theano.function([x], T.hessian(T.sum(((x + a) - x) * x**3) * T.sum(a * x), x))
    xv = rand(3, seed=2)
    cubic_grad = 3 * av * xv**2
    want = np.diag(6 * av * xv) * np.sum(av * xv) + np.outer(cubic_grad, av) + np.outer(av, cubic_grad)
    np.testing.assert_allclose(f(xv), want, rtol=1e-12)


def test_hessian_source_has_one_loop_with_the_forward_pass_hoisted():
    x, a = T.dvector("x"), T.dmatrix("a")
    f = theano.function([x, a], T.hessian(T.sum(T.exp(x) * T.dot(a, x)), x))
    entry = program_text(f).splitlines()
    loops = [k for k, line in enumerate(entry) if line.strip().startswith("for ")]
    assert len(loops) == 1 and "for i in range(" in entry[loops[0]]
    forward = [k for k, line in enumerate(entry) if "matrix_product(a, x)" in line]
    assert len(forward) == 1 and forward[0] < loops[0], "the forward product is computed once, before the loop"
    # exp(x) and its products with other index-free values are hoisted too: no kernel called in
    # the loop computes an exponential.
    called = {name for line in entry[loops[0] :] for name in re.findall(r"\b(k\d+_\w+?)(?:_parallel)?\b", line)}
    assert called
    for name in called:
        kernel = f.source.split(f"def {name}(")[1].split("\n\n")[0]
        assert "exp(" not in kernel, kernel
    xv, av = rand(4, seed=1), rand((4, 4), seed=2)
    grad = theano.function([x, a], T.grad(T.sum(T.exp(x) * T.dot(a, x)), x))
    np.testing.assert_allclose(f(xv, av), numeric_jacobian(lambda v: grad(v, av), xv), rtol=1e-6, atol=1e-8)


def test_reference_evaluation_of_the_loop_matches_the_compiled_function():
    x, a = T.dvector("x"), T.dmatrix("a")
    hess = T.hessian(T.sum(T.sin(x) * T.dot(a, x**2)), x)
    xv, av = rand(4, seed=1), rand((4, 4), seed=2)
    (reference,) = evaluate([hess], {id(x): xv, id(a): av})
    np.testing.assert_allclose(theano.function([x, a], hess)(xv, av), reference, rtol=1e-12, atol=1e-12)


def third_derivatives(x, m):
    """A Hessian, the gradient of its product with ``m`` (through the loop) and a Jacobian of a Jacobian."""
    hess = T.hessian(T.sum(T.exp(x) * T.sin(x)) + T.dot(x, x) ** 2, x)
    nested = T.jacobian(T.jacobian(T.tanh(x) * x[0], x).flatten(), x)  # a loop inside a loop
    return [hess, T.grad(T.sum(hess * m), x), nested]


def loop_depths(source: str) -> set[int]:
    """The indentations of the row loops in a generated module's program."""
    loops = [line for line in program_text(source).splitlines() if line.strip().startswith("for i")]
    return {len(line) - len(line.lstrip()) for line in loops}


def test_third_derivatives_through_the_loop():
    x, m = T.dvector("x"), T.dmatrix("m")
    f = theano.function([x, m], third_derivatives(x, m))
    xv, mv = rand(3, seed=1), rand((3, 3), seed=2)
    _, got_third, got_nested = f(xv, mv)
    want_third = numeric_jacobian(lambda v: np.sum(f(v, mv)[0] * mv), xv)
    np.testing.assert_allclose(got_third, want_third, rtol=1e-6, atol=1e-6)
    jac = theano.function([x], T.jacobian(T.tanh(x) * x[0], x).flatten())
    np.testing.assert_allclose(got_nested, numeric_jacobian(jac, xv), rtol=1e-6, atol=1e-6)
    assert len(loop_depths(f.source)) == 2, "the nested Jacobian runs a loop inside a loop"
