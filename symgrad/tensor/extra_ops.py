"""NumPy's array functions (Theano's ``extra_ops`` and friends), built from the structural ops:
views (``dimshuffle``, slicing, reshape), ``alloc``, ``arange`` comparisons, integer-array indexing,
reductions and matrix products. Their gradients come from those ops' rules, with nothing new to
lower. ``cumsum``, ``cumprod``, ``argsort`` (which ``sort`` gathers by), ``unique`` and
``flatnonzero`` (behind ``nonzero``) are ops of their own (``symgrad/ops/arrays.py``).
"""

from __future__ import annotations

import builtins
import functools
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import config
from ..graph import Variable, apply
from ..ops.arrays import ArgSort, FlatNonzero, Unique, cumulative
from ..ops.blas import BatchedDot
from ..ops.elemwise import result_dtype
from ..ops.reduce import normalize_axes
from .basic import (
    alloc,
    arange,
    argmax,
    as_tensor_variable,
    cast,
    concatenate,
    dimshuffle,
    dot,
    eq,
    flatten,
    ge,
    getitem,
    gt,
    isfinite,
    isnan,
    le,
    max,
    maximum,
    minimum,
    neq,
    reshape,
    set_subtensor,
    stack,
    sum,
    switch,
    zeros,
)

# ----------------------------------------------------------------------------------------------
# Axes


def _axis(axis: int, ndim: int, what: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for a {ndim}-d tensor")
    return axis % ndim


def squeeze(x, axis: int | Sequence[int] | None = None) -> Variable:
    """``x`` without its length-1 dimensions (those known to be 1: Theano's broadcastable ones),
    or without the ``axis`` given, which must be one of them."""
    x = as_tensor_variable(x)
    if axis is None:
        drop = {d for d, n in enumerate(x.type.shape) if n == 1}
    else:
        drop = set(normalize_axes(axis, x.ndim))
        for d in drop:
            if x.type.shape[d] != 1:
                raise ValueError(f"squeeze: dimension {d} of {x!r} ({x.type}) is not known to have length 1")
    return dimshuffle(x, [d for d in range(x.ndim) if d not in drop])


def expand_dims(x, axis: int | Sequence[int]) -> Variable:
    """``x`` with length-1 dimensions inserted at ``axis`` (positions in the result, as NumPy)."""
    x = as_tensor_variable(x)
    ndim = x.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    new = set(normalize_axes(axis, ndim))
    old = iter(range(x.ndim))
    return dimshuffle(x, ["x" if d in new else next(old) for d in range(ndim)])


def moveaxis(x, source: int | Sequence[int], destination: int | Sequence[int]) -> Variable:
    """``x`` with the axes ``source`` moved to the positions ``destination`` (NumPy's ``moveaxis``)."""
    x = as_tensor_variable(x)
    source = [_axis(d, x.ndim, "moveaxis") for d in ((source,) if isinstance(source, int) else source)]
    destination = [
        _axis(d, x.ndim, "moveaxis") for d in ((destination,) if isinstance(destination, int) else destination)
    ]
    if len(source) != len(destination):
        raise ValueError("moveaxis: source and destination must have the same number of axes")
    order = [d for d in range(x.ndim) if d not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return dimshuffle(x, order)


def swapaxes(x, axis1: int, axis2: int) -> Variable:
    """``x`` with two axes exchanged."""
    x = as_tensor_variable(x)
    a, b = _axis(axis1, x.ndim, "swapaxes"), _axis(axis2, x.ndim, "swapaxes")
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return dimshuffle(x, order)


def flip(x, axis: int | Sequence[int] | None = None) -> Variable:
    """``x`` reversed along ``axis`` (all axes by default): a view with step -1."""
    x = as_tensor_variable(x)
    axes = set(normalize_axes(axis, x.ndim))
    return getitem(x, tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(x.ndim)))


def fliplr(x) -> Variable:
    """``x`` reversed along axis 1."""
    return flip(x, 1)


def flipud(x) -> Variable:
    """``x`` reversed along axis 0."""
    return flip(x, 0)


def _along(axis: int, ndim: int, index: slice) -> tuple:
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def diff(x, n: int = 1, axis: int = -1) -> Variable:
    """The ``n``-th forward difference along ``axis``: ``x[1:] - x[:-1]``, ``n`` times."""
    x = as_tensor_variable(x)
    axis = _axis(axis, x.ndim, "diff")
    for _ in range(n):
        x = getitem(x, _along(axis, x.ndim, slice(1, None))) - getitem(x, _along(axis, x.ndim, slice(None, -1)))
    return x


def roll(x, shift: int, axis: int | None = None) -> Variable:
    """``x`` shifted by ``shift`` places along ``axis`` (the flattened tensor if None), the entries
    that leave at one end coming back at the other, as NumPy's ``roll`` (``shift`` an int)."""
    x = as_tensor_variable(x)
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), x.shape)
    axis = _axis(axis, x.ndim, "roll")
    # the result is concatenate(x[s:], x[:s]) with s = -shift mod the length, which may be known
    # only at run time: then s is a symbolic scalar, and so are the slices' bounds
    length = x.type.shape[axis] or x.shape[axis]
    # in [0, length), as Python and NumPy take a remainder; an empty axis takes s = 0, not a
    # remainder by zero (which the CUDA driver, computing it on the host in Python, would raise)
    s = -shift % (length if isinstance(length, int) else maximum(length, 1))
    head = getitem(x, _along(axis, x.ndim, slice(s, None)))
    tail = getitem(x, _along(axis, x.ndim, slice(None, s)))
    return concatenate([head, tail], axis)


