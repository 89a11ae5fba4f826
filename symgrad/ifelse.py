"""``ifelse(condition, then, else)``: a lazy conditional on a scalar (``theano.ifelse.ifelse``).

Unlike ``T.switch``, which computes both values everywhere and picks elementwise, ``ifelse``
computes only the branch the scalar condition selects. The lowering (``codegen/lower.py``) puts
the work that only one branch needs inside an ``if``/``else`` block of the generated code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .graph import Constant, Op, Variable, apply
from .ops.elemwise import cast
from .types import TensorType, describe_shape


class IfElse(Op):
    """``then`` if the scalar ``condition`` is true, else ``otherwise``; both of one type."""

    def make_type(self, condition: Variable, then: Variable, otherwise: Variable) -> TensorType:
        if condition.ndim != 0:
            raise TypeError(f"ifelse: the condition must be a scalar, got {condition!r} ({condition.type}); "
                            "use T.switch for an elementwise choice")  # fmt: skip
        if then.dtype != otherwise.dtype or then.ndim != otherwise.ndim:
            raise TypeError(
                f"ifelse: both branches must have one type, got {then!r} ({then.type}) and "
                f"{otherwise!r} ({otherwise.type}); cast one with T.cast"
            )
        shape = []
        for a, b in zip(then.type.shape, otherwise.type.shape):
            if a is not None and b is not None and a != b:
                raise ValueError(
                    f"ifelse: the branches have shapes {describe_shape(then.type.shape)} and "
                    f"{describe_shape(otherwise.type.shape)}"
                )
            shape.append(a if a == b else None)
        return TensorType(then.dtype, tuple(shape))

    def perform(self, condition: np.ndarray, then: np.ndarray, otherwise: np.ndarray) -> np.ndarray:
        return then if condition else otherwise

    def vjp(self, inputs, output, g):
        from .grad import zeros_like

        condition, then, otherwise = inputs
        return [None, ifelse(condition, g, zeros_like(then)), ifelse(condition, zeros_like(otherwise), g)]


def ifelse(condition, then, otherwise, name: str | None = None) -> Variable | list[Variable]:
    """``then`` if ``condition`` (a scalar) is true, else ``otherwise``, computing only that one.

    ``then`` and ``otherwise`` may be lists of equal length (one result per pair), as in Theano.
    """
    from .tensor.basic import as_tensor_variable

    if isinstance(then, Sequence) != isinstance(otherwise, Sequence):
        raise TypeError("ifelse: give both branches as single variables or both as lists")
    if isinstance(then, Sequence):
        if len(then) != len(otherwise):
            raise ValueError(f"ifelse: the branches have {len(then)} and {len(otherwise)} values")
        return [ifelse(condition, a, b, name) for a, b in zip(then, otherwise)]
    condition = as_tensor_variable(condition)
    then, otherwise = as_tensor_variable(then), as_tensor_variable(otherwise)
    # A Python number takes the other branch's dtype, as it would in arithmetic.
    if isinstance(otherwise, Constant) and otherwise.weak:
        otherwise = cast(otherwise, then.dtype)
    elif isinstance(then, Constant) and then.weak:
        then = cast(then, otherwise.dtype)
    out = apply(IfElse(), condition, then, otherwise)
    if name:
        out.name = name
    return out
