"""CPU code generation: a :class:`~codegen.lower.Program` printed as one Python module.

The module holds one ``@njit`` function per kernel (plus a ``prange`` twin for kernels worth
running on several threads) and ``make_entry``, which returns the compiled function: plain Python
that tests its arguments inline, checks shapes, calls the kernels and NumPy's BLAS-backed
``np.dot`` in order, and returns the outputs. Matrix products stay outside the kernels because,
measured here, small kernels around NumPy's GEMM compile in less than half the time
of one kernel calling ``np.dot`` inside Numba, load faster from the disk cache, and run as fast.

Names in the module are the user's variable names where they exist, so ``print(f.source)`` reads
like the math that was written.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from collections.abc import Sequence

import numpy as np
import sympy

from symgrad.graph import Apply, Constant, Variable, toposort
from symgrad.ops.alloc import Alloc, ARange
from symgrad.ops.blas import Dot
from symgrad.ops.elemwise import as_condition, floor_div, mod
from symgrad.ops.indexing import (
    AdvancedIncSubtensor,
    AdvancedSubtensor,
    AdvancedSubtensorGrad,
    IncSubtensor,
    result_dims,
)
from symgrad.ops.reduce import Argmax, reduce_dtype
from symgrad.ops.shape import (
    SYMBOLIC,
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
from symgrad.printing import MathTextPrinter, pp
from symgrad.types import kind

from .lower import Branch, Kernel, Leaf, Loop, Program, Result, Step, constants_of
from .scalar_printer import CUDA_FUNCTIONS, RUNTIME_FUNCTIONS, NumbaPrinter

# Not 'nnan'/'ninf': isnan/isinf must keep working. Not 'arcp': with it LLVM computes a/sqrt(x) in
# float32 as a*rsqrt(x) refined by a Newton step, which gives nan at x = 0 where NumPy gives inf.
FASTMATH = "{'reassoc', 'contract', 'nsz'}"
# Names the generated code itself uses; a user variable called one of these gets a suffix.
_RESERVED = re.compile(
    r"^(i\d+|j\d+|n\d+|e\d+|s\d+|r\d+|k\d+_.*|scatter\d+|[A-Z]+_[A-Z0-9_]+|PARAMETERS|out\d*|acc\d*|candidate|result|np"
    r"|njit|prange|math|shape_mismatch|index_error|index_out_of_bounds|out_of_memory|err|chunks?|partial\d+|MISSING"
    r"|cuda|rt|flat|kept|part|block|thread|threads|stride|splits|blocks|shared\d+"  # CUDA modules' own names
    r"|gather\d+|scatter\d+_last|status|failed|winners|position)$"
)
_RESERVED_WORDS = set(dir(math)) | set(dir(builtins)) | set(RUNTIME_FUNCTIONS) | set(CUDA_FUNCTIONS)
_VIEW_OPS = (DimShuffle, Subtensor, Reshape, ReshapeAs, SpecifyShape, JoinPiece)
# Ops printed as a generated Numba loop of their own (a scatter) plus a call in the driver.
SCATTER_OPS = (AdvancedSubtensorGrad, AdvancedIncSubtensor)


class Names:
    """Readable, unique Python identifiers for the program's variables."""

    def __init__(self) -> None:
        self.by_var: dict[int, str] = {}
        self.taken: set[str] = set()
        self.counter = 0

    def add(self, var: Variable, prefix: str = "t", preferred: str | None = None) -> str:
        if id(var) in self.by_var:
            return self.by_var[id(var)]
        name = self.fresh(preferred or var.name or "", prefix)
        self.by_var[id(var)] = name
        return name

    def numbered(self, prefix: str) -> str:
        """``prefix`` with the smallest number not yet taken: ``scatter0``, ``scatter1``, ..."""
        k = 0
        while f"{prefix}{k}" in self.taken:
            k += 1
        self.taken.add(f"{prefix}{k}")
        return f"{prefix}{k}"

    def fresh(self, wanted: str, prefix: str = "t") -> str:
        """An unused identifier close to ``wanted`` (or ``prefix`` and a number)."""
        base = re.sub(r"\W", "_", wanted)
        if base and (base[0].isdigit() or keyword.iskeyword(base) or _RESERVED.match(base) or base in _RESERVED_WORDS):
            base = base + "_"
        name = base
        while not name or name in self.taken:
            if base:
                self.counter += 1
                name = f"{base}_{self.counter}"
            else:
                name = f"{prefix}{self.counter}"
                self.counter += 1
        self.taken.add(name)
        return name

    def __getitem__(self, var: Variable) -> str:
        return self.by_var[id(var)]

    def alias(self, var: Variable, same: Variable) -> None:
        """Give ``var`` the name of ``same``: a loop body's placeholder reads the outer value."""
        self.by_var[id(var)] = self[same]


def np_dtype(dtype: str) -> str:
    return "np.bool_" if dtype == "bool" else f"np.{dtype}"


# ------------------------------------------------------------------------------------------------
# Kernels


def _identity(reduction: str, dtype: str) -> str:
    if reduction == "sum":
        return "0.0" if kind(dtype) == "f" else "0"
    if reduction == "prod":
        return "1.0" if kind(dtype) == "f" else "1"
    if kind(dtype) == "f":
        infinity = "-np.inf" if reduction == "max" else "np.inf"
        return f"np.float32({infinity})" if dtype == "float32" else infinity  # or the max is a double
    if dtype == "bool":
        return "False" if reduction == "max" else "True"
    info = np.iinfo(dtype)
    return str(info.min if reduction == "max" else info.max)


def _accumulate(reduction: str, target: str, value: str) -> list[str]:
    if reduction == "sum":
        return [f"{target} += {value}"]
    if reduction == "prod":
        return [f"{target} *= {value}"]
    better = ">" if reduction == "max" else "<"
    # candidate != candidate is true only for nan, which must win (propagate) as in NumPy.
    return [f"candidate = {value}", f"if candidate {better} {target} or candidate != candidate:",
            f"    {target} = candidate"]  # fmt: skip