# ----------------------------------------------------------------------------------------------
# Repetition


def _lengths(x: Variable) -> list:
    """The lengths of ``x``: static ones as ints, the others as symbolic int64 scalars."""
    return [n if n is not None else x.shape[d] for d, n in enumerate(x.type.shape)]


def repeat(x, repeats: int, axis: int | None = None) -> Variable:
    """Each entry of ``x`` repeated ``repeats`` times along ``axis`` (of the flattened ``x`` if None);
    ``repeats`` is an int. The gradient sums over the copies."""
    x = as_tensor_variable(x)
    if not isinstance(repeats, int) or repeats < 0:
        raise TypeError(f"repeat: repeats must be a non-negative int, got {repeats!r}")
    if axis is None:  # the flattened x (a vector already is)
        x, axis = (x if x.ndim == 1 else reshape(x, (-1,))), 0
    axis = _axis(axis, x.ndim, "repeat")
    lengths = _lengths(x)
    spread = alloc(dimshuffle(x, [*range(axis + 1), "x", *range(axis + 1, x.ndim)]),
                   *lengths[: axis + 1], repeats, *lengths[axis + 1 :])  # fmt: skip
    return reshape(spread, [*lengths[:axis], lengths[axis] * repeats, *lengths[axis + 1 :]])


def tile(x, reps: int | Sequence[int]) -> Variable:
    """``x`` repeated ``reps[d]`` times along each dimension ``d`` (NumPy's ``tile``; ``reps`` ints)."""
    x = as_tensor_variable(x)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    if not builtins.all(isinstance(r, int) and r >= 0 for r in reps):
        raise TypeError(f"tile: reps must be non-negative ints, got {reps!r}")
    ndim = len(reps) if len(reps) > x.ndim else x.ndim
    x = dimshuffle(x, ["x"] * (ndim - x.ndim) + list(range(x.ndim)))
    reps = (1,) * (ndim - len(reps)) + reps
    lengths = _lengths(x)
    pattern = [p for d in range(ndim) for p in ("x", d)]
    spread = alloc(dimshuffle(x, pattern), *[n for r, length in zip(reps, lengths) for n in (r, length)])
    return reshape(spread, [length * r for r, length in zip(reps, lengths)])


# ----------------------------------------------------------------------------------------------
# Triangles and diagonals


def _grid(rows, cols, k: int) -> tuple[Variable, Variable]:
    """Row and column numbers (a column and a row, so they broadcast), the rows shifted by ``k``."""
    return dimshuffle(arange(rows) + k, (0, "x")), dimshuffle(arange(cols), ("x", 0))


def tril(x, k: int = 0) -> Variable:
    """``x`` with the entries above the ``k``-th diagonal set to zero (over the last two axes)."""
    x = as_tensor_variable(x)
    rows, cols = _grid(x.shape[-2], x.shape[-1], k)
    return switch(le(cols, rows), x, 0)


def triu(x, k: int = 0) -> Variable:
    """``x`` with the entries below the ``k``-th diagonal set to zero (over the last two axes)."""
    x = as_tensor_variable(x)
    rows, cols = _grid(x.shape[-2], x.shape[-1], k)
    return switch(ge(cols, rows), x, 0)


