"""Driver checks shared by the CPU and CUDA modules: shapes that must agree, indices in range.

Each check is an ``if`` and a ``raise`` of one of ``codegen.errors``' errors, which name the
operands with their shapes at this call and the user's line that built the node (``built_at[k]``,
passed in when the function is made: the module's text is the same whoever built the graph).
They run before the step they guard, so a user's mistake never reaches a kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symgrad.graph import Apply, Constant, Variable
from symgrad.ops.indexing import IncSubtensor, result_dims
from symgrad.ops.shape import SYMBOLIC, SubtensorGrad

from .kernel_body import describe
from .lower import Kernel
from .module import Run
from .names import Names

if TYPE_CHECKING:
    from .module import ModulePrinter


def scalar_index_checks(p: ModulePrinter, node: Apply) -> list[str]:
    """Bounds checks for the symbolic integer entries of an index (``x[i]``), so that an index out
    of range names the indexed variable and the line that built the node."""
    names = p.names
    x = names[node.inputs[0]]
    scalars = iter(node.inputs[2 if isinstance(node.op, (SubtensorGrad, IncSubtensor)) else 1 :])
    lines = []
    for dim, item in enumerate(node.op.index):
        if isinstance(item, tuple):  # slice bounds clip, as in NumPy: only consume their scalars
            for _ in range(item.count(SYMBOLIC)):
                next(scalars)
            continue
        if item != SYMBOLIC:
            if node.inputs[0].type.shape[dim] is None:  # a constant, checked when the graph was built if it could be
                length = f"{x}.shape[{dim}]"
                lines.append(f"if not -{length} <= {item} < {length}:")
                lines.append(
                    "    "
                    + p.fail(
                        "index_error", str(item), repr(f"{x}[{item}]"), str(dim), repr(x), Run(length), p.where(node)
                    )
                )
            continue
        i, length = names[next(scalars)], f"{x}.shape[{dim}]"
        lines.append(f"if not -{length} <= {i} < {length}:")
        lines.append("    " + p.fail("index_error", Run(i), repr(i), str(dim), repr(x), Run(length), p.where(node)))
    return lines


def kernel_checks(p: ModulePrinter, step: Kernel) -> list[str]:
    """Driver lines raising a shape mismatch unless the arrays giving each loop dim's length agree
    (those not already known equal); the results' lengths are then known equal to the loop's."""
    names, known = p.names, p.equal_lengths
    conditions = []
    for dim in range(step.ndim):
        sources = step.dim_sources(dim)
        if not sources:
            continue
        first = sources[0]
        for v, d in sources[1:]:
            if not known.same(first, (v, d)):
                conditions.append(f"{names[first[0]]}.shape[{first[1]}] != {names[v]}.shape[{d}]")
                known.join(first, (v, d))
        if step.broadcastable[dim]:
            continue
        for r in step.results:
            kept = [d for d in range(step.ndim) if d not in r.axes]  # a reduced dim is kept as 1, or dropped
            if dim in kept and r.target is None and r.var.ndim in (step.ndim, len(kept)):
                known.join((r.var, dim if r.var.ndim == step.ndim else kept.index(dim)), first)
    if not conditions:
        return []
    shapes = {names[v]: p.shape(v) for v in step.params if v.ndim}
    return [
        f"if {' or '.join(conditions)}:",
        "    " + p.fail("shape_mismatch", repr(describe(step, names)), p.where(step.results[0].node), **shapes),
    ]


def dot_checks(p: ModulePrinter, step: Apply) -> list[str]:
    """Driver lines raising a shape mismatch unless a matrix product's inner lengths agree."""
    names, (a, b), known = p.names, step.inputs, p.equal_lengths
    out = step.output
    if a.ndim == 2:
        known.join((out, 0), (a, 0))
    if b.ndim == 2:
        known.join((out, out.ndim - 1), (b, 1))
    if known.same((a, a.ndim - 1), (b, 0)):
        return []
    known.join((a, a.ndim - 1), (b, 0))
    shapes = {names[v]: p.shape(v) for v in (a, b)}  # dot(x, x) names x once
    return [
        f"if {names[a]}.shape[{a.ndim - 1}] != {names[b]}.shape[0]:",
        "    " + p.fail("shape_mismatch", "'dot'", p.where(step), **shapes),
    ]