def _acc_dtype(r: Result) -> str:
    dtype = reduce_dtype(r.reduction, r.node.inputs[0].dtype)
    # float32 sums and products accumulate in float64: more accurate than NumPy's, and as fast.
    return "float64" if r.reduction in ("sum", "prod") and kind(dtype) == "f" else dtype


# Leaf dtypes that would turn float32 arithmetic into double arithmetic in Numba (int8, int16 and
# bool do not: Numba promotes them with float32 to float32, as NumPy does).
_WIDENING = ("float64", "int32", "int64", "uint32", "uint64")


def _in_float32(k: Kernel) -> bool:
    """Whether ``k`` computes float32 values (and perhaps booleans), and so must print its numbers
    typed and read wider leaves as float32: nothing in it should compute in double."""
    dtypes = {r.var.dtype for r in k.results}
    return "float32" in dtypes and dtypes <= {"float32", "bool"}


def _exactly_compared(k: Kernel) -> set[sympy.Symbol]:
    """Symbols that a comparison, a floor division or a modulo reads (directly or through a local):
    their leaves keep their own dtype, so that comparing int64 values stays exact."""
    exact: set[sympy.Symbol] = set()
    for expr in [e for _, e in k.bindings] + [r.expr for r in k.results]:
        for atom in expr.atoms(sympy.core.relational.Relational, floor_div, mod):
            exact |= atom.free_symbols
    for local, expr in reversed(k.bindings):
        if local in exact:
            exact |= expr.free_symbols
    return exact


def leaf_index(leaf: Leaf) -> str:
    """How a kernel indexes a leaf array at the current point: ``i0, 0, i2`` (0 for a broadcast dim)."""
    return ", ".join("0" if i is None else f"i{i}" for i in leaf.index)


def kernel_body(
    k: Kernel, access: dict[sympy.Symbol, str], printer: NumbaPrinter, names: Names
) -> tuple[list[str], list[str]]:
    """The statements computing one point of ``k``'s loop nest, and the text of each result's value
    there; ``access`` is how each leaf is read (``x[i0, i1]``). Shared by the CPU and CUDA printers."""
    reads = {symbol: sympy.Symbol(text, real=True) for symbol, text in access.items()}
    # Common subexpressions become locals e0, e1, ...; bindings (s0, ...) come first, in order,
    # then the results, sharing their common parts. A binding holding a named variable's value
    # takes that name.
    for local, var in k.bound.items():
        if var.name:
            reads[local] = sympy.Symbol(names.add(var), real=True)
    bindings = [(local, expr.xreplace(reads)) for local, expr in k.bindings]
    results = [r.expr.xreplace(reads) for r in k.results]
    # A later expression that repeats a binding's whole value reads the binding instead.
    for j, (local, expr) in enumerate(bindings):
        later = {expr: local}
        bindings[j + 1 :] = [(other, e.xreplace(later)) for other, e in bindings[j + 1 :]]
        results = [e.xreplace(later) for e in results]
    # One cse over everything, so that bindings and results share their common parts; each
    # temporary is written just before the first statement that needs it.
    temporaries, values = sympy.cse([e for _, e in bindings] + results, symbols=sympy.numbered_symbols("e"))
    pending = dict(temporaries)
    body: list[str] = []

    def write_needed(expr: sympy.Expr) -> None:
        for symbol in sorted(expr.free_symbols & pending.keys(), key=lambda s: int(s.name[1:])):
            if symbol in pending:
                value = pending.pop(symbol)
                write_needed(value)
                body.append(f"{printer.doprint(symbol)} = {printer.doprint(value)}")

    for (local, _), value in zip(bindings, values):
        write_needed(value)
        body.append(f"{printer.doprint(reads.get(local, local))} = {printer.doprint(value)}")
    values = values[len(bindings) :]
    for value in values:
        write_needed(value)
    # A boolean result is stored as its condition (a 0/1 number would be converted on each store).
    texts = [
        printer.doprint(as_condition(v) if r.var.dtype == "bool" and r.reduction is None else v)
        for r, v in zip(k.results, values)
    ]
    return body, texts


def emit_kernel(k: Kernel, names: Names, printer: NumbaPrinter, parallel: bool) -> str:
    """One ``@njit`` function: the loop nest, computing every result of ``k`` in one pass.

    A kernel of float32 results computes in float32 (see ``_in_float32``), except that sums and
    products accumulate in float64, for accuracy, before the result is rounded to float32.
    """
    printer.float32 = _in_float32(k)
    try:
        return _emit_kernel(k, names, printer, parallel)
    finally:
        printer.float32 = False


