"""Shape ops: dimshuffle (transpose / add / drop broadcastable dims), reshape, basic indexing, size.

On the CPU these become NumPy views in the driver, and a dimshuffle read by a fused kernel costs
nothing at all: it only changes how the kernel indexes its input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..graph import Constant, Op, Variable, apply, constant
from ..types import INT_DTYPES, TensorType, describe_shape, kind


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
    """Reshape to ``shape``: ints (one may be -1), ``('dim', k)``, the input's k-th length,
    ``('prod', k)``, the product of its lengths from the k-th on (flatten's last length: a -1
    cannot tell it when the array is empty), or ``('arg', j)``, the value of the j-th scalar input
    after ``x`` (a symbolic length)."""

    props = ("shape",)

    def __init__(self, shape: tuple) -> None:
        self.shape = shape

    def make_type(self, x: Variable, *lengths: Variable) -> TensorType:
        static = [_static_length(s, x) for s in self.shape]
        known = x.type.shape
        if -1 in self.shape and None not in known:
            rest = [n for i, n in enumerate(static) if i != self.shape.index(-1)]
            if None not in rest:
                static[self.shape.index(-1)] = int(np.prod(known)) // max(int(np.prod(rest)), 1)
        if None not in known and None not in static and np.prod(known) != np.prod(static):
            raise ValueError(f"cannot reshape {x!r} of shape {describe_shape(x.type.shape)} to {self.shape}")
        return TensorType(x.dtype, tuple(static))

    def target(self, shape: tuple[int, ...], lengths: Sequence = ()) -> tuple[int, ...]:
        return tuple(_runtime_length(s, shape, lengths) for s in self.shape)

    def perform(self, x: np.ndarray, *lengths: np.ndarray) -> np.ndarray:
        return x.reshape(self.target(x.shape, lengths))

    def vjp(self, inputs, output, g):
        return [apply(ReshapeAs(), g, inputs[0]), *[None] * (len(inputs) - 1)]


def _static_length(entry: int | tuple, x: Variable) -> int | None:
    """A shape entry's length as far as it is known before the call."""
    if isinstance(entry, tuple) and entry[0] == "prod":
        trailing = x.type.shape[entry[1] :]
        return None if None in trailing else math.prod(trailing)
    if isinstance(entry, tuple):
        return x.type.shape[entry[1]] if entry[0] == "dim" else None
    return None if entry == -1 else entry


def _runtime_length(entry: int | tuple | None, shape: tuple[int, ...], lengths: Sequence) -> int | None:
    if isinstance(entry, tuple) and entry[0] == "prod":
        return math.prod(shape[entry[1] :])
    if isinstance(entry, tuple):
        return int(shape[entry[1]] if entry[0] == "dim" else lengths[entry[1]])
    return entry


def shape_arguments(
    shape: object, what: str, allow: tuple = (), source: Variable | None = None
) -> tuple[tuple, list[Variable]]:
    """A shape given as ints, symbolic integer scalars or a symbolic vector of known length, split
    into a hashable pattern (ints, ``('arg', j)`` for the j-th symbolic entry, and the values in
    ``allow``: -1 or None) and the list of symbolic entries, which become the op's extra inputs.

    A length of ``source`` itself (``x.shape[1]`` when reshaping ``x``) becomes ``('dim', k)``: it
    is read from ``source`` at run time, with no extra input, and its static length carries over.
    """
    from ..tensor.basic import as_tensor_variable

    if isinstance(shape, Variable) and shape.ndim == 1:
        shape = list(shape)  # a static-length vector such as x.shape unpacks into its entries
    entries = shape if isinstance(shape, (tuple, list)) else (shape,)
    pattern: list = []
    lengths: list[Variable] = []
    for entry in entries:
        if isinstance(entry, Constant) and entry.ndim == 0 and entry.dtype in INT_DTYPES:
            entry = int(entry.data)
        if entry is None and None in allow:
            pattern.append(None)
            continue
        if isinstance(entry, (int, np.integer)) and not isinstance(entry, bool):
            if entry < 0 and not (entry == -1 and -1 in allow):
                raise ValueError(f"{what}: invalid length {entry} in the shape {tuple(entries)}")
            pattern.append(int(entry))
            continue
        var = entry if isinstance(entry, Variable) else as_tensor_variable(entry)
        if var.ndim != 0 or var.dtype not in INT_DTYPES:
            raise TypeError(f"{what}: shape entries must be ints or integer scalars, got {var!r} ({var.type})")
        owner = var.owner
        if source is not None and owner is not None and isinstance(owner.op, Size) and owner.inputs[0] is source:
            if len(owner.op.axes) == 1:
                pattern.append(("dim", owner.op.axes[0]))
                continue
        if var in lengths:
            pattern.append(("arg", lengths.index(var)))
        else:
            pattern.append(("arg", len(lengths)))
            lengths.append(var)
    return tuple(pattern), lengths


