"""CPU kernels: a :class:`~codegen.lower.Kernel` printed as an ``@njit`` loop nest.

Each kernel computes every one of its results in one pass over its loop nest. A kernel worth running
on several threads (its elements times its estimated operations per element reach
``config.parallel_threshold``) gets a ``prange`` twin, ``<name>_parallel``, chosen by the driver from
the size of its biggest argument. A parallel reduction over every axis sums fixed chunks and then
adds the partial sums in order, so its result does not depend on the thread count. The twin's
results are large, and above glibc's reuse ceiling (``codegen.memory``) they are fresh pages on every
call: the twin asks for huge pages under them before its first writes (``advise_huge_pages``).
"""

from __future__ import annotations

import sympy

from symgrad.ops.scalar import floor_div, mod

from .kernel_body import acc_dtype, accumulate, describe, identity, kernel_body, leaf_read
from .lower import Kernel
from .names import Names, np_dtype, shape_text
from .scalar_printer import NumbaPrinter

# Not 'nnan'/'ninf': isnan/isinf must keep working. Not 'arcp': with it LLVM computes a/sqrt(x) in
# float32 as a*rsqrt(x) refined by a Newton step, which gives nan at x = 0 where NumPy gives inf.
FASTMATH = "{'reassoc', 'contract', 'nsz'}"


# CPython compiles a call with more arguments than this as f(*args) (a tuple), which Numba cannot
# inline: such a kernel is compiled as a function of its own, and called.
INLINE_LIMIT = 30

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


def _read_in_a_branch(k: Kernel) -> set[sympy.Symbol]:
    """The leaves read in a branch of a conditional (a Piecewise) of ``k``'s expressions."""
    found: set[sympy.Symbol] = set()
    for expr in [r.expr for r in k.results] + [e for _, e in k.bindings]:
        for piecewise in expr.atoms(sympy.Piecewise):
            found |= piecewise.free_symbols
    return found


def _emit_kernel(k: Kernel, names: Names, printer: NumbaPrinter, parallel: bool) -> str:
    exact = _exactly_compared(k) if printer.float32 else set()
    branches = _read_in_a_branch(k)
    access = {}
    for leaf in k.leaves:
        text = names[leaf.var] if leaf.var.ndim == 0 else leaf_read(leaf, names[leaf.var])
        # A wider leaf is read as float32, as the graph's cast to float32 did before fusion; so is
        # every 0-d leaf: kernels return 0-d results as Python numbers, which Numba types as doubles.
        widening = leaf.var.dtype in _WIDENING or (leaf.var.ndim == 0 and leaf.var.dtype != "bool")
        if printer.float32 and widening and leaf.symbol not in exact:
            text = f"np.float32({text})"
        elif leaf.var.ndim == 0 and leaf.var.dtype != "bool" and leaf.symbol in branches:
            # A 0-d leaf may be a 0-d array (a reshape's result), and Numba cannot unify a 0-d
            # array with the other branch's number in `t if i0 >= 1 else 0`: read it as a number.
            text = f"{np_dtype(leaf.var.dtype)}({text})"
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
    shape = shape_text([f"n{d}" for d in range(k.ndim)])
    kept_shape = shape_text([f"n{d}" for d in kept])
    full_index = ", ".join(f"i{d}" for d in range(k.ndim))
    kept_index = ", ".join(f"i{d}" for d in kept)
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
                if parallel:  # a large result (see the module's docstring)
                    printer.module_imports["codegen.memory"].add("advise_huge_pages")
                    lines.append(f"    advise_huge_pages(out{j})")
                stores.append(f"out{j}[{full_index}] = {value}")
                returns.append(f"out{j}")
            else:
                returns.append(f"{dtype}({value})")
            continue
        acc = acc_dtype(r)
        start = identity(r.reduction, acc)
        if not k.reduces_suffix:  # reductions over outer axes: accumulate in arrays of the kept dims
            inits.append(f"acc{j} = np.full({kept_shape}, {start}, dtype={np_dtype(acc)})")
            stores += accumulate(r.reduction, f"acc{j}[{kept_index}]", value)
            returns.append(f"acc{j}" if acc == r.var.dtype else f"acc{j}.astype({dtype})")
            continue
        inits.append(f"acc{j} = {start}")
        stores += accumulate(r.reduction, f"acc{j}", value)
        if kept:
            lines.append(f"    out{j} = np.empty({kept_shape}, dtype={dtype})")
            finals.append(f"out{j}[{kept_index}] = acc{j}")
            returns.append(f"out{j}")
        else:
            returns.append(f"{dtype}(acc{j})")
    if parallel and 0 in axes:
        lines += _chunked_reduction(k, inits, body + stores)
    else:
        if not k.reduces_suffix:
            lines += ["    " + line for line in inits]
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
    if parallel:
        options = "PARALLEL_OPTIONS"
    else:  # inlined into the program, unless Python would pass its arguments as a tuple (see INLINE_LIMIT)
        options = "KERNEL_OPTIONS" if len(k.params) <= INLINE_LIMIT else "PROGRAM_OPTIONS"
    return f"@njit(**{options})\n" + "\n".join(lines)