def _emit_kernel(k: Kernel, names: Names, printer: NumbaPrinter, parallel: bool) -> str:
    exact = _exactly_compared(k) if printer.float32 else set()
    access = {}
    for leaf in k.leaves:
        text = names[leaf.var] if leaf.var.ndim == 0 else f"{names[leaf.var]}[{leaf_index(leaf)}]"
        # A wider leaf is read as float32, as the graph's cast to float32 did before fusion; so is
        # every 0-d leaf: kernels return 0-d results as Python numbers, which Numba types as doubles.
        widening = leaf.var.dtype in _WIDENING or (leaf.var.ndim == 0 and leaf.var.dtype != "bool")
        if printer.float32 and widening and leaf.symbol not in exact:
            text = f"np.float32({text})"
        access[leaf.symbol] = text
    body, values = kernel_body(k, access, printer, names)

    lines = [f"def {k.name}{'_parallel' if parallel else ''}({', '.join(names[v] for v in k.params)}):"]
    lines.append(f'    """{describe(k, names)}"""')
    for dim in range(k.ndim):
        sources = k.dim_sources(dim)
        length = f"{names[sources[0][0]]}.shape[{sources[0][1]}]" if sources else "1"
        lines.append(f"    n{dim} = {length}")
    axes = k.axes
    kept = [d for d in range(k.ndim) if d not in axes]
    shape = _shape_text([f"n{d}" for d in range(k.ndim)])
    kept_shape = _shape_text([f"n{d}" for d in kept])
    full_index = ", ".join(f"i{d}" for d in range(k.ndim))
    kept_index = ", ".join(f"i{d}" for d in kept)
    if any(r.reduction in ("max", "min") for r in k.results):
        count = " * ".join(f"n{d}" for d in axes)
        message = f"cannot take {describe(k, names)}{_where(k.results[0].node)}: the axes it reduces are empty"
        lines += [f"    if {count} == 0:", f"        raise ValueError({message!r})"]
    returns, stores, finals, inits = [], [], [], []
    if any(r.target is not None for r in k.results):
        # A result written over one of its own inputs: compute every value of this iteration
        # before the first store, so no expression reads an element already overwritten.
        body += [f"r{j} = {value}" for j, value in enumerate(values)]
        values = [f"r{j}" for j in range(len(values))]
    for j, (r, value) in enumerate(zip(k.results, values)):
        dtype = np_dtype(r.var.dtype)
        if r.target is not None:
            stores.append(f"{names[r.target]}[{full_index}] = {value}")
            continue
        if r.reduction is None:
            if k.ndim:
                lines.append(f"    out{j} = np.empty({shape}, dtype={dtype})")
                stores.append(f"out{j}[{full_index}] = {value}")
                returns.append(f"out{j}")
            else:
                returns.append(f"{dtype}({value})")
            continue
        acc_dtype = _acc_dtype(r)
        identity = _identity(r.reduction, acc_dtype)
        if not k.reduces_suffix:  # a single reduction over outer axes: accumulate in place
            lines.append(f"    acc{j} = np.full({kept_shape}, {identity}, dtype={np_dtype(acc_dtype)})")
            stores += _accumulate(r.reduction, f"acc{j}[{kept_index}]", value)
            returns.append(f"acc{j}" if acc_dtype == r.var.dtype else f"acc{j}.astype({dtype})")
            continue
        inits.append(f"acc{j} = {identity}")
        stores += _accumulate(r.reduction, f"acc{j}", value)
        if kept:
            lines.append(f"    out{j} = np.empty({kept_shape}, dtype={dtype})")
            finals.append(f"out{j}[{kept_index}] = acc{j}")
            returns.append(f"out{j}")
        else:
            returns.append(f"{dtype}(acc{j})")
    if parallel and 0 in axes:
        lines += _chunked_reduction(k, inits, body + stores)
    else:
        indent = "    "
        for dim in range(k.ndim):
            if k.reduces_suffix and dim == len(kept):
                lines += [indent + line for line in inits]
            loop = "prange" if parallel and dim == 0 else "range"
            lines.append(f"{indent}for i{dim} in {loop}(n{dim}):")
            indent += "    "
        if k.reduces_suffix and len(kept) == k.ndim:
            lines += [indent + line for line in inits]
        lines += [indent + line for line in body + stores]
        lines += ["    " * (len(kept) + 1) + line for line in finals]
    if returns:
        lines.append(f"    return {', '.join(returns)}")
    options = "PARALLEL_OPTIONS" if parallel else "KERNEL_OPTIONS"
    return f"@njit(**{options})\n" + "\n".join(lines)


def _threshold_name(k: Kernel) -> str:
    """The module constant holding the element count above which ``k`` runs on several threads."""
    return f"{k.name.upper()}_PARALLEL_ABOVE"


def _chunked_reduction(k: Kernel, inits: list[str], body: list[str]) -> list[str]:
    """The loops of a parallel reduction over every axis, deterministic by construction.

    The outer loop is cut into ``REDUCTION_CHUNKS`` fixed ranges; each thread reduces whole
    ranges into partial results, which are then combined in order. The additions happen in the
    same order whatever the number of threads, so the result is the same from run to run (a
    plain ``prange`` reduction combines partial results in whatever order threads finish).
    """
    reduced = [(j, r) for j, r in enumerate(k.results) if r.reduction]
    lines = ["    chunks = min(n0, REDUCTION_CHUNKS)"]
    lines += [f"    partial{j} = np.empty(chunks, dtype={np_dtype(_acc_dtype(r))})" for j, r in reduced]
    lines += ["    for chunk in prange(chunks):"]
    lines += ["        " + line for line in inits]
    lines.append("        for i0 in range(chunk * n0 // chunks, (chunk + 1) * n0 // chunks):")
    indent = "            "
    for dim in range(1, k.ndim):
        lines.append(f"{indent}for i{dim} in range(n{dim}):")
        indent += "    "
    lines += [indent + line for line in body]
    lines += [f"        partial{j}[chunk] = acc{j}" for j, _ in reduced]
    lines += ["    " + line for line in inits]
    lines.append("    for chunk in range(chunks):  # in order")
    for j, r in reduced:
        lines += ["        " + line for line in _accumulate(r.reduction, f"acc{j}", f"partial{j}[chunk]")]
    return lines


def _shape_text(dims: list[str]) -> str:
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def describe(k: Kernel, names: Names) -> str:
    """The kernel's math in one line, with the driver's variable names: its docstring."""
    rename = {}
    for leaf in k.leaves:
        loop_dims = [i for i in leaf.index if i is not None]
        plain = loop_dims == sorted(loop_dims) and None not in leaf.index
        rename[leaf.symbol] = sympy.Symbol(names[leaf.var] if plain else f"{names[leaf.var]}{list(leaf.index)}")

    printer = MathTextPrinter()  # pp's notation: switch(x > 0, x, 0), not Piecewise((x, x > 0), (0, True))

    for local, var in k.bound.items():
        if var.name:
            rename[local] = sympy.Symbol(names.add(var))

    def short(expr: sympy.Expr) -> str:
        text = printer.doprint(expr.xreplace(rename))
        return text if len(text) <= 80 else text[:77] + "..."

    # Bindings that results read: values computed once and shared (not every absorbed producer).
    shown = set().union(*(r.expr.free_symbols for r in k.results))
    parts = [f"{local} = {short(expr)}" for local, expr in k.bindings if local in shown]
    for r in k.results:
        formula = short(r.expr)
        if r.target is not None:
            formula = f"{names[r.target]} <- {formula} (in place)"
        parts.append(f"{r.reduction} over axes {r.axes} of {formula}" if r.reduction else formula)
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------------
# Driver steps