def batched_dot_checks(p: ModulePrinter, step: Apply) -> list[str]:
    """Driver lines raising a shape mismatch unless a stack of matrix products' inner lengths agree,
    and its stacks' lengths do unless one is known to be 1 (broadcast)."""
    (a, b), names = step.inputs, p.names
    conditions = [f"{names[a]}.shape[2] != {names[b]}.shape[1]"]
    if a.type.shape[0] != 1 and b.type.shape[0] != 1:
        conditions.append(f"{names[a]}.shape[0] != {names[b]}.shape[0]")
    return mismatch(p, conditions, "matmul", step, [a, b])


def mismatch(p: ModulePrinter, conditions: list[str], what: str, node: Apply, operands: list[Variable]) -> list[str]:
    """``if <any condition>: raise shape_mismatch(...)`` naming each operand once."""
    if not conditions:
        return []
    shapes = {p.names[v]: p.shape(v) for v in operands}
    return [f"if {' or '.join(conditions)}:", "    " + p.fail("shape_mismatch", repr(what), p.where(node), **shapes)]


def reshape_checks(p: ModulePrinter, step: Apply, lengths: list[str]) -> list[str]:
    """NumPy's refusal to infer a ``-1`` length when the others multiply to 0 (Numba's reshape, and
    the device's, would make it 0): ``reshape(x, (0, -1))`` raises, naming ``x``."""
    if -1 not in step.op.shape:
        return []
    known = " * ".join(text for entry, text in zip(step.op.shape, lengths) if entry != -1) or "1"
    what = f"reshape to ({', '.join(lengths)}): a -1 length is ambiguous where the others multiply to 0"
    return mismatch(p, [f"{known} == 0"], what, step, [step.inputs[0]])


def specify_shape_lines(p: ModulePrinter, step: Apply, out: str) -> list[str]:
    """``out`` is the input, once its lengths are checked against the ones specified."""
    x = p.names[step.inputs[0]]
    conditions = [f"{x}.shape[{d}] != {length_text(p, e, step)}" for d, e in enumerate(step.op.shape) if e is not None]
    return mismatch(p, conditions, str(step.op), step, [step.inputs[0]]) + [f"{out} = {x}"]


def join_checks(p: ModulePrinter, step: Apply) -> list[str]:
    """Driver lines raising a shape mismatch unless the joined tensors agree off the join axis."""
    names, axis, (first, *others) = p.names, step.op.axis, step.inputs
    conditions = [
        f"{names[t]}.shape[{d}] != {names[first]}.shape[{d}]"
        for t in others
        for d in range(first.ndim)
        if d != axis and names[t] != names[first]
    ]
    return mismatch(p, conditions, f"join along axis {axis}", step, list(step.inputs))


def alloc_checks(p: ModulePrinter, step: Apply, targets: list[str]) -> list[str]:
    """Driver lines raising a shape mismatch unless an alloc's value broadcasts to ``targets``."""
    names, value = p.names, step.inputs[0]
    offset = len(targets) - value.ndim
    conditions = [
        f"{names[value]}.shape[{d}] != {targets[offset + d]}"
        for d, n in enumerate(value.type.shape)
        if n != 1 and targets[offset + d] != f"{names[value]}.shape[{d}]"  # alloc(v, n, v.shape[0])
    ]
    return mismatch(p, conditions, str(step.op), step, [value])


def length_text(p: ModulePrinter, entry: int | tuple, node: Apply) -> str:
    """A shape entry of a Reshape, Alloc or SpecifyShape: an int, ``('dim', k)`` of the first input,
    ``('prod', k)``, the product of its lengths from the k-th on, or ``('arg', j)``, the scalar
    input after it."""
    if isinstance(entry, tuple) and entry[0] == "prod":
        x = node.inputs[0]
        return "(" + " * ".join(["1", *(f"{p.names[x]}.shape[{d}]" for d in range(entry[1], x.ndim))]) + ")"
    if isinstance(entry, tuple):
        kind_, k = entry
        return f"{p.names[node.inputs[0]]}.shape[{k}]" if kind_ == "dim" else p.host_value(node.inputs[1 + k])
    return str(entry)