def eye(n, m=None, k: int = 0, dtype: str | None = None) -> Variable:
    """An ``n`` by ``m`` matrix (``m = n`` by default) with ones on the ``k``-th diagonal."""
    rows, cols = _grid(n, n if m is None else m, k)
    return cast(eq(rows, cols), dtype or config.floatX)


def identity_like(x, dtype: str | None = None) -> Variable:
    """The identity matrix of the shape (and, unless given, the dtype) of the matrix ``x``."""
    x = as_tensor_variable(x, ndim=2)
    return eye(x.shape[0], x.shape[1], dtype=dtype or x.dtype)


def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Variable:
    """The ``offset``-th diagonal of ``x`` over ``axis1`` and ``axis2``, as its last axis (NumPy's
    ``diagonal``); its gradient goes back to the diagonal."""
    x = as_tensor_variable(x)
    x = moveaxis(x, (axis1, axis2), (0, 1))
    length = maximum(minimum(x.shape[0] - builtins.max(0, -offset), x.shape[1] - builtins.max(0, offset)), 0)
    i = arange(length)
    picked = getitem(x, (i + builtins.max(0, -offset), i + builtins.max(0, offset)))
    return moveaxis(picked, 0, -1)


extract_diag = diagonal


def diag(v, k: int = 0) -> Variable:
    """NumPy's ``diag``: the ``k``-th diagonal of a matrix, or the square matrix with the vector
    ``v`` on its ``k``-th diagonal."""
    v = as_tensor_variable(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag takes a vector or a matrix, got {v!r} ({v.type})")
    size = v.shape[0] + builtins.abs(k)
    i = arange(v.shape[0])
    return set_subtensor(getitem(zeros((size, size), v.dtype), (i + builtins.max(0, -k), i + builtins.max(0, k))), v)


def trace(x, offset: int = 0) -> Variable:
    """The sum of the ``offset``-th diagonal of the matrix ``x``."""
    return sum(diagonal(x, offset))


# ----------------------------------------------------------------------------------------------
# Gathers


def take(a, indices, axis: int | None = None) -> Variable:
    """``a``'s entries at the integer ``indices`` along ``axis`` (of the flattened ``a`` if None)."""
    a = as_tensor_variable(a)
    if axis is None:
        return getitem(reshape(a, (-1,)), as_tensor_variable(indices))
    axis = _axis(axis, a.ndim, "take")
    return getitem(a, (slice(None),) * axis + (as_tensor_variable(indices),))


def take_along_axis(arr, indices, axis: int) -> Variable:
    """NumPy's ``take_along_axis``: ``arr`` gathered along ``axis`` at ``indices`` (of ``arr``'s rank),
    as ``sort`` would use the result of ``argsort``."""
    arr, indices = as_tensor_variable(arr), as_tensor_variable(indices)
    if indices.ndim != arr.ndim:
        raise ValueError(f"take_along_axis: indices {indices!r} must have the rank of {arr!r} ({arr.ndim})")
    axis = _axis(axis, arr.ndim, "take_along_axis")
    grid = [
        indices if d == axis else dimshuffle(arange(arr.shape[d]), ["x"] * d + [0] + ["x"] * (arr.ndim - d - 1))
        for d in range(arr.ndim)
    ]
    return getitem(arr, tuple(grid))


# ----------------------------------------------------------------------------------------------
# Products


def _product(lengths: Sequence) -> Any:
    return functools.reduce(operator.mul, lengths, 1)


def tensordot(a, b, axes: int | Sequence = 2) -> Variable:
    """NumPy's ``tensordot``: the sum over the ``axes`` of ``a`` and ``b`` (an int n: a's last n with
    b's first n; or two lists) of their products, as one matrix product."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, int):
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a, axes_b = ([x] if isinstance(x, int) else list(x) for x in axes)
    axes_a, axes_b = [_axis(d, a.ndim, "tensordot") for d in axes_a], [_axis(d, b.ndim, "tensordot") for d in axes_b]
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: {len(axes_a)} axes of a against {len(axes_b)} of b")
    free_a = [d for d in range(a.ndim) if d not in axes_a]
    free_b = [d for d in range(b.ndim) if d not in axes_b]
    lengths_a, lengths_b = _lengths(a), _lengths(b)
    inner = _product(lengths_a[d] for d in axes_a)
    left = reshape(dimshuffle(a, free_a + axes_a), (_product(lengths_a[d] for d in free_a), inner))
    right = reshape(dimshuffle(b, axes_b + free_b), (inner, _product(lengths_b[d] for d in free_b)))
    return reshape(dot(left, right), [lengths_a[d] for d in free_a] + [lengths_b[d] for d in free_b])


def matmul(a, b) -> Variable:
    """NumPy's ``matmul`` (``a @ b``): matrix products over the last two axes, the leading (batch)
    axes broadcast; a 1-d operand is a row (on the left) or a column (on the right). Float stacks
    are one BLAS product per matrix (``BatchedDot``; more than one batch axis is flattened into
    one); others, which BLAS does not take, a broadcast product summed."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim <= 2 and b.ndim <= 2:
        return dot(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: operands must not be scalars (use *)")
    a2 = dimshuffle(a, ("x", 0)) if a.ndim == 1 else a
    b2 = dimshuffle(b, (0, "x")) if b.ndim == 1 else b
    ndim = builtins.max(a2.ndim, b2.ndim)  # the batch axes aligned on the right, as NumPy's
    a2, b2 = (dimshuffle(x, ["x"] * (ndim - x.ndim) + list(range(x.ndim))) for x in (a2, b2))
    dtype = result_dtype("any", [a2, b2])
    if dtype in ("float32", "float64"):
        out = _stacked_products(cast(a2, dtype), cast(b2, dtype))
    else:  # (..., n, k, 1) * (..., 1, k, m), summed over k
        out = sum(dimshuffle(a2, [*range(ndim), "x"]) * dimshuffle(b2, [*range(ndim - 2), "x", ndim - 2, ndim - 1]), -2)
    if b.ndim == 1:
        out = dimshuffle(out, [*range(out.ndim - 1)])
    if a.ndim == 1:
        out = dimshuffle(out, [*range(out.ndim - 2), out.ndim - 1])
    return out


def _stacked_products(a: Variable, b: Variable) -> Variable:
    """``a @ b`` for stacks of one float dtype and ndim >= 3: one ``BatchedDot`` over the batch axes
    flattened into one, each operand first broadcast over the axes where only the other has length."""
    if a.ndim == 3:
        return apply(BatchedDot(), a, b)
    pairs = zip(_lengths(a)[:-2], _lengths(b)[:-2], a.type.shape, b.type.shape)
    batch = [lb if na == 1 and nb != 1 else la for la, lb, na, nb in pairs]
    stacks = []
    for x, other in ((a, b), (b, a)):
        if builtins.any(n == 1 and m != 1 for n, m in zip(x.type.shape[:-2], other.type.shape)):
            x = alloc(x, *batch, *_lengths(x)[-2:])
        stacks.append(reshape(x, (_product(batch), *_lengths(x)[-2:])))
    out = apply(BatchedDot(), *stacks)
    return reshape(out, (*batch, *_lengths(out)[-2:]))


def batched_dot(a, b) -> Variable:
    """Theano's ``batched_dot``: ``dot(a[i], b[i])`` for each ``i`` of the first axis."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"batched_dot takes stacks of vectors or matrices, got {a.type} and {b.type}")
    if a.ndim == 2 and b.ndim == 2:
        return sum(a * b, axis=1)
    a2 = dimshuffle(a, (0, "x", 1)) if a.ndim == 2 else a
    b2 = dimshuffle(b, (0, 1, "x")) if b.ndim == 2 else b
    out = matmul(a2, b2)
    return squeeze(out, [d for d, n in ((1, a.ndim), (2, b.ndim)) if n == 2])


# ----------------------------------------------------------------------------------------------
# Logic, reductions and lists


def all(x, axis=None, keepdims: bool = False) -> Variable:
    """Whether every entry over ``axis`` is nonzero (bool; True over no entries)."""
    return eq(sum(eq(x, 0), axis, keepdims, dtype="int64"), 0)  # a count, which is 0 for no entries


def any(x, axis=None, keepdims: bool = False) -> Variable:
    """Whether some entry over ``axis`` is nonzero (bool; False over no entries)."""
    return neq(sum(neq(x, 0), axis, keepdims, dtype="int64"), 0)


def max_and_argmax(x, axis=None, keepdims: bool = False) -> list[Variable]:
    """Theano's ``max_and_argmax``: ``[max(x, axis), argmax(x, axis)]``."""
    return [max(x, axis, keepdims), argmax(x, axis, keepdims)]


def stacklists(arg: Any) -> Variable:
    """Nested lists of scalars or tensors stacked into one tensor: ``stacklists([[a, b], [c, d]])``
    is a 2 by 2 matrix for scalars ``a``..``d``."""
    if isinstance(arg, (list, tuple)):
        return stack([stacklists(item) for item in arg])
    return as_tensor_variable(arg)


def cumsum(x, axis: int | None = None) -> Variable:
    """The cumulative sum along ``axis`` (of the flattened ``x`` if None); the gradient is the
    reversed cumulative sum of the output's gradient."""
    return cumulative("sum", x, axis)


def cumprod(x, axis: int | None = None) -> Variable:
    """The cumulative product along ``axis`` (of the flattened ``x`` if None); the gradient is exact
    where ``x`` has zeros too."""
    return cumulative("prod", x, axis)


def argsort(x, axis: int | None = -1) -> Variable:
    """The int64 indices that sort ``x`` along ``axis`` (the flattened ``x`` if None); stable: equal
    entries keep their order, and nan sorts last, as NumPy's ``kind='stable'``."""
    x = as_tensor_variable(x)
    if axis is None:  # the flattened x (a vector already is)
        x, axis = (x if x.ndim == 1 else reshape(x, (-1,))), 0
    return apply(ArgSort(_axis(axis, x.ndim, "argsort")), x)


def sort(x, axis: int | None = -1) -> Variable:
    """``x`` sorted along ``axis`` (the flattened ``x`` if None). Its gradient goes back to where each
    entry came from: ``sort`` is ``take_along_axis(x, argsort(x))``."""
    x = as_tensor_variable(x)
    if axis is None:  # the flattened x (a vector already is)
        x, axis = (x if x.ndim == 1 else reshape(x, (-1,))), 0
    return take_along_axis(x, argsort(x, axis), axis)


def unique(x) -> Variable:
    """The sorted distinct entries of ``x`` (flattened), as NumPy's ``unique``; not differentiable."""
    return apply(Unique(), as_tensor_variable(x))


def flatnonzero(x) -> Variable:
    """The int64 positions of the nonzero entries of the flattened ``x``."""
    return apply(FlatNonzero(), as_tensor_variable(x))


def nonzero(x) -> tuple[Variable, ...]:
    """NumPy's ``nonzero``: one int64 vector of positions per dimension of ``x`` (``x[nonzero(x)]``
    are its nonzero entries)."""
    x = as_tensor_variable(x)
    flat = flatnonzero(x)
    lengths = _lengths(x)
    return tuple((flat // _product(lengths[d + 1 :])) % lengths[d] for d in range(x.ndim))


def einsum(subscripts: str, *operands) -> Variable:
    """NumPy's ``einsum`` in explicit or implicit form (``'ij,jk->ik'``, ``'ij,ij'``, ``'bij->bji'``):
    the operands aligned on one set of letters, multiplied with broadcasting and summed over the
    letters the output lacks. A letter repeated within one operand (a diagonal) and ``...`` are not
    supported."""
    operands = [as_tensor_variable(o) for o in operands]
    inputs, arrow, output = subscripts.replace(" ", "").partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands, got {len(operands)}")
    for term, operand in zip(terms, operands):
        if "." in term or len(set(term)) != len(term) or len(term) != operand.ndim:
            raise ValueError(
                f"einsum: term {term!r} for {operand!r} ({operand.ndim}-d) must name each of its axes by a "
                "distinct letter (no '...' or repeated letters in symgrad)"
            )
    letters = sorted(set(inputs) - {","})
    if not arrow:  # implicit form: the letters that appear once, in alphabetical order
        output = "".join(c for c in letters if inputs.count(c) == 1)
    if len(operands) == 2 and result_dtype("any", operands) in ("float32", "float64"):
        return _einsum_product(terms, operands, output)
    order = list(output) + [c for c in letters if c not in output]
    product = None
    for term, operand in zip(terms, operands):
        aligned = dimshuffle(operand, [term.index(c) if c in term else "x" for c in order])
        product = aligned if product is None else product * aligned
    if len(order) > len(output):
        product = sum(product, axis=tuple(range(len(output), len(order))))
    return product


def _einsum_product(terms: list[str], operands: list[Variable], output: str) -> Variable:
    """A two-operand ``einsum`` as a matrix product: the letters in both operands and the output are
    the batch, those in both and not the output are summed by the product, each operand's own
    letters are its rows or columns (those the output lacks summed first). One ``BatchedDot``
    (BLAS per matrix) or, without a batch, one ``dot``; then the axes put in the output's order."""
    (ta, tb), (a, b) = terms, operands
    a, b = (cast(x, result_dtype("any", operands)) for x in (a, b))
    a, ta = _sum_letters(a, ta, set(tb) | set(output))
    b, tb = _sum_letters(b, tb, set(ta) | set(output))
    batch = [c for c in ta if c in tb and c in output]
    inner = [c for c in ta if c in tb and c not in output]
    rows, columns = [c for c in ta if c not in tb], [c for c in tb if c not in ta]
    la, lb = dict(zip(ta, _lengths(a))), dict(zip(tb, _lengths(b)))
    left = dimshuffle(a, [ta.index(c) for c in batch + rows + inner])
    right = dimshuffle(b, [tb.index(c) for c in batch + inner + columns])
    sizes = [_product(la[c] for c in group) for group in (rows, inner)] + [_product(lb[c] for c in columns)]
    if batch:
        stack = _product(la[c] for c in batch)
        product = apply(BatchedDot(), reshape(left, (stack, sizes[0], sizes[1])), reshape(right, (stack, *sizes[1:])))
    else:
        product = dot(reshape(left, sizes[:2]), reshape(right, sizes[1:]))
    order = batch + rows + columns
    product = reshape(product, [la[c] for c in batch + rows] + [lb[c] for c in columns])
    return dimshuffle(product, [order.index(c) for c in output])


def _sum_letters(x: Variable, term: str, kept: set[str]) -> tuple[Variable, str]:
    """``x`` summed over the axes whose letters are not in ``kept``, and the letters left."""
    gone = [d for d, c in enumerate(term) if c not in kept]
    if not gone:
        return x, term
    return sum(x, axis=tuple(gone)), "".join(c for c in term if c in kept)


# ----------------------------------------------------------------------------------------------
# Splitting, stacking, padding and other NumPy array functions (compositions of slicing and joins,
# so their gradients come from those ops')


def _split_at(x: Variable, bounds: Sequence, axis: int) -> list[Variable]:
    """The pieces of ``x`` between consecutive ``bounds`` (ints or symbolic scalars) along ``axis``."""
    full = (slice(None),) * axis
    return [getitem(x, (*full, slice(start, stop))) for start, stop in zip(bounds[:-1], bounds[1:])]


def array_split(x, indices_or_sections, axis: int = 0) -> list[Variable]:
    """NumPy's ``array_split``: ``x`` cut along ``axis`` at the given indices, or into that many
    pieces, the first ``n % sections`` of them one longer."""
    x = as_tensor_variable(x)
    axis = _axis(axis, x.ndim, "array_split")
    length = _lengths(x)[axis]
    if isinstance(indices_or_sections, int):
        sections = indices_or_sections
        if sections <= 0:
            raise ValueError(f"array_split: the number of sections must be positive, got {sections}")
        size, extra = length // sections, length % sections
        bounds = [i * size + minimum(i, extra) if not isinstance(length, int) else i * size + builtins.min(i, extra)
                  for i in range(sections + 1)]  # fmt: skip
    else:
        bounds = [0, *indices_or_sections, length]
    return _split_at(x, bounds, axis)


def split(x, indices_or_sections, axis: int = 0) -> list[Variable]:
    """NumPy's ``split``: as ``array_split``, but a number of sections must divide the length
    (checked where the length is known; Theano's ``split(x, splits_size, n_splits)`` is not this)."""
    x = as_tensor_variable(x)
    length = x.type.shape[_axis(axis, x.ndim, "split")]
    if isinstance(indices_or_sections, int) and length is not None and length % indices_or_sections:
        raise ValueError(f"split: {indices_or_sections} sections do not divide the length {length} of {x!r}")
    return array_split(x, indices_or_sections, axis)


def hsplit(x, indices_or_sections) -> list[Variable]:
    """``split`` along the columns (axis 1; axis 0 of a vector)."""
    x = as_tensor_variable(x)
    return split(x, indices_or_sections, 1 if x.ndim > 1 else 0)


def vsplit(x, indices_or_sections) -> list[Variable]:
    """``split`` along the rows (axis 0) of a tensor of 2 or more dims."""
    if as_tensor_variable(x).ndim < 2:
        raise ValueError("vsplit only works on tensors of 2 or more dimensions")
    return split(x, indices_or_sections, 0)


def dsplit(x, indices_or_sections) -> list[Variable]:
    """``split`` along the depth (axis 2) of a tensor of 3 or more dims."""
    if as_tensor_variable(x).ndim < 3:
        raise ValueError("dsplit only works on tensors of 3 or more dimensions")
    return split(x, indices_or_sections, 2)


def _atleast(x, ndim: int) -> Variable:
    """NumPy's ``atleast_{ndim}d`` of one tensor: a 0-d one becomes all ones; a vector a row (2-d)
    or ``(1, n, 1)`` (3-d); a matrix ``(m, n, 1)`` (3-d)."""
    x = as_tensor_variable(x)
    if x.ndim >= ndim:
        return x
    if x.ndim == 0:
        return dimshuffle(x, ["x"] * ndim)
    if ndim == 2:
        return dimshuffle(x, ("x", 0))
    return dimshuffle(x, ("x", 0, "x") if x.ndim == 1 else (0, 1, "x"))


def atleast_1d(*xs) -> Variable | list[Variable]:
    """Each tensor with at least 1 dimension (one tensor, or a list for several)."""
    out = [_atleast(x, 1) for x in xs]
    return out[0] if len(out) == 1 else out


def atleast_2d(*xs) -> Variable | list[Variable]:
    """Each tensor with at least 2 dimensions (a vector becomes a row)."""
    out = [_atleast(x, 2) for x in xs]
    return out[0] if len(out) == 1 else out


def atleast_3d(*xs) -> Variable | list[Variable]:
    """Each tensor with at least 3 dimensions (a vector ``(1, n, 1)``, a matrix ``(m, n, 1)``)."""
    out = [_atleast(x, 3) for x in xs]
    return out[0] if len(out) == 1 else out


def hstack(tensors: Sequence) -> Variable:
    """Joined along the columns (axis 1; vectors end to end)."""
    tensors = [_atleast(t, 1) for t in tensors]
    return concatenate(tensors, axis=1 if tensors[0].ndim > 1 else 0)


def vstack(tensors: Sequence) -> Variable:
    """Joined along the rows, vectors as rows."""
    return concatenate([_atleast(t, 2) for t in tensors], axis=0)


def dstack(tensors: Sequence) -> Variable:
    """Joined along the depth (axis 2), as ``atleast_3d`` makes each."""
    return concatenate([_atleast(t, 3) for t in tensors], axis=2)


def column_stack(tensors: Sequence) -> Variable:
    """Vectors as columns, matrices as they are, joined along the columns."""
    tensors = [as_tensor_variable(t) for t in tensors]
    return concatenate([dimshuffle(t, (0, "x")) if t.ndim == 1 else _atleast(t, 2) for t in tensors], axis=1)


def append(x, values, axis: int | None = None) -> Variable:
    """NumPy's ``append``: ``values`` after ``x`` along ``axis`` (both flattened if None)."""
    x, values = as_tensor_variable(x), as_tensor_variable(values)
    if axis is None:
        return concatenate([flatten(x), flatten(values)])
    return concatenate([x, values], axis=axis)


def pad(x, pad_width, mode: str = "constant", constant_values=0) -> Variable:
    """NumPy's ``pad`` in ``"constant"`` mode: ``x`` inside a tensor of ``constant_values``, with
    ``pad_width`` (an int, a ``(before, after)`` pair, or one pair per axis) added around it."""
    x = as_tensor_variable(x)
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; only 'constant'")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2)).tolist()
    if builtins.any(w < 0 for pair in widths for w in pair):
        raise ValueError(f"pad: the widths must not be negative, got {pad_width!r}")
    lengths = [n + before + after for n, (before, after) in zip(_lengths(x), widths)]
    filled = alloc(cast(as_tensor_variable(constant_values), x.dtype), *lengths)
    inside = tuple(slice(before, -after or None) for before, after in widths)  # constant bounds
    return set_subtensor(getitem(filled, inside), x)


def cross(a, b, axis: int = -1) -> Variable:
    """NumPy's ``cross`` of 3-vectors along ``axis`` (broadcasting the others)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    for v in (a, b):
        length = v.type.shape[_axis(axis, v.ndim, "cross")]
        if length is not None and length != 3:
            raise ValueError(f"cross: {v!r} has length {length} along axis {axis}; symgrad takes 3-vectors")
    a, b = moveaxis(a, axis, -1), moveaxis(b, axis, -1)
    (a0, a1, a2), (b0, b1, b2) = ([getitem(v, (*(slice(None),) * (v.ndim - 1), i)) for i in range(3)] for v in (a, b))
    return moveaxis(stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1), -1, axis)


def inner(a, b) -> Variable:
    """NumPy's ``inner``: the sum over the last axes of both (a scaling if one is 0-d)."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, [[a.ndim - 1], [b.ndim - 1]])


def linspace(start, stop, num: int = 50, endpoint: bool = True, dtype: str | None = None) -> Variable:
    """``num`` evenly spaced numbers from ``start`` to ``stop`` (included if ``endpoint``); the bounds
    may be symbolic scalars. float64 unless ``dtype`` says otherwise, as NumPy."""
    start, stop = (cast(as_tensor_variable(v), "float64") for v in (start, stop))
    steps = builtins.max(num - 1 if endpoint else num, 1)
    values = start + (stop - start) * (arange(num, dtype="float64") / steps)
    if endpoint and num > 1:  # the last exactly stop, as NumPy makes it
        values = set_subtensor(values[num - 1], stop)
    return cast(values, dtype or "float64")


def rot90(x, k: int = 1, axes: Sequence[int] = (0, 1)) -> Variable:
    """``x`` rotated by 90 degrees ``k`` times in the plane of ``axes``, from the first toward the
    second (NumPy's ``rot90``): flips and a swap of the two axes, all views."""
    x = as_tensor_variable(x)
    first, second = (_axis(d, x.ndim, "rot90") for d in axes)
    if first == second:
        raise ValueError("rot90: the axes must be different")
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return flip(flip(x, first), second)
    return flip(swapaxes(x, first, second), second) if k == 3 else swapaxes(flip(x, second), first, second)


def nan_to_num(x, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Variable:
    """NaNs replaced by ``nan``, infinities by ``posinf``/``neginf`` (the dtype's largest finite
    values by default); integer tensors are returned as they are."""
    x = as_tensor_variable(x)
    if x.dtype not in ("float16", "float32", "float64"):
        return x
    largest = float(np.finfo(x.dtype).max)
    high = largest if posinf is None else posinf
    low = -largest if neginf is None else neginf
    replaced = switch(isnan(x), nan, switch(gt(x, 0), high, low))
    return switch(isfinite(x), x, cast(replaced, x.dtype))


def select(condlist: Sequence, choicelist: Sequence, default=0) -> Variable:
    """NumPy's ``select``: where the first true condition is, the matching choice, else ``default``."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: {len(condlist)} conditions and {len(choicelist)} choices")
    out = as_tensor_variable(default)
    for condition, choice in reversed(list(zip(condlist, choicelist))):
        out = switch(condition, choice, out)
    return out


def partition(x, kth: int, axis: int | None = -1) -> Variable:
    """NumPy's ``partition``: the ``kth`` entry where a sort would put it, smaller ones before and
    larger ones after. symgrad returns the sorted ``x``, one such arrangement (NumPy leaves each
    side in an unspecified order)."""
    x = as_tensor_variable(x)
    length = x.type.shape[_axis(axis, x.ndim, "partition")] if axis is not None else None
    if length is not None and not -length <= kth < length:
        raise ValueError(f"partition: kth {kth} is out of bounds for length {length}")
    return sort(x, axis)


__all__ = [
    "all", "any", "argsort", "batched_dot", "cumprod", "cumsum", "diag", "diagonal", "diff", "einsum", "expand_dims",
    "extract_diag", "eye", "flatnonzero", "flip", "fliplr", "flipud", "identity_like", "matmul", "max_and_argmax",
    "moveaxis", "nonzero", "repeat", "roll", "sort", "squeeze", "stacklists", "swapaxes", "take", "take_along_axis",
    "tensordot", "tile", "trace", "tril", "triu", "unique",
    "append", "array_split", "atleast_1d", "atleast_2d", "atleast_3d", "column_stack", "cross", "dsplit", "dstack",
    "hsplit", "hstack", "inner", "linspace", "nan_to_num", "pad", "partition", "rot90", "select", "split", "vsplit",
    "vstack",
]  # fmt: skip