def _view(node: Apply, names: Names) -> str:
    op, x = node.op, names[node.inputs[0]]
    if node.inputs[0].ndim == 0:  # kernels return 0-d results as Python scalars: restore the dtype
        x = f"np.asarray({x}, dtype={np_dtype(node.inputs[0].dtype)})"
    if isinstance(op, DimShuffle):
        source = node.inputs[0]
        kept = [d for d in op.new_order if d != "x"]
        dropped = [d for d in range(source.ndim) if d not in kept]
        text = x
        if dropped:
            text = f"np.squeeze({text}, axis={tuple(dropped)})"
        order = [sorted(kept).index(d) for d in kept]
        if order != sorted(order):
            text = f"{text}.T" if order == [1, 0] else f"np.transpose({text}, {tuple(order)})"
        if "x" in op.new_order:
            text = f"np.reshape({text}, {_shape_tuple(node.output, names, op)})"
        return text
    if isinstance(op, Subtensor):
        return f"{x}{index_text(op.index, [names[v] for v in node.inputs[1:]])}"
    if isinstance(op, Reshape):
        return f"np.reshape({x}, {_shape_text([_length_text(e, node, names) for e in op.shape])})"
    if isinstance(op, ReshapeAs):
        return f"np.reshape({x}, np.shape({names[node.inputs[1]]}))"
    if isinstance(op, Size):
        return " * ".join(f"{x}.shape[{a}]" for a in op.axes) or "1"
    if isinstance(op, SpecifyShape):
        return x  # checked by the lines before it
    if isinstance(op, JoinPiece):
        lengths = [f"{names[t]}.shape[{op.axis}]" for t in node.inputs[1:]]
        start = " + ".join(lengths[: op.k])
        stop = " + ".join(lengths[: op.k + 1]) if op.k + 1 < len(lengths) else ""
        return f"{x}[{':, ' * op.axis}{start}:{stop}]"
    raise TypeError(f"no CPU lowering for {op}")


def _length_text(entry: int | tuple, node: Apply, names: Names) -> str:
    """A shape entry of a Reshape, Alloc or SpecifyShape: an int, ``('dim', k)`` of the first input,
    or ``('arg', j)``, the scalar input after it."""
    if isinstance(entry, tuple):
        kind_, k = entry
        return f"{names[node.inputs[0]]}.shape[{k}]" if kind_ == "dim" else names[node.inputs[1 + k]]
    return str(entry)


def _shape_tuple(out: Variable, names: Names, op: DimShuffle) -> str:
    source = names[out.owner.inputs[0]]
    dims = ["1" if d == "x" else f"np.shape({source})[{d}]" for d in op.new_order]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _where(node: Apply) -> str:
    return f" (built at {node.trace})" if node.trace else ""


def _scalar_index_checks(node: Apply, names: Names) -> list[str]:
    """Bounds checks for the symbolic integer entries of an index (``x[i]``), so that an index out
    of range names the indexed variable and the line that built the node."""
    x = names[node.inputs[0]]
    scalars = iter(node.inputs[2 if isinstance(node.op, SubtensorGrad) else 1 :])
    lines = []
    for dim, item in enumerate(node.op.index):
        if isinstance(item, tuple):  # slice bounds clip, as in NumPy: only consume their scalars
            for _ in range(item.count(SYMBOLIC)):
                next(scalars)
            continue
        if item != SYMBOLIC:
            continue
        i, length = names[next(scalars)], f"{x}.shape[{dim}]"
        lines.append(f"if not -{length} <= {i} < {length}:")
        lines.append(f"    raise index_error({i}, {i!r}, {dim}, {x!r}, {length}, {_where(node)!r})")
    return lines


def kernel_checks(step: Kernel, names: Names) -> list[str]:
    """Driver lines raising a shape mismatch unless the arrays giving each loop dim's length agree."""
    conditions = []
    for dim in range(step.ndim):
        (first, d0), *others = step.dim_sources(dim) or [(None, 0)]
        conditions += [f"{names[first]}.shape[{d0}] != {names[v]}.shape[{d}]" for v, d in others]
    if not conditions:
        return []
    operands = ", ".join(f"{names[v]}={names[v]}" for v in step.params if v.ndim)
    where = _where(step.results[0].node)
    return [
        f"if {' or '.join(conditions)}:",
        f"    raise shape_mismatch({describe(step, names)!r}, {where!r}, {operands})",
    ]


def dot_checks(step: Apply, names: Names) -> list[str]:
    """Driver lines raising a shape mismatch unless a matrix product's inner lengths agree."""
    a, b = step.inputs
    operands = ", ".join(f"{n}={n}" for n in dict.fromkeys([names[a], names[b]]))  # dot(x, x) names x once
    return [
        f"if {names[a]}.shape[{a.ndim - 1}] != {names[b]}.shape[0]:",
        f"    raise shape_mismatch('dot', {_where(step)!r}, {operands})",
    ]


def emit_step(step: Kernel | Apply, names: Names) -> list[str]:
    """Driver lines for one step: shape checks, then the call."""
    lines: list[str] = []
    if isinstance(step, Kernel):
        out = ", ".join(names.add(r.var) for r in step.results if r.target is None)
        assign = f"{out} = " if out else ""
        lines += kernel_checks(step, names)
        args = ", ".join(names[v] for v in step.params)
        if step.parallelizable:
            biggest = max((v for v in step.params if v.ndim), key=lambda v: v.ndim)
            kernel = f"{step.name}_parallel if {names[biggest]}.size >= {_threshold_name(step)} else {step.name}"
            lines.append(f"{assign}({kernel})({args})")
        else:
            lines.append(f"{assign}{step.name}({args})")
        return lines
    out = names.add(step.output)
    if isinstance(step.op, Dot):
        a, b = step.inputs
        lines += dot_checks(step, names)
        lines.append(f"{out} = np.dot({names[a]}, {names[b]})")
    elif isinstance(step.op, SubtensorGrad):
        x, g, *scalars = step.inputs
        lines += _scalar_index_checks(step, names)
        lines.append(f"{out} = np.zeros(np.shape({names[x]}), dtype={np_dtype(step.output.dtype)})")
        lines.append(f"{out}{index_text(step.op.index, [names[v] for v in scalars])} = {names[g]}")
    elif isinstance(step.op, Subtensor):
        lines += _scalar_index_checks(step, names)
        lines.append(f"{out} = {_view(step, names)}")
    elif type(step.op) in _DRIVER_LINES:
        lines += _DRIVER_LINES[type(step.op)](step, names, out)
    else:
        lines.append(f"{out} = {_view(step, names)}")
    return lines


