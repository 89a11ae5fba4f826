"""CPU lowering rules: each op that is not fused into a kernel, as driver lines of NumPy.

Matrix products call NumPy's ``np.dot`` (BLAS; transposed operands are passed as views), views are
NumPy views, and a scatter (the gradient of a gather, ``inc_subtensor`` with index arrays) is a
generated ``@njit`` loop that adds element by element: repeated indices add up as with
``np.add.at``, five times faster on a (4096, 10) matrix. See ``codegen.rules`` for the protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy

from symgrad.graph import Apply, Variable
from symgrad.ops.alloc import Alloc, ARange
from symgrad.ops.arrays import ArgSort, CumprodGrad, Cumulative, FlatNonzero, Unique
from symgrad.ops.blas import BatchedDot, Dot
from symgrad.ops.debug import Print, printed_attribute
from symgrad.ops.elemwise import Elemwise
from symgrad.ops.indexing import (
    AdvancedIncSubtensor,
    AdvancedSubtensor,
    AdvancedSubtensorGrad,
    IncSubtensor,
    result_dims,
)
from symgrad.ops.linalg import (
    LU,
    QR,
    SVD,
    Cholesky,
    Det,
    Eigh,
    Expm,
    Factorization,
    FactorPart,
    MatrixInverse,
    SLogDet,
    Solve,
    SolveTriangular,
    Triangle,
    TriangularProduct,
    part_index,
)
from symgrad.ops.random import RandomDraw
from symgrad.ops.reduce import Argmax, Reduce
from symgrad.ops.shape import (
    DimShuffle,
    Join,
    JoinPiece,
    Reshape,
    ReshapeAs,
    Shape,
    Size,
    SpecifyShape,
    Subtensor,
    SubtensorGrad,
    index_text,
)

from .checks import (
    advanced_text,
    alloc_checks,
    batched_dot_checks,
    dot_checks,
    index_checks,
    index_sources,
    join_checks,
    length_text,
    mismatch,
    reshape_checks,
    scalar_index_checks,
    specify_shape_lines,
)
from .names import np_dtype, shape_text
from .rules import RuleTable
from .runtime import RANDOM_KINDS

if TYPE_CHECKING:
    from .cpu import CpuModulePrinter

CPU_RULES = RuleTable("cpu")


def _scalar_indexed(node: Apply) -> bool:
    """A gather by scalar indices only (``x[s]``): NumPy indexes basically and returns a view."""
    return all(i.ndim == 0 for i in node.inputs[1:])


def _source(p: CpuModulePrinter, node: Apply) -> str:
    """The op's first input; a 0-d one as a 0-d array (kernels return 0-d results as Python scalars)."""
    var = node.inputs[0]
    name = p.names[var]
    return f"np.asarray({name}, dtype={np_dtype(var.dtype)})" if var.ndim == 0 else name


def _contiguous(p: CpuModulePrinter, node: Apply) -> str:
    """The op's first input, C-contiguous (Numba reshapes only those): a view of another array (a
    transpose, a slice) is copied first; inputs, kernels' results and fresh arrays already are."""
    var = node.inputs[0]
    owner = var.owner
    may_be_strided = owner is not None and (not p.rules.covers(type(owner.op)) or p.rules.rule(owner).is_view(owner))
    fused = owner is not None and isinstance(owner.op, (Elemwise, Reduce))
    return f"np.ascontiguousarray({p.names[var]})" if may_be_strided and not fused else _source(p, node)


def _float_product(node: Apply) -> bool:
    """Whether Numba can compute this matrix product (its ``np.dot`` takes floats and complex numbers only)."""
    return node.output.dtype in ("float32", "float64", "complex64", "complex128")


