"""NumPy-named array and elementwise functions of issue 16: values against NumPy/SciPy over dtypes,
broadcasting and size-0/size-1 dimensions, gradients against finite differences.

Each test compiles one function computing many ops at once; those covering every function in both
dtypes and their gradients take minutes to compile on a busy machine, and run with ``pytest -m long``.
"""

import numpy as np
import pytest
import scipy.special as sc

import symgrad as theano
import symgrad.tensor as T
from symgrad.ops.loop import evaluate
from tests.helpers import check_grad, numeric_grad, rand

TOLERANCE = {"float64": dict(rtol=1e-12, atol=1e-14), "float32": dict(rtol=2e-5, atol=1e-6)}

# name: (symgrad function of (a, b), NumPy/SciPy reference); a in (0.1, 0.9), b in (0.5, 2)
ELEMENTWISE = {
    "logaddexp": (T.logaddexp, np.logaddexp),
    "logaddexp2": (T.logaddexp2, np.logaddexp2),
    "hypot": (T.hypot, np.hypot),
    "xlogy": (T.xlogy, sc.xlogy),
    "beta": (T.beta, sc.beta),
    "betaln": (T.betaln, sc.betaln),
    "fmax": (T.fmax, np.fmax),
    "fmin": (T.fmin, np.fmin),
    "sinc": (lambda a, b: T.sinc(a * b), lambda a, b: np.sinc(a * b)),
    "deg2rad": (lambda a, b: T.deg2rad(a), lambda a, b: np.deg2rad(a)),
    "rad2deg": (lambda a, b: T.degrees(a), lambda a, b: np.degrees(a)),
    "gamma": (lambda a, b: T.gamma(b), lambda a, b: sc.gamma(b)),
    "erfinv": (lambda a, b: T.erfinv(a - b / 4), lambda a, b: sc.erfinv(a - b / 4)),
    "erfcinv": (lambda a, b: T.erfcinv(a + b / 2), lambda a, b: sc.erfcinv(a + b / 2)),
    "reciprocal": (lambda a, b: T.reciprocal(b), lambda a, b: np.reciprocal(b)),
    "absolute": (lambda a, b: T.absolute(a - b), lambda a, b: np.absolute(a - b)),
    "square": (lambda a, b: T.square(a), lambda a, b: np.square(a)),
    "remainder": (T.remainder, np.remainder),
    "negative": (lambda a, b: T.negative(a), lambda a, b: np.negative(a)),
    "multiply": (T.multiply, np.multiply),
    "clip": (lambda a, b: T.clip(a, a_min=0.3), lambda a, b: np.clip(a, 0.3, None)),
}
# broadcasting (with a size-1 dimension), and size 0
SHAPES = [((None, 1), (1, None), (3, 1), (1, 4)), ((None,), (None, None), (0,), (2, 0))]


@pytest.mark.long  # 10-15 s of compiling per dtype on a busy machine
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_elementwise_functions_match_numpy(dtype):
    pairs = [(T.tensor(dtype, sa, f"a{i}"), T.tensor(dtype, sb, f"b{i}")) for i, (sa, sb, _, _) in enumerate(SHAPES)]
    f = theano.function(
        [v for pair in pairs for v in pair], [fn(a, b) for a, b in pairs for fn, _ in ELEMENTWISE.values()]
    )
    values = [
        (rand(ra, dtype, 0.1, 0.9, seed=i), rand(rb, dtype, 0.5, 2.0, seed=9 + i))
        for i, (_, _, ra, rb) in enumerate(SHAPES)
    ]
    got = iter(f(*(v for pair in values for v in pair)))
    for a, b in values:
        for name, (_, reference) in ELEMENTWISE.items():
            result, expected = next(got), reference(a.astype("float64"), b.astype("float64"))
            assert result.dtype == np.dtype(dtype) and result.shape == expected.shape, name
            np.testing.assert_allclose(result, expected, **TOLERANCE[dtype], err_msg=name)