def emit_steps(steps: list[Step], names: Names, printer: NumbaPrinter) -> tuple[list[str], list[str]]:
    """Driver lines for ``steps`` in order, and the text of every kernel they call."""
    driver: list[str] = []
    kernel_texts: list[str] = []
    for step in steps:
        if isinstance(step, Loop):
            lines, texts = emit_loop(step, names, printer)
        elif isinstance(step, Branch):
            lines, texts = emit_branch(step, names, printer)
        elif isinstance(step, Apply) and isinstance(step.op, SCATTER_OPS):
            lines, text = emit_scatter(step, names, names.numbered("scatter"))
            texts = [text]
        else:
            lines, texts = emit_step(step, names), []
            if isinstance(step, Kernel):
                texts.append(emit_kernel(step, names, printer, parallel=False))
                if step.parallelizable:
                    texts.append(emit_kernel(step, names, printer, parallel=True))
                    texts.append(f"{_threshold_name(step)} = max(1, PARALLEL_THRESHOLD // {step.cost})  # elements")
        driver += lines
        kernel_texts += texts
    return driver, kernel_texts


def emit_branch(branch: Branch, names: Names, printer: NumbaPrinter) -> tuple[list[str], list[str]]:
    """An ifelse as ``if``/``else``: each side runs only the steps its branch alone needs."""
    condition, then, otherwise = branch.node.inputs
    out = names.add(branch.node.output)
    then_lines, then_texts = emit_steps(branch.then_steps, names, printer)
    else_lines, else_texts = emit_steps(branch.else_steps, names, printer)
    lines = [f"if {names[condition]}:", *("    " + line for line in then_lines), f"    {out} = {names[then]}"]
    lines += ["else:", *("    " + line for line in else_lines), f"    {out} = {names[otherwise]}"]
    return lines, then_texts + else_texts


def emit_loop(loop: Loop, names: Names, printer: NumbaPrinter) -> tuple[list[str], list[str]]:
    """A Map as a plain ``for`` loop in the driver: allocate the result, then run the body's steps
    once per row and store the row. The body reads the outer values under their own names."""
    op = loop.node.op
    n, like = loop.inputs[:2]
    for placeholder, value in loop.bound:
        names.alias(placeholder, value)
    i, out = names.add(op.index), names.add(loop.output)
    body, kernel_texts = emit_steps(loop.body.steps, names, printer)
    dtype = np_dtype(loop.output.dtype)
    lines = [
        f"# {out}[{i}] for each {i} < {names[n]}; what does not depend on {i} is computed above, once",
        f"{out} = np.empty(({names[n]},) + np.shape({names[like]}), dtype={dtype})",
        f"for {i} in range({names[n]}):",
        *("    " + line for line in body),
        f"    {out}[{i}] = {names[loop.row]}",
    ]
    return lines, kernel_texts


def _mismatch(conditions: list[str], what: str, node: Apply, operands: list[Variable], names: Names) -> list[str]:
    """``if <any condition>: raise shape_mismatch(...)`` naming each operand once."""
    if not conditions:
        return []
    listed = ", ".join(f"{n}={n}" for n in dict.fromkeys(names[v] for v in operands))
    return [f"if {' or '.join(conditions)}:", f"    raise shape_mismatch({what!r}, {_where(node)!r}, {listed})"]


def _lines_shape(step: Apply, names: Names, out: str) -> list[str]:
    return [f"{out} = np.array(np.shape({names[step.inputs[0]]}), dtype=np.int64)"]


def _lines_specify_shape(step: Apply, names: Names, out: str) -> list[str]:
    x = names[step.inputs[0]]
    conditions = [
        f"{x}.shape[{d}] != {_length_text(e, step, names)}" for d, e in enumerate(step.op.shape) if e is not None
    ]
    return _mismatch(conditions, str(step.op), step, [step.inputs[0]], names) + [f"{out} = {x}"]


def join_checks(step: Apply, names: Names) -> list[str]:
    """Driver lines raising a shape mismatch unless the joined tensors agree off the join axis."""
    axis, (first, *others) = step.op.axis, step.inputs
    conditions = [
        f"{names[t]}.shape[{d}] != {names[first]}.shape[{d}]"
        for t in others
        for d in range(first.ndim)
        if d != axis and names[t] != names[first]
    ]
    return _mismatch(conditions, f"join along axis {axis}", step, list(step.inputs), names)


def _lines_join(step: Apply, names: Names, out: str) -> list[str]:
    axis = step.op.axis
    return join_checks(step, names) + [
        f"{out} = np.concatenate(({', '.join(names[t] for t in step.inputs)}), axis={axis})"
    ]


def _lines_arange(step: Apply, names: Names, out: str) -> list[str]:
    start, stop, step_ = (names[v] for v in step.inputs)
    return [f"{out} = np.arange({start}, {stop}, {step_}, dtype={np_dtype(step.output.dtype)})"]


def alloc_checks(step: Apply, names: Names, targets: list[str]) -> list[str]:
    """Driver lines raising a shape mismatch unless an alloc's value broadcasts to ``targets``."""
    value = step.inputs[0]
    offset = len(targets) - value.ndim
    conditions = [
        f"{names[value]}.shape[{d}] != {targets[offset + d]}"
        for d, n in enumerate(value.type.shape)
        if n != 1 and targets[offset + d] != f"{names[value]}.shape[{d}]"  # alloc(v, n, v.shape[0])
    ]
    return _mismatch(conditions, str(step.op), step, [value], names)


def _lines_alloc(step: Apply, names: Names, out: str) -> list[str]:
    targets = [_length_text(e, step, names) for e in step.op.shape]
    dtype = np_dtype(step.output.dtype)
    return alloc_checks(step, names, targets) + [
        f"{out} = np.full({_shape_text(targets)}, {names[step.inputs[0]]}, dtype={dtype})"
    ]