class ReshapeAs(Op):
    """``g.reshape(like.shape)``: the gradient of a reshape. ``like`` only lends its shape."""

    def make_type(self, g: Variable, like: Variable) -> TensorType:
        return TensorType(g.dtype, like.type.shape)

    def perform(self, g: np.ndarray, like: np.ndarray) -> np.ndarray:
        return g.reshape(like.shape)

    def vjp(self, inputs, output, gg):
        return [apply(ReshapeAs(), gg, inputs[0]), None]


def reshape(x: Variable, shape: object, ndim: int | None = None) -> Variable:
    """``x`` with a new shape: ints (at most one -1) and symbolic integer scalars such as ``y.shape[0]``."""
    pattern, lengths = shape_arguments(shape, "reshape", allow=(-1,), source=x)
    if ndim is not None and ndim != len(pattern):
        raise ValueError(f"reshape: ndim={ndim} but the new shape {pattern} has {len(pattern)} entries")
    if sum(n == -1 for n in pattern) > 1:
        raise ValueError(f"reshape: invalid shape {pattern}; use at most one -1")
    return apply(Reshape(pattern), x, *lengths)


def flatten(x: Variable, ndim: int = 1) -> Variable:
    """Collapse the trailing dimensions so the result has ``ndim`` dimensions."""
    if not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten: ndim must be between 1 and {x.ndim}, got {ndim}")
    return apply(Reshape(tuple(("dim", k) for k in range(ndim - 1)) + (("prod", ndim - 1),)), x)


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
    raise TypeError(f"symgrad indexes with ints, slices, integer scalars and integer tensors, got {kind_name} {part!r}")


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
    if x.owner is not None and isinstance(x.owner.op, Shape) and isinstance(normalized[0], int):
        # x.shape[k] is the length itself, not an element of a shape array built first.
        source = x.owner.inputs[0]
        if not -source.ndim <= normalized[0] < source.ndim:
            raise IndexError(f"{source!r} has {source.ndim} dimensions; there is no x.shape[{normalized[0]}]")
        return size(source, (normalized[0] % source.ndim,))
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


class Shape(Op):
    """``x.shape`` as a symbolic int64 vector (Theano's ``x.shape``); ``x.shape[k]`` is ``size(x, (k,))``."""

    def make_type(self, x: Variable) -> TensorType:
        return TensorType("int64", (x.ndim,))

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.array(x.shape, dtype="int64")

    def vjp(self, inputs, output, g):
        return [None]


def shape(x: Variable) -> Variable:
    """The shape of ``x``: a constant when every length is known statically."""
    if None not in x.type.shape:
        return constant(np.array(x.type.shape, dtype="int64"), dtype="int64", weak=False)
    return apply(Shape(), x)


