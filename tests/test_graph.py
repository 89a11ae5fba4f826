"""Types, dtype promotion, broadcasting flags, constants and hash-consing."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad.graph import toposort

from .helpers import nested_g


@pytest.mark.parametrize(
    "constructor, dtype, ndim",
    [
        (T.scalar, "float64", 0), (T.vector, "float64", 1), (T.matrix, "float64", 2), (T.tensor3, "float64", 3),
        (T.tensor4, "float64", 4), (T.dscalar, "float64", 0), (T.fvector, "float32", 1), (T.imatrix, "int32", 2),
        (T.ltensor3, "int64", 3), (T.btensor4, "int8", 4), (T.dmatrix, "float64", 2), (T.fscalar, "float32", 0),
    ],
)  # fmt: skip
def test_type_constructors(constructor, dtype, ndim):
    v = constructor("v")
    assert (v.dtype, v.ndim, v.name) == (dtype, ndim, "v")
    assert v.broadcastable == (False,) * ndim


def test_floatX_config(monkeypatch):
    monkeypatch.setattr(theano.config, "_floatX", "float32")
    assert T.matrix().dtype == "float32"
    assert (T.ivector() / T.ivector()).dtype == "float32"
    with pytest.raises(ValueError, match="floatX"):
        theano.config.floatX = "float16"


def test_tensor_with_static_shape_and_broadcasting_flags():
    x = T.tensor("float32", (None, 1, 3), name="x")
    assert x.broadcastable == (False, True, False)
    y = T.tensor("float32", (2, None, 3))
    assert (x + y).type.shape == (2, None, 3)
    with pytest.raises(ValueError, match="incompatible static lengths"):
        _ = x + T.tensor("float32", (None, None, 4))


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("float32", "float32", "float32"), ("float32", "float64", "float64"), ("int32", "float32", "float64"),
        ("int8", "float32", "float32"), ("int32", "int64", "int64"), ("bool", "int8", "int8"),
        ("uint8", "int8", "int16"),
    ],
)  # fmt: skip
def test_promotion_follows_numpy(a, b, expected):
    assert (T.tensor(a, (None,)) + T.tensor(b, (None,))).dtype == expected == np.result_type(a, b).name


def test_python_scalars_are_weak():
    assert (T.fvector() * 2.5).dtype == "float32"
    assert (T.ivector() + 3).dtype == "int32"
    assert (T.ivector() * 2.5).dtype == "float64"
    assert (T.bvector() + 1).dtype == "int8"
    assert (T.fvector() * np.float64(2.5)).dtype == "float32"  # NumPy scalars are Python floats too
    assert (T.fvector() * np.array(2.5)).dtype == "float64"  # a 0-d array is a tensor


def test_hash_consing_returns_the_same_node():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    assert (x + y) is (x + y)
    assert T.exp(x * 2) is T.exp(x * 2)
    assert T.sum(T.exp(x), axis=1) is T.sum(T.exp(x), axis=1)
    assert T.dot(x, y).T is T.dot(x, y).T
    assert T.dmatrix("x") is not x  # inputs are distinct even with equal names


def test_constants_fold_at_construction():
    c = T.as_tensor_variable(np.arange(3.0))
    folded = T.exp(c) * 2 + 1
    assert folded.owner is None
    np.testing.assert_allclose(folded.data, np.exp(np.arange(3.0)) * 2 + 1)
    x = T.dscalar("x")
    assert len(toposort([x * (2 * 3)])) == 1


def test_constants_fold_through_shape_ops():
    c = T.as_tensor_variable(np.arange(6.0).reshape(2, 3))
    for folded, expected in [
        (c.T.reshape((3, 2)), np.arange(6.0).reshape(2, 3).T.reshape(3, 2)),
        (c[0].dimshuffle("x", 0), np.arange(3.0)[None, :]),
        (T.concatenate([c, c * 2]), np.concatenate([np.arange(6.0).reshape(2, 3), 2 * np.arange(6.0).reshape(2, 3)])),
        (T.sum(c, axis=1) + c.shape[0], np.arange(6.0).reshape(2, 3).sum(axis=1) + 2),
    ]:
        assert folded.owner is None, folded
        np.testing.assert_array_equal(folded.data, expected)


def test_gradient_graph_is_small():
    """The cheap-gradient principle: nesting depth 20 gives a gradient graph linear in depth."""
    x = T.dscalar("x")
    y = nested_g(x, 20)
    forward = len(toposort([y]))
    gradient = len(toposort([T.grad(y, x)]))
    assert gradient <= 4 * forward


def test_no_truth_value_and_no_iteration():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="no truth value"):
        bool(x > 0)
    with pytest.raises(TypeError, match="not iterable"):
        list(x)


def test_construction_errors_are_clear():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="axis 2 is out of range for a 2-d tensor"):
        T.sum(x, axis=2)
    with pytest.raises(ValueError, match="drops dimension"):
        x.dimshuffle(0)
    with pytest.raises(TypeError, match="integer scalars and integer tensors, got float 1.5"):
        _ = x[1.5]
    with pytest.raises(IndexError, match="too many indices"):
        _ = x[0, 0, 0]
    with pytest.raises(ValueError, match="not aligned"):
        T.dot(T.tensor("float64", (2, 3)), T.tensor("float64", (4, 2)))
    with pytest.raises(TypeError, match="cannot convert"):
        T.as_tensor_variable("text")


def test_compiled_code_computes_each_value_once_and_nothing_unused():
    x = T.dvector("x")
    T.sin(x) * 100  # built, but no output needs it
    f = theano.function([x], [T.exp(x) + 1, T.exp(x) * 2])
    kernels = f.source[f.source.index("@njit") : f.source.index("_PARALLEL_ABOVE =")]
    serial = kernels[: kernels.index("@njit", 1)]
    code = [line for line in serial.splitlines() if "=" in line and '"""' not in line]
    assert sum("exp(" in line for line in code) == 1  # one exp(x), shared by both outputs
    assert "sin" not in f.source
    assert sum(line.strip().startswith("out") and "np.empty" in line for line in code) == 2  # no array for exp(x)
    values = f(np.array([0.0, 1.0]))
    np.testing.assert_allclose(values[0], np.exp([0.0, 1.0]) + 1)
    np.testing.assert_allclose(values[1], 2 * np.exp([0.0, 1.0]))
