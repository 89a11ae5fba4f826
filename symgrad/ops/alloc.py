"""Ops that make new tensors from scalars: ``arange`` and ``alloc`` (a value broadcast to a shape).

Their lengths may be symbolic (``T.arange(x.shape[0])``, ``T.alloc(0.0, n, 3)``); constant ones are
folded when the node is built.
"""

from __future__ import annotations

import numpy as np

from ..graph import Op, Variable, apply
from ..types import TensorType, describe_shape
from .shape import _runtime_length, _static_length, shape_arguments


class ARange(Op):
    """``np.arange(start, stop, step)`` of ``dtype`` from three scalar inputs."""

    props = ("dtype",)

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype

    def make_type(self, start: Variable, stop: Variable, step: Variable) -> TensorType:
        for name, v in (("start", start), ("stop", stop), ("step", step)):
            if v.ndim != 0:
                raise TypeError(f"arange: {name} must be a scalar, got {v!r} ({v.type})")
        return TensorType(self.dtype, (None,))

    def perform(self, start: np.ndarray, stop: np.ndarray, step: np.ndarray) -> np.ndarray:
        return np.arange(start, stop, step, dtype=self.dtype)

    def vjp(self, inputs, output, g):
        return [None, None, None]


class Alloc(Op):
    """``value`` broadcast to ``shape`` (ints, ``('dim', k)``, the k-th length of ``value``, or
    ``('arg', j)``, the j-th scalar input after ``value``), as a new array; ``value`` is aligned to
    the trailing dimensions, as in NumPy."""

    props = ("shape",)

    def __init__(self, shape: tuple) -> None:
        self.shape = shape

    def __str__(self) -> str:
        return "alloc" + describe_shape(tuple(n if isinstance(n, int) else None for n in self.shape))

    def make_type(self, value: Variable, *lengths: Variable) -> TensorType:
        if value.ndim > len(self.shape):
            raise ValueError(f"alloc: {value!r} has {value.ndim} dimensions, more than the shape {self.shape}")
        offset = len(self.shape) - value.ndim
        shape = []
        for d, entry in enumerate(self.shape):
            target = _static_length(entry, value)
            own = value.type.shape[d - offset] if d >= offset else None
            if own not in (None, 1) and target not in (None, own):
                shape_text = describe_shape(value.type.shape)
                raise ValueError(f"alloc: {value!r} of shape {shape_text} does not broadcast to {self}")
            # A symbolic length must match a value length other than 1 (the call checks it).
            shape.append(own if target is None and own != 1 else target)
        return TensorType(value.dtype, tuple(shape))

    def perform(self, value: np.ndarray, *lengths: np.ndarray) -> np.ndarray:
        target = tuple(_runtime_length(e, np.shape(value), lengths) for e in self.shape)
        return np.array(np.broadcast_to(value, target))

    def vjp(self, inputs, output, g):
        from .reduce import Reduce, sum_to

        value = inputs[0]
        extra = tuple(range(len(self.shape) - value.ndim))
        if extra:
            g = apply(Reduce("sum", extra), g)
        return [sum_to(g, value.type), *[None] * (len(inputs) - 1)]


def alloc(value: object, *shape: object) -> Variable:
    """Theano's ``T.alloc``: ``value`` broadcast to ``shape`` (ints or symbolic integer scalars)."""
    from ..tensor.basic import as_tensor_variable

    value = as_tensor_variable(value)
    whole = len(shape) == 1 and (isinstance(shape[0], (tuple, list)) or getattr(shape[0], "ndim", 0) == 1)
    if whole:  # the shape in one argument: alloc(v, (n, 3)) or alloc(v, x.shape)
        shape = shape[0]
    pattern, lengths = shape_arguments(shape, "alloc", source=value)
    return apply(Alloc(pattern), value, *lengths)