@pytest.mark.long  # a minute of compiling on a busy machine
def test_elementwise_gradients_match_finite_differences():
    differentiable = [fn for name, (fn, _) in ELEMENTWISE.items() if name not in ("remainder", "clip")]
    a, b = rand((2, 3), low=0.1, high=0.9, seed=1), rand((3,), low=0.5, high=2.0, seed=2)
    check_grad(lambda a, b: T.stack([fn(a, b) * T.ones_like(a * b) for fn in differentiable]), [a, b], rtol=1e-5)


def test_special_values_tests_rounding_and_nan_handling():
    x, y = T.dvectors("x", "y")
    outputs = [T.isnan(x), T.isinf(x), T.isfinite(x), T.round(x), T.rint(x * 3), T.logaddexp(x, y), T.fmax(x, y),
               T.fmin(x, y), T.erfinv(x / 8), T.erfcinv(y), T.xlogy(x, T.abs(y) + 0.5)]  # fmt: skip
    f = theano.function([x, y], outputs)
    xv = np.array([0.5, -1.5, 2.5, -0.5, np.nan, np.inf, -np.inf, 0.0, 8.0, -np.inf])
    yv = np.array([1.0, 2.0, -3.0, 0.0, 1.0, 1.0, 2.0, 1e-300, np.nan, -np.inf])
    with np.errstate(all="ignore"):
        expected = [np.isnan(xv), np.isinf(xv), np.isfinite(xv), np.round(xv), np.round(xv * 3),
                    np.logaddexp(xv, yv), np.fmax(xv, yv), np.fmin(xv, yv), sc.erfinv(xv / 8), sc.erfcinv(yv),
                    sc.xlogy(xv, np.abs(yv) + 0.5)]  # fmt: skip
    for got, want in zip(f(xv, yv), expected):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_bitwise_functions_on_integers_and_booleans():
    i, j, x = T.ivector("i"), T.ivector("j"), T.dvector("x")
    p, q = x > 0, x < 2
    f = theano.function([i, j, x], [T.and_(i, j), T.or_(i, j), T.xor(i, j), T.invert(i), T.and_(p, q),
                                    T.or_(p, q), T.xor(p, q), T.invert(p), T.round(i)])  # fmt: skip
    iv, jv, xv = np.array([1, 6, -3, 0], "int32"), np.array([3, 5, 7, 2], "int32"), np.array([1.0, -3, 3, 0])
    pv, qv = xv > 0, xv < 2
    expected = [iv & jv, iv | jv, iv ^ jv, ~iv, pv & qv, pv | qv, pv ^ qv, ~pv, iv]
    for got, want in zip(f(iv, jv, xv), expected):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="integers or booleans"):
        T.and_(x, x)


def test_power_gradient_in_the_exponent_is_zero_at_a_zero_base():
    x, y = T.dvectors("x", "y")
    g = theano.function([x, y], T.grad(T.sum(x**y), y))
    # d/dy x**y = x**y log(x): the limit 0 at x = 0 for y > 0 (0 * -inf, nan, before)
    np.testing.assert_allclose(g([0.0, 0.0, 2.0], [2.0, 0.5, 1.0]), [0.0, 0.0, 2 * np.log(2)])


