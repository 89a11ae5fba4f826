"""Symbolic integer indices ``x[i]``, ``x[i:j]``: values, gradients and range errors (the start of
higher derivatives: the gradient of ``y[i]`` is the one-hot seed of a Jacobian's row ``i``)."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T

from .helpers import rand

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
    with pytest.raises(IndexError, match=r"index 7 is out of bounds for dimension 0 of x, which has length 3"):
        f(np.zeros(3), 7)
    g = theano.function([x, i], T.grad(x[i] * 3, x))
    with pytest.raises(IndexError, match=r"index -4 is out of bounds .* length 3 \(built at .*test_higher.py"):
        g(np.zeros(3), -4)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with length 3"):
        x[i].owner.op.perform(np.zeros(3), np.int64(3))  # the NumPy reference says the same
    with pytest.raises(TypeError, match="an index must be an integer scalar"):
        _ = x[T.dscalar("s")]
