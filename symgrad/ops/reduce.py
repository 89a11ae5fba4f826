"""Reductions over axes: sum, prod, max, min, argmax, argmin; mean is built from sum and a size.

The output drops the reduced axes; ``keepdims`` is a dimshuffle re-adding them as broadcastable.
Each reduction's gradient is written beside it, in terms of ``expand``: the incoming gradient
broadcast back over the reduced axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config import config
from ..graph import Op, Variable, apply
from ..types import TensorType, kind
from .elemwise import make_elemwise, sym
from .shape import dimshuffle, size

_NUMPY = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}


def reduce_dtype(reduction: str, dtype: str) -> str:
    """NumPy's: sum and prod of bools and small ints accumulate in int64; max/min keep the dtype."""
    if reduction in ("sum", "prod") and kind(dtype) in "bi":
        return "uint64" if dtype == "uint64" else "int64"
    return dtype


REDUCTIONS = ("sum", "prod", "max", "min")


class Reduce(Op):
    """``reduction`` ('sum', 'prod', 'max' or 'min') over ``axes`` (a sorted tuple)."""

    props = ("reduction", "axes")

    def __init__(self, reduction: str, axes: tuple[int, ...]) -> None:
        if reduction not in REDUCTIONS:  # the lowering reads any other name as a min
            raise ValueError(f"unknown reduction {reduction!r}; the reductions are {', '.join(map(repr, REDUCTIONS))}")
        self.reduction = reduction
        self.axes = axes

    def __str__(self) -> str:
        return f"{self.reduction}{{axis={self.axes}}}"

    def make_type(self, x: Variable) -> TensorType:
        shape = tuple(n for d, n in enumerate(x.type.shape) if d not in self.axes)
        return TensorType(reduce_dtype(self.reduction, x.dtype), shape)

    def perform(self, x: np.ndarray) -> np.ndarray:
        out = _NUMPY[self.reduction](x, axis=self.axes)
        return np.asarray(out, dtype=reduce_dtype(self.reduction, x.dtype))

    def vjp(self, inputs, output, g):
        (x,) = inputs
        if not x.type.is_float:
            return [None]
        g_wide = expand(g, x.ndim, self.axes)
        if self.reduction == "sum":
            # d sum / dx_i = 1: every element receives the gradient of its row.
            return [make_elemwise(sym(1), [x, g_wide], x.dtype)]
        out_wide = expand(output, x.ndim, self.axes)
        if self.reduction == "prod":
            # d prod / dx_i = prod / x_i (like Theano, this assumes no x_i is zero).
            return [make_elemwise(sym(1) * sym(2) / sym(0), [x, g_wide, out_wide], x.dtype)]
        # max/min: the gradient flows to every element equal to the extreme value.
        import sympy

        rule = sympy.Piecewise((sym(1), sympy.Eq(sym(0), sym(2))), (0, True))
        return [make_elemwise(rule, [x, g_wide, out_wide], x.dtype)]


def expand(g: Variable, ndim: int, axes: Sequence[int]) -> Variable:
    """Re-insert the reduced ``axes`` of a reduction's output as broadcastable dims."""
    order: list[int | str] = []
    source = iter(range(g.ndim))
    for d in range(ndim):
        order.append("x" if d in axes else next(source))
    return dimshuffle(g, order)


def normalize_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    normalized = []
    for a in axes:
        if not -ndim <= int(a) < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a {ndim}-d tensor")
        normalized.append(int(a) % max(ndim, 1))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(normalized))


def reduce(reduction: str, x: Variable, axis=None, keepdims: bool = False, dtype: str | None = None) -> Variable:
    from ..tensor.basic import as_tensor_variable
    from .elemwise import cast

    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim)
    if dtype is not None:
        x = cast(x, dtype)
    out = apply(Reduce(reduction, axes), x) if axes else x
    return expand(out, x.ndim, axes) if keepdims else out


def mean(x: Variable, axis=None, keepdims: bool = False) -> Variable:
    from ..tensor.basic import as_tensor_variable

    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim)
    total = reduce("sum", x, axes, keepdims)
    dtype = x.dtype if x.type.is_float else config.floatX
    return make_elemwise(sym(0) / sym(1), [total, size(x, axes)], dtype, "mean")


def sum_to(g: Variable, target: TensorType) -> Variable:
    """Sum ``g`` over the dims where ``target`` broadcasts but ``g`` does not (a gradient's shape)."""
    axes = tuple(d for d in range(g.ndim) if target.broadcastable[d] and not g.broadcastable[d])
    if axes:
        g = expand(apply(Reduce("sum", axes), g), g.ndim, axes)
    return g


class Argmax(Op):
    """NumPy's ``argmax`` (or ``argmin``: ``which``) over one ``axis``, or over the flattened input
    when ``axis`` is None. Indices are int64 and have no gradient."""

    props = ("which", "axis")

    def __init__(self, which: str, axis: int | None) -> None:
        self.which = which
        self.axis = axis

    def __str__(self) -> str:
        return f"{self.which}{{axis={self.axis}}}"

    def make_type(self, x: Variable) -> TensorType:
        if self.axis is None:
            return TensorType("int64", ())
        return TensorType("int64", tuple(n for d, n in enumerate(x.type.shape) if d != self.axis))

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(getattr(np, self.which)(x, axis=self.axis), dtype="int64")

    def vjp(self, inputs, output, g):
        return [None]


def argmax(which: str, x: Variable, axis=None, keepdims: bool = False) -> Variable:
    """``argmax``/``argmin`` of ``x`` over ``axis`` (an int, or None for the flattened input)."""
    from ..tensor.basic import as_tensor_variable

    x = as_tensor_variable(x)
    if axis is not None and not isinstance(axis, (int, np.integer)):
        axes = normalize_axes(axis, x.ndim)
        if len(axes) != 1 and axes != tuple(range(x.ndim)):
            raise ValueError(f"{which} takes one axis or None (all axes), got axis={axis}")
        axis = axes[0] if len(axes) == 1 else None
    axes = normalize_axes(axis, x.ndim) if axis is not None else tuple(range(x.ndim))
    out = apply(Argmax(which, axes[0] if axis is not None and x.ndim else None), x)
    return expand(out, x.ndim, axes) if keepdims else out
