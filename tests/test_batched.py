"""Stacks of matrices: ``@``/``matmul``/``batched_dot`` and two-operand ``einsum`` as one BLAS product
per matrix (``BatchedDot``), by NumPy's matmul rules, with gradients against central differences."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad.ops.loop import evaluate

from .helpers import numeric_grad, program_text

# (shape of a, shape of b, static shape of a, static shape of b): NumPy's matmul rules, broadcast
# stacks (a length known to be 1), more than one batch axis, vectors on either side, empty stacks.
MATMUL_CASES = [
    ((2, 3, 4), (2, 4, 5), None, None),
    ((1, 3, 4), (2, 4, 5), (1, None, None), None),
    ((2, 2, 3, 4), (2, 4, 5), None, None),
    ((2, 1, 3, 4), (1, 3, 4, 5), (None, 1, None, None), (1, None, None, None)),
    ((2, 3, 4), (4,), None, None),
    ((4,), (2, 4, 5), None, None),
    ((3, 4), (2, 4, 5), None, None),
    ((0, 3, 4), (0, 4, 2), None, None),
    ((2, 3, 0), (2, 0, 2), None, None),
]

EINSUM_CASES = ["bij,bjk->bik", "bij,bkj->bki", "ijk,kl->ijl", "ijx,jk->k", "abcd,cbe->dae", "ij,ij", "i,j->ij"]
EINSUM_SHAPES = {
    "bij,bjk->bik": ((2, 3, 4), (2, 4, 5)),
    "bij,bkj->bki": ((2, 3, 4), (2, 5, 4)),
    "ijk,kl->ijl": ((2, 3, 4), (4, 5)),
    "ijx,jk->k": ((2, 3, 4), (3, 5)),
    "abcd,cbe->dae": ((2, 3, 4, 5), (4, 3, 6)),
    "ij,ij": ((3, 4), (3, 4)),
    "i,j->ij": ((3,), (4,)),
}


def _variables(shapes, static, dtype="float64"):
    return [
        T.tensor(dtype, given or (None,) * len(shape), name=name) for name, shape, given in zip("ab", shapes, static)
    ]


def _cases(dtype):
    """Per case: the two variables, their values, the symbolic result and NumPy's."""
    rng = np.random.default_rng(0)
    for sa, sb, ta, tb in MATMUL_CASES:
        a, b = _variables((sa, sb), (ta, tb), dtype)
        values = [rng.standard_normal(s).astype(dtype) for s in (sa, sb)]
        yield a, b, values, a @ b, values[0] @ values[1], lambda x, y: x @ y
    for subscripts in EINSUM_CASES:
        shapes = EINSUM_SHAPES[subscripts]
        a, b = _variables(shapes, (None, None), dtype)
        values = [rng.standard_normal(s).astype(dtype) for s in shapes]
        yield (
            a,
            b,
            values,
            T.einsum(subscripts, a, b),
            np.einsum(subscripts, *values),
            (lambda x, y, s=subscripts: np.einsum(s, x, y)),
        )


def test_values_and_gradients_against_numpy_and_central_differences():
    """By the reference evaluator (no compiling): each result, and the gradient of a weighted sum
    of it with respect to both operands."""
    for a, b, values, out, expected, reference in _cases("float64"):
        weights = np.random.default_rng(1).uniform(0.5, 1.5, np.shape(expected))
        cost = T.sum(out * weights)
        got, ga, gb = evaluate([out, *T.grad(cost, [a, b])], {id(a): values[0], id(b): values[1]})
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        for i, g in enumerate((ga, gb)):
            fd = numeric_grad(lambda x, y, f=reference, w=weights: np.sum(f(x, y) * w), values, i)
            np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.long  # 30-45 s of compiling per dtype on a busy machine
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiled_stacks_are_one_blas_product_per_matrix(dtype):
    """Compiled: every case in one function, its results and gradients equal to the reference
    evaluator's; the stacked products run as ``batched_matrix_product``, never a broadcast sum."""
    inputs, outputs, given = [], [], []
    for a, b, values, out, _, _ in _cases(dtype):
        inputs += [a, b]
        given += values
        outputs += [out, *T.grad(T.sum(out * out), [a, b])]
    f = theano.function(inputs, outputs)
    expected = evaluate(outputs, {id(v): x for v, x in zip(inputs, given)})
    tolerance = 1e-4 if dtype == "float32" else 1e-10
    for got, want in zip(f(*given), expected):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
    program = program_text(f)
    assert program.count("= batched_matrix_product(") >= 3 * 9, program  # the products and both gradients


def test_compiled_product_and_gradients():
    """One stack product and both its gradients compiled: three BLAS products per matrix."""
    a, b = T.dtensor3("a"), T.dtensor3("b")
    out = a @ b
    f = theano.function([a, b], [out, *T.grad(T.sum(out * out), [a, b])])
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3, 4)), rng.standard_normal((5, 4, 2))
    got, ga, gb = f(x, y)
    np.testing.assert_allclose(got, x @ y, rtol=1e-12)
    np.testing.assert_allclose(ga, 2 * (x @ y) @ y.transpose(0, 2, 1), rtol=1e-12)
    np.testing.assert_allclose(gb, 2 * x.transpose(0, 2, 1) @ (x @ y), rtol=1e-12)
    assert program_text(f).count("= batched_matrix_product(") == 3


def test_shape_errors():
    """Stacks that do not broadcast or matrices that do not fit: at build time when the types say
    so, else before BLAS runs, naming the operands."""
    with pytest.raises(ValueError, match=r"do not broadcast \(2 != 3\)"):
        T.tensor("float64", (2, None, None), name="a") @ T.tensor("float64", (3, None, None), name="b")
    a, b = T.dtensor3("a"), T.dtensor3("b")
    f = theano.function([a, b], a @ b)
    with pytest.raises(ValueError, match=r"matmul.*a has shape \(2, 3, 4\).*b has shape \(3, 4, 5\)"):
        f(np.ones((2, 3, 4)), np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match=r"matmul.*a has shape \(2, 3, 4\).*b has shape \(2, 3, 5\)"):
        f(np.ones((2, 3, 4)), np.ones((2, 3, 5)))
    np.testing.assert_allclose(f(np.ones((2, 3, 4)), np.ones((2, 4, 5))), np.full((2, 3, 5), 4.0))