def matrix_ops(x, v):
    """The array functions of a matrix ``x`` and a vector ``v``, with their NumPy references."""
    return {
        "cumsum": (T.cumsum(x, 1), lambda x, v: np.cumsum(x, 1)),
        "cumsum_flat": (T.cumsum(x), lambda x, v: np.cumsum(x)),
        "cumprod": (T.cumprod(x, 0), lambda x, v: np.cumprod(x, 0)),
        "squeeze": (T.squeeze(T.shape_padleft(x)), lambda x, v: x),
        "expand_dims": (T.expand_dims(x, (0, 2)), lambda x, v: np.expand_dims(x, (0, 2))),
        "swapaxes": (T.swapaxes(x, 0, 1), lambda x, v: np.swapaxes(x, 0, 1)),
        "moveaxis": (T.moveaxis(T.shape_padleft(x), 0, -1), lambda x, v: np.moveaxis(x[None], 0, -1)),
        "flip": (T.flip(x), lambda x, v: np.flip(x)),
        "fliplr": (T.fliplr(x), lambda x, v: np.fliplr(x)),
        "flipud": (T.flipud(x), lambda x, v: np.flipud(x)),
        "diff": (T.diff(x, 2, axis=1), lambda x, v: np.diff(x, 2, axis=1)),
        "roll": (T.roll(x, 1, 1), lambda x, v: np.roll(x, 1, 1)),
        "roll_flat": (T.roll(x, -5), lambda x, v: np.roll(x, -5)),
        "repeat": (T.repeat(x, 2, axis=1), lambda x, v: np.repeat(x, 2, axis=1)),
        "repeat_flat": (x.repeat(3), lambda x, v: np.repeat(x, 3)),
        "tile": (T.tile(x, (2, 1, 3)), lambda x, v: np.tile(x, (2, 1, 3))),
        "tril": (T.tril(x, -1), lambda x, v: np.tril(x, -1)),
        "triu": (T.triu(x, 1), lambda x, v: np.triu(x, 1)),
        "diagonal": (T.diagonal(x, 1), lambda x, v: np.diagonal(x, 1)),
        "diag": (T.diag(v, -1), lambda x, v: np.diag(v, -1)),
        "trace": (T.trace(x), lambda x, v: np.trace(x)),
        "identity_like": (T.identity_like(x), lambda x, v: np.eye(*x.shape, dtype=x.dtype)),
        "take": (T.take(x, [-1, 0], axis=1), lambda x, v: np.take(x, [-1, 0], axis=1)),
        "take_along_axis": (
            T.take_along_axis(x, T.zeros_like(x, "int64"), 1),
            lambda x, v: np.take_along_axis(x, np.zeros(x.shape, "int64"), 1),
        ),
        "tensordot": (T.tensordot(x, x, [[0, 1], [0, 1]]), lambda x, v: np.tensordot(x, x, [[0, 1], [0, 1]])),
        "matmul": (T.shape_padleft(x) @ x.T, lambda x, v: x[None] @ x.T),
        "batched_dot": (T.batched_dot(x, x), lambda x, v: np.sum(x * x, 1)),
        "all": (T.all(x > 0.5, 1), lambda x, v: np.all(x > 0.5, 1)),
        "any": (x.any(0), lambda x, v: np.any(x, 0)),
        "max_and_argmax": (T.max_and_argmax(v)[1], lambda x, v: np.argmax(v)),
        "stacklists": (T.stacklists([[v[0], v[0]], [v[0], v[0]]]), lambda x, v: np.full((2, 2), v[0])),
        "ravel": (x.ravel(), lambda x, v: x.ravel()),
        "sort": (T.sort(x, 0), lambda x, v: np.sort(x, 0)),
        "einsum": (T.einsum("ij,kj->ki", x, x), lambda x, v: np.einsum("ij,kj->ki", x, x)),
        "einsum_implicit": (T.einsum("ij,j", x.T, x[:, 0]), lambda x, v: np.einsum("ij,j", x.T, x[:, 0])),
    }


@pytest.mark.long  # 20-30 s of compiling per dtype on a busy machine
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_array_functions_match_numpy(dtype):
    x, v = T.tensor(dtype, (None, None), "x"), T.tensor(dtype, (None,), "v")
    ops = matrix_ops(x, v)
    f = theano.function([x, v], [out for out, _ in ops.values()])
    for shape in [(3, 4), (0, 4), (1, 1)]:  # size 0 and size 1 too
        xv, vv = rand(shape, dtype, seed=1), rand(3, dtype, seed=2)
        for (name, (_, reference)), got in zip(ops.items(), f(xv, vv)):
            expected = np.asarray(reference(xv, vv))
            assert got.shape == expected.shape and got.dtype == expected.dtype, (name, shape)
            np.testing.assert_allclose(got, expected, **TOLERANCE[dtype], err_msg=f"{name} {shape}")