def _lines_argmax(step: Apply, names: Names, out: str) -> list[str]:
    x, op = names[step.inputs[0]], step.op
    axis = "" if op.axis is None else f", axis={op.axis}"
    # NumPy's own error ("argmax of an empty sequence") would not say of what.
    length = f"{x}.size" if op.axis is None else f"{x}.shape[{op.axis}]"
    message = f"cannot take {op.which}{axis.replace(',', ' over')} of {x}{_where(step)}: it is empty"
    return [f"if {length} == 0:", f"    raise ValueError({message!r})", f"{out} = np.{op.which}({x}{axis})"]


def _lines_advanced_subtensor(step: Apply, names: Names, out: str) -> list[str]:
    x, *indices = step.inputs
    return _index_checks(step, names, x, indices, None) + [
        f"{out} = {_advanced_text(step.op.pattern, x, indices, names)}"
    ]


def _lines_inc_subtensor(step: Apply, names: Names, out: str) -> list[str]:
    x, y = step.inputs
    where = index_text(step.op.index)
    offset = x.ndim - sum(isinstance(i, int) for i in step.op.index) - y.ndim  # y is right-aligned
    conditions = [
        f"np.shape({names[y]})[{q}] != {out}{where}.shape[{offset + q}]" for q, n in enumerate(y.type.shape) if n != 1
    ]
    lines = [f"{out} = {names[x]}.copy()"] + _mismatch(conditions, str(step.op), step, [x, y], names)
    return lines + [f"{out}{where} {'+=' if step.op.mode == 'inc' else '='} {names[y]}"]


_DRIVER_LINES = {
    Shape: _lines_shape,
    SpecifyShape: _lines_specify_shape,
    Join: _lines_join,
    ARange: _lines_arange,
    Alloc: _lines_alloc,
    Argmax: _lines_argmax,
    AdvancedSubtensor: _lines_advanced_subtensor,
    IncSubtensor: _lines_inc_subtensor,
}


# ------------------------------------------------------------------------------------------------
# Integer-array indexing: index checks in the driver, scatters as generated loops


def _advanced_text(pattern: tuple[bool, ...], x: Variable, indices: list[Variable], names: Names) -> str:
    """``x[t0, :, y]``: the gather as NumPy indexing, trailing full slices left out."""
    arrays = iter(indices)
    items = [names[next(arrays)] if is_array else ":" for is_array in pattern]
    while items[-1] == ":":
        items.pop()
    return f"{names[x]}[{', '.join(items)}]"


def _index_sources(indices: list[Variable], nb: int) -> list[list[tuple[Variable, int]]]:
    """For each dim k of the broadcast index shape, the (index, dim) pairs that give its length."""
    sources: list[list[tuple[Variable, int]]] = [[] for _ in range(nb)]
    for index in indices:
        for e, length in enumerate(index.type.shape):
            if length != 1:
                sources[nb - index.ndim + e].append((index, e))
    return sources


def _index_checks(node: Apply, names: Names, x: Variable, indices: list[Variable], value: Variable | None) -> list[str]:
    """Every index within its dimension of ``x``; index arrays (and the value written) of agreeing shapes."""
    what = _advanced_text(node.op.pattern, x, indices, names)
    lines = []
    for d, index in checked_indices(node.op.pattern, x, indices):
        i, length = names[index], f"{names[x]}.shape[{d}]"
        if index.ndim == 0:
            condition = f"not -{length} <= {i} < {length}"
        else:
            condition = f"{i}.size and ({i}.min() < -{length} or {i}.max() >= {length})"
        lines += [
            f"if {condition}:",
            f"    raise index_out_of_bounds({what!r}, {_where(node)!r}, {i!r}, {i}, {d}, {length})",
        ]
    return lines + index_shape_checks(node, names, x, indices, value)


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
    sources = _index_sources(indices, nb)
    return [
        f"{x}.shape[{k}]" if kind_ == "x"
        else f"{names[sources[k][0][0]]}.shape[{sources[k][0][1]}]" if sources[k] else "1"
        for kind_, k in result_dims(pattern, nb)
    ]  # fmt: skip


def index_shape_checks(
    node: Apply, names: Names, x: Variable, indices: list[Variable], value: Variable | None
) -> list[str]:
    """A shape mismatch unless the index arrays (and the value written) have agreeing shapes."""
    what = _advanced_text(node.op.pattern, x, indices, names)
    sources = _index_sources(indices, max(i.ndim for i in indices))
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
    return _mismatch(conditions, what, node, operands, names)


def emit_scatter(node: Apply, names: Names, name: str) -> tuple[list[str], str]:
    """Driver lines (checks, then the call) and the ``@njit`` loop ``name`` for a scatter.

    The loop runs over the broadcast index arrays (``j0, j1, ...``), turns their entries into positions
    ``i<d>`` in ``x`` (wrapping negative ones; the driver has checked the range), and over the sliced
    dims of ``x`` (``i<d>`` too), adding or writing the value element by element: a repeated index
    adds up, as with ``np.add.at``, at the speed of a compiled loop.
    """
    op = node.op
    x, value, *indices = node.inputs
    out = names.add(node.output)
    params = list({id(v): v for v in (x, value, *indices)}.values())
    # 0-d operands arrive as Python or NumPy scalars, or as 0-d constant arrays: pass plain scalars.
    args = [f"{np_dtype(v.dtype)}({names[v]})" if v.ndim == 0 else names[v] for v in params]
    driver = _index_checks(node, names, x, indices, value) + [f"{out} = {name}({', '.join(args)})"]

    nb = max(i.ndim for i in indices)
    sources = _index_sources(indices, nb)
    adding = isinstance(op, AdvancedSubtensorGrad) or op.mode == "inc"
    place = _advanced_text(op.pattern, x, indices, names)
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
    return driver, "@njit(**KERNEL_OPTIONS)\n" + "\n".join(lines)