def threshold_name(k: Kernel) -> str:
    """The module constant holding the element count above which ``k`` runs on several threads."""
    return f"{k.name.upper()}_PARALLEL_ABOVE"


def _chunked_reduction(k: Kernel, inits: list[str], body: list[str]) -> list[str]:
    """The loops of a parallel reduction over axis 0 (and perhaps others), deterministic by construction.

    The outer loop is cut into ``REDUCTION_CHUNKS`` fixed ranges; each thread reduces whole
    ranges into partial results, which are then combined in order. The additions happen in the
    same order whatever the number of threads, so the result is the same from run to run (a
    plain ``prange`` reduction combines partial results in whatever order threads finish).
    A reduction that keeps dims (a sum over axis 0) has an array of partial results per chunk; the
    chunks are fewer where those arrays would exceed ``PARTIALS_LIMIT`` elements in all.
    """
    reduced = [(j, r) for j, r in enumerate(k.results) if r.reduction]
    kept = [d for d in range(k.ndim) if d not in k.axes]
    kept_lengths = [f"n{d}" for d in kept]
    kept_index = ", ".join(f"i{d}" for d in kept)
    if kept:
        size = " * ".join(kept_lengths)
        lines = [f"    chunks = max(1, min(n0, REDUCTION_CHUNKS, PARTIALS_LIMIT // max(1, {size})))"]
    else:
        lines = ["    chunks = min(n0, REDUCTION_CHUNKS)"]
    partial_shape = "(chunks, " + ", ".join(kept_lengths) + ")" if kept else "chunks"
    lines += [f"    partial{j} = np.empty({partial_shape}, dtype={np_dtype(acc_dtype(r))})" for j, r in reduced]
    lines += ["    for chunk in prange(chunks):"]
    lines += ["        " + line for line in inits]
    # Unsigned bounds: a signed index that LLVM cannot prove positive gets NumPy's wraparound test at
    # every access, which stopped the loop vectorizing (W3's gradient at n = 1e6: 2.93 ms on one
    # thread, against 0.47 ms for the serial loop and for this one).
    lines.append("        for i0 in range(np.uint64(chunk * n0 // chunks), np.uint64((chunk + 1) * n0 // chunks)):")
    indent = "            "
    for dim in range(1, k.ndim):
        lines.append(f"{indent}for i{dim} in range(n{dim}):")
        indent += "    "
    lines += [indent + line for line in body]
    # Element by element: Numba's row assignment (``partial[chunk] = acc``) checks shapes with an
    # error message it formats in compiled code, which took 5 s to compile in each such kernel.
    indent = "        "
    for d in kept:
        lines.append(f"{indent}for i{d} in range(n{d}):")
        indent += "    "
    row = f"chunk, {kept_index}" if kept else "chunk"
    lines += [f"{indent}partial{j}[{row}] = acc{j}{f'[{kept_index}]' if kept else ''}" for j, _ in reduced]
    lines += ["    " + line for line in inits]
    lines.append("    for chunk in range(chunks):  # in order")
    indent = "        "
    for d in kept:
        lines.append(f"{indent}for i{d} in range(n{d}):")
        indent += "    "
    for j, r in reduced:
        target, part = (
            (f"acc{j}[{kept_index}]", f"partial{j}[chunk, {kept_index}]") if kept else (f"acc{j}", f"partial{j}[chunk]")
        )
        lines += [indent + line for line in accumulate(r.reduction, target, part)]
    return lines
