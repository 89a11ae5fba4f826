"""Integer-array indexing (NumPy's advanced indexing) and Theano's ``inc_subtensor``/``set_subtensor``.

``x[idx]``, ``p[T.arange(n), y]``, ``x[:, idx]``, ``x[1:, idx]``: integer tensors (symbolic, or lists
and arrays, which become constants) at some positions, slices elsewhere. Slices with bounds are
taken first, as a basic :class:`~symgrad.ops.shape.Subtensor` view; what remains is an
:class:`AdvancedSubtensor` whose non-array positions are full slices. The index arrays broadcast
against each other (a dimension known to be 1 broadcasts; others must agree at call time), and the
result's dimensions are placed as NumPy places them: where the arrays stand when they are adjacent,
first otherwise. A Python int among index arrays counts as a 0-d index array, as in NumPy.

The gradient of a gather is a scatter-add (:class:`AdvancedSubtensorGrad`): a repeated index
receives the sum of its gradients, like ``np.add.at``. On the CPU scatters are generated Numba loops
(five times faster than ``np.add.at`` on a (4096, 10) matrix); every index is checked against its
dimension before any loop runs, and an index out of range raises an IndexError that names it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..graph import Constant, Op, Variable, apply, constant
from ..types import INT_DTYPES, TensorType, broadcast_static, describe_shape
from .elemwise import cast
from .shape import Subtensor, _as_numpy_index, _fill, check_index, index_text, subtensor


def result_dims(pattern: tuple[bool, ...], nb: int) -> list[tuple[str, int]]:
    """Where each dimension of ``x[index]`` comes from: ``('b', k)``, dimension k of the broadcast
    index arrays (``nb`` of them), or ``('x', d)``, dimension d of ``x`` (a full slice)."""
    positions = [d for d, is_array in enumerate(pattern) if is_array]
    sliced = [("x", d) for d, is_array in enumerate(pattern) if not is_array]
    broadcast = [("b", k) for k in range(nb)]
    if positions == list(range(positions[0], positions[-1] + 1)):  # adjacent: the arrays' place
        before = [s for s in sliced if s[1] < positions[0]]
        return before + broadcast + sliced[len(before) :]
    return broadcast + sliced


def broadcast_index_shape(indices: Sequence[Variable], what: str) -> tuple[int | None, ...]:
    """The static shape the index arrays broadcast to (right-aligned, as NumPy)."""
    nb = max(i.ndim for i in indices)
    return broadcast_static([(1,) * (nb - i.ndim) + i.type.shape for i in indices], what)


def _numpy_index(pattern: tuple[bool, ...], indices: Sequence[np.ndarray]) -> tuple:
    arrays = iter(indices)
    return tuple(next(arrays) if is_array else slice(None) for is_array in pattern)


def _indexed_type(op: Op, x: Variable, indices: Sequence[Variable]) -> TensorType:
    """The type of ``x[index]`` for ``op.pattern``; checks the index arrays."""
    if len(indices) != sum(op.pattern) or len(op.pattern) != x.ndim:
        raise ValueError(f"{op}: expected {sum(op.pattern)} index arrays for a {x.ndim}-d tensor")
    for i in indices:
        if i.dtype not in INT_DTYPES:
            raise TypeError(f"index {i!r} must have an integer dtype, got {i.type}")
    b_shape = broadcast_index_shape(indices, f"the index arrays of {x!r}")
    dims = result_dims(op.pattern, len(b_shape))
    return TensorType(x.dtype, tuple(b_shape[k] if kind == "b" else x.type.shape[k] for kind, k in dims))


def _text(pattern: tuple[bool, ...]) -> str:
    return "[" + ", ".join("idx" if is_array else ":" for is_array in pattern) + "]"


class AdvancedSubtensor(Op):
    """``x[index]``: ``pattern[d]`` is True where an integer array (the next input) indexes dimension
    d of ``x``, False for a full slice."""

    props = ("pattern",)

    def __init__(self, pattern: tuple[bool, ...]) -> None:
        self.pattern = pattern

    def __str__(self) -> str:
        return "AdvancedSubtensor" + _text(self.pattern)

    def make_type(self, x: Variable, *indices: Variable) -> TensorType:
        return _indexed_type(self, x, indices)

    def perform(self, x: np.ndarray, *indices: np.ndarray) -> np.ndarray:
        return np.array(x[_numpy_index(self.pattern, indices)])

    def vjp(self, inputs, output, g):
        x, *indices = inputs
        return [apply(AdvancedSubtensorGrad(self.pattern), x, g, *indices), *[None] * len(indices)]


class AdvancedSubtensorGrad(Op):
    """Zeros shaped like ``x`` with ``g`` added at ``x[index]``: the gradient of :class:`AdvancedSubtensor`.
    A repeated index accumulates (``np.add.at``). ``x`` only lends its shape."""

    props = ("pattern",)

    def __init__(self, pattern: tuple[bool, ...]) -> None:
        self.pattern = pattern

    def __str__(self) -> str:
        return "AdvancedSubtensorGrad" + _text(self.pattern)

    def make_type(self, x: Variable, g: Variable, *indices: Variable) -> TensorType:
        _check_broadcasts(g, _indexed_type(self, x, indices), "gradient")
        return TensorType(g.dtype, x.type.shape)

    def perform(self, x: np.ndarray, g: np.ndarray, *indices: np.ndarray) -> np.ndarray:
        out = np.zeros(x.shape, dtype=g.dtype)
        np.add.at(out, _numpy_index(self.pattern, indices), g)
        return out

    def vjp(self, inputs, output, gg):
        x, g, *indices = inputs
        return [None, apply(AdvancedSubtensor(self.pattern), gg, *indices), *[None] * len(indices)]


class AdvancedIncSubtensor(Op):
    """A copy of ``x`` with ``y`` added at (``mode='inc'``) or written to (``mode='set'``) ``x[index]``.

    ``y`` broadcasts to ``x[index]`` (right-aligned, as in NumPy). Repeated indices accumulate when adding;
    when setting, the last write wins, as in NumPy, but the gradient with respect to ``y`` counts
    every write (as Theano's did), so it is exact only for indices without repeats.
    """

    props = ("mode", "pattern")

    def __init__(self, mode: str, pattern: tuple[bool, ...]) -> None:
        self.mode = mode
        self.pattern = pattern

    def __str__(self) -> str:
        return f"{self.mode}_subtensor" + _text(self.pattern)

    def make_type(self, x: Variable, y: Variable, *indices: Variable) -> TensorType:
        _check_broadcasts(y, _indexed_type(self, x, indices), f"{self.mode}_subtensor")
        return x.type

    def perform(self, x: np.ndarray, y: np.ndarray, *indices: np.ndarray) -> np.ndarray:
        out = x.copy()
        index = _numpy_index(self.pattern, indices)
        if self.mode == "inc":
            np.add.at(out, index, y)
        else:
            out[index] = y
        return out

    def vjp(self, inputs, output, gg):
        x, y, *indices = inputs
        gx = gg
        if self.mode == "set":  # what was overwritten does not reach the output
            gx = apply(AdvancedIncSubtensor("set", self.pattern), gg, _zeros_of_rank(y), *indices)
        gy = _reduce_to(apply(AdvancedSubtensor(self.pattern), gg, *indices), y)
        return [gx, gy, *[None] * len(indices)]


class IncSubtensor(Op):
    """A copy of ``x`` with ``y`` added at or written to ``x[index]`` for basic indexing (ints, slices
    and integer scalars, as :class:`~symgrad.ops.shape.Subtensor`: SYMBOLIC entries of ``index``
    come from the inputs after ``y``, in order)."""

    props = ("mode", "index")

    def __init__(self, mode: str, index: tuple) -> None:
        self.mode = mode
        self.index = index

    def __str__(self) -> str:
        return f"{self.mode}_subtensor" + index_text(self.index)

    def make_type(self, x: Variable, y: Variable, *scalars: Variable) -> TensorType:
        _check_broadcasts(y, Subtensor(self.index).make_type(x, *scalars), f"{self.mode}_subtensor")
        return x.type

    def perform(self, x: np.ndarray, y: np.ndarray, *scalars: np.ndarray) -> np.ndarray:
        index = _fill(self.index, scalars)
        check_index(index, x.shape)
        out = x.copy()
        if self.mode == "inc":
            out[_as_numpy_index(index)] += y
        else:
            out[_as_numpy_index(index)] = y
        return out

    def vjp(self, inputs, output, gg):
        x, y, *scalars = inputs
        gx = gg if self.mode == "inc" else apply(IncSubtensor("set", self.index), gg, _zeros_of_rank(y), *scalars)
        gy = _reduce_to(apply(Subtensor(self.index), gg, *scalars), y)
        return [gx, gy] + [None] * len(scalars)


def _zeros_of_rank(y: Variable) -> Variable:
    return constant(np.zeros((1,) * y.ndim, dtype=y.dtype), dtype=y.dtype, weak=False)


def _reduce_to(g: Variable, y: Variable) -> Variable:
    """The gradient ``g`` of the indexed region summed to the shape of ``y``, which broadcast to it."""
    from .reduce import Reduce, sum_to

    leading = tuple(range(g.ndim - y.ndim))
    return sum_to(apply(Reduce("sum", leading), g) if leading else g, y.type)


def _check_broadcasts(y: Variable, target: TensorType, what: str) -> None:
    """``y`` must broadcast to ``target`` (right-aligned) without growing it."""
    trailing = target.shape[target.ndim - y.ndim :]
    if y.ndim > target.ndim or any(
        n not in (None, 1) and t is not None and n != t for n, t in zip(y.type.shape, trailing)
    ):
        raise ValueError(
            f"{what}: {y!r} of shape {describe_shape(y.type.shape)} does not broadcast to the indexed "
            f"shape {describe_shape(target.shape)}"
        )


# ------------------------------------------------------------------------------------------------
# Construction


def _is_array_index(item: object) -> bool:
    # A symbolic integer scalar alone is basic indexing (a view, x[i]); among arrays it is a 0-d array.
    return isinstance(item, (list, np.ndarray)) or (isinstance(item, Variable) and item.ndim > 0)


def _index_variable(item: object, position: int) -> Variable:
    from ..tensor.basic import as_tensor_variable

    var = as_tensor_variable(np.asarray(item, dtype="int64") if isinstance(item, list) and not item else item)
    if var.dtype == "bool":
        raise TypeError(
            f"index {position} ({var!r}) is a boolean mask; symgrad indexes with integer arrays only. "
            "Use T.switch(mask, a, b) to select elementwise"
        )
    if var.dtype not in INT_DTYPES:
        raise TypeError(f"index {position} ({var!r}) must be an integer tensor, got {var.type}")
    return var


def getitem(x: Variable, index: object) -> Variable:
    """``x[index]``: basic indexing for ints and slices, integer-array indexing when arrays are present."""
    items = index if isinstance(index, tuple) else (index,)
    if not any(_is_array_index(item) for item in items):
        return subtensor(x, index)
    if len(items) > x.ndim:
        raise IndexError(f"too many indices: {len(items)} for {x!r}, a {x.ndim}-d tensor")
    basic: list[object] = []
    pattern: list[bool] = []
    indices: list[Variable] = []
    for position, item in enumerate(items):
        if isinstance(item, slice):
            basic.append(item)
            pattern.append(False)
            continue
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            item = constant(int(item), dtype="int64", weak=False)  # NumPy: an int among arrays is a 0-d array
        elif not (_is_array_index(item) or isinstance(item, Variable)):
            raise TypeError(f"index {position} of {x!r}: expected an int, a slice or an integer tensor, got {item!r}")
        basic.append(slice(None))
        pattern.append(True)
        indices.append(_index_variable(item, position))
    pattern += [False] * (x.ndim - len(items))
    source = subtensor(x, tuple(basic))  # the slices with bounds, as a view; x itself if there are none
    for d, i in zip([d for d, is_array in enumerate(pattern) if is_array], indices):
        _check_constant_index(i, source, d)
    return apply(AdvancedSubtensor(tuple(pattern)), source, *indices)


def _check_constant_index(index: Variable, x: Variable, dim: int) -> None:
    """A constant index known to be out of range for a known length fails now, not at call time."""
    length = x.type.shape[dim]
    if isinstance(index, Constant) and length is not None and index.data.size:
        bad = index.data[(index.data < -length) | (index.data >= length)]
        if bad.size:
            raise IndexError(f"index {bad.flat[0]} is out of bounds for dimension {dim} of {x!r} (length {length})")


def _inc_or_set(mode: str, target: Variable, y: object) -> Variable:
    from ..tensor.basic import as_tensor_variable

    owner = target.owner
    if owner is None or not isinstance(owner.op, (Subtensor, AdvancedSubtensor)):
        raise TypeError(
            f"{mode}_subtensor: the first argument must be an indexed tensor such as x[idx] or x[1:, 0], got {target!r}"
        )
    x = owner.inputs[0]
    y = as_tensor_variable(y)
    if y.ndim > target.ndim:
        raise ValueError(f"{mode}_subtensor: {y!r} has more dimensions than {target!r} ({y.ndim} > {target.ndim})")
    y = cast(y, x.dtype)
    if isinstance(owner.op, Subtensor):
        return apply(IncSubtensor(mode, owner.op.index), x, y, *owner.inputs[1:])
    inner = apply(AdvancedIncSubtensor(mode, owner.op.pattern), x, y, *owner.inputs[1:])
    if x.owner is not None and isinstance(x.owner.op, Subtensor):
        # x[1:, idx] was indexed in two steps; write the updated slab back into the whole tensor.
        return apply(IncSubtensor("set", x.owner.op.index), x.owner.inputs[0], inner, *x.owner.inputs[1:])
    return inner


def inc_subtensor(target: Variable, y: object) -> Variable:
    """Theano's ``T.inc_subtensor(x[index], y)``: a copy of ``x`` with ``y`` added at ``index``."""
    return _inc_or_set("inc", target, y)


def set_subtensor(target: Variable, y: object) -> Variable:
    """Theano's ``T.set_subtensor(x[index], y)``: a copy of ``x`` with ``y`` written at ``index``."""
    return _inc_or_set("set", target, y)