def _drop_repeated_checks(driver: list[str]) -> list[str]:
    """Driver lines without a check (``if ...:`` and its ``raise``) whose condition an earlier check
    tested already: every name is assigned once and shapes never change, so the repeat could not fail
    (a gather and the scatter of its gradient check the same indices)."""
    kept: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(driver):
        if driver[i].startswith("if ") and i + 1 < len(driver) and driver[i + 1].startswith("    raise "):
            if driver[i] not in seen:
                seen.add(driver[i])
                kept += driver[i : i + 2]
            i += 2
            continue
        kept.append(driver[i])
        i += 1
    return kept


def _constant_text(c: Constant) -> str:
    data = c.data
    if data.size <= 64 and np.all(np.isfinite(data)):
        return f"np.array({data.tolist()!r}, dtype={np_dtype(c.dtype)})"
    return f"np.frombuffer(bytes.fromhex({data.tobytes().hex()!r}), dtype={np_dtype(c.dtype)}).reshape({data.shape})"


def _output_text(var: Variable, names: Names, copied: set[int]) -> str:
    name = names[var]
    if var.ndim == 0:
        # Kernels return Python scalars; np.array restores float64/int64/bool by itself.
        exact = var.dtype in ("float64", "int64", "bool")
        return f"np.array({name})" if exact else f"np.array({name}, {np_dtype(var.dtype)})"
    return f"{name}.copy()" if output_aliases(var, copied) else name


def output_aliases(var: Variable, copied: set[int]) -> bool:
    """Whether returning ``var`` as is could alias an input, a constant, another output or what the
    next call overwrites (then it is copied); ``copied`` collects the variables already returned."""
    aliases = var.owner is None or isinstance(var.owner.op, _VIEW_OPS) or id(var) in copied
    # Scalar indices only (x[s]): NumPy indexes basically and returns a view.
    aliases = aliases or isinstance(var.owner.op, AdvancedSubtensor) and all(i.ndim == 0 for i in var.owner.inputs[1:])
    copied.add(id(var))
    return aliases


def _argument_check(var: Variable, name: str) -> list[str]:
    """Inline fast-path test of one argument; anything unusual goes to its full check."""
    full = f"{name} = check_{name}({name})"
    if var.ndim == 0:
        if var.dtype == "float64":
            return [
                f"if type({name}) is not float:",
                f"    {name} = float({name}) if type({name}) is int and abs({name}) <= 2**53 else check_{name}({name})",
            ]
        if var.dtype == "int64":
            return [f"if type({name}) is not int or not -(2**63) <= {name} < 2**63:", f"    {full}"]
        return [full]
    conditions = [
        f"type({name}) is not np.ndarray",
        f"{name}.dtype is not DTYPE_{var.dtype.upper()}",
        f"{name}.ndim != {var.ndim}",
        f"not {name}.flags.c_contiguous",
    ] + [f"{name}.shape[{d}] != {n}" for d, n in enumerate(var.type.shape) if n is not None]
    return [f"if {' or '.join(conditions)}:", f"    {full}"]


#: A graph whose expression, written out as a tree, is bigger than this is not printed in the
#: module header: a nested gradient reuses each level's values, so its tree grows exponentially
#: with depth while its graph grows linearly, and building that tree took minutes at depth 8,
#: for a line cut to 100 characters anyway.
FORMULA_TREE_SIZE = 2000


def _formula(var: Variable) -> str:
    """What ``var`` computes, as ``pp`` prints it (unsimplified), cut to fit one comment line."""
    nodes = toposort([var])
    tree: dict[int, int] = {}  # each variable's size written out as a tree
    for node in nodes:
        tree[id(node.output)] = 1 + sum(tree.get(id(i), 1) for i in node.inputs)
    if tree.get(id(var), 1) > FORMULA_TREE_SIZE:
        return f"(a graph of {len(nodes)} operations: see the kernels)"
    text = " ".join(pp(var, simplify=False).split())
    return text if len(text) <= 100 else text[:97] + "..."


def _summary(
    program: Program, names: Names, deferred: list[tuple[Variable, Variable]], rewrites: Sequence[str]
) -> list[str]:
    """The header comment: inputs, outputs (with their math), updates and the rewrites applied."""
    rows = [("Inputs:", f"{names[v]}: {v.type}") for v in program.inputs]
    rows += [("Shared:", f"{names[v]}: {v.type}") for v in program.shared]
    rows += [("Outputs:", f"{names[v]}: {v.type} = {_formula(v)}") for v in program.outputs]
    stored = {id(target) for target, _ in deferred}
    for target, value in program.updates:
        if value is target:
            continue  # an update to itself changes nothing
        how = f"from {names[value]}" if id(target) in stored else "in place"
        rows.append(("Updates:", f"{names[target]} <- {_formula(value)} ({how})"))
    rows.append(("Rewrites applied:", ", ".join(rewrites) or "none"))
    lines, previous = [], None
    for title, text in rows:
        lines.append(f"# {'' if title == previous else title:<18}{text}")
        previous = title
    return lines


