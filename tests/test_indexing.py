"""Integer-array indexing against NumPy (float32 and float64, broadcasting index arrays, size-0 and
size-1 dimensions), its scatter-add gradient against np.add.at and finite differences, the index
errors users see, and inc_subtensor / set_subtensor."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T

from .helpers import check_grad, rand


def _labels(n, k, seed, dtype="int64"):
    return np.random.default_rng(seed).integers(0, k, n).astype(dtype)


# Each value dtype and each index dtype by default (one 14-output program each); the other pairs under -m long.
@pytest.mark.parametrize(
    "dtype, index_dtype",
    [("float64", "int64"), ("float32", "int32"), ("float64", "uint8")]
    + [
        pytest.param(*pair, marks=pytest.mark.long)
        for pair in [("float32", "int64"), ("float64", "int32"), ("float32", "uint8")]
    ],
)
def test_gather_matches_numpy(dtype, index_dtype):
    x = T.tensor(dtype, (None, None, None), name="x")
    m = T.tensor(dtype, (None, None), name="m")
    i, j = T.tensor(index_dtype, (None,), name="i"), T.tensor(index_dtype, (None,), name="j")
    col, row = T.tensor(index_dtype, (None, 1), name="col"), T.tensor(index_dtype, (1, None), name="row")
    s = T.tensor(index_dtype, (), name="s")
    p = T.tensor(dtype, (None, None), name="p")
    outputs = [
        p[T.arange(p.shape[0]), j], m[i], m[:, j], x[i, :, j], x[:, i, j], x[i, j], m[col, row], m[i, 2],
        x[1:, i], x[:, ::-1, j], m[s], m[s, j], m[[0, -1, 0]], m[col],
    ]  # fmt: skip
    f = theano.function([x, m, i, j, col, row, s, p], outputs)
    for n, k in [(4, 3), (0, 3), (1, 1)]:
        xv, mv = rand((n + 2, 3, 3), dtype, seed=1), rand((n + 2, 3), dtype, seed=2)
        iv, jv = _labels(n, 2, seed=3, dtype=index_dtype), _labels(n, 3, seed=4, dtype=index_dtype)
        cv, rv = _labels(n, 2, seed=5, dtype=index_dtype)[:, None], _labels(k, 3, seed=6, dtype=index_dtype)[None]
        sv = np.asarray(1, dtype=index_dtype)
        pm = rand((n, 3), dtype, seed=7)
        expected = [
            pm[np.arange(n), jv], mv[iv], mv[:, jv], xv[iv, :, jv], xv[:, iv, jv], xv[iv, jv], mv[cv, rv], mv[iv, 2],
            xv[1:, iv], xv[:, ::-1, jv], mv[sv], mv[sv, jv], mv[[0, -1, 0]], mv[cv],
        ]  # fmt: skip
        for g, e in zip(f(xv, mv, iv, jv, cv, rv, sv, pm), expected):
            assert g.shape == e.shape and g.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(g, e)


def test_negative_indices_wrap_and_repeated_indices_repeat():
    m, i = T.dmatrix("m"), T.lvector("i")
    f = theano.function([m, i], [m[i], m[:, i]])
    mv, iv = rand((3, 4), seed=1), np.array([-1, 0, -3, 2, 2])
    rows, cols = f(mv, iv)
    np.testing.assert_array_equal(rows, mv[iv])
    np.testing.assert_array_equal(cols, mv[:, np.array([-1, 0, -3, 2, 2])])


def test_scatter_add_gradient_accumulates_repeated_indices_like_np_add_at():
    m, i, j, w = T.dmatrix("m"), T.lvector("i"), T.lvector("j"), T.dvector("w")
    f = theano.function([m, i, j, w], [T.grad(T.sum(m[i, j] * w), m), T.grad(T.sum(m[i] ** 2), m)])
    mv, iv, jv, wv = rand((3, 4), seed=1), np.array([0, 2, 0, 0, -1]), np.array([1, 3, 1, 1, 0]), rand(5, seed=2)
    pair, rows = f(mv, iv, jv, wv)
    expected_pair, expected_rows = np.zeros_like(mv), np.zeros_like(mv)
    np.add.at(expected_pair, (iv, jv), wv)
    np.add.at(expected_rows, iv, 2 * mv[iv])
    np.testing.assert_allclose(pair, expected_pair, rtol=1e-15)
    np.testing.assert_allclose(rows, expected_rows, rtol=1e-15)
    assert "def scatter0(" in f.source and "+=" in f.source  # a generated loop, not np.add.at


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scatter_gradient_dtypes_and_empty_indices(dtype):
    m, i = T.tensor(dtype, (None, None), name="m"), T.lvector("i")
    g = T.grad(T.sum(m[i] * 3), m)
    assert g.dtype == dtype
    f = theano.function([m, i], g)
    np.testing.assert_array_equal(f(np.ones((2, 3), dtype), np.array([], dtype="int64")), np.zeros((2, 3), dtype))
    np.testing.assert_array_equal(f(np.ones((1, 1), dtype), np.array([0, 0])), np.full((1, 1), 6, dtype))


def test_gather_gradients_against_finite_differences():
    x, m = rand((4, 3, 2), seed=1), rand((4, 3), seed=2)
    i, j = np.array([0, 3, 3, -1, 1]), np.array([2, 0, 0, 1, 2])
    check_grad(lambda v: v[np.arange(4), j[:4]], [m])
    check_grad(lambda v: v[i] ** 2, [m])
    check_grad(lambda v: T.exp(v[:, j]), [m])
    check_grad(lambda v: v[i, :, j[:5] % 2], [x])
    check_grad(lambda v: v[1:, i % 3], [x])
    check_grad(lambda v: v[i[:, None], j[None, :3]], [m])
    check_grad(lambda v: v[2, j], [m])


def test_symbolic_scalar_index_and_its_gradient():
    m, s = T.dmatrix("m"), T.lscalar("s")
    f = theano.function([m, s], [m[s], T.grad(T.sum(m[s] ** 2), m)])
    mv = rand((3, 2), seed=1)
    row, grad = f(mv, -1)
    np.testing.assert_array_equal(row, mv[-1])
    expected = np.zeros_like(mv)
    expected[-1] = 2 * mv[-1]
    np.testing.assert_array_equal(grad, expected)
    row[:] = 0  # x[s] is a view in NumPy; the output must not be one
    np.testing.assert_array_equal(mv, rand((3, 2), seed=1))


def test_out_of_range_indices_raise_index_errors_naming_the_index():
    p, labels, s = T.dmatrix("p"), T.lvector("labels"), T.lscalar("s")
    loss = -T.sum(T.log(p[T.arange(p.shape[0]), labels]))
    f = theano.function([p, labels, s], [loss, T.grad(loss, p), p[s]])
    pv = np.full((3, 4), 0.25)
    with pytest.raises(IndexError, match=r"index 4 in labels is out of bounds for dimension 1 of length 4"):
        f(pv, np.array([0, 4, 1]), 0)
    with pytest.raises(IndexError, match=r"index -5 in labels is out of bounds"):
        f(pv, np.array([0, -5, 1]), 0)
    with pytest.raises(IndexError, match=r"index 3 in s is out of bounds for dimension 0 of length 3"):
        f(pv, np.array([0, 1, 1]), 3)
    with pytest.raises(ValueError, match=r"shape mismatch .*labels has shape \(2,\)"):
        f(pv, np.array([0, 1]), 0)  # one label per row of p
    g = theano.function([p, labels], T.grad(T.sum(p[labels]), p))  # the scatter checks on its own
    with pytest.raises(IndexError, match="index 3 in labels"):
        g(pv, np.array([3]))
    with pytest.raises(IndexError, match=r"index 5 is out of bounds for dimension 0 .*length 3"):
        _ = T.tensor("float64", (3, 2))[[0, 5]]


def test_index_type_errors():
    m = T.dmatrix("m")
    with pytest.raises(TypeError, match="boolean mask"):
        _ = m[m > 0]
    with pytest.raises(TypeError, match="must be an integer tensor, got float64"):
        _ = m[T.dvector("f")]
    with pytest.raises(IndexError, match="too many indices"):
        _ = m[[0], [0], [0]]
    with pytest.raises(ValueError, match="incompatible static lengths"):
        _ = m[T.tensor("int64", (2,)), T.tensor("int64", (3,))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_inc_and_set_subtensor_match_numpy(dtype):
    m = T.tensor(dtype, (None, None), name="m")
    i = T.lvector("i")
    y, z = T.tensor(dtype, (None,), name="y"), T.tensor(dtype, (None,), name="z")
    outputs = [
        T.inc_subtensor(m[i], 1.0), T.set_subtensor(m[i], y), T.inc_subtensor(m[i, 0], z), T.set_subtensor(m[:, i], 0),
        T.inc_subtensor(m[1:, i], 2), T.set_subtensor(m[0], y), T.inc_subtensor(m[:, 1:], 5), m[i],
    ]  # fmt: skip
    f = theano.function([m, i, y, z], outputs)
    for n in (4, 1, 0):
        mv = rand((n + 1, n + 1), dtype, seed=1)
        iv = np.array([0, n, 0, -1])  # repeated: adding accumulates, setting writes the same row again
        yv, zv = rand(n + 1, dtype, seed=2), rand(4, dtype, seed=3)
        expected = [mv.copy() for _ in range(7)] + [mv[iv]]
        np.add.at(expected[0], iv, 1.0)
        expected[1][iv] = yv
        np.add.at(expected[2], (iv, 0), zv)
        expected[3][:, iv] = 0
        np.add.at(expected[4][1:], (slice(None), iv), 2)
        expected[5][0] = yv
        expected[6][:, 1:] += 5
        for got, want in zip(f(mv, iv, yv, zv), expected):
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_allclose(got, want, rtol=1e-6)
        assert mv.base is None and np.array_equal(mv, rand((n + 1, n + 1), dtype, seed=1))  # the input is intact


def test_inc_and_set_subtensor_gradients():
    m, y, w = rand((4, 3), seed=1), rand(3, seed=2), rand((2, 3), seed=3)
    i = np.array([1, 3, 1])
    check_grad(lambda a, b: T.inc_subtensor(a[i], b) ** 2, [m, y])
    check_grad(lambda a, b: T.set_subtensor(a[i[:2]], b) ** 2, [m, y])  # set: exact without repeats
    check_grad(lambda a, b: T.inc_subtensor(a[1:3], b) ** 2, [m, w])
    check_grad(lambda a, b: T.set_subtensor(a[:, 0], b[:, 1].sum()) * a, [m, w])
    check_grad(lambda a, b: T.inc_subtensor(a[1:, i[:2] - 1], b) ** 2, [m, w.T[:, :2]])


def test_inc_and_set_subtensor_at_symbolic_bounds_and_their_gradients():
    """Slices with symbolic bounds and symbolic integer entries (``x[s:]``, ``m[i, 1:]``) are
    written where the bounds say, on every call, and differentiate through."""
    z, g, m = T.dvector("z"), T.dvector("g"), T.dmatrix("m")
    s, i = T.lscalar("s"), T.lscalar("i")
    outputs = [T.set_subtensor(z[s:], g), T.inc_subtensor(z[1:s], 2.0), T.set_subtensor(m[i, s:], g[0])]
    cost = T.sum(T.set_subtensor(z[s:], g * g) ** 2) + T.sum(T.inc_subtensor(m[i, :s], z[:s]) ** 2)
    f = theano.function([z, g, m, s, i], outputs + T.grad(cost, [z, g, m]))
    zv, gv, mv = rand(5, seed=1), rand(3, seed=2), rand((3, 5), seed=3)
    for sv, iv in [(2, 0), (-3, -1)]:
        got = f(zv, gv, mv, sv, iv)
        want = [zv.copy(), zv.copy(), mv.copy()]
        want[0][sv:] = gv
        want[1][1:sv] += 2.0
        want[2][iv, sv:] = gv[0]
        for k in range(3):
            np.testing.assert_array_equal(got[k], want[k])
        dz, dg, dm = np.zeros(5), 4 * gv**3, 2 * mv
        dm[iv, :sv] += 2 * zv[:sv]
        dz[:sv] = 2 * zv[:sv] + dm[iv, :sv]
        for got_grad, want_grad in zip(got[3:], [dz, dg, dm]):
            np.testing.assert_allclose(got_grad, want_grad, rtol=1e-12)
    with pytest.raises(IndexError, match="out of bounds for dimension 0"):
        f(zv, gv, mv, 2, 3)


def test_inc_subtensor_errors():
    m = T.dmatrix("m")
    with pytest.raises(TypeError, match="must be an indexed tensor"):
        T.inc_subtensor(m, 1)
    with pytest.raises(ValueError, match="more dimensions"):
        T.set_subtensor(m[0], T.dmatrix("y"))
    with pytest.raises(ValueError, match="does not broadcast"):
        T.inc_subtensor(T.tensor("float64", (4, 3))[[0, 1]], T.tensor("float64", (2, 2)))
    y = T.dvector("y")
    f = theano.function([m, y], [T.inc_subtensor(m[[0, 1, 0]], y), T.set_subtensor(m[0], y)])
    with pytest.raises(ValueError, match=r"shape mismatch .*m has shape \(2, 4\).*y has shape \(3,\)"):
        f(np.zeros((2, 4)), np.ones(3))


# Slices whose gradient is read in place by the kernel consuming it (a guarded read, no zeros):
# blocks of consecutive elements with constant bounds; and slices that keep the zeros-and-write
# rule (a step, a reversal, a start counted from the end).
_IN_PLACE = [(slice(1, None),), (slice(None, -1),), (slice(1, -1),), (slice(2, None),), (slice(None, 3),),
             (slice(3, 1),), (slice(7, None),), (slice(None, -7),)]  # fmt: skip
_OLD_PATH = [(slice(None, None, 2),), (slice(None, None, -1),), (slice(-3, None),)]


def _zero_filled(f) -> int:
    """How many slices' gradients ``f``'s module writes into zero-filled arrays (CPU or CUDA)."""
    return f.source.count("def put") + f.source.count("= rt.zeros(")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_slice_gradients_against_numpy(dtype):
    """The gradients of slices summed (Rosenbrock's ``x[1:]`` and ``x[:-1]`` among them), against
    NumPy, for vectors of 0 to 9 elements and (in float64) a matrix's rows and columns and the
    slices that keep the old rule."""
    x, w = T.tensor(dtype, (None,), name="x"), T.tensor(dtype, (None,), name="w")
    m = T.tensor(dtype, (None, None), name="m")
    forms = _IN_PLACE + (_OLD_PATH if dtype == "float64" else [])
    cubes = [T.sum(x[s] ** 3 * (k + 1)) for k, s in enumerate(forms)]
    rosen = T.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2 + w[2:] * x[1:-1])
    outputs = [T.grad(sum(cubes[: len(_IN_PLACE)]), x), *T.grad(rosen, [x, w])]
    if dtype == "float64":
        outputs += [T.grad(sum(cubes[len(_IN_PLACE) :]), x), T.grad(T.sum(m[1:, :-1] * m[:-1, 1:] ** 2), m)]
    f = theano.function([x, w, m], outputs, on_unused_input="ignore")
    assert _zero_filled(f) == len(forms) - len(_IN_PLACE)  # the blocks' gradients write no zeros
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for n in (0, 1, 2, 3, 4, 9):
        xv, wv, mv = rand(n, dtype, seed=n), rand(n, dtype, seed=n + 1), rand((n, n + 2), dtype, seed=n + 2)
        x64, w64, m64 = (v.astype("float64") for v in (xv, wv, mv))
        cubed = [np.zeros(n), np.zeros(n)]
        for k, s in enumerate(forms):
            cubed[k >= len(_IN_PLACE)][s] += 3 * (k + 1) * x64[s] ** 2
        g = np.zeros(n)
        d = x64[1:] - x64[:-1] ** 2
        g[1:] += 200 * d
        g[:-1] += -400 * d * x64[:-1] - 2 * (1 - x64[:-1])
        g[1:-1] += w64[2:]
        gw = np.zeros(n)
        gw[2:] = x64[1:-1]
        gm = np.zeros_like(m64)
        gm[1:, :-1] += m64[:-1, 1:] ** 2
        gm[:-1, 1:] += 2 * m64[1:, :-1] * m64[:-1, 1:]
        expected = [cubed[0], g, gw, cubed[1], gm]
        for k, (a, b) in enumerate(zip(f(xv, wv, mv), expected)):
            assert a.dtype == np.dtype(dtype) and a.shape == b.shape, k
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 10, err_msg=f"output {k}, n = {n}")


def test_rosenbrock_hessian_vector_product_against_finite_differences():
    """The second derivative through slices: the Hessian-vector product (one loop over x, reading
    x and p one element back and ahead) against central differences of the gradient."""
    x, p = T.dvectors("x", "p")
    cost = T.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    grad = T.grad(cost, x)
    f = theano.function([x, p], [grad, T.grad(T.sum(grad * p), x)])
    assert _zero_filled(f) == 0
    for n in (0, 1, 2, 5, 17):
        xv, pv = rand(n, seed=1), rand(n, seed=2)
        eps = 1e-6
        expected = (f(xv + eps * pv, pv)[0] - f(xv - eps * pv, pv)[0]) / (2 * eps)
        np.testing.assert_allclose(f(xv, pv)[1], expected, rtol=1e-6, atol=1e-5)
