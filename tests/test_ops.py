"""Every op against its NumPy reference, and every differentiable op's gradient against finite
differences: over broadcasting, size-0 and size-1 dimensions, float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

import symgrad as theano
import symgrad.tensor as T
from symgrad.graph import toposort

from .helpers import check_grad, rand


def _sign(x):
    return np.sign(x)


# name: (symgrad function, NumPy reference, input range)
UNARY = {
    "neg": (lambda x: -x, np.negative, (-2, 2)),
    "abs": (abs, np.abs, (-2, 2)),
    "sign": (T.sign, _sign, (-2, 2)),
    "sqr": (T.sqr, np.square, (-2, 2)),
    "floor": (T.floor, np.floor, (-3, 3)),
    "ceil": (T.ceil, np.ceil, (-3, 3)),
    "exp": (T.exp, np.exp, (-3, 3)),
    "exp2": (T.exp2, np.exp2, (-3, 3)),
    "expm1": (T.expm1, np.expm1, (-3, 3)),
    "log": (T.log, np.log, (0.1, 5)),
    "log1p": (T.log1p, np.log1p, (-0.5, 3)),
    "log2": (T.log2, np.log2, (0.1, 5)),
    "log10": (T.log10, np.log10, (0.1, 5)),
    "sqrt": (T.sqrt, np.sqrt, (0.1, 5)),
    "sin": (T.sin, np.sin, (-3, 3)),
    "cos": (T.cos, np.cos, (-3, 3)),
    "tan": (T.tan, np.tan, (-1.2, 1.2)),
    "arcsin": (T.arcsin, np.arcsin, (-0.9, 0.9)),
    "arccos": (T.arccos, np.arccos, (-0.9, 0.9)),
    "arctan": (T.arctan, np.arctan, (-3, 3)),
    "sinh": (T.sinh, np.sinh, (-3, 3)),
    "cosh": (T.cosh, np.cosh, (-3, 3)),
    "tanh": (T.tanh, np.tanh, (-3, 3)),
    "arcsinh": (T.arcsinh, np.arcsinh, (-3, 3)),
    "arccosh": (T.arccosh, np.arccosh, (1.1, 5)),
    "arctanh": (T.arctanh, np.arctanh, (-0.9, 0.9)),
    "erf": (T.erf, scipy.special.erf, (-2, 2)),
    "erfc": (T.erfc, scipy.special.erfc, (-2, 2)),
    "gammaln": (T.gammaln, scipy.special.gammaln, (0.1, 5)),
    "psi": (T.psi, scipy.special.psi, (0.1, 5)),
    "sigmoid": (T.nnet.sigmoid, scipy.special.expit, (-5, 5)),
    "softplus": (T.nnet.softplus, lambda x: np.logaddexp(0, x), (-5, 5)),
    "relu": (T.nnet.relu, lambda x: np.maximum(x, 0), (-2, 2)),
}

BINARY = {
    "add": (lambda a, b: a + b, np.add, (-2, 2), (-2, 2)),
    "sub": (lambda a, b: a - b, np.subtract, (-2, 2), (-2, 2)),
    "mul": (lambda a, b: a * b, np.multiply, (-2, 2), (-2, 2)),
    "true_div": (lambda a, b: a / b, np.true_divide, (-2, 2), (0.5, 2)),
    "floor_div": (lambda a, b: a // b, np.floor_divide, (-5, 5), (0.5, 2)),
    "mod": (lambda a, b: a % b, np.mod, (-5, 5), (0.5, 2)),
    "pow": (lambda a, b: a**b, np.power, (0.2, 2), (-2, 2)),
    "maximum": (T.maximum, np.maximum, (-2, 2), (-2, 2)),
    "minimum": (T.minimum, np.minimum, (-2, 2), (-2, 2)),
    "arctan2": (T.arctan2, np.arctan2, (-2, 2), (-2, 2)),
    "lt": (lambda a, b: a < b, np.less, (-2, 2), (-2, 2)),
    "le": (T.le, np.less_equal, (-2, 2), (-2, 2)),
    "gt": (lambda a, b: a > b, np.greater, (-2, 2), (-2, 2)),
    "ge": (T.ge, np.greater_equal, (-2, 2), (-2, 2)),
    "eq": (T.eq, np.equal, (-2, 2), (-2, 2)),
    "neq": (T.neq, np.not_equal, (-2, 2), (-2, 2)),
}
NON_DIFFERENTIABLE = {"sign", "floor", "ceil", "floor_div", "lt", "le", "gt", "ge", "eq", "neq"}

# (static shape of a, static shape of b): the runtime shapes (of a, of b) each pair is called with.
# One compiled kernel per static pair serves all its runtime shapes, as it does for users.
BROADCAST_CASES = {
    ((None, None), (None, None)): [((3, 4), (3, 4)), ((0, 4), (0, 4))],  # equal shapes, and size-0
    ((None, 1), (1, None)): [((3, 1), (1, 4))],  # column against row
    ((), (None, None)): [((), (2, 3))],  # scalar against matrix
    ((None,), (None, None)): [((4,), (3, 4))],  # right alignment
    ((None, 1), (None, None)): [((0, 1), (0, 5)), ((3, 1), (3, 5))],  # size-0 with broadcasting
    ((1, 1), (None, None)): [((1, 1), (1, 1))],  # size-1 everywhere
}
# The runtime shapes the unary ops are called with, one call per row: an input of each rank
# (0 to 3) sees every row, so size-0 and size-1 lengths run through the same kernels as the rest.
UNARY_CALLS = [
    [(), (7,), (3, 5), (2, 1, 3)],
    [(), (0,), (1, 5), (2, 0, 3)],
    [(), (1,), (4, 1), (1, 1, 1)],
]
TOLERANCE = {"float64": dict(rtol=1e-12, atol=1e-14), "float32": dict(rtol=2e-5, atol=1e-6)}


def _snap(values, op):
    """Keep comparisons and rounding away from ties that float32 rounding could flip."""
    if op in ("eq", "neq"):
        return [np.round(v * 2) / 2 for v in values]
    return values


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_matches_numpy(name, dtype):
    fn, reference, (low, high) = UNARY[name]
    inputs = [T.tensor(dtype, [None] * rank, name=f"x{rank}") for rank in range(4)]
    f = theano.function(inputs, [fn(x) for x in inputs])
    for call, shapes in enumerate(UNARY_CALLS):
        values = [rand(s, dtype, low, high, seed=10 * call + i) for i, s in enumerate(shapes)]
        for value, got in zip(values, f(*values)):
            expected = reference(value.astype("float64"))
            assert got.shape == expected.shape
            assert got.dtype == np.dtype(dtype), f"{name} turned {dtype} into {got.dtype}"
            np.testing.assert_allclose(got, expected.astype(dtype), **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_matches_numpy_with_broadcasting(name, dtype):
    fn, reference, range_a, range_b = BINARY[name]
    a_vars = [T.tensor(dtype, sa, name=f"a{i}") for i, (sa, _) in enumerate(BROADCAST_CASES)]
    b_vars = [T.tensor(dtype, sb, name=f"b{i}") for i, (_, sb) in enumerate(BROADCAST_CASES)]
    f = theano.function(a_vars + b_vars, [fn(a, b) for a, b in zip(a_vars, b_vars)])
    calls = max(len(shapes) for shapes in BROADCAST_CASES.values())
    for call in range(calls):
        # A pair with fewer runtime shapes repeats its last one.
        shapes = [runs[min(call, len(runs) - 1)] for runs in BROADCAST_CASES.values()]
        a_values = _snap([rand(ra, dtype, *range_a, seed=10 * call + i) for i, (ra, _) in enumerate(shapes)], name)
        b_values = _snap([rand(rb, dtype, *range_b, seed=50 + 10 * call + i) for i, (_, rb) in enumerate(shapes)], name)
        for a, b, got in zip(a_values, b_values, f(*a_values, *b_values)):
            expected = reference(a, b)
            assert got.shape == expected.shape
            assert got.dtype == expected.dtype, f"{name}: {got.dtype} != NumPy's {expected.dtype}"
            np.testing.assert_allclose(got, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("name", sorted(set(UNARY) - NON_DIFFERENTIABLE))
def test_unary_gradient(name):
    fn, _, (low, high) = UNARY[name]
    x = rand((3, 4), low=low, high=high, seed=3)
    if name in ("abs", "relu"):
        x = np.where(np.abs(x) < 0.05, 0.5, x)  # keep finite differences off the kink
    check_grad(fn, [x])


@pytest.mark.parametrize("name", sorted(set(BINARY) - NON_DIFFERENTIABLE))
def test_binary_gradient_with_broadcasting(name):
    fn, _, range_a, range_b = BINARY[name]
    a = rand((3, 4), low=range_a[0], high=range_a[1], seed=1)
    b = rand((4,), low=range_b[0], high=range_b[1], seed=2)  # broadcast over rows: its gradient sums
    if name == "mod":
        a = np.where(np.abs(a / b - np.round(a / b)) < 0.05, a + 0.2, a)  # away from jumps
    if name in ("maximum", "minimum"):
        a = np.where(np.abs(a - b) < 0.05, a + 0.3, a)
    check_grad(fn, [a, b])


@pytest.mark.parametrize("name", sorted(NON_DIFFERENTIABLE))
def test_piecewise_constant_ops_have_zero_gradient(name):
    x = T.dvector("x")
    y = T.dvector("y")
    out = UNARY[name][0](x) if name in UNARY else BINARY[name][0](x, y)
    g = theano.function([x, y], T.grad(T.sum(T.cast(out, "float64") * x), x), on_unused_input="ignore")
    xv, yv = rand(5, seed=1), rand(5, seed=2)
    np.testing.assert_allclose(g(xv, yv), UNARY[name][1](xv) if name in UNARY else BINARY[name][1](xv, yv))


def test_switch_where_and_clip():
    c, a, b = T.dvector("c"), T.dvector("a"), T.dvector("b")
    f = theano.function([c, a, b], [T.switch(c > 0, a, b), T.where(c, a, 2.0), T.clip(a, -0.5, b)])
    cv, av, bv = rand(9, seed=1), rand(9, seed=2), rand(9, low=0, high=1, seed=3)
    s, w, cl = f(cv, av, bv)
    np.testing.assert_array_equal(s, np.where(cv > 0, av, bv))
    np.testing.assert_array_equal(w, np.where(cv != 0, av, 2.0))
    np.testing.assert_array_equal(cl, np.clip(av, -0.5, bv))
    check_grad(lambda c, a, b: T.switch(c > 0, a * a, b * 3), [cv, av, bv])
    check_grad(lambda a: T.clip(a, -0.5, 0.7), [np.array([-1.0, -0.2, 0.3, 1.5])])


# Every axis in float64; the other dtypes (whose accumulators and result dtypes differ) over one
# axis, several, all, and keepdims: how a reduction loops over its axes does not depend on the dtype.
REDUCTION_AXES = {
    "float64": ([None, 0, 1, 2, (0, 2), (1, 2), (0, 1), -1], [None, 1, (0, 2)]),
    "other": ([None, 1, (0, 2)], [1]),
}


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int64", "bool"])
@pytest.mark.parametrize("reduction", ["sum", "prod", "max", "min", "mean"])
def test_reductions_match_numpy(reduction, dtype):
    axes, kept_axes = REDUCTION_AXES["float64" if dtype == "float64" else "other"]
    x = T.tensor(dtype, (None, None, None), name="x")
    outputs = [getattr(T, reduction)(x, axis=a) for a in axes]
    outputs += [getattr(T, reduction)(x, axis=a, keepdims=True) for a in kept_axes]
    f = theano.function([x], outputs)
    value = rand((3, 4, 5), dtype, low=0.5 if reduction == "prod" else -2, high=1.5 if reduction == "prod" else 2)
    results = f(value)
    np_fn = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "mean": np.mean}[reduction]
    expected = [np_fn(value, axis=a) for a in axes] + [np_fn(value, axis=a, keepdims=True) for a in kept_axes]
    for got, want in zip(results, expected, strict=True):
        assert got.shape == np.shape(want)
        if reduction == "mean" and dtype == "float32":
            want = np.asarray(want, dtype="float32")
        assert got.dtype == np.asarray(want).dtype, f"{reduction} of {dtype}: {got.dtype} vs {np.asarray(want).dtype}"
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_reductions_of_empty_arrays():
    x = T.dmatrix("x")
    f = theano.function([x], [T.sum(x), T.prod(x), T.sum(x, axis=0), T.mean(x, axis=1)])
    s, p, s0, m1 = f(np.zeros((0, 3)))
    assert s == 0 and p == 1
    np.testing.assert_array_equal(s0, np.zeros(3))
    assert m1.shape == (0,)
    g = theano.function([x], T.max(x))
    with pytest.raises(ValueError, match="empty"):
        g(np.zeros((0, 3)))


@pytest.mark.parametrize("reduction", ["sum", "prod", "max", "min", "mean"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_reduction_gradients(reduction, axis):
    x = rand((3, 4), low=0.5, high=2.0, seed=5)
    check_grad(lambda v: getattr(T, reduction)(T.sin(v), axis=axis), [x])


def test_max_propagates_nan():
    x = T.dvector("x")
    f = theano.function([x], [T.max(x), T.min(x)])
    assert all(np.isnan(v) for v in f(np.array([1.0, np.nan, 3.0])))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_maximum_and_minimum_propagate_nan_as_numpy(dtype):
    # They were Piecewise expressions, which SymPy (and so the NumPy reference) read as if nan
    # could not occur: maximum(nan, 1) gave 1 where NumPy gives nan.
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0], dtype=dtype)
    a, b = (v.ravel() for v in np.meshgrid(special, special))
    x, y = T.tensor(dtype, [None], name="x"), T.tensor(dtype, [None], name="y")
    outputs = [T.maximum(x, y), T.minimum(x, y), T.maximum(x, 0.5), T.minimum(2, y)]
    f = theano.function([x, y], outputs)
    half, two = np.array(0.5, dtype), np.array(2, dtype)
    expected = [np.maximum(a, b), np.minimum(a, b), np.maximum(a, half), np.minimum(two, b)]
    values = {x: a, y: b}
    for out, got, want in zip(outputs, f(a, b), expected):
        np.testing.assert_array_equal(got, want.astype(dtype))
        reference = out.owner.op.perform(*(values[v] for v in out.owner.inputs))  # the tests' oracle agrees
        np.testing.assert_array_equal(reference, want.astype(dtype))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dot_every_combination(dtype):
    v, w = T.tensor(dtype, (None,), "v"), T.tensor(dtype, (None,), "w")
    a, b = T.tensor(dtype, (None, None), "a"), T.tensor(dtype, (None, None), "b")
    f = theano.function([v, w, a, b], [T.dot(v, w), T.dot(a, w), T.dot(v, b), a @ b, a.T @ a])
    vv, wv, av, bv = (
        rand(4, dtype, seed=1),
        rand(4, dtype, seed=2),
        rand((3, 4), dtype, seed=3),
        rand((4, 5), dtype, seed=4),
    )
    got = f(vv, wv, av, bv)
    expected = [vv @ wv, av @ wv, vv @ bv, av @ bv, av.T @ av]
    for g_, e in zip(got, expected):
        assert g_.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g_, e, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_dot_shape_mismatch_names_operands():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = theano.function([a, b], T.dot(a, b))
    with pytest.raises(ValueError, match=r"a has shape \(2, 3\), b has shape \(4, 5\)"):
        f(np.ones((2, 3)), np.ones((4, 5)))


@pytest.mark.parametrize("case", ["vv", "mv", "vm", "mm"])
def test_dot_gradients(case):
    shapes = {"vv": ((4,), (4,)), "mv": ((3, 4), (4,)), "vm": ((4,), (4, 3)), "mm": ((3, 4), (4, 2))}[case]
    check_grad(lambda a, b: T.dot(a, b), [rand(shapes[0], seed=1), rand(shapes[1], seed=2)])


def test_shape_ops_match_numpy():
    x = T.dtensor3("x")
    m = T.dmatrix("m")
    outputs = [
        x.dimshuffle(2, 0, 1), x.transpose(1, 0, 2), m.T, m.dimshuffle("x", 0, 1), x.reshape((4, -1)),
        x.flatten(), x.flatten(2), x[1:, ::2], x[0], x[-1, 1:3, ::-1], m[:, 1], T.transpose(m),
    ]  # fmt: skip
    f = theano.function([x, m], outputs)
    xv, mv = rand((2, 3, 4), seed=1), rand((3, 5), seed=2)
    expected = [
        xv.transpose(2, 0, 1), xv.transpose(1, 0, 2), mv.T, mv[None], xv.reshape(4, -1), xv.reshape(-1),
        xv.reshape(2, -1), xv[1:, ::2], xv[0], xv[-1, 1:3, ::-1], mv[:, 1], mv.T,
    ]  # fmt: skip
    for got, want in zip(f(xv, mv), expected):
        np.testing.assert_array_equal(got, want)


def test_flatten_of_an_empty_array_keeps_the_product_of_the_trailing_lengths():
    # Found by the fuzzer: flatten was a reshape to (x.shape[0], -1), which for x of shape (0, 3, 2)
    # Numba made (0, 0), so a dot with a (6, k) matrix failed, and NumPy (the reference) refused.
    x, w = T.dtensor3("x"), T.dmatrix("w")
    f = theano.function([x, w], [x.flatten(2), x.flatten(), T.dot(x.flatten(2), w)])
    for shape in [(0, 3, 2), (2, 0, 3), (0, 0, 2), (2, 3, 0), (2, 3, 4)]:
        xv, wv = rand(shape, seed=1), rand((shape[1] * shape[2], 2), seed=2)
        flat = xv.reshape(shape[0], shape[1] * shape[2])
        got = f(xv, wv)
        expected = [flat, xv.reshape(xv.size), flat @ wv]
        assert [a.shape for a in got] == [a.shape for a in expected]
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-12)  # the GPU sums the products in another order


def test_shape_op_gradients():
    x = rand((2, 3, 4), seed=1)
    check_grad(lambda v: v.dimshuffle(2, 0, 1), [x])
    check_grad(lambda v: v.reshape((4, -1)) ** 2, [x])
    check_grad(lambda v: v.flatten(2) ** 2, [x])
    check_grad(lambda v: T.exp(v[1:, ::2]), [x])
    check_grad(lambda v: v[0, 1] * v[1, 2], [x])


def test_negative_integer_powers_overflow_to_inf_as_in_numpy():
    # Numba's own x**-n raises ZeroDivisionError when x**n underflows; ours must give inf.
    x = T.dvector("x")
    f = theano.function([x], [x**-2, x**-3, T.grad(T.sum(1 / x), x)])
    data = np.array([1e-200, 0.0, 2.0])
    with np.errstate(divide="ignore", over="ignore"):
        for got, want in zip(f(data), [data**-2.0, data**-3.0, -(data**-2.0)]):
            np.testing.assert_array_equal(got, want)


def test_reshape_refuses_to_infer_a_length_where_the_others_multiply_to_zero():
    # NumPy raises; Numba's reshape made the -1 a 0 (found by the fuzzer on an empty tensor).
    x = T.dtensor3("x")
    f = theano.function([x], T.reshape(x, (x.shape[0], x.shape[1], -1)))
    assert f(np.zeros((2, 3, 4))).shape == (2, 3, 4)
    with pytest.raises(
        ValueError,
        match=r"reshape to \(x.shape\[0\], x.shape\[1\], -1\): a -1 length is ambiguous.*x has shape \(0, 3, 2\)",
    ):
        f(np.zeros((0, 3, 2)))
    with pytest.raises(ValueError):
        np.zeros((0, 3, 2)).reshape(0, 3, -1)


def test_the_numpy_reference_of_a_piecewise_gradient_broadcasts():
    # d/dy x**y is 0 at x = 0 for y > 0: a Piecewise whose condition joins a matrix and a row, which
    # NumPy's logical_and.reduce (as lambdify prints it) refused to stack. perform is the reference.
    a, b = T.dmatrix("a"), T.drow("b")
    x, y = np.array([[0.0, 0.5], [1.5, 2.0]]), np.array([[0.5, -0.5]])
    value = {id(a): x, id(b): y}
    for node in toposort([T.grad(T.sum(a**b), b)]):
        args = [value[id(i)] if id(i) in value else i.data for i in node.inputs]
        value[id(node.output)] = node.op.perform(*args)
    expected = np.where(x == 0, 0.0, x**y * np.log(np.where(x == 0, 1.0, x))).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(value[id(node.output)], expected, rtol=1e-14)


def test_an_unknown_reduction_is_refused_by_name():
    # The lowering reads any name other than sum, prod and max as a min: reduce("add", x) was a min.
    from symgrad.ops.reduce import reduce

    with pytest.raises(ValueError, match="unknown reduction 'add'; the reductions are 'sum', 'prod', 'max', 'min'"):
        reduce("add", T.dvector("x"))
