"""T.nnet (softmax, log_softmax, the cross-entropies), T.logsumexp, and the tensor functions a net
needs around them (arange, argmax, joins, allocation, var/std, symbolic shapes): each against NumPy
over float32 and float64, broadcasting and size-0/1 dimensions, and each gradient against finite
differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special

import symgrad as theano
import symgrad.tensor as T

from .helpers import check_grad, rand

TOLERANCE = {"float64": dict(rtol=1e-12, atol=1e-14), "float32": dict(rtol=2e-5, atol=1e-6)}
MATRIX_SHAPES = [(3, 5), (0, 4), (1, 1), (4, 1), (1, 6)]
VECTOR_SHAPES = [(5,), (1,)]


def _check(got, want, dtype, scale=1.0):
    """``got`` has ``want``'s shape, the dtype ``dtype`` and its values, up to rounding on the scale
    of the inputs (``scale``: their largest magnitude)."""
    want = np.asarray(want)
    assert got.shape == want.shape
    assert got.dtype == np.dtype(dtype), f"{got.dtype} != {dtype}"
    tolerance = dict(TOLERANCE[dtype])
    tolerance["atol"] = max(tolerance["atol"], 2 * scale * np.finfo(dtype).eps)
    np.testing.assert_allclose(got, want.astype(dtype), **tolerance)


# ------------------------------------------------------------------------------------------------
# softmax, log_softmax, logsumexp


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_and_log_softmax_match_scipy(dtype):
    m, v = T.tensor(dtype, (None, None), name="m"), T.tensor(dtype, (None,), name="v")
    f = theano.function([m, v], [T.nnet.softmax(m), T.nnet.softmax(v), T.nnet.log_softmax(m), T.nnet.log_softmax(v)])
    for call, matrix_shape in enumerate(MATRIX_SHAPES):  # one kernel per rank serves every shape
        vector_shape = VECTOR_SHAPES[call % len(VECTOR_SHAPES)]
        values = [rand(matrix_shape, dtype, seed=call), rand(vector_shape, dtype, seed=10 + call)]
        soft_m, soft_v, log_soft_m, log_soft_v = f(*values)
        for value, soft, log_soft in zip(values, (soft_m, soft_v), (log_soft_m, log_soft_v)):
            _check(soft, scipy.special.softmax(value.astype("float64"), axis=-1), dtype)
            _check(log_soft, scipy.special.log_softmax(value.astype("float64"), axis=-1), dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_logsumexp_matches_scipy(dtype):
    x = T.tensor(dtype, (None, None, None), name="x")
    m = T.tensor(dtype, (None, 1), name="m")
    axes = [None, 0, 1, 2, -1, (0, 2)]
    outputs = [T.logsumexp(x, axis=a) for a in axes] + [T.logsumexp(x, axis=a, keepdims=True) for a in (None, 1)]
    outputs += [T.logsumexp(m, axis=1), T.logsumexp(m, axis=1, keepdims=True)]
    f = theano.function([x, m], outputs)
    xv, mv = rand((2, 3, 4), dtype, seed=1), rand((0, 1), dtype, seed=2)
    expected = [scipy.special.logsumexp(xv.astype("float64"), axis=a) for a in axes]
    expected += [scipy.special.logsumexp(xv.astype("float64"), axis=a, keepdims=True) for a in (None, 1)]
    expected += [np.zeros((0,)), np.zeros((0, 1))]
    for got, want in zip(f(xv, mv), expected):
        _check(got, want, dtype)
    # Over an empty axis the max that keeps it stable has no value: an error, as NumPy's max.
    with pytest.raises(ValueError, match="empty"):
        theano.function([m], T.logsumexp(m, axis=0))(mv)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_family_is_stable_at_plus_minus_1000(dtype):
    x = T.tensor(dtype, (None, None), name="x")
    w = T.tensor(dtype, (None, None), name="w")
    outputs = [T.nnet.softmax(x), T.nnet.log_softmax(x), T.logsumexp(x, axis=1), T.logsumexp(x)]
    grads = T.grad(T.sum(T.nnet.log_softmax(x) * w) + T.sum(T.nnet.softmax(x) * w) + T.logsumexp(x), x)
    f = theano.function([x, w], [*outputs, grads])
    value = np.array([[1000, -1000, 999], [-1000, -1000, -1000], [1000, 1000, 0], [-1000, 0, 1000]], dtype=dtype)
    weights = rand(value.shape, dtype, low=0.5, high=1.5, seed=3)
    soft, log_soft, lse_rows, lse, grad = f(value, weights)
    v64, w64 = value.astype("float64"), weights.astype("float64")
    for got in (soft, log_soft, lse_rows, lse, grad):
        assert np.all(np.isfinite(got))
    # Fused, x - max - log(sum) is summed in any order (fastmath's reassociation), so results near 0
    # are exact to a rounding of 1000: 1.2e-4 in float32, 2.3e-13 in float64.
    p = scipy.special.softmax(v64, axis=1)
    _check(soft, p, dtype, scale=1000)
    _check(log_soft, scipy.special.log_softmax(v64, axis=1), dtype, scale=1000)
    _check(lse_rows, scipy.special.logsumexp(v64, axis=1), dtype, scale=1000)
    _check(lse, scipy.special.logsumexp(v64), dtype, scale=1000)
    # d/dx [sum(w * log_softmax) + sum(w * softmax) + logsumexp] written out by hand
    p_all = scipy.special.softmax(v64)
    expected = w64 - p * w64.sum(axis=1, keepdims=True) + p * (w64 - (p * w64).sum(axis=1, keepdims=True)) + p_all
    _check(grad, expected, dtype, scale=1000)


def test_softmax_family_gradients():
    m, v = rand((3, 4), seed=1), rand((5,), seed=2)
    for build in (T.nnet.softmax, T.nnet.log_softmax):
        check_grad(build, [m])
        check_grad(build, [v])
    for axis, keepdims in [(None, False), (0, False), (1, True), (-1, False)]:
        check_grad(lambda x, a=axis, k=keepdims: T.logsumexp(x, axis=a, keepdims=k), [m])


def test_logsumexp_gradient_is_the_softmax_even_at_ties():
    # The shift is a constant for T.grad: no gradient goes to the maxima (no kernel compares x with
    # its max, as the gradient of a max would), and ties change nothing.
    x = T.dvector("x")
    f = theano.function([x], T.grad(T.logsumexp(x), x))
    value = np.array([2.0, 2.0, -1.0, 2.0])
    np.testing.assert_allclose(f(value), scipy.special.softmax(value), rtol=1e-15)
    assert "Eq(" not in f.source


# ------------------------------------------------------------------------------------------------
# cross-entropies


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("label_dtype", ["int64", "int32", "uint8"])
def test_categorical_crossentropy_with_integer_labels(dtype, label_dtype):
    p = T.tensor(dtype, (None, None), name="p")
    y = T.tensor(label_dtype, (None,), name="y")
    pv = T.tensor(dtype, (None,), name="pv")
    k = T.tensor(label_dtype, (), name="k")
    f = theano.function([p, y, pv, k], [T.nnet.categorical_crossentropy(p, y), T.nnet.categorical_crossentropy(pv, k)])
    for shape in [(6, 4), (0, 3), (1, 1), (3, 1)]:
        probabilities = rand(shape, dtype, low=0.05, high=1.0, seed=shape[0])
        labels = np.random.default_rng(shape[1]).integers(0, shape[1], shape[0]).astype(label_dtype)
        rows, scalar = f(probabilities, labels, rand(4, dtype, low=0.1, high=1, seed=2), 3)
        _check(rows, -np.log(probabilities[np.arange(shape[0]), labels].astype("float64")), dtype)
    _check(scalar, -np.log(rand(4, "float64", low=0.1, high=1, seed=2)[3]), dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_categorical_crossentropy_with_distributions(dtype):
    p = T.tensor(dtype, (None, None), name="p")
    t = T.tensor(dtype, (None, None), name="t")
    row = T.tensor(dtype, (1, None), name="row")
    f = theano.function([p, t, row], [T.nnet.categorical_crossentropy(p, t), T.nnet.categorical_crossentropy(p, row)])
    pv = scipy.special.softmax(rand((5, 3), dtype, seed=1), axis=1).astype(dtype)
    tv = np.eye(3, dtype=dtype)[[0, 2, 1, 1, 0]]
    rv = np.array([[0.2, 0.5, 0.3]], dtype=dtype)
    one_hot, soft = f(pv, tv, rv)
    _check(one_hot, -np.sum(tv * np.log(pv.astype("float64")), axis=-1), dtype)
    _check(soft, -np.sum(rv * np.log(pv.astype("float64")), axis=-1), dtype)


def test_crossentropy_errors_name_the_inputs():
    p, y = T.dmatrix("p"), T.dmatrix("y")
    with pytest.raises(TypeError, match=r"true_dist must be integer labels.*p \(float64\[\?, \?\]\).*q"):
        T.nnet.categorical_crossentropy(p, T.dvector("q"))
    with pytest.raises(ValueError, match="incompatible static lengths"):
        T.nnet.binary_crossentropy(T.tensor("float64", (None, 3)), T.tensor("float64", (None, 4)))
    assert T.nnet.categorical_crossentropy(p, y).ndim == 1


def test_numpy_arrays_on_the_left_of_operators_build_graphs():
    p = T.dmatrix("p")
    one_hot = np.eye(3)[[0, 2]]
    f = theano.function([p], [-(one_hot * T.log(p)).sum(axis=1), np.ones(3) + p, np.float64(2) ** p])
    value = rand((2, 3), low=0.1, high=1, seed=1)
    for got, want in zip(f(value), [-(one_hot * np.log(value)).sum(axis=1), 1 + value, 2**value]):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_crossentropy_gradients():
    logits = rand((5, 3), seed=1)
    labels = np.array([0, 2, 2, 1, 2])  # repeated classes: the scatter adds
    check_grad(lambda x: T.nnet.categorical_crossentropy(T.nnet.softmax(x), labels), [logits])
    one_hot = np.eye(3)[labels]
    check_grad(lambda x, t: T.nnet.categorical_crossentropy(T.nnet.softmax(x), t), [logits, one_hot])
    out, target = rand((4, 3), low=0.1, high=0.9, seed=2), rand((4, 3), low=0, high=1, seed=3)
    check_grad(T.nnet.binary_crossentropy, [out, target])
    check_grad(lambda o: T.nnet.binary_crossentropy(T.nnet.sigmoid(o), target[:1]), [rand((4, 3), seed=4)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_binary_crossentropy_matches_numpy_with_broadcasting(dtype):
    o = T.tensor(dtype, (None, None), name="o")
    t = T.tensor(dtype, (1, None), name="t")
    f = theano.function([o, t], T.nnet.binary_crossentropy(o, t))
    for shape in [(4, 3), (0, 3), (1, 1)]:
        ov, tv = rand(shape, dtype, low=0.05, high=0.95, seed=1), rand((1, shape[1]), dtype, low=0, high=1, seed=2)
        o64 = ov.astype("float64")
        _check(f(ov, tv), -(tv * np.log(o64) + (1 - tv) * np.log(1 - o64)), dtype)


def test_softmax_regression_gradient_matches_numpy_backprop():
    x, w = T.dmatrix("x"), T.dmatrix("w")
    b, y = T.dvector("b"), T.lvector("y")
    p = T.nnet.softmax(x @ w + b)
    loss = T.mean(T.nnet.categorical_crossentropy(p, y))
    accuracy = T.mean(T.eq(T.argmax(p, axis=1), y))
    f = theano.function([x, w, b, y], [loss, accuracy, *T.grad(loss, [w, b])])
    rng = np.random.default_rng(0)
    xv, wv, bv, yv = rng.normal(size=(64, 5)), rng.normal(size=(5, 4)), rng.normal(size=4), rng.integers(0, 4, 64)
    probs = scipy.special.softmax(xv @ wv + bv, axis=1)
    delta = (probs - np.eye(4)[yv]) / 64
    got_loss, got_accuracy, gw, gb = f(xv, wv, bv, yv)
    np.testing.assert_allclose(got_loss, -np.mean(np.log(probs[np.arange(64), yv])), rtol=1e-12)
    np.testing.assert_allclose(got_accuracy, np.mean(probs.argmax(axis=1) == yv))
    np.testing.assert_allclose(gw, xv.T @ delta, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gb, delta.sum(axis=0), rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------------------------------------------
# arange, argmax, shapes


def test_arange():
    n, start, fstop = T.lscalar("n"), T.iscalar("start"), T.dscalar("fstop")
    x = T.dmatrix("x")
    outputs = [T.arange(n), T.arange(start, n, 2), T.arange(n, start, -1), T.arange(0.5, fstop, 0.25)]
    outputs += [T.arange(x.shape[0]), T.arange(n, dtype="float32"), T.arange(5)]
    f = theano.function([n, start, fstop, x], outputs)
    got = f(7, 2, 2.0, np.zeros((3, 2)))
    expected = [np.arange(7), np.arange(2, 7, 2), np.arange(7, 2, -1), np.arange(0.5, 2.0, 0.25), np.arange(3)]
    expected += [np.arange(7, dtype="float32"), np.arange(5)]
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)
    assert T.arange(start).dtype == "int64" and T.arange(T.fscalar()).dtype == "float32"
    np.testing.assert_array_equal(f(0, 2, 0.0, np.zeros((0, 2)))[0], np.arange(0))
    with pytest.raises(ValueError, match="step must not be zero"):
        T.arange(0, n, 0)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
def test_argmax_and_argmin_match_numpy(dtype):
    # Every axis in float64; the others over all axes, one and the last (the loops over the axes do
    # not depend on the dtype, the comparisons do).
    axes = [None, 0, 1, 2, -1] if dtype == "float64" else [None, 1, -1]
    x = T.tensor(dtype, (None, None, None), name="x")
    outputs = [T.argmax(x, axis=a) for a in axes] + [x.argmin(axis=a) for a in axes]
    outputs += [x.argmax(axis=1, keepdims=True), T.argmax(x, keepdims=True), x.argmax()]
    f = theano.function([x], outputs)
    for shape in [(2, 3, 4), (1, 1, 1), (2, 1, 3)]:
        value = rand(shape, dtype, low=-50, high=50, seed=shape[0])
        expected = [np.argmax(value, axis=a) for a in axes] + [np.argmin(value, axis=a) for a in axes]
        expected += [np.argmax(value, axis=1, keepdims=True), np.argmax(value, keepdims=True), np.argmax(value)]
        for got, want in zip(f(value), expected, strict=True):
            assert got.dtype == np.int64 and got.shape == np.shape(want)
            np.testing.assert_array_equal(got, want)


def test_argmax_has_no_gradient_and_grad_does_not_fail():
    x = T.dmatrix("x")
    index = T.cast(T.argmax(x, axis=1), "float64")
    g_through, g_only = T.grad(T.sum(x * index.dimshuffle(0, "x")), x), T.grad(T.sum(index), x)
    f = theano.function([x], [g_through, g_only])
    value = rand((3, 4), seed=1)
    through, only = f(value)
    np.testing.assert_array_equal(through, np.broadcast_to(value.argmax(axis=1)[:, None], (3, 4)))
    np.testing.assert_array_equal(only, np.zeros((3, 4)))


def test_symbolic_shape_and_size():
    x = T.dmatrix("x")
    s = T.tensor("float64", (None, 3), name="s")
    n, m = x.shape
    assert x.shape.dtype == "int64" and x.shape.type.shape == (2,)
    assert isinstance(s.shape[1], T.TensorConstant) and int(s.shape[1].data) == 3
    outputs = [x.shape, n * m, x.size, x.shape[-1] + 0.5, s.size, T.shape(s), x.shape[1:]]
    outputs += [T.alloc(1.5, m, n), x.reshape((m, n)), x.reshape((x.size,)), T.zeros(x.shape), T.ones((n, 2), "int32")]
    f = theano.function([x, s], outputs)
    xv = rand((2, 5), seed=1)
    got = f(xv, np.zeros((4, 3)))
    expected = [np.array([2, 5]), 10, 10, 5.5, 12, np.array([4, 3]), np.array([5])]
    expected += [np.full((5, 2), 1.5), xv.reshape(5, 2), xv.reshape(10), np.zeros((2, 5)), np.ones((2, 2), "int32")]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
        assert g.dtype == np.asarray(e).dtype
    with pytest.raises(TypeError, match="not iterable"):
        iter(T.dvector("v"))
    with pytest.raises(IndexError, match="no x.shape\\[2\\]"):
        _ = x.shape[2]


def test_specify_shape_checks_at_call_time():
    x, n = T.dmatrix("x"), T.lscalar("n")
    y = T.specify_shape(x, (3, None))
    assert y.type.shape == (3, None) and T.specify_shape(x, (None, None)) is x
    f = theano.function([x, n], [T.specify_shape(x, (3, None)) * 2, T.specify_shape(x, (None, n))])
    np.testing.assert_array_equal(f(np.ones((3, 2)), 2)[0], np.full((3, 2), 2.0))
    with pytest.raises(ValueError, match=r"specify_shape\(3, \?\).*x has shape \(4, 2\)"):
        f(np.ones((4, 2)), 2)
    with pytest.raises(ValueError, match=r"x has shape \(3, 2\)"):
        f(np.ones((3, 2)), 5)
    with pytest.raises(ValueError, match="disagrees"):
        T.specify_shape(T.tensor("float64", (2, 3)), (3, 3))
    check_grad(lambda v: T.specify_shape(v, (3, 2)) ** 2, [rand((3, 2), seed=1)])


# ------------------------------------------------------------------------------------------------
# joins


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_concatenate_join_and_stack_match_numpy(dtype):
    a, b = T.tensor(dtype, (None, None), name="a"), T.tensor(dtype, (None, None), name="b")
    u, v = T.tensor(dtype, (None,), name="u"), T.tensor(dtype, (None,), name="v")
    s = T.tensor(dtype, (), name="s")
    outputs = [
        T.concatenate([a, b]), T.concatenate([a, b, a], axis=1), T.join(-1, a, b), T.join(0, u, v, u),
        T.stack([u, v]), T.stack([u, v], axis=1), T.stack([s, s * 2, 3]), T.stack([a, b], axis=2),
    ]  # fmt: skip
    f = theano.function([a, b, u, v, s], outputs)
    for rows, (m, k) in [(2, (2, 3)), (0, (0, 0)), (1, (1, 1))]:
        av, bv = rand((rows, k), dtype, seed=1), rand((rows, k), dtype, seed=2)
        uv, vv, sv = rand(m, dtype, seed=3), rand(m, dtype, seed=4), np.asarray(1.5, dtype=dtype)
        expected = [
            np.concatenate([av, bv]), np.concatenate([av, bv, av], axis=1), np.concatenate([av, bv], axis=-1),
            np.concatenate([uv, vv, uv]), np.stack([uv, vv]), np.stack([uv, vv], axis=1), np.array([1.5, 3, 3]),
            np.stack([av, bv], axis=2),
        ]  # fmt: skip
        for got, want in zip(f(av, bv, uv, vv, sv), expected):
            _check(got, want, dtype)


def test_join_promotes_dtypes_and_reports_mismatched_shapes():
    a, b = T.fmatrix("a"), T.dmatrix("b")
    assert T.concatenate([a, b]).dtype == "float64"
    assert T.concatenate([a, np.ones((1, 2), "float32")]).dtype == "float32"
    f = theano.function([a, b], T.concatenate([a, b], axis=0))
    np.testing.assert_array_equal(f(np.ones((1, 2), "float32"), np.zeros((2, 2))), [[1, 1], [0, 0], [0, 0]])
    with pytest.raises(ValueError, match=r"join along axis 0.*has shape \(1, 2\).*b has shape \(2, 3\)"):
        f(np.ones((1, 2), "float32"), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"differ in dimension 1"):
        T.join(0, T.tensor("float64", (None, 2)), T.tensor("float64", (None, 3)))
    with pytest.raises(ValueError, match="one rank"):
        T.join(0, T.dvector("v"), b)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        T.join(2, b, b)


def test_join_and_stack_gradients():
    a, b, c = rand((2, 3), seed=1), rand((4, 3), seed=2), rand((2, 2), seed=3)
    check_grad(lambda x, y: T.concatenate([x, y, x]) ** 2, [a, b])
    check_grad(lambda x, y: T.join(1, x, y * 3), [a, c])
    check_grad(lambda x, y: T.stack([x, y[:2]], axis=1), [a, b])
    check_grad(lambda x: T.sum(T.stack([T.sum(x), T.max(x), 3.0]) ** 2), [a])


# ------------------------------------------------------------------------------------------------
# new tensors: alloc, fill, zeros_like, ones_like


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_alloc_fill_zeros_like_ones_like(dtype):
    x = T.tensor(dtype, (None, None), name="x")
    vec = T.tensor(dtype, (None,), name="vec")
    n = T.lscalar("n")
    outputs = [T.alloc(vec, n, vec.shape[0]), T.alloc(vec, 2, 1, vec.shape[0]), T.fill(x, 3), T.fill(x, vec)]
    outputs += [T.zeros_like(x), T.ones_like(x), T.zeros((n, 2), dtype), T.ones_like(x, dtype="int8"), T.alloc(2.5, n)]
    f = theano.function([x, vec, n], outputs)
    for rows, cols in [(2, 3), (0, 3), (1, 1)]:
        xv, vv = rand((rows, cols), dtype, seed=1), rand(cols, dtype, seed=2)
        expected = [np.tile(vv, (rows, 1)), np.tile(vv, (2, 1, 1)), np.full_like(xv, 3), np.broadcast_to(vv, xv.shape)]
        expected += [np.zeros_like(xv), np.ones_like(xv), np.zeros((rows, 2), dtype)]
        expected = [e.astype(dtype) for e in expected] + [np.ones(xv.shape, "int8"), np.full(rows, 2.5)]
        for got, want in zip(f(xv, vv, rows), expected):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"alloc\(\?, 4\).*vec has shape \(3,\)"):
        theano.function([vec, n], T.alloc(vec, n, 4))(np.ones(3, dtype), 2)


def test_alloc_and_fill_gradients():
    v, m = rand(3, seed=1), rand((2, 3), seed=2)
    check_grad(lambda a: T.alloc(a, 4, 3) ** 2, [v])
    check_grad(lambda a: T.alloc(a, 2, 4, 3) * T.arange(3), [v])
    check_grad(lambda a: T.alloc(T.sum(a), 2, 2), [v])
    check_grad(lambda model, a: T.fill(model, a) * model, [m, v])


# ------------------------------------------------------------------------------------------------
# var, std, padding, outer, switch with boolean masks


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_var_and_std_match_numpy(dtype):
    x = T.tensor(dtype, (None, None, None), name="x")
    cases = [(None, 0, False), (0, 0, False), (1, 1, False), ((0, 2), 0, True), (-1, 1, True)]
    outputs = [T.var(x, a, ddof=d, keepdims=k) for a, d, k in cases] + [
        x.std(a, ddof=d, keepdims=k) for a, d, k in cases
    ]
    f = theano.function([x], outputs)
    for shape in [(3, 4, 5), (1, 2, 3), (2, 0, 3)]:
        value = rand(shape, dtype, seed=shape[0])
        with warnings.catch_warnings():  # NumPy warns about the empty axis; both give nan there
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = [np.var(value.astype("float64"), axis=a, ddof=d, keepdims=k) for a, d, k in cases]
            expected += [np.std(value.astype("float64"), axis=a, ddof=d, keepdims=k) for a, d, k in cases]
        for got, want in zip(f(value), expected):
            _check(got, want, dtype)


def test_var_and_std_gradients():
    x = rand((3, 4), seed=1)
    for axis in (None, 0, 1):
        check_grad(lambda v, a=axis: T.var(v, axis=a), [x])
        check_grad(lambda v, a=axis: T.std(v, axis=a, ddof=1), [x])


def test_shape_padding_and_outer():
    x, u, v = T.dmatrix("x"), T.dvector("u"), T.dvector("v")
    left, right, two = T.shape_padleft(x), T.shape_padright(x), T.shape_padleft(u, 2)
    assert left.broadcastable == (True, False, False) and right.broadcastable == (False, False, True)
    f = theano.function([x, u, v], [left, right, two, T.outer(u, v)])
    xv, uv, vv = rand((2, 3), seed=1), rand(3, seed=2), rand(4, seed=3)
    for got, want in zip(f(xv, uv, vv), [xv[None], xv[..., None], uv[None, None], np.outer(uv, vv)]):
        np.testing.assert_array_equal(got, want)
    check_grad(T.outer, [uv, vv])
    check_grad(lambda a: T.shape_padleft(a) * T.shape_padright(a), [uv])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_switch_with_boolean_masks_and_broadcasting(dtype):
    x = T.tensor(dtype, (None, None), name="x")
    c = T.tensor(dtype, (None, 1), name="c")
    b = T.tensor(dtype, (), name="b")
    mask = T.tensor("bool", (None, None), name="mask")
    outputs = [T.switch(x > 0, x, b), T.switch(c > 0, x, -x), T.switch(mask, x, 0.5), T.where(x < c, c, x)]
    f = theano.function([x, c, b, mask], outputs)
    for shape in [(3, 4), (0, 2), (1, 1)]:
        xv, cv = rand(shape, dtype, seed=1), rand((shape[0], 1), dtype, seed=2)
        bv, mv = np.asarray(-7, dtype), rand(shape, "bool", seed=3)
        expected = [
            np.where(xv > 0, xv, bv),
            np.where(cv > 0, xv, -xv),
            np.where(mv, xv, 0.5),
            np.where(xv < cv, cv, xv),
        ]
        for got, want in zip(f(xv, cv, bv, mv), expected):
            _check(got, want, dtype)
    column = rand((3, 1), seed=5)  # a constant, so that its static shape broadcasts
    check_grad(lambda v: T.switch(v > 0, v * column, column), [rand((3, 4), seed=4)])