@pytest.mark.long  # one to two minutes of compiling on a busy machine
def test_array_function_gradients_match_finite_differences():
    differentiable = {
        name
        for name in matrix_ops(T.dmatrix(), T.dvector())
        if name not in ("all", "any", "max_and_argmax", "identity_like")
    }

    def build(x, v):
        return T.concatenate([T.flatten(out) for name, (out, _) in matrix_ops(x, v).items() if name in differentiable])

    x = rand((3, 4), seed=3)
    x[1, 2] = 0.0  # cumprod's gradient is exact at a zero too
    check_grad(build, [x, rand(3, seed=4)])


def test_cumulative_functions_and_their_gradients():
    x, w = T.dmatrices("x", "w")
    cost = T.sum(w * (T.cumsum(x, 1) + T.cumprod(x, 1)))
    outputs = [T.cumsum(x, 0), T.cumprod(x, 1), T.cumsum(x), T.cumprod(T.cast(x > 0, "int32"), 1), T.grad(cost, x)]
    f = theano.function([x, w], outputs)  # one compiled function: values and the gradient
    for value in (rand((3, 4), seed=5), np.zeros((0, 3)), np.ones((1, 1))):
        cs, cp, flat, ints, _ = f(value, np.ones_like(value))
        np.testing.assert_allclose(cs, np.cumsum(value, 0), rtol=1e-14)
        np.testing.assert_allclose(cp, np.cumprod(value, 1), rtol=1e-14)
        np.testing.assert_allclose(flat, np.cumsum(value), rtol=1e-14)
        assert ints.dtype == np.int64
        np.testing.assert_array_equal(ints, np.cumprod((value > 0).astype("int32"), 1))
    value, weights = rand((2, 4), seed=6), rand((2, 4), low=0.5, high=1.5, seed=7)
    value[0, 1] = value[1, 3] = 0.0  # zeros: the gradient is exact there, not 0/0
    expected = numeric_grad(lambda v: np.sum(weights * (np.cumsum(v, 1) + np.cumprod(v, 1))), [value], 0)
    np.testing.assert_allclose(f(value, weights)[-1], expected, rtol=1e-7, atol=1e-9)


def test_nonzero_and_einsum():
    x = T.dmatrix("x")
    f = theano.function([x], [*T.nonzero(x), T.flatnonzero(x), T.einsum("ij,kj->ik", x, x), T.einsum("ij,ij", x, x)])
    xv = np.array([[3.0, 1, 2, 0], [0, 5, 5, -1], [2, 2, 0, 7]])
    expected = [*np.nonzero(xv), np.flatnonzero(xv), np.einsum("ij,kj->ik", xv, xv), np.einsum("ij,ij", xv, xv)]
    for result, want in zip(f(xv), expected):
        assert result.dtype == want.dtype
        np.testing.assert_array_equal(result, want)


@pytest.mark.long  # Numba compiles its sort and unique for 5-7 s each in a fresh process
def test_sort_argsort_and_unique():
    x, w = T.dmatrices("x", "w")
    outputs = [T.sort(x), T.sort(x, None), T.argsort(x, 0), T.unique(x), T.grad(T.sum(w * T.sort(x, 0)), x)]
    f = theano.function([x, w], outputs)
    xv = np.array([[3.0, 1, 2, 0], [0, 5, 5, -1], [2, 2, 0, 7]])
    expected = [np.sort(xv), np.sort(xv, None), np.argsort(xv, 0, kind="stable"), np.unique(xv)]
    for result, want in zip(f(xv, np.ones_like(xv)), expected):
        assert result.dtype == want.dtype
        np.testing.assert_array_equal(result, want)
    xv, wv = rand((3, 4), seed=8), rand((3, 4), seed=9)  # distinct values: sort is differentiable
    expected = numeric_grad(lambda v: np.sum(wv * np.sort(v, 0)), [xv], 0)
    np.testing.assert_allclose(f(xv, wv)[-1], expected, rtol=1e-7, atol=1e-9)


