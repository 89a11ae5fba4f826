"""theano.function: calling conventions, memory layouts, casting and the errors users see."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T

from .helpers import rand


def test_seed_example():
    x = T.dscalar("x")
    f = theano.function([x], T.grad(x**2, x))
    result = f(4)
    assert isinstance(result, np.ndarray) and result.shape == () and result.dtype == np.float64
    assert result == 8.0


def test_outputs_single_list_and_keywords():
    x, y = T.dvector("x"), T.dvector("y")
    single = theano.function([x, y], x + y)
    listed = theano.function([x, y], [x + y])
    both = theano.function([x, y], [x * y, x - y])
    a, b = np.arange(3.0), np.ones(3)
    np.testing.assert_array_equal(single(a, b), a + b)
    assert isinstance(listed(a, b), list) and len(listed(a, b)) == 1
    np.testing.assert_array_equal(both(y=b, x=a)[1], a - b)
    np.testing.assert_array_equal(single(a, y=b), a + b)


@pytest.mark.parametrize(
    "layout",
    ["C", "F", "strided", "negative", "transposed"],
)
def test_any_memory_layout(layout):
    x = T.dmatrix("x")
    f = theano.function([x], T.exp(x) * 2 + x.T.sum(axis=0).dimshuffle(0, "x"))
    base = rand((6, 6), seed=1)
    value = {
        "C": base,
        "F": np.asfortranarray(base),
        "strided": np.ascontiguousarray(rand((12, 12), seed=2))[::2, ::2],
        "negative": base[::-1, ::-1],
        "transposed": base.T,
    }[layout]
    expected = np.exp(value) * 2 + value.T.sum(axis=0)[:, None]
    np.testing.assert_allclose(f(value), expected, rtol=1e-13)


def test_python_scalars_and_nested_lists():
    x, m = T.dscalar("x"), T.dmatrix("m")
    f = theano.function([x, m], x * m)
    np.testing.assert_array_equal(f(2, [[1, 2], [3, 4]]), np.array([[2.0, 4.0], [6.0, 8.0]]))
    np.testing.assert_array_equal(f(np.float32(0.5), [[2.0]]), [[1.0]])


def test_float32_stays_float32_with_python_scalars():
    x = T.fvector("x")
    out = x * 2.0 + 1 - x / 3
    assert out.dtype == "float32"
    f = theano.function([x], out)
    assert f(np.ones(3, dtype="float32")).dtype == np.float32


def test_int_division_gives_floatX():
    i, j = T.ivector("i"), T.ivector("j")
    assert (i / j).dtype == theano.config.floatX
    assert (i // j).dtype == "int32"
    f = theano.function([i, j], [i / j, i // j, i % j])
    a, b = np.array([7, -7, 3], dtype="int32"), np.array([2, 2, -2], dtype="int32")
    q, fq, r = f(a, b)
    np.testing.assert_array_equal(q, a / b)
    np.testing.assert_array_equal(fq, a // b)
    np.testing.assert_array_equal(r, a % b)


def test_safe_casts_accepted_unsafe_rejected():
    x = T.fvector("x")
    f = theano.function([x], x * 2)
    assert f(np.array([1, 2], dtype="int8")).dtype == np.float32  # int8 -> float32 is exact
    with pytest.raises(TypeError, match=r"input 'x' expects float32, got float64.*allow_input_downcast"):
        f(np.array([1.0, 2.0]))
    g = theano.function([x], x * 2, allow_input_downcast=True)
    np.testing.assert_array_equal(g(np.array([1.0, 2.0])), [2.0, 4.0])


@pytest.mark.parametrize(
    "value, message",
    [
        (np.array([1 + 2j]), "expects float64, got an array of complex128, not real numbers"),
        (np.array(["a"]), "expects float64, got an array of <U1, not real numbers"),
        (np.array([object()]), "expects float64, got an array of object"),
        ("text", "expects float64, got str 'text', not real numbers"),
        (np.array([True, False]), "expects float64, got bool"),
        (np.ones((2, 2)), r"expects a 1-d float64 value .*got a 2-d float64 value of shape \(2, 2\)"),
        (3.0, "expects a 1-d float64 value"),
    ],
)
def test_bad_argument_errors_name_the_input(value, message):
    x = T.dvector("x")
    f = theano.function([x], x + 1)
    with pytest.raises(TypeError, match=message) as info:
        f(value)
    assert "'x'" in str(info.value)


def test_arity_and_keyword_errors():
    x, y = T.dvector("x"), T.dvector("y")
    f = theano.function([x, y], x + y, name="adder")
    one = np.ones(2)
    with pytest.raises(TypeError, match=r"'adder' takes 2 argument\(s\) \(x, y\), got 3"):
        f(one, one, one)
    with pytest.raises(TypeError, match=r"^adder\(\) missing 1 required positional argument: 'y'"):
        f(one)
    with pytest.raises(TypeError, match="unknown keyword argument 'z'; its inputs are x, y"):
        f(one, one, z=one)
    with pytest.raises(TypeError, match=r"^adder\(\) got multiple values for argument 'x'"):
        f(one, x=one)


def test_runtime_shape_mismatch_names_operands_and_line():
    x, y = T.dvector("x"), T.dvector("y")
    f = theano.function([x, y], x + y)
    with pytest.raises(ValueError, match=r"x has shape \(3,\), y has shape \(4,\)") as info:
        f(np.ones(3), np.ones(4))
    assert "test_function.py" in str(info.value)


def test_static_shape_is_checked():
    x = T.tensor("float64", (None, 3), name="x")
    f = theano.function([x], x * 2)
    with pytest.raises(ValueError, match=r"input 'x' expects shape \(\?, 3\), got \(2, 4\)"):
        f(np.ones((2, 4)))


def test_input_list_errors():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="listed twice"):
        theano.function([x, x], x)
    with pytest.raises(TypeError, match="computed from other variables"):
        theano.function([x + 1], x)
    with pytest.raises(ValueError, match="not used to compute any output"):
        theano.function([x, T.dvector("unused")], x * 2)
    with pytest.warns(UserWarning, match="not used"):
        theano.function([x, T.dvector("unused")], x * 2, on_unused_input="warn")
    theano.function([x, T.dvector("unused")], x * 2, on_unused_input="ignore")
    with pytest.raises(ValueError, match="depend on y .* not in the inputs list"):
        theano.function([x], x + T.dvector("y"))


def test_outputs_never_alias_inputs_or_each_other():
    x = T.dvector("x")
    f = theano.function([x], [x, x.T, x * 1, x * 1])
    value = np.arange(3.0)
    a, b, c, d = f(value)
    a[0] = b[1] = c[2] = 100.0
    assert value.tolist() == [0.0, 1.0, 2.0]
    assert d.tolist() == [0.0, 1.0, 2.0]
    first = f(value)[2]
    f(value + 1)
    assert first.tolist() == [0.0, 1.0, 2.0]


def test_parallel_kernels_match_serial(monkeypatch):
    monkeypatch.setattr(theano.config, "parallel_threshold", 10)
    x = T.dmatrix("x")
    outputs = [T.exp(x) * T.sin(x), T.sum(x**2), T.sum(x, axis=1), T.max(x, axis=1), T.sum(x, axis=0)]
    f = theano.function([x], outputs)
    assert "prange" in f.source
    value = rand((50, 40), seed=3)
    expected = [np.exp(value) * np.sin(value), (value**2).sum(), value.sum(1), value.max(1), value.sum(0)]
    for got, want in zip(f(value), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_source_is_readable_python():
    x = T.dvector("x")
    y = T.dvector("y")
    f = theano.function([x, y], T.exp(-(x**2) / 2) * T.sin(3 * x) + T.log1p(y**2) * T.tanh(x * y))
    source = f.source
    compile(source, "<generated>", "exec")
    assert "def compiled_function(x, y, *extra, **unknown):" in source
    assert source.count("@njit") == 2  # one fused loop, plus its multi-threaded twin
    assert "exp(" in source and "log1p(" in source
