"""Matrix products. ``Dot`` covers vector·vector, matrix·vector, vector·matrix and matrix·matrix;
``BatchedDot`` a stack of matrix products (NumPy's ``matmul`` on 3-d operands).

On the CPU each runs as BLAS calls (through NumPy), one per matrix, with transposed operands
passed as views, which NumPy hands to BLAS as transpose flags rather than copies.
"""

from __future__ import annotations

import numpy as np

from ..graph import Op, Variable, apply
from ..types import TensorType, describe_shape, promote
from .elemwise import cast, elemwise
from .shape import dimshuffle


class Dot(Op):
    """``np.dot`` for 1-d and 2-d operands of one dtype."""

    def make_type(self, a: Variable, b: Variable) -> TensorType:
        inner_a = a.type.shape[-1]
        inner_b = b.type.shape[0]
        if inner_a is not None and inner_b is not None and inner_a != inner_b:
            raise ValueError(
                f"dot: shapes {describe_shape(a.type.shape)} of {a!r} and "
                f"{describe_shape(b.type.shape)} of {b!r} are not aligned ({inner_a} != {inner_b})"
            )
        return TensorType(a.dtype, a.type.shape[:-1] + b.type.shape[1:])

    def perform(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(np.dot(a, b))

    def vjp(self, inputs, output, g):
        a, b = inputs
        if a.ndim == 1 and b.ndim == 1:  # g is a scalar
            return [elemwise("mul", g, b), elemwise("mul", g, a)]
        if a.ndim == 2 and b.ndim == 1:
            return [outer(g, b), dot(dimshuffle(a, (1, 0)), g)]
        if a.ndim == 1 and b.ndim == 2:
            return [dot(b, g), outer(a, g)]
        return [dot(g, dimshuffle(b, (1, 0))), dot(dimshuffle(a, (1, 0)), g)]


class BatchedDot(Op):
    """``np.matmul`` of two 3-d stacks of matrices of one float dtype: ``out[i] = a[i] @ b[i]``, a
    stack of length 1 (known so from its type) broadcast against the other, as NumPy does."""

    def make_type(self, a: Variable, b: Variable) -> TensorType:
        if a.ndim != 3 or b.ndim != 3:
            raise ValueError(f"batched matrix product: {a!r} and {b!r} must be 3-d stacks, got {a.type} and {b.type}")
        (count_a, _, inner_a), (count_b, inner_b, _) = a.type.shape, b.type.shape
        if inner_a is not None and inner_b is not None and inner_a != inner_b:
            raise ValueError(
                f"matmul: shapes {describe_shape(a.type.shape)} of {a!r} and {describe_shape(b.type.shape)} of "
                f"{b!r} are not aligned ({inner_a} != {inner_b})"
            )
        if count_a is not None and count_b is not None and 1 != count_a != count_b != 1:
            raise ValueError(
                f"matmul: the stacks {a!r} of shape {describe_shape(a.type.shape)} and {b!r} of shape "
                f"{describe_shape(b.type.shape)} do not broadcast ({count_a} != {count_b})"
            )
        count = count_b if count_a == 1 else count_a
        return TensorType(a.dtype, (count, a.type.shape[1], b.type.shape[2]))

    def perform(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.matmul(a, b)

    def vjp(self, inputs, output, g):
        from .reduce import sum_to

        a, b = inputs
        ga = apply(BatchedDot(), g, dimshuffle(b, (0, 2, 1)))
        gb = apply(BatchedDot(), dimshuffle(a, (0, 2, 1)), g)
        return [sum_to(ga, a.type), sum_to(gb, b.type)]


def outer(a: Variable, b: Variable) -> Variable:
    """The outer product of two vectors, as a broadcasting elementwise product."""
    return elemwise("mul", dimshuffle(a, (0, "x")), dimshuffle(b, ("x", 0)))


def dot(a, b) -> Variable:
    """Theano's ``T.dot``: a matrix product for 1-d/2-d operands, a scaling if one is 0-d, and as
    NumPy's ``dot`` beyond (the sum over a's last axis and b's second to last: ``tensordot``)."""
    from ..tensor.basic import as_tensor_variable

    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return elemwise("mul", a, b)
    if a.ndim > 2 or b.ndim > 2:
        from ..tensor.extra_ops import tensordot

        return tensordot(a, b, [[a.ndim - 1], [max(b.ndim - 2, 0)]])
    dtype = promote([a.dtype, b.dtype])
    if dtype == "bool":
        dtype = "int64"
    return apply(Dot(), cast(a, dtype), cast(b, dtype))