def test_erfinv_and_erfcinv_runtime_match_scipy_to_a_few_ulp():
    from codegen import runtime

    ys = np.concatenate([np.linspace(-1, 1, 401), [0.4999999, 0.5, 1e-300, -1e-10, 1 - 1e-12, 1.5, np.nan]])
    zs = np.concatenate([np.linspace(0, 2, 401), 10.0 ** -np.arange(1, 300, 7.0), [2 - 1e-12, 3.0, -1.0]])
    for fn, reference, args in ((runtime.erfinv, sc.erfinv, ys), (runtime.erfcinv, sc.erfcinv, zs)):
        got = np.array([fn(v) for v in args])
        np.testing.assert_allclose(got, reference(args), rtol=4e-15, err_msg=fn.__name__)  # far tails too


def numpy_style_ops(x, v):
    """NumPy's splitting, stacking, padding and other array functions: (symgrad, NumPy) per name,
    of a matrix ``x`` with 4 columns and a vector ``v``; several pieces are joined flat to compare."""

    def flat(pieces):
        return T.concatenate([T.flatten(p) for p in pieces]) if isinstance(pieces, list) else pieces

    def np_flat(pieces):
        return np.concatenate([np.ravel(p) for p in pieces])

    return {
        "split": (flat(T.split(x, 2, axis=1)), lambda x, v: np_flat(np.split(x, 2, axis=1))),
        "array_split": (flat(T.array_split(v, 2)), lambda x, v: np_flat(np.array_split(v, 2))),
        "split_at": (flat(T.split(x, [1, 3], axis=1)), lambda x, v: np_flat(np.split(x, [1, 3], axis=1))),
        "hsplit": (flat(T.hsplit(x, 4)), lambda x, v: np_flat(np.hsplit(x, 4))),
        "vsplit": (flat(T.vsplit(x.T, [2])), lambda x, v: np_flat(np.vsplit(x.T, [2]))),
        "dsplit": (flat(T.dsplit(T.atleast_3d(x), 1)), lambda x, v: np_flat(np.dsplit(np.atleast_3d(x), 1))),
        "hstack": (T.hstack([x, x[:, :1]]), lambda x, v: np.hstack([x, x[:, :1]])),
        "vstack": (T.vstack([v, v * 2]), lambda x, v: np.vstack([v, v * 2])),
        "dstack": (T.dstack([x, x]), lambda x, v: np.dstack([x, x])),
        "column_stack": (T.column_stack([v, v]), lambda x, v: np.column_stack([v, v])),
        "append": (T.append(x, v), lambda x, v: np.append(x, v)),
        "append_axis": (T.append(x, x, axis=0), lambda x, v: np.append(x, x, axis=0)),
        "stack_mixed": (T.stack([v[0], 2.0, v[-1]]), lambda x, v: np.stack([v[0], 2.0, v[-1]])),
        "pad": (
            T.pad(x, ((1, 0), (2, 1)), constant_values=3),
            lambda x, v: np.pad(x, ((1, 0), (2, 1)), constant_values=3),
        ),
        "cross": (T.cross(x[:, :3], x[:, 1:]), lambda x, v: np.cross(x[:, :3], x[:, 1:])),
        "inner": (T.inner(x, x), lambda x, v: np.inner(x, x)),
        "linspace": (T.linspace(v[0], v[-1], 5), lambda x, v: np.linspace(v[0], v[-1], 5)),
        "rot90": (T.rot90(x), lambda x, v: np.rot90(x)),
        "rot90_3": (T.rot90(x, 3, (1, 0)), lambda x, v: np.rot90(x, 3, (1, 0))),
        "rot90_2": (T.rot90(x, 2), lambda x, v: np.rot90(x, 2)),
        "atleast_2d": (T.atleast_2d(v), lambda x, v: np.atleast_2d(v)),
        "atleast_3d": (T.atleast_3d(v), lambda x, v: np.atleast_3d(v)),
        "nan_to_num": (  # the default replacements are checked compiled (see below)
            T.nan_to_num(T.log(x), nan=-1.0, posinf=1e300, neginf=-1e300),
            lambda x, v: np.nan_to_num(np.log(x), nan=-1.0, posinf=1e300, neginf=-1e300),
        ),
        "select": (
            T.select([x < -0.5, x > 0.5], [x * 2, x**2], 7.0),
            lambda x, v: np.select([x < -0.5, x > 0.5], [x * 2, x**2], 7.0),
        ),
        "partition": (T.partition(v, 1), lambda x, v: np.sort(v)),
    }