def emit_module(
    program: Program,
    name: str | None,
    key: str,
    parallel_threshold: int,
    single: bool,
    parameter_names: list[str | None] | None = None,
    n_defaults: int = 0,
    rewrites: Sequence[str] = (),
    vector_math: bool = False,
) -> str:
    """The full text of the generated module for the function called ``name``.

    ``parameter_names`` overrides the inputs' own names as the entry's parameter names
    (``theano.In(x, name=...)``); the last ``n_defaults`` parameters have default values, which
    ``make_entry`` receives already checked. ``rewrites`` names the rewrite passes that changed
    the graph, for the header. ``vector_math`` takes exp, sin, ... from ``codegen.vecmath``.
    """
    title = f"symgrad function {name!r}" if name else "A function compiled by symgrad"
    names, constants = module_names(program, parameter_names)
    printer = NumbaPrinter(vector_math)
    driver, kernel_texts = emit_steps(program.steps, names, printer)
    driver = _drop_repeated_checks(driver)
    for var in program.outputs:
        names.add(var)
    copied: set[int] = set()
    results = [_output_text(v, names, copied) for v in program.outputs]
    deferred = program.deferred_updates()
    for _, value in deferred:
        names.add(value)
    # New shared values never alias an input, an output or another shared value.
    new_values = [_output_text(value, names, copied) for _, value in deferred]

    header = [*module_header(title, key, program, names, deferred, rewrites), "from numba import njit, prange"]
    for module, functions in sorted(printer.module_imports.items()):
        header.append(f"from {module} import {', '.join(sorted(functions))}")
    if printer.runtime_imports:
        header.append(f"from codegen.runtime import {', '.join(sorted(printer.runtime_imports))}")
    header.append("from codegen.errors import MISSING, index_error, index_out_of_bounds, out_of_memory, shape_mismatch")
    header += [
        "",
        # cache=True is left out: symgrad's loader attaches Numba's disk cache, with its checks.
        f"KERNEL_OPTIONS = dict(error_model='numpy', fastmath={FASTMATH})  # disk cache: see codegen/cache.py",
        "PARALLEL_OPTIONS = dict(KERNEL_OPTIONS, parallel=True)",
        f"PARALLEL_THRESHOLD = {parallel_threshold}  # work (elements x operations each) worth threads",
        "REDUCTION_CHUNKS = 64  # a parallel sum adds these parts in order: the same result on any thread count",
    ]
    dtypes = sorted({v.dtype for v in program.inputs if v.ndim})
    header += [f"DTYPE_{d.upper()} = np.dtype('{d}')" for d in dtypes]
    header += [f"{names[c]} = {_constant_text(c)}" for c in constants]

    params = [names[v] for v in program.inputs]
    header.append(f"PARAMETERS = {tuple(params)!r}  # the inputs, in order")
    # MISSING: a missing argument is reported by its check, in the user's terms.
    doc = "argument checks, then the steps in order"
    entry, cells = entry_head(program, names, name, n_defaults, doc, required_default="=MISSING")
    body = [line for var in program.inputs for line in _argument_check(var, names[var])]
    for var, cell in zip(program.shared, cells):
        body.append(f"{names[var]} = {cell}[0]{'[()]' if var.ndim == 0 else ''}  # the shared value, as of this call")
    body += driver
    returned = results[0] if single else f"[{', '.join(results)}]"
    if deferred:
        body.append(f"result = {returned}  # before the updates: outputs see the old values")
        cell_of = {id(v): c for v, c in zip(program.shared, cells)}
        body += [f"{cell_of[id(target)]}[0] = {text}" for (target, _), text in zip(deferred, new_values)]
        returned = "result"
    body.append(f"return {returned}")
    # A kernel's failed allocation says only "Allocation failed": name the inputs and their shapes.
    shapes = "".join(f", {p}={p}" for p in params)
    body = ["try:", *("    " + line for line in body), "except MemoryError as err:",
            f"    raise out_of_memory(err{shapes}) from err"]  # fmt: skip
    return module_text(header, kernel_texts, entry, body, name)


# ------------------------------------------------------------------------------------------------
# What the CPU and CUDA modules share: names, header, the frame of make_entry


def entry_name(name: str | None) -> str:
    """The compiled function's own name: the function's name where it is an identifier."""
    return name if name and name.isidentifier() and not keyword.iskeyword(name) else "compiled_function"


def module_names(program: Program, parameter_names: list[str | None] | None) -> tuple[Names, list[Constant]]:
    """Names for a module: the inputs (``parameter_names`` first), shared variables and array constants,
    which are returned too."""
    names = Names()
    for var, preferred in zip(program.inputs, parameter_names or [None] * len(program.inputs)):
        names.add(var, prefix="x", preferred=preferred)
    for var in program.shared:
        names.add(var, prefix="shared")
    constants = constants_of(program)
    for c in constants:
        names.add(c, prefix="c")
    return names, constants


def module_header(
    title: str, key: str, program: Program, names: Names, deferred: list, rewrites: Sequence[str]
) -> list[str]:
    """The module's docstring, summary comment and first import."""
    return [
        f'"""{title}',
        "",
        f"Generated by symgrad; content key {key}. Do not edit: the cache checks this text's hash.",
        '"""',
        *_summary(program, names, deferred, rewrites),
        "import numpy as np",
    ]


def entry_head(
    program: Program,
    names: Names,
    name: str | None,
    n_defaults: int,
    doc: str,
    required_default: str = "",
    setup: Sequence[str] = (),
) -> tuple[list[str], list[str]]:
    """The first lines of ``make_entry`` (which unpacks the argument checks, the checked defaults of
    the last ``n_defaults`` parameters and the shared variables' storage cells, then runs ``setup``)
    up to the compiled function's ``def``; and the names of the storage cells."""
    params = [names[v] for v in program.inputs]
    cells = [names.fresh(f"{names[v]}_storage") for v in program.shared]
    defaults = [names.fresh(f"{p}_default") for p in params[len(params) - n_defaults :]]
    lines = ["def make_entry(checks, call_error, defaults, storage):", f'    """The compiled function: {doc}."""']
    unpacked = [([f"check_{p}" for p in params], "checks"), (defaults, "defaults"), (cells, "storage")]
    lines += [f"    {', '.join(group)}, = {source}" for group, source in unpacked if group]
    lines += ["    " + line for line in setup]
    required = len(params) - n_defaults
    signature = [p + required_default for p in params[:required]] + [
        f"{p}={d}" for p, d in zip(params[required:], defaults)
    ]
    lines += [
        "",
        f"    def {entry_name(name)}({''.join(p + ', ' for p in signature)}*extra, **unknown):",
        "        if extra or unknown:",
        "            raise call_error(extra, unknown)",
    ]
    return lines, cells


def module_text(header: list[str], kernels: list[str], entry: list[str], body: list[str], name: str | None) -> str:
    """The module: header, kernels, then ``make_entry`` (``entry``, then the function's ``body``)."""
    function = entry_name(name)
    entry = entry + ["        " + line for line in body]
    entry += ["", f"    {function}.__qualname__ = {function!r}  # for Python's own argument errors",
              f"    return {function}"]  # fmt: skip
    return "\n".join(header) + "\n\n\n" + "\n\n\n".join(kernels + ["\n".join(entry)]) + "\n"
