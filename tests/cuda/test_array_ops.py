"""The functions of issue 16 on the GPU: the CPU suite's tests, compiled for ``device='cuda'``, and the
ops along an axis (cumulative sums and products and cumprod's gradient, argsort and sort, unique,
nonzero) against NumPy and the CPU, over dtypes, axes, ties, nans and size-0/size-1 dimensions."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from tests.helpers import rand
from tests.test_array_ops import (  # noqa: F401 - pytest collects the imported tests
    matrix_ops,
    test_bitwise_functions_on_integers_and_booleans,
    test_cumulative_functions_and_their_gradients,
    test_nonzero_and_einsum,
    test_power_gradient_in_the_exponent_is_zero_at_a_zero_base,
    test_special_values_tests_rounding_and_nan_handling,
)

from .helpers import check_grad_against_reference


def test_array_functions_run_on_the_device():
    # all but tile, whose 6-d broadcast is beyond the device copies' 4 dimensions
    x, v = T.dmatrix("x"), T.dvector("v")
    ops = {name: op for name, op in matrix_ops(x, v).items() if name != "tile"}
    f = theano.function([x, v], [out for out, _ in ops.values()])
    for shape in [(3, 4), (1, 1), (0, 4)]:
        xv, vv = rand(shape, seed=1), rand(3, seed=2)
        for (name, (_, reference)), got in zip(ops.items(), f(xv, vv)):
            expected = np.asarray(reference(xv, vv))
            assert got.shape == expected.shape and got.dtype == expected.dtype, (name, shape)
            np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=f"{name} {shape}")


def _ties_and_nans(shape, dtype):
    """Small integers (many ties: argsort's stability shows), zeros, and nans for floats."""
    value = rand(shape, "int64", low=-2, high=2, seed=int(np.prod(shape)) + 3).astype(dtype)
    if value.dtype.kind == "f" and value.size > 2:
        value.flat[[1, value.size - 1]] = np.nan
    return value


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32"])
def test_cumulative_sorting_unique_and_nonzero_match_numpy(dtype):
    x = T.tensor(dtype, (None, None, None), "x")
    outputs = {
        "cumsum 1": (T.cumsum(x, 1), lambda v: np.cumsum(v, 1)),
        "cumsum None": (T.cumsum(x), np.cumsum),
        "cumprod -1": (T.cumprod(x, -1), lambda v: np.cumprod(v, -1)),
        "cumprod 0": (T.cumprod(x, 0), lambda v: np.cumprod(v, 0)),
        "argsort 1": (T.argsort(x, 1), lambda v: np.argsort(v, 1, kind="stable")),
        "argsort 0": (T.argsort(x, 0), lambda v: np.argsort(v, 0, kind="stable")),
        "argsort None": (T.argsort(x, None), lambda v: np.argsort(v, None, kind="stable")),
        "sort -1": (T.sort(x), lambda v: np.sort(v)),
        "sort None": (T.sort(x, None), lambda v: np.sort(v, None)),
        "unique": (T.extra_ops.unique(x), np.unique),
        "flatnonzero": (T.flatnonzero(x), np.flatnonzero),
        "nonzero": (T.nonzero(x)[2], lambda v: np.nonzero(v)[2]),
    }
    f = theano.function([x], [out for out, _ in outputs.values()])
    for shape in [(2, 5, 3), (1, 1, 1), (2, 0, 3), (0, 1, 2)]:  # lines along each axis; size 0 and 1
        value = _ties_and_nans(shape, dtype)
        for (name, (_, reference)), got in zip(outputs.items(), f(value)):
            expected = np.asarray(reference(value))
            expected = expected.astype("int64") if name.startswith(("arg", "flat", "non")) else expected
            assert got.shape == expected.shape and got.dtype == expected.dtype, (name, shape, got, expected)
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} {shape}")


def test_nonzero_and_unique_of_booleans_and_scalars():
    b, s = T.tensor("bool", (None, None), "b"), T.dscalar("s")
    f = theano.function([b, s], [*T.nonzero(b), T.unique(b), T.flatnonzero(s), T.unique(s)])
    bv = np.array([[True, False, True], [False, False, True]])
    for sv in (0.0, 2.5):
        expected = [*np.nonzero(bv), np.unique(bv), np.flatnonzero(sv), np.unique(sv)]
        for got, want in zip(f(bv, sv), expected):
            assert got.dtype == want.dtype or want.dtype == np.intp
            np.testing.assert_array_equal(got, want)


def test_cumulative_gradients_with_zeros_equal_the_reference():
    # the gradients of cumsum and cumprod (an op of its own, exact at zeros) along each kind of axis,
    # against the same gradient graph evaluated by the ops' NumPy references (tests/test_array_ops.py
    # checks the CPU's against that and against finite differences; compiling it here costs 5 s)
    def build(x):
        along = [T.cumprod(x, axis) + T.cumsum(x, axis) for axis in (0, 1, -1)]
        return T.concatenate([T.flatten(v) for v in along] + [T.cumprod(x), T.cumsum(x[::-1], None)])

    for shape in [(2, 3, 4), (1, 1, 1), (2, 0, 3)]:
        value = rand(shape, seed=5)
        value.flat[::5] = 0.0  # one zero per line and several in some: 0/0 in the usual formula
        check_grad_against_reference(build, [value])


def test_permutations_sort_the_uniform_draws_of_the_same_state():
    # RandomStreams.permutation is the stable argsort of uniform draws, as on the CPU
    from symgrad.tensor.shared_randomstreams import RandomStreams

    permutation = theano.function([], RandomStreams(seed=3).permutation(size=(2,), n=6))()
    uniform = theano.function([], RandomStreams(seed=3).uniform((2, 6), dtype="float64"))()
    np.testing.assert_array_equal(permutation, np.argsort(uniform, -1, kind="stable"))