def test_numpy_style_array_functions_and_gradients():
    """Each against NumPy (a matrix with 4 columns: 3 rows, 1 row and none), and the gradient of a
    weighted sum of them all against central differences, by the reference evaluator."""
    x, v = T.dmatrix("x"), T.dvector("v")
    ops = numpy_style_ops(x, v)
    with np.errstate(divide="ignore", invalid="ignore"):
        for rows in (3, 1, 0):
            xv, vv = rand((rows, 4), seed=1), rand(5, seed=2)
            xv[0 if rows else slice(0), 0] = 0.0  # log(0) = -inf and log of negatives: nan_to_num's cases
            got = evaluate([out for out, _ in ops.values()], {id(x): xv, id(v): vv})
            for (name, (_, reference)), value in zip(ops.items(), got):
                expected = np.asarray(reference(xv, vv))
                assert value.shape == expected.shape, (name, rows, value.shape, expected.shape)
                np.testing.assert_allclose(value, expected, rtol=1e-12, err_msg=f"{name} {rows} rows")
    smooth = [name for name in ops if name not in ("nan_to_num", "partition")]
    weights = {name: rand(np.shape(ops[name][1](rand((3, 4)), rand(5))), low=0.5, high=1.5, seed=9) for name in smooth}
    cost = sum(T.sum(ops[name][0] * weights[name]) for name in smooth)
    xv, vv = rand((3, 4), seed=3), rand(5, seed=4)
    grads = evaluate(T.grad(cost, [x, v]), {id(x): xv, id(v): vv})

    def reference_cost(xv, vv):
        return sum(np.sum(ops[name][1](xv, vv) * weights[name]) for name in smooth)

    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, numeric_grad(reference_cost, [xv, vv], i), rtol=1e-6, atol=1e-7)


@pytest.mark.long  # 25 s of compiling on a busy machine
def test_numpy_style_array_functions_compiled():
    """All of them in one compiled function, equal to the reference evaluator; and nan_to_num's
    default replacements (the dtype's extremes) against NumPy's."""
    x, v = T.dmatrix("x"), T.dvector("v")
    outs = [out for out, _ in numpy_style_ops(x, v).values()]
    f = theano.function([x, v], [*outs, T.nan_to_num(T.log(x))])
    xv, vv = rand((3, 4), seed=1), rand(5, seed=2)
    xv[0, 0] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = [*evaluate(outs, {id(x): xv, id(v): vv}), np.nan_to_num(np.log(xv))]
    for got, want in zip(f(xv, vv), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_numpy_keyword_out_is_accepted_as_none():
    x = T.dmatrix("x")
    assert x.sum(out=None) is x.sum() and x.max(0, out=None) is x.max(0) and x.std(out=None) is x.std()
    with pytest.raises(TypeError, match=r"sum\(out=\.\.\.\): symbolic results are new variables"):
        x.sum(out=np.zeros(()))