class SpecifyShape(Op):
    """``x``, checked at call time to have ``shape`` (entries: ints, None for any length, or
    ``('arg', j)``, the j-th scalar input after ``x``); the known lengths become static."""

    props = ("shape",)

    def __init__(self, shape: tuple) -> None:
        self.shape = shape

    def __str__(self) -> str:
        return f"specify_shape{describe_shape(tuple(n if isinstance(n, int) else None for n in self.shape))}"

    def make_type(self, x: Variable, *lengths: Variable) -> TensorType:
        if len(self.shape) != x.ndim:
            raise ValueError(
                f"specify_shape: {x!r} has {x.ndim} dimensions, but the shape {self.shape} has {len(self.shape)}"
            )
        static = []
        for dim, (known, wanted) in enumerate(zip(x.type.shape, self.shape)):
            wanted = wanted if isinstance(wanted, int) else None
            if known is not None and wanted is not None and known != wanted:
                raise ValueError(
                    f"specify_shape: {x!r} has static shape {describe_shape(x.type.shape)}, "
                    f"which disagrees with {self} in dimension {dim}"
                )
            static.append(known if wanted is None else wanted)
        return TensorType(x.dtype, tuple(static))

    def perform(self, x: np.ndarray, *lengths: np.ndarray) -> np.ndarray:
        for dim, entry in enumerate(self.shape):
            wanted = _runtime_length(entry, x.shape, lengths)
            if wanted is not None and x.shape[dim] != wanted:
                raise ValueError(f"specify_shape: dimension {dim} should have length {wanted}; the shape is {x.shape}")
        return x

    def vjp(self, inputs, output, g):
        return [g, *[None] * (len(inputs) - 1)]


def specify_shape(x: Variable, shape: object) -> Variable:
    """``x`` with the given shape (ints, None, integer scalars), checked when the function runs."""
    pattern, lengths = shape_arguments(shape, "specify_shape", allow=(None,))
    if all(e is None for e in pattern) and len(pattern) == x.ndim:
        return x
    return apply(SpecifyShape(pattern), x, *lengths)


class Join(Op):
    """``np.concatenate`` of equal-rank, equal-dtype tensors along ``axis``."""

    props = ("axis",)

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def make_type(self, *tensors: Variable) -> TensorType:
        shapes = [t.type.shape for t in tensors]
        out = []
        for dim, lengths in enumerate(zip(*shapes)):
            known = {n for n in lengths if n is not None}
            if dim == self.axis:
                out.append(sum(lengths) if None not in lengths else None)
            elif len(known) > 1:
                raise ValueError(
                    f"join along axis {self.axis}: the shapes {', '.join(describe_shape(s) for s in shapes)} "
                    f"of {', '.join(map(repr, tensors))} differ in dimension {dim}"
                )
            else:
                out.append(known.pop() if known else None)
        return TensorType(tensors[0].dtype, tuple(out))

    def perform(self, *values: np.ndarray) -> np.ndarray:
        return np.concatenate(values, axis=self.axis)

    def vjp(self, inputs, output, g):
        return [apply(JoinPiece(self.axis, k), g, *inputs) for k in range(len(inputs))]


class JoinPiece(Op):
    """The part of ``g`` (shaped like a join of ``tensors``) that lies over ``tensors[k]``: the
    gradient of a join. The tensors only lend their lengths along ``axis``."""

    props = ("axis", "k")

    def __init__(self, axis: int, k: int) -> None:
        self.axis = axis
        self.k = k

    def make_type(self, g: Variable, *tensors: Variable) -> TensorType:
        return TensorType(g.dtype, tensors[self.k].type.shape)

    def bounds(self, lengths: Sequence[int]) -> tuple[int, int]:
        start = sum(lengths[: self.k])
        return start, start + lengths[self.k]

    def perform(self, g: np.ndarray, *tensors: np.ndarray) -> np.ndarray:
        start, stop = self.bounds([t.shape[self.axis] for t in tensors])
        return g[(slice(None),) * self.axis + (slice(start, stop),)]

    def vjp(self, inputs, output, gg):
        from .elemwise import make_elemwise, sym

        g, *tensors = inputs
        zeros = [gg if i == self.k else make_elemwise(sym(0) * 0, [t], gg.dtype) for i, t in enumerate(tensors)]
        return [apply(Join(self.axis), *zeros), *[None] * len(tensors)]
