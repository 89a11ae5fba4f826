"""Shape ops: dimshuffle (transpose / add / drop broadcastable dims), reshape, basic slicing, size.

On the CPU these become NumPy views in the driver, and a dimshuffle read by a fused kernel costs
nothing at all: it only changes how the kernel indexes its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..graph import Op, Variable, apply, constant
from ..types import TensorType, describe_shape


class DimShuffle(Op):
    """Theano's dimshuffle: ``new_order`` lists input dims (ints) and new broadcastable dims ('x').

    Input dims left out must be broadcastable (known length 1); they are dropped.
    """

    props = ("new_order",)

    def __init__(self, new_order: Sequence[int | str]) -> None:
        self.new_order = tuple(new_order)

    def make_type(self, x: Variable) -> TensorType:
        kept = [d for d in self.new_order if d != "x"]
        if sorted(kept) != sorted(set(kept)) or any(not 0 <= d < x.ndim for d in kept):
            raise ValueError(f"dimshuffle{self.new_order} is not valid for a {x.ndim}-d input")
        dropped = [d for d in range(x.ndim) if d not in kept]
        if any(not x.broadcastable[d] for d in dropped):
            raise ValueError(
                f"dimshuffle{self.new_order} drops dimension(s) {dropped} of {x!r}, "
                f"which has shape {describe_shape(x.type.shape)}; only dimensions known to be 1 can be dropped"
            )
        return TensorType(x.dtype, tuple(1 if d == "x" else x.type.shape[d] for d in self.new_order))

    def perform(self, x: np.ndarray) -> np.ndarray:
        kept = [d for d in self.new_order if d != "x"]
        dropped = tuple(d for d in range(x.ndim) if d not in kept)
        y = np.transpose(np.squeeze(x, axis=dropped), np.argsort(np.argsort(kept)))
        return y.reshape([1 if d == "x" else x.shape[d] for d in self.new_order])

    def vjp(self, inputs, output, g):
        (x,) = inputs
        # Undo: drop the added 'x' dims, put the kept dims back in place, re-add dropped ones.
        kept = [d for d in self.new_order if d != "x"]
        position = {d: i for i, d in enumerate(d for d in self.new_order if d != "x")}
        g_kept = dimshuffle(g, [i for i, d in enumerate(self.new_order) if d != "x"])
        return [dimshuffle(g_kept, [position[d] if d in kept else "x" for d in range(x.ndim)])]


def dimshuffle(x: Variable, new_order: Sequence[int | str]) -> Variable:
    new_order = tuple(new_order)
    if new_order == tuple(range(x.ndim)):
        return x
    if x.owner is not None and isinstance(x.owner.op, DimShuffle):
        # Compose with the dimshuffle that made x, so chains stay one node.
        inner = x.owner.op.new_order
        source = x.owner.inputs[0]
        composed = ["x" if d == "x" else inner[d] for d in new_order]
        dropped_ok = all(source.broadcastable[d] for d in range(source.ndim) if d not in composed)
        if dropped_ok:
            return dimshuffle(source, composed)
    return apply(DimShuffle(new_order), x)


def transpose(x: Variable, axes: Sequence[int] | None = None) -> Variable:
    return dimshuffle(x, list(reversed(range(x.ndim))) if axes is None else [int(a) % x.ndim for a in axes])


class Reshape(Op):
    """Reshape to ``shape``: ints (one may be -1) or ``('dim', k)``, the input's k-th length."""

    props = ("shape",)

    def __init__(self, shape: tuple) -> None:
        self.shape = shape

    def make_type(self, x: Variable) -> TensorType:
        static = [x.type.shape[s[1]] if isinstance(s, tuple) else (None if s == -1 else s) for s in self.shape]
        known = x.type.shape
        if -1 in self.shape and None not in known:
            rest = [n for i, n in enumerate(static) if i != self.shape.index(-1)]
            if None not in rest:
                static[self.shape.index(-1)] = int(np.prod(known)) // max(int(np.prod(rest)), 1)
        if None not in known and None not in static and np.prod(known) != np.prod(static):
            raise ValueError(f"cannot reshape {x!r} of shape {describe_shape(x.type.shape)} to {self.shape}")
        return TensorType(x.dtype, tuple(static))

    def target(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape[s[1]] if isinstance(s, tuple) else s for s in self.shape)

    def perform(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(self.target(x.shape))

    def vjp(self, inputs, output, g):
        return [apply(ReshapeAs(), g, inputs[0])]


class ReshapeAs(Op):
    """``g.reshape(like.shape)``: the gradient of a reshape. ``like`` only lends its shape."""

    def make_type(self, g: Variable, like: Variable) -> TensorType:
        return TensorType(g.dtype, like.type.shape)

    def perform(self, g: np.ndarray, like: np.ndarray) -> np.ndarray:
        return g.reshape(like.shape)

    def vjp(self, inputs, output, gg):
        return [apply(ReshapeAs(), gg, inputs[0]), None]


def reshape(x: Variable, shape: Sequence[int], ndim: int | None = None) -> Variable:
    shape = tuple(int(n) for n in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    if ndim is not None and ndim != len(shape):
        raise ValueError(f"reshape: ndim={ndim} but the new shape {shape} has {len(shape)} entries")
    if sum(n == -1 for n in shape) > 1 or any(n < -1 for n in shape):
        raise ValueError(f"reshape: invalid shape {shape}; use at most one -1 and no other negative lengths")
    return apply(Reshape(shape), x)


def flatten(x: Variable, ndim: int = 1) -> Variable:
    """Collapse the trailing dimensions so the result has ``ndim`` dimensions."""
    if not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten: ndim must be between 1 and {x.ndim}, got {ndim}")
    return apply(Reshape(tuple(("dim", k) for k in range(ndim - 1)) + (-1,)), x)


def _normalize_index(index: object, ndim: int) -> tuple:
    """Basic indexing as a hashable tuple of ints and ``(start, stop, step)`` slices."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    for item in items:
        if isinstance(item, slice):
            for part in (item.start, item.stop, item.step):
                if part is not None and not isinstance(part, (int, np.integer)):
                    raise TypeError(f"slice bounds must be Python ints, got {part!r}")
            if item.step == 0:
                raise ValueError("slice step cannot be zero")
            out.append((item.start, item.stop, item.step))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            out.append(int(item))
        else:
            raise TypeError(f"symgrad supports basic indexing with ints and slices, got {type(item).__name__} {item!r}")
    if len(out) > ndim:
        raise IndexError(f"too many indices: {len(out)} for a {ndim}-d tensor")
    return tuple(out)


def _as_numpy_index(index: tuple) -> tuple:
    return tuple(slice(*i) if isinstance(i, tuple) else i for i in index)


class Subtensor(Op):
    """Basic indexing ``x[1:, ::2]``, ``x[0]`` with constant ints and slices."""

    props = ("index",)

    def __init__(self, index: tuple) -> None:
        self.index = index

    def __str__(self) -> str:
        return "Subtensor" + index_text(self.index)

    def make_type(self, x: Variable) -> TensorType:
        shape = []
        for dim, length in enumerate(x.type.shape):
            item = self.index[dim] if dim < len(self.index) else (None, None, None)
            if isinstance(item, int):
                if length is not None and not -length <= item < length:
                    raise IndexError(f"index {item} is out of bounds for dimension {dim} with length {length}")
                continue
            shape.append(None if length is None else len(range(*slice(*item).indices(length))))
        return TensorType(x.dtype, tuple(shape))

    def perform(self, x: np.ndarray) -> np.ndarray:
        return x[_as_numpy_index(self.index)]

    def vjp(self, inputs, output, g):
        return [apply(SubtensorGrad(self.index), inputs[0], g)]


def index_text(index: tuple) -> str:
    """``[1:, ::2]`` — how an index reads in code and in messages."""

    def part(i):
        if isinstance(i, int):
            return str(i)
        start, stop, step = ("" if p is None else str(p) for p in i)
        return f"{start}:{stop}" + (f":{step}" if step else "")

    return "[" + ", ".join(part(i) for i in index) + "]"


class SubtensorGrad(Op):
    """Zeros shaped like ``x`` with ``g`` written at ``x[index]``: the gradient of basic indexing."""

    props = ("index",)

    def __init__(self, index: tuple) -> None:
        self.index = index

    def make_type(self, x: Variable, g: Variable) -> TensorType:
        return TensorType(g.dtype, x.type.shape)

    def perform(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        out = np.zeros(x.shape, dtype=g.dtype)
        out[_as_numpy_index(self.index)] = g
        return out

    def vjp(self, inputs, output, gg):
        return [None, apply(Subtensor(self.index), gg)]


def subtensor(x: Variable, index: object) -> Variable:
    """``x[index]`` for basic indexing (ints and slices with constant bounds)."""
    normalized = _normalize_index(index, x.ndim)
    if not normalized or all(i == (None, None, None) for i in normalized):
        return x
    return apply(Subtensor(normalized), x)


class Size(Op):
    """The number of elements over ``axes`` of ``x`` (int64 scalar): the ``n`` of a mean."""

    props = ("axes",)

    def __init__(self, axes: tuple[int, ...]) -> None:
        self.axes = axes

    def make_type(self, x: Variable) -> TensorType:
        return TensorType("int64", ())

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(int(np.prod([x.shape[a] for a in self.axes])), dtype="int64")

    def vjp(self, inputs, output, g):
        return [None]


def size(x: Variable, axes: Sequence[int]) -> Variable:
    axes = tuple(axes)
    if all(x.type.shape[a] is not None for a in axes):
        return constant(int(np.prod([x.type.shape[a] for a in axes])), dtype="int64", weak=False)
    return apply(Size(axes), x)