def advanced_text(pattern: tuple[bool, ...], x: Variable, indices: list[Variable], names: Names) -> str:
    """``x[t0, :, y]``: the gather as NumPy indexing, trailing full slices left out."""
    arrays = iter(indices)
    items = [names[next(arrays)] if is_array else ":" for is_array in pattern]
    while items[-1] == ":":
        items.pop()
    return f"{names[x]}[{', '.join(items)}]"


def index_sources(indices: list[Variable], nb: int) -> list[list[tuple[Variable, int]]]:
    """For each dim k of the broadcast index shape, the (index, dim) pairs that give its length."""
    sources: list[list[tuple[Variable, int]]] = [[] for _ in range(nb)]
    for index in indices:
        for e, length in enumerate(index.type.shape):
            if length != 1:
                sources[nb - index.ndim + e].append((index, e))
    return sources


def index_checks(
    p: ModulePrinter, node: Apply, x: Variable, indices: list[Variable], value: Variable | None
) -> list[str]:
    """Every index within its dimension of ``x``; index arrays (and the value written) of agreeing shapes."""
    names = p.names
    what = advanced_text(node.op.pattern, x, indices, names)
    lines = []
    for d, index in checked_indices(node.op.pattern, x, indices):
        i, length = names[index], f"{names[x]}.shape[{d}]"
        if index.ndim == 0:
            condition, entry = f"not -{length} <= {i} < {length}", i
        else:
            condition = f"{i}.size and ({i}.min() < -{length} or {i}.max() >= {length})"
            entry = f"{i}.min() if {i}.min() < -{length} else {i}.max()"
        error = p.fail("index_out_of_bounds", repr(what), p.where(node), repr(i), Run(entry), str(d), Run(length))
        lines += [f"if {condition}:", "    " + error]
    return lines + index_shape_checks(p, node, x, indices, value)


def checked_indices(pattern: tuple[bool, ...], x: Variable, indices: list[Variable]) -> list[tuple[int, Variable]]:
    """(dim of ``x``, index) for each index whose range is checked when the function runs: all but
    the constants indexing a dimension of known length, which were checked when the graph was built."""
    positions = [d for d, is_array in enumerate(pattern) if is_array]
    return [
        (d, index)
        for d, index in zip(positions, indices)
        if not (isinstance(index, Constant) and x.type.shape[d] is not None)
    ]


def indexed_lengths(pattern: tuple[bool, ...], x: str, indices: list[Variable], names: Names) -> list[str]:
    """The lengths of ``x[index]`` (``x`` names an array of ``x``'s shape), as text: the broadcast
    index arrays' lengths and the sliced dims of ``x``, where NumPy places them."""
    nb = max(i.ndim for i in indices)
    sources = index_sources(indices, nb)
    return [
        f"{x}.shape[{k}]" if kind_ == "x"
        else f"{names[sources[k][0][0]]}.shape[{sources[k][0][1]}]" if sources[k] else "1"
        for kind_, k in result_dims(pattern, nb)
    ]  # fmt: skip


def index_shape_checks(
    p: ModulePrinter, node: Apply, x: Variable, indices: list[Variable], value: Variable | None
) -> list[str]:
    """A shape mismatch unless the index arrays (and the value written) have agreeing shapes."""
    names = p.names
    what = advanced_text(node.op.pattern, x, indices, names)
    sources = index_sources(indices, max(i.ndim for i in indices))
    conditions = [
        f"{names[first]}.shape[{e0}] != {names[v]}.shape[{e}]" for (first, e0), *others in filter(None, sources)
        for v, e in others
    ]  # fmt: skip
    if value is not None:  # right-aligned against the indexed region, as NumPy broadcasts
        lengths = indexed_lengths(node.op.pattern, names[x], indices, names)
        for q, expected in enumerate(lengths[len(lengths) - value.ndim :]):
            if value.type.shape[q] != 1:
                conditions.append(f"{names[value]}.shape[{q}] != {expected}")
    operands = [v for v in (x, *indices, value) if v is not None and v.ndim]
    return mismatch(p, conditions, what, node, operands)