@CPU_RULES.register(Dot, compiled=_float_product)
def _dot(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    a, b = step.inputs
    product = "matrix_product" if p.compiled else "np.dot"  # see codegen/cpu_steps.py
    return dot_checks(p, step) + [f"{out} = {product}({p.names[a]}, {p.names[b]})"]


@CPU_RULES.register(BatchedDot)
def _batched_dot(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    a, b = (p.names[v] for v in step.inputs)
    return batched_dot_checks(p, step) + [f"{out} = batched_matrix_product({a}, {b})"]


@CPU_RULES.register(Print, view=True, compiled=False)
def _print(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    x = p.names[step.inputs[0]]
    return [*(f"print({step.op.message!r}, {attr!r}, '=', {printed_attribute(x, attr)})" for attr in step.op.attrs),
            f"{out} = {x}"]  # fmt: skip


@CPU_RULES.register(DimShuffle, view=True)
def _dimshuffle(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    """A view by indexing: ``0`` drops a broadcast dim, ``None`` adds one (as NumPy and Numba both do)."""
    op, source = step.op, step.inputs[0]
    text = p.names[source]
    if source.ndim == 0:  # a number made an array of ones' shape: nothing to view
        return [f"{out} = np.full({(1,) * len(op.new_order)}, {text}, dtype={np_dtype(source.dtype)})"]
    new_order = list(op.new_order)
    if "x" in new_order and all(d == "x" for d in new_order):
        # Every (length-1) dim dropped, then new ones: the last source dim stands for the last new
        # one, since indexing all of them away would leave a number, which Numba cannot index.
        new_order[len(new_order) - 1 - new_order[::-1].index("x")] = source.ndim - 1
    kept = [d for d in new_order if d != "x"]
    if len(kept) < source.ndim:
        text += _index_text(["0" if d not in kept else ":" for d in range(source.ndim)])
    order = [sorted(kept).index(d) for d in kept]
    if order != sorted(order):
        text = f"{text}.T" if order == [1, 0] else f"np.transpose({text}, {tuple(order)})"
    if "x" in new_order:
        text += _index_text(["None" if d == "x" else ":" for d in new_order])
    return [f"{out} = {text}"]


def _index_text(items: list[str]) -> str:
    """``[0, :, None]``, trailing full slices left out."""
    while items and items[-1] == ":":
        items.pop()
    return f"[{', '.join(items)}]"


@CPU_RULES.register(Subtensor, view=True)
def _subtensor(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    index = index_text(step.op.index, [p.names[v] for v in step.inputs[1:]])
    return scalar_index_checks(p, step) + [f"{out} = {_source(p, step)}{index}"]


@CPU_RULES.register(SubtensorGrad)
def _subtensor_grad(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    x, g, *scalars = step.inputs
    return scalar_index_checks(p, step) + _region_loop(p, step, out, x, g, scalars, adding=False)


def _region_loop(
    p: CpuModulePrinter, node: Apply, out: str, x: Variable, value: Variable, scalars: list[Variable], adding: bool
) -> list[str]:
    """The line calling ``put<k>``, a generated ``@njit`` loop returning zeros like ``x`` (for a
    SubtensorGrad) or a copy of ``x`` (an IncSubtensor) with ``value`` written or added at the basic
    index ``x[...]``, element by element. (``out[1:] = g`` in Numba is its generic slice assignment,
    which took 2 s to compile; this loop, inlined into the program, a few milliseconds.)"""
    op, names = node.op, p.names
    name = names.numbered("put")
    params = list({id(v): v for v in (x, value, *scalars)}.values())
    # 0-d operands arrive as Python or NumPy scalars, or as 0-d constant arrays: pass plain scalars.
    args = [f"{np_dtype(v.dtype)}({names[v]})" if v.ndim == 0 else names[v] for v in params]
    where = index_text(op.index, [names[v] for v in scalars])
    zeros = isinstance(op, SubtensorGrad)
    summary = f"zeros like {names[x]}" if zeros else f"a copy of {names[x]}"
    summary += f" with {names[value]} {'added' if adding else 'written'} at {names[x]}{where}"
    lines = [f"def {name}({', '.join(names[v] for v in params)}):", f'    """{summary}"""']
    lines.append(f"    out = np.zeros({names[x]}.shape, dtype={np_dtype(node.output.dtype)})" if zeros else
                 f"    out = {names[x]}.copy()")  # fmt: skip
    operator = "+=" if adding else "="
    region_ndim = x.ndim - sum(not isinstance(item, tuple) for item in op.index)
    if region_ndim == 0:
        lines.append(f"    out{where} {operator} {names[value]}")
    else:
        lines.append(f"    region = out{where}  # a view")
        indent = "    "
        for d in range(region_ndim):
            lines.append(f"{indent}for i{d} in range(region.shape[{d}]):")
            indent += "    "
        first = region_ndim - value.ndim  # value is right-aligned against the region, as NumPy broadcasts
        element = [("0" if n == 1 else f"i{first + q}") for q, n in enumerate(value.type.shape)]
        read = f"{names[value]}[{', '.join(element)}]" if value.ndim else names[value]
        lines.append(f"{indent}region[{', '.join(f'i{d}' for d in range(region_ndim))}] {operator} {read}")
    lines.append("    return out")
    p.kernels.append("@njit(**KERNEL_OPTIONS)\n" + "\n".join(lines))
    return [f"{out} = {name}({', '.join(args)})"]


@CPU_RULES.register(Reshape, view=True)
def _reshape(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    lengths = [length_text(p, e, step) for e in step.op.shape]
    return reshape_checks(p, step, lengths) + [f"{out} = np.reshape({_contiguous(p, step)}, {shape_text(lengths)})"]


@CPU_RULES.register(ReshapeAs, view=True)
def _reshape_as(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    return [f"{out} = np.reshape({_contiguous(p, step)}, np.shape({p.names[step.inputs[1]]}))"]


@CPU_RULES.register(Size)
def _size(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    x = p.names[step.inputs[0]]
    return [f"{out} = {' * '.join(f'{x}.shape[{a}]' for a in step.op.axes) or '1'}"]


CPU_RULES.register(SpecifyShape, view=True)(specify_shape_lines)


@CPU_RULES.register(JoinPiece, view=True)
def _join_piece(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    op, names = step.op, p.names
    lengths = [f"{names[t]}.shape[{op.axis}]" for t in step.inputs[1:]]
    start = " + ".join(lengths[: op.k])
    stop = " + ".join(lengths[: op.k + 1]) if op.k + 1 < len(lengths) else ""
    return [f"{out} = {_source(p, step)}[{':, ' * op.axis}{start}:{stop}]"]


@CPU_RULES.register(Shape)
def _shape(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    return [f"{out} = np.array(np.shape({p.names[step.inputs[0]]}), dtype=np.int64)"]


@CPU_RULES.register(Join)
def _join(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    pieces = ", ".join(p.names[t] for t in step.inputs)
    return join_checks(p, step) + [f"{out} = np.concatenate(({pieces}), axis={step.op.axis})"]


@CPU_RULES.register(ARange)
def _arange(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    start, stop, step_ = (p.names[v] for v in step.inputs)
    return [f"{out} = np.arange({start}, {stop}, {step_}, dtype={np_dtype(step.output.dtype)})"]


@CPU_RULES.register(Alloc)
def _alloc(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    targets = [length_text(p, e, step) for e in step.op.shape]
    dtype = np_dtype(step.output.dtype)
    value = step.inputs[0]
    if value.ndim:  # np.full takes only a number inside Numba
        fill = f"np.broadcast_to({p.names[value]}.astype({dtype}), {shape_text(targets)}).copy()"
    else:
        fill = f"np.full({shape_text(targets)}, {p.names[value]}, dtype={dtype})"
    return alloc_checks(p, step, targets) + [f"{out} = {fill}"]


# A draw of at least this many elements fills its pairs on threads (the same numbers either way):
# a normal costs about 3 ns of one core (1e6 in 4 ms), so below this waking the threads costs more
# than they save. (On 2 cores that other processes keep busy they cost more even above it; see
# benchmarks/random_draws.py's rows for the fill alone.)
RANDOM_THREADS_ABOVE = 1 << 20


@CPU_RULES.register(RandomDraw)
def _random_draw(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    op, state = step.op, p.names[step.inputs[0]]
    shape = shape_text([length_text(p, e, step) for e in op.shape])
    args = f"{out}.reshape({out}.size), {state}, {RANDOM_KINDS[op.distribution, op.dtype]}"
    return [
        f"{out} = np.empty({shape}, dtype={np_dtype(op.dtype)})",
        f"if {out}.size >= {RANDOM_THREADS_ABOVE}:  # random_{op.distribution}, see codegen/cpu_steps.py",
        f"    random_fill_parallel({args})",
        "else:",
        f"    random_fill({args})",
    ]


@CPU_RULES.register(Argmax)
def _argmax(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    x, op = p.names[step.inputs[0]], step.op
    axis = "" if op.axis is None else f", axis={op.axis}"
    # NumPy's own error ("argmax of an empty sequence") would not say of what.
    length = f"{x}.size" if op.axis is None else f"{x}.shape[{op.axis}]"
    what = f"{op.which}{axis.replace(',', ' over')} of {x}"
    check = [f"if {length} == 0:", "    " + p.fail("empty_array", repr(what), p.where(step))]
    return check + [f"{out} = np.{op.which}({x}{axis})"]


@CPU_RULES.register(AdvancedSubtensor, view=_scalar_indexed)
def _advanced_subtensor(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    x, *indices = step.inputs
    return index_checks(p, step, x, indices, None) + [f"{out} = {advanced_text(step.op.pattern, x, indices, p.names)}"]


@CPU_RULES.register(IncSubtensor)
def _inc_subtensor(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    names, (x, y, *scalars) = p.names, step.inputs
    where = index_text(step.op.index, [names[s] for s in scalars])
    offset = x.ndim - sum(not isinstance(i, tuple) for i in step.op.index) - y.ndim  # y is right-aligned
    conditions = [
        f"np.shape({names[y]})[{q}] != {names[x]}{where}.shape[{offset + q}]"
        for q, n in enumerate(y.type.shape)
        if n != 1
    ]
    checks = scalar_index_checks(p, step) + mismatch(p, conditions, str(step.op), step, [x, y])
    return checks + _region_loop(p, step, out, x, y, scalars, adding=step.op.mode == "inc")


@CPU_RULES.register(AdvancedSubtensorGrad, AdvancedIncSubtensor)
def _scatter(p: CpuModulePrinter, node: Apply, out: str) -> list[str]:
    """Driver lines (checks, then the call) for a scatter, and its ``@njit`` loop ``scatter<k>``.

    The loop runs over the broadcast index arrays (``j0, j1, ...``), turns their entries into positions
    ``i<d>`` in ``x`` (wrapping negative ones; the driver has checked the range), and over the sliced
    dims of ``x`` (``i<d>`` too), adding or writing the value element by element: a repeated index
    adds up, as with ``np.add.at``, at the speed of a compiled loop.
    """
    op, names = node.op, p.names
    name = names.numbered("scatter")
    x, value, *indices = node.inputs
    params = list({id(v): v for v in (x, value, *indices)}.values())
    # 0-d operands arrive as Python or NumPy scalars, or as 0-d constant arrays: pass plain scalars.
    args = [f"{np_dtype(v.dtype)}({names[v]})" if v.ndim == 0 else names[v] for v in params]
    driver = index_checks(p, node, x, indices, value) + [f"{out} = {name}({', '.join(args)})"]

    nb = max(i.ndim for i in indices)
    sources = index_sources(indices, nb)
    adding = isinstance(op, AdvancedSubtensorGrad) or op.mode == "inc"
    place = advanced_text(op.pattern, x, indices, names)
    summary = f"zeros like {names[x]}" if isinstance(op, AdvancedSubtensorGrad) else f"a copy of {names[x]}"
    action = (
        f"with {names[value]} added at {place} (repeated indices add up)"
        if adding
        else (f"with {names[value]} written to {place} (the last of repeated indices wins)")
    )
    lines = [f"def {name}({', '.join(names[v] for v in params)}):", f'    """{summary} {action}"""']
    if isinstance(op, AdvancedSubtensorGrad):
        lines.append(f"    out = np.zeros({names[x]}.shape, dtype={np_dtype(node.output.dtype)})")
    else:
        lines.append(f"    out = {names[x]}.copy()")
    lines += [f"    n{d} = {names[x]}.shape[{d}]" for d in range(x.ndim)]
    indent = "    "
    for k in range(nb):
        length = f"{names[sources[k][0][0]]}.shape[{sources[k][0][1]}]" if sources[k] else "1"
        lines.append(f"{indent}for j{k} in range({length}):")
        indent += "    "
    positions = [d for d, is_array in enumerate(op.pattern) if is_array]
    for d, index in zip(positions, indices):
        where = ", ".join("0" if n == 1 else f"j{nb - index.ndim + e}" for e, n in enumerate(index.type.shape))
        entry = f"{names[index]}[{where}]" if index.ndim else names[index]
        lines += [f"{indent}i{d} = int({entry})", f"{indent}if i{d} < 0:", f"{indent}    i{d} += n{d}"]
    for d in range(x.ndim):
        if not op.pattern[d]:
            lines.append(f"{indent}for i{d} in range(n{d}):")
            indent += "    "
    dims = result_dims(op.pattern, nb)
    value_index = [
        "0" if n == 1 else (f"j{k}" if kind_ == "b" else f"i{k}")
        for n, (kind_, k) in zip(value.type.shape, dims[len(dims) - value.ndim :])
    ]
    element = f"{names[value]}[{', '.join(value_index)}]" if value.ndim else names[value]
    target = f"out[{', '.join(f'i{d}' for d in range(x.ndim))}]"
    lines.append(f"{indent}{target} {'+=' if adding else '='} {element}")
    lines.append("    return out")
    p.kernels.append("@njit(**KERNEL_OPTIONS)\n" + "\n".join(lines))
    return driver


# ------------------------------------------------------------------------------------------------
# Cumulative sums and products (issue 16)


def _line_kernel(p: CpuModulePrinter, node: Apply, out: str, name: str, body: list[str]) -> list[str]:
    """The line calling ``<name>``, a generated ``@njit`` loop over the lines along the op's axis, its
    operands seen as (before, along, after) arrays ``x`` (and ``g``); ``body`` computes ``out[a, :, c]``
    from line ``a, c`` (of length ``n``). Numba's ``np.cumsum`` and ``np.argsort`` take no axis."""
    names, axis, x = p.names, node.op.axis, node.inputs[0]
    lengths = [f"{names[x]}.shape[{d}]" for d in range(x.ndim)]
    shape3 = shape_text(["*".join(lengths[:axis]) or "1", lengths[axis], "*".join(lengths[axis + 1 :]) or "1"])
    # A vector is viewed as (1, n, 1) whatever its strides (a gradient's reversed w[::-1]: no copy);
    # other arrays are merged into three dimensions by a reshape, which needs them contiguous.
    args = ", ".join(
        f"{names[v]}[None, :, None]" if v.ndim == 1 else f"np.ascontiguousarray({names[v]}).reshape({shape3})"
        for v in node.inputs
    )
    lines = [
        f"def {name}({', '.join('xg'[: len(node.inputs)])}):",
        f'    """{node.op} of {names[x]}, along the middle axis of (before, along, after) arrays."""',
        f"    out = np.empty(x.shape, dtype={np_dtype(node.output.dtype)})",
        "    n = x.shape[1]",
        "    for a in range(x.shape[0]):",
        "        for c in range(x.shape[2]):",
        *("            " + line for line in body),
        "    return out",
    ]
    p.kernels.append("@njit(**KERNEL_OPTIONS)\n" + "\n".join(lines))
    return [f"{out} = {name}({args}).reshape(np.shape({names[x]}))"]


@CPU_RULES.register(Cumulative)
def _cumulative(p: CpuModulePrinter, node: Apply, out: str) -> list[str]:
    dtype, mode = np_dtype(node.output.dtype), node.op.mode
    body = [
        f"acc = {dtype}({int(mode == 'prod')})",
        "for b in range(n):",
        f"    acc = acc {'+' if mode == 'sum' else '*'} x[a, b, c]",
        "    out[a, b, c] = acc",
    ]
    return _line_kernel(p, node, out, p.names.numbered(f"cum{mode}"), body)


@CPU_RULES.register(CumprodGrad)
def _cumprod_grad(p: CpuModulePrinter, node: Apply, out: str) -> list[str]:
    dtype = np_dtype(node.output.dtype)
    body = [  # see symgrad/ops/arrays.py: out[k] = P[k-1] * R[k], R[k] = g[k] + x[k+1] R[k+1]
        f"after = {dtype}(0)",
        "for b in range(n - 1, -1, -1):",
        f"    after = g[a, b, c] + (x[a, b + 1, c] * after if b + 1 < n else {dtype}(0))",
        "    out[a, b, c] = after",
        f"before = {dtype}(1)",
        "for b in range(n):",
        "    out[a, b, c] *= before",
        "    before *= x[a, b, c]",
    ]
    return _line_kernel(p, node, out, p.names.numbered("cumprod_grad"), body)


@CPU_RULES.register(ArgSort)
def _argsort(p: CpuModulePrinter, node: Apply, out: str) -> list[str]:
    body = [
        'order = np.argsort(x[a, :, c].copy(), kind="mergesort")  # stable, as the reference',
        "for b in range(n):",
        "    out[a, b, c] = order[b]",
    ]
    return _line_kernel(p, node, out, p.names.numbered("argsort"), body)


@CPU_RULES.register(Unique)
def _unique(p: CpuModulePrinter, node: Apply, out: str) -> list[str]:
    return [f"{out} = np.unique({p.names[node.inputs[0]]})"]


@CPU_RULES.register(FlatNonzero)
def _flatnonzero(p: CpuModulePrinter, node: Apply, out: str) -> list[str]:
    return [f"{out} = np.flatnonzero({p.names[node.inputs[0]]}).astype(np.int64)"]


def _linalg_checks(p: CpuModulePrinter, step: Apply) -> list[str]:
    """A square matrix first (unless its type says so, or the op takes any: ``square = False``),
    a right-hand side with as many rows, and, for stacks, the same leading lengths."""
    a, *rest = step.inputs
    name = p.names[a]
    n, m = a.type.shape[-2:]
    square = getattr(step.op, "square", True) and not (n is not None and n == m)
    conditions = [f"{name}.shape[-2] != {name}.shape[-1]"] if square else []
    if rest and (n is None or rest[0].type.shape[a.ndim - 2] is None):
        conditions.append(f"{name}.shape[-2] != {p.names[rest[0]]}.shape[{a.ndim - 2}]")
    if rest and a.ndim > 2:
        conditions.append(f"{name}.shape[:-2] != {p.names[rest[0]]}.shape[:-2]")
    what = f"{step.op} (which needs a square matrix)" if getattr(step.op, "square", True) else str(step.op)
    return mismatch(p, conditions, what, step, list(step.inputs))


def _per_matrix(p: CpuModulePrinter, step: Apply, out: str, call: str) -> list[str]:
    """``out = call`` for matrices; for stacks, a loop calling it on each matrix (``{}`` in ``call``
    stands for each operand's name, indexed by the loop's leading index), into ``out`` of the
    shape the op's type gives."""
    a = step.inputs[0]
    if a.ndim == 2:
        return [f"{out} = {call.format(*(p.names[v] for v in step.inputs))}"]
    index = p.names.numbered("matrix")
    lengths = [f"{p.names[a]}.shape[{d}]" for d in range(a.ndim - 2)]
    shape = lengths + [_core_length(p, step, d) for d in range(a.ndim - 2, step.output.ndim)]
    return [
        f"{out} = np.empty({shape_text(shape)}, dtype={np_dtype(step.output.dtype)})",
        f"for {index} in np.ndindex({p.names[a]}.shape[:-2]):",
        f"    {out}[{index}] = {call.format(*(f'{p.names[v]}[{index}]' for v in step.inputs))}",
    ]


def _core_length(p: CpuModulePrinter, step: Apply, d: int) -> str:
    """The text of the output's length ``d`` past the leading axes: from the type where it is
    known, else the operand's length it is (a row count ``k = min(m, n)`` for QR, SVD and LU)."""
    known = step.output.type.shape[d]
    if known is not None:
        return str(known)
    a, *rest = (p.names[v] for v in step.inputs)
    nd = step.inputs[0].ndim
    if rest:  # a solve: b's shape, with a's column count for its rows
        return f"{a}.shape[-1]" if d == nd - 2 else f"{rest[0]}.shape[{d}]"
    if isinstance(step.op, Factorization):
        m, n = sympy.Symbol(f"{a}.shape[-2]"), sympy.Symbol(f"{a}.shape[-1]")
        return str(step.op.packed_shape(m, n, sympy.Symbol(f"min({m}, {n})"))[d - (nd - 2)])
    if isinstance(step.op, (QR, SVD, LU)):
        k = f"min({a}.shape[-2], {a}.shape[-1])"
        m, n = f"{a}.shape[-2]", f"{a}.shape[-1]"
        full = getattr(step.op, "full", False)
        lengths = {"q": (m, k), "r": (k, n), "u": (m, m if full else k), "s": (k,), "vt": (n if full else k, n)}
        if isinstance(step.op, LU):
            lengths = {"p": (m, m), "l": (m, k), "u": (k, n)}
        return lengths[step.op.part][d - (nd - 2)]
    return f"{a}.shape[{d}]"  # the input's own shape, or its leading part (eigenvalues: n)


# One LAPACK-backed function of codegen/cpu_steps.py each (compiled once per machine).
_LINALG_STEPS = {
    Cholesky: "linalg_cholesky",
    Solve: "linalg_solve",
    MatrixInverse: "linalg_inv",
    Det: "linalg_det",
    Expm: "linalg_expm",
}


@CPU_RULES.register(*_LINALG_STEPS)
def _linalg(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    call = f"{_LINALG_STEPS[type(step.op)]}({', '.join(['{}'] * len(step.inputs))})"
    return _linalg_checks(p, step) + _per_matrix(p, step, out, call)


# The ops that are one result of a function returning several: which function, which result.
_LINALG_PARTS = {
    SLogDet: ("linalg_slogdet", ("sign", "logabsdet")),
    Eigh: ("linalg_eigh", ("w", "v")),
    QR: ("linalg_qr", ("q", "r")),
    SVD: ("linalg_svd", ("u", "s", "vt")),
    LU: ("linalg_lu", ("p", "l", "u")),
}


@CPU_RULES.register(*_LINALG_PARTS)
def _linalg_part(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    function, parts = _LINALG_PARTS[type(step.op)]
    function += "_full" if getattr(step.op, "full", False) else ""  # svd's full_matrices=True
    return _linalg_checks(p, step) + _per_matrix(p, step, out, f"{function}({{}})[{parts.index(step.op.part)}]")


@CPU_RULES.register(Factorization)
def _factorization(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    return _linalg_checks(p, step) + _per_matrix(p, step, out, f"linalg_{step.op.kind}_packed({{}})")


@CPU_RULES.register(FactorPart, view=True)
def _factor_part(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    """A view of the packed array, at :func:`part_index` (printed with the operand's lengths)."""
    packed, a = (p.names[v] for v in step.inputs)
    m, k = sympy.Symbol(f"{a}.shape[-2]"), sympy.Symbol(f"min({a}.shape[-2], {a}.shape[-1])")
    index = [_index_item(i) for i in part_index(step.op.op.part, m, k)]
    return [f"{out} = {packed}[{', '.join([':'] * (step.inputs[1].ndim - 2) + index)}]"]


def _index_item(item) -> str:
    """A basic index's item as Python source: ``0``, ``:m``, ``m + 1:``."""
    if isinstance(item, slice):
        return f"{'' if item.start is None else item.start}:{'' if item.stop is None else item.stop}"
    return str(item)


@CPU_RULES.register(SolveTriangular, TriangularProduct)
def _triangular(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    op, (a, b) = step.op, step.inputs
    vector = b.ndim == 1  # the BLAS call takes a matrix
    rhs = "{}[:, None]" if vector else "{}"
    solve, unit = isinstance(op, SolveTriangular), getattr(op, "unit_diagonal", False)
    # b a transposed view: copied as b^T, along its rows (a solve of S^T, between the Cholesky gradient's two)
    if a.ndim == 2 and b.owner is not None and isinstance(b.owner.op, DimShuffle) and b.owner.op.new_order == (1, 0):
        call = f"linalg_triangular_transposed({{}}, {{}}, {op.lower}, {op.trans}, {unit}, {solve})"
    elif solve:
        call = f"linalg_solve_triangular({{}}, {rhs}, {op.lower}, {op.trans}, {op.unit_diagonal})"
    else:
        call = f"linalg_triangular_product({{}}, {rhs}, {op.lower}, {op.trans})"
    return _linalg_checks(p, step) + _per_matrix(p, step, out, call + (".ravel()" if vector else ""))


@CPU_RULES.register(Triangle)
def _triangle(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
    op = step.op
    x = p.names[step.inputs[0]]
    return _linalg_checks(p, step) + [
        f"{out} = linalg_triangle({x}, {op.lower}, {op.k}, {op.diagonal!r}, {op.plus_transpose})"
    ]
