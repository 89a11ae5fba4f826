"""Shape ops: dimshuffle (transpose / add / drop broadcastable dims), reshape, basic indexing, size.

On the CPU these become NumPy views in the driver, and a dimshuffle read by a fused kernel costs
nothing at all: it only changes how the kernel indexes its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..graph import Constant, Op, Variable, apply, constant
from ..types import TensorType, describe_shape, kind


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


# An index entry (or slice bound) taken from the op's next integer input: ``x[i]``, ``x[i:j]``.
SYMBOLIC = "?"


def _index_part(part: object, what: str, symbolic: list[Variable]) -> int | str | None:
    """One index entry or slice bound: a Python int, None, or SYMBOLIC (appending its variable)."""
    if part is None or (isinstance(part, (int, np.integer)) and not isinstance(part, bool)):
        return None if part is None else int(part)
    if isinstance(part, Variable) and part.ndim == 0 and kind(part.dtype) == "i":
        if isinstance(part, Constant):
            return int(part.data)
        symbolic.append(part)
        return SYMBOLIC
    if isinstance(part, Variable):
        raise TypeError(f"{what} must be an integer scalar, got {part!r} ({part.type})")
    kind_name = type(part).__name__
    raise TypeError(f"symgrad supports basic indexing with ints, integer scalars and slices, got {kind_name} {part!r}")


def _normalize_index(index: object, ndim: int) -> tuple[tuple, list[Variable]]:
    """Basic indexing as a hashable tuple of ints, SYMBOLIC and ``(start, stop, step)`` slices,
    and the symbolic integer scalars that fill the SYMBOLIC places, in order."""
    items = index if isinstance(index, tuple) else (index,)
    out: list = []
    symbolic: list[Variable] = []
    for item in items:
        if isinstance(item, slice):
            if item.step == 0:
                raise ValueError("slice step cannot be zero")
            out.append(tuple(_index_part(p, "a slice bound", symbolic) for p in (item.start, item.stop, item.step)))
        else:
            out.append(_index_part(item, "an index", symbolic))
    if len(out) > ndim:
        raise IndexError(f"too many indices: {len(out)} for a {ndim}-d tensor")
    return tuple(out), symbolic


def _fill(index: tuple, values: Sequence) -> tuple:
    """``index`` with each SYMBOLIC entry replaced by the next of ``values`` (ints)."""
    given = iter(int(v) for v in values)

    def part(p):
        return next(given) if p == SYMBOLIC else p

    return tuple(tuple(part(p) for p in i) if isinstance(i, tuple) else part(i) for i in index)


def _as_numpy_index(index: tuple) -> tuple:
    return tuple(slice(*i) if isinstance(i, tuple) else i for i in index)


def check_index(index: tuple, shape: tuple[int, ...]) -> None:
    """Raise IndexError for an integer entry outside its dimension (what symbolic ones can do)."""
    for dim, i in enumerate(index):
        if isinstance(i, int) and not -shape[dim] <= i < shape[dim]:
            raise IndexError(f"index {i} is out of bounds for dimension {dim} with length {shape[dim]}")


class Subtensor(Op):
    """Basic indexing ``x[1:, ::2]``, ``x[0]``, ``x[i]``, ``x[i:j]``: ints, slices and integer scalars.

    Entries marked SYMBOLIC in ``index`` come from the inputs after ``x``, in order.
    """

    props = ("index",)

    def __init__(self, index: tuple) -> None:
        self.index = index

    def __str__(self) -> str:
        return "Subtensor" + index_text(self.index)

    def make_type(self, x: Variable, *scalars: Variable) -> TensorType:
        shape = []
        for dim, length in enumerate(x.type.shape):
            item = self.index[dim] if dim < len(self.index) else (None, None, None)
            if isinstance(item, int):
                if length is not None and not -length <= item < length:
                    raise IndexError(f"index {item} is out of bounds for dimension {dim} with length {length}")
                continue
            if item == SYMBOLIC:
                continue
            static = length is not None and SYMBOLIC not in item
            shape.append(len(range(*slice(*item).indices(length))) if static else None)
        return TensorType(x.dtype, tuple(shape))

    def perform(self, x: np.ndarray, *scalars: np.ndarray) -> np.ndarray:
        index = _fill(self.index, scalars)
        check_index(index, x.shape)
        return x[_as_numpy_index(index)]

    def vjp(self, inputs, output, g):
        x, *scalars = inputs
        return [apply(SubtensorGrad(self.index), x, g, *scalars)] + [None] * len(scalars)


def index_text(index: tuple, symbols: Sequence[str] = ()) -> str:
    """``[1:, ::2]``, ``[i]`` — how an index reads in code and in messages; ``symbols`` names the
    SYMBOLIC entries in order (``?`` where not given)."""
    names = iter(symbols)

    def text(p):
        return ("" if p is None else str(p)) if p != SYMBOLIC else next(names, SYMBOLIC)

    def part(i):
        if not isinstance(i, tuple):
            return text(i)
        start, stop, step = (text(p) for p in i)
        return f"{start}:{stop}" + (f":{step}" if step else "")

    return "[" + ", ".join(part(i) for i in index) + "]"


class SubtensorGrad(Op):
    """Zeros shaped like ``x`` with ``g`` written at ``x[index]``: the gradient of basic indexing.

    With a symbolic index ``i`` and ``g = 1`` this is the one-hot vector ``e_i``: the seed of row
    ``i`` of a Jacobian.
    """

    props = ("index",)

    def __init__(self, index: tuple) -> None:
        self.index = index

    def make_type(self, x: Variable, g: Variable, *scalars: Variable) -> TensorType:
        return TensorType(g.dtype, x.type.shape)

    def perform(self, x: np.ndarray, g: np.ndarray, *scalars: np.ndarray) -> np.ndarray:
        index = _fill(self.index, scalars)
        check_index(index, x.shape)
        out = np.zeros(x.shape, dtype=g.dtype)
        out[_as_numpy_index(index)] = g
        return out

    def vjp(self, inputs, output, gg):
        x, g, *scalars = inputs
        return [None, apply(Subtensor(self.index), gg, *scalars)] + [None] * len(scalars)


def subtensor(x: Variable, index: object) -> Variable:
    """``x[index]`` for basic indexing: ints, slices, and integer scalars (``x[i]``, ``x[i:j]``)."""
    normalized, symbolic = _normalize_index(index, x.ndim)
    if not normalized or all(i == (None, None, None) for i in normalized):
        return x
    return apply(Subtensor(normalized), x, *symbolic)


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
