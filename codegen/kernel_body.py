"""What the kernels of every backend share: one point of a fused loop nest.

A :class:`~codegen.lower.Kernel` computes its results at each point of its loop nest from its
leaves; ``kernel_body`` prints those statements (CSE'd scalar code from SymPy) once for the CPU's
loops and the GPU's grid-stride loops alike, and ``describe`` gives the kernel's math in one line
for its docstring. Reductions start from ``identity`` and fold values in with ``accumulate``.
"""

from __future__ import annotations

import numpy as np
import sympy

from symgrad.ops.reduce import reduce_dtype
from symgrad.ops.scalar import as_condition
from symgrad.printing.formulas import MathTextPrinter
from symgrad.types import kind

from .lower import Kernel, Leaf, Result
from .names import Names, np_dtype
from .scalar_printer import NumbaPrinter


def identity(reduction: str, dtype: str) -> str:
    """The text of the value a reduction starts from (so an empty sum is 0, an empty max raises first)."""
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


def accumulate(reduction: str, target: str, value: str) -> list[str]:
    """Lines folding ``value`` into the running ``target`` of a reduction (nan wins a max or min)."""
    if reduction == "sum":
        return [f"{target} += {value}"]
    if reduction == "prod":
        return [f"{target} *= {value}"]
    better = ">" if reduction == "max" else "<"
    # candidate != candidate is true only for nan, which must win (propagate) as in NumPy.
    return [f"candidate = {value}", f"if candidate {better} {target} or candidate != candidate:",
            f"    {target} = candidate"]  # fmt: skip


def acc_dtype(r: Result) -> str:
    """The dtype a reduction accumulates in."""
    dtype = reduce_dtype(r.reduction, r.node.inputs[0].dtype)
    # float32 sums and products accumulate in float64: more accurate than NumPy's, and as fast.
    return "float64" if r.reduction in ("sum", "prod") and kind(dtype) == "f" else dtype


def leaf_index(leaf: Leaf) -> str:
    """How a kernel indexes a leaf array at the current point: ``i0, 0, i2`` (0 for a broadcast
    dim), ``i0 - 1`` for a guarded leaf read one element back."""
    shift = leaf.shift or (0,) * len(leaf.index)
    return ", ".join("0" if i is None else f"i{i}" + (f" - {-s}" if s < 0 else f" + {s}" if s else "")
                     for i, s in zip(leaf.index, shift))  # fmt: skip


def leaf_read(leaf: Leaf, name: str) -> str:
    """The text reading ``leaf`` (the array ``name``) at the current point. A guarded leaf's read
    is in bounds by its own test, whatever the guard around it: common subexpressions may be
    computed before the guard is tested, and a value read outside the array is never used."""
    read = f"{name}[{leaf_index(leaf)}]"
    if leaf.shift is None:
        return read
    tests = []
    for d, (i, s) in enumerate(zip(leaf.index, leaf.shift)):
        if i is not None:
            tests += [f"i{i} >= {-s}"] if s < 0 else []
            tests.append(f"i{i}{f' - {-s}' if s < 0 else ''} < {name}.shape[{d}]")
    zero = "False" if leaf.var.dtype == "bool" else f"{np_dtype(leaf.var.dtype)}(0)"
    return f"({read} if {' and '.join(tests)} else {zero})"


def _read_bindings(expr: sympy.Expr, earlier: dict[sympy.Expr, sympy.Symbol]) -> sympy.Expr:
    """``expr`` with each subexpression equal to an earlier binding's value replaced by that
    binding, innermost first, in one walk (a walk per binding and expression was quadratic in the
    kernel's size: minutes for a chain of 200 operations)."""
    done: dict[sympy.Expr, sympy.Expr] = {}
    stack = [expr]
    while stack:  # iterative, bottom-up: deep expressions must not hit the recursion limit
        e = stack[-1]
        if e in done:
            stack.pop()
            continue
        pending = [a for a in e.args if a not in done]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        args = tuple(done[a] for a in e.args)
        rebuilt = e.func(*args) if args != e.args else e
        done[e] = earlier.get(rebuilt, rebuilt)
    return done[expr]


def _divisions_kept(temporaries: list, values: list) -> tuple[list, list]:
    """cse's temporaries without the reciprocals it takes out of divisions (``e0 = 1/b``, then
    ``a*e0``): each ``a/b`` stays a division. A value is then computed to the same bits in every
    kernel, which the gradient of a max or min relies on (it compares ``a/b`` recomputed with the
    max of ``a/b`` computed elsewhere: ``a*(1/b)`` differs from ``a/b`` in the last bit, and the
    gradient was 0 there)."""
    reciprocals: dict = {}
    for symbol, value in temporaries:  # in cse's order: a reciprocal of a reciprocal is resolved
        if value.is_Pow and value.exp == -1:
            reciprocals[symbol] = value.xreplace(reciprocals)
    if not reciprocals:
        return temporaries, values
    kept = [(symbol, value.xreplace(reciprocals)) for symbol, value in temporaries if symbol not in reciprocals]
    return kept, [value.xreplace(reciprocals) for value in values]


def kernel_body(
    k: Kernel, access: dict[sympy.Symbol, str], printer: NumbaPrinter, names: Names
) -> tuple[list[str], list[str]]:
    """The statements computing one point of ``k``'s loop nest, and the text of each result's value
    there; ``access`` is how each leaf is read (``x[i0, i1]``). Shared by the CPU and CUDA printers."""
    reads = {symbol: sympy.Symbol(text, real=True) for symbol, text in access.items()}
    # A guarded leaf (see leaf_read) is read once, into a local ``near<j>``, before any statement.
    near = [leaf for leaf in k.leaves if leaf.shift is not None]
    for j, leaf in enumerate(near):
        reads[leaf.symbol] = sympy.Symbol(f"near{j}", real=True)
    # Common subexpressions become locals e0, e1, ...; bindings (s0, ...) come first, in order,
    # then the results, sharing their common parts. A binding holding a named variable's value
    # takes that name.
    for local, var in k.bound.items():
        if var.name:
            reads[local] = sympy.Symbol(names.add(var), real=True)
    bindings = [(local, expr.xreplace(reads)) for local, expr in k.bindings]
    results = [r.expr.xreplace(reads) for r in k.results]
    # A later expression that repeats a binding's whole value reads the binding instead.
    earlier: dict[sympy.Expr, sympy.Symbol] = {}
    for j, (local, expr) in enumerate(bindings):
        expr = _read_bindings(expr, earlier)
        bindings[j] = (local, expr)
        earlier.setdefault(expr, local)
    results = [_read_bindings(e, earlier) for e in results]
    # One cse over everything, so that bindings and results share their common parts; each
    # temporary is written just before the first statement that needs it.
    temporaries, values = sympy.cse([e for _, e in bindings] + results, symbols=sympy.numbered_symbols("e"))
    temporaries, values = _divisions_kept(temporaries, values)
    pending = dict(temporaries)
    body = [f"near{j} = {access[leaf.symbol]}" for j, leaf in enumerate(near)]

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


def describe(k: Kernel, names: Names) -> str:
    """The kernel's math in one line, with the driver's variable names: its docstring."""
    rename = {}
    for leaf in k.leaves:
        loop_dims = [i for i in leaf.index if i is not None]
        plain = loop_dims == sorted(loop_dims) and None not in leaf.index and leaf.shift is None
        rename[leaf.symbol] = sympy.Symbol(names[leaf.var] if plain else f"{names[leaf.var]}[{leaf_index(leaf)}]")

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
