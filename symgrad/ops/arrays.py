"""Ops along one axis or over the flattened input whose lengths or order depend on the data: cumulative
sums and products (NumPy's ``cumsum``, ``cumprod``), ``argsort``, ``unique`` and ``flatnonzero``.

``cumprod``'s gradient is an op of its own, :class:`CumprodGrad`, rather than the usual
``reversed_cumsum(g * out) / x``, which is 0/0 wherever ``x`` has a zero: for an entry ``k`` of a
line it is ``P[k-1] * R[k]``, with ``P`` the cumulative product before ``k`` and ``R[k] = g[k] +
x[k+1] * R[k+1]`` a recurrence run backwards, both exact with zeros.
"""

from __future__ import annotations

import numpy as np

from ..graph import Op, Variable, apply
from ..types import TensorType, kind
from .elemwise import cast


class Cumulative(Op):
    """``np.cumsum`` or ``np.cumprod`` (``mode`` ``'sum'`` or ``'prod'``) along ``axis``."""

    props = ("mode", "axis")

    def __init__(self, mode: str, axis: int) -> None:
        self.mode = mode
        self.axis = axis

    def __str__(self) -> str:
        return f"cum{self.mode}{{axis={self.axis}}}"

    def make_type(self, x: Variable) -> TensorType:
        return x.type

    def perform(self, x: np.ndarray) -> np.ndarray:
        return getattr(np, f"cum{self.mode}")(x, axis=self.axis)

    def vjp(self, inputs, output, g):
        (x,) = inputs
        if self.mode == "prod":
            return [apply(CumprodGrad(self.axis), x, g)]
        return [reverse(apply(self, reverse(g, self.axis)), self.axis)]


class CumprodGrad(Op):
    """The gradient of ``cumprod(x)`` along ``axis`` given the output's gradient ``g`` (see the module
    doc). Its own gradient is not implemented (no second derivatives of ``cumprod``)."""

    props = ("axis",)

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def make_type(self, x: Variable, g: Variable) -> TensorType:
        return x.type

    def perform(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        x, g = np.moveaxis(x, self.axis, -1), np.moveaxis(g, self.axis, -1)
        out = np.zeros_like(x)
        after = np.zeros_like(x[..., 0]) if x.shape[-1] else None
        for k in range(x.shape[-1] - 1, -1, -1):  # R[k] = g[k] + x[k+1] R[k+1]
            after = g[..., k] + (x[..., k + 1] * after if k + 1 < x.shape[-1] else 0)
            out[..., k] = after
        before = np.ones_like(x[..., 0]) if x.shape[-1] else None
        for k in range(x.shape[-1]):
            out[..., k] *= before
            before = before * x[..., k]
        return np.moveaxis(out, -1, self.axis)

    def vjp(self, inputs, output, g):
        raise NotImplementedError("symgrad does not differentiate cumprod twice")


def reverse(x: Variable, axis: int) -> Variable:
    """``x`` reversed along ``axis`` (a view)."""
    from .shape import subtensor

    return subtensor(x, tuple(slice(None, None, -1) if d == axis else slice(None) for d in range(x.ndim)))


def cumulative(mode: str, x: object, axis: int | None) -> Variable:
    """``cumsum``/``cumprod`` of ``x`` along ``axis`` (of the flattened ``x`` if None). Integers and
    booleans accumulate in int64, as in NumPy."""
    from ..tensor.basic import as_tensor_variable
    from .shape import reshape

    x = as_tensor_variable(x)
    if axis is None:  # the flattened x (a vector already is)
        x, axis = (x if x.ndim == 1 else reshape(x, (-1,))), 0
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"cum{mode}: axis {axis} is out of range for {x!r}, a {x.ndim}-d tensor")
    if kind(x.dtype) != "f":
        x = cast(x, "int64")
    return apply(Cumulative(mode, axis % x.ndim), x)


class ArgSort(Op):
    """NumPy's stable ``argsort`` along ``axis`` (int64 indices; nan sorts last). No gradient:
    ``sort`` is ``take_along_axis(x, argsort(x))``, whose gradient the gather gives."""

    props = ("axis",)

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def __str__(self) -> str:
        return f"argsort{{axis={self.axis}}}"

    def make_type(self, x: Variable) -> TensorType:
        return TensorType("int64", x.type.shape)

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.argsort(x, axis=self.axis, kind="stable").astype("int64")

    def vjp(self, inputs, output, g):
        return [None]


class Unique(Op):
    """NumPy's ``unique``: the sorted distinct entries of the flattened input (no gradient)."""

    def __str__(self) -> str:
        return "unique"

    def make_type(self, x: Variable) -> TensorType:
        return TensorType(x.dtype, (None,))

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.unique(x)

    def vjp(self, inputs, output, g):
        return [None]


class FlatNonzero(Op):
    """NumPy's ``flatnonzero``: the int64 positions of the nonzero entries of the flattened input."""

    def __str__(self) -> str:
        return "flatnonzero"

    def make_type(self, x: Variable) -> TensorType:
        return TensorType("int64", (None,))

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.flatnonzero(x).astype("int64")

    def vjp(self, inputs, output, g):
        return [None]
