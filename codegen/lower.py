"""Lowering: from an optimized graph to a :class:`Program` of fused kernels and driver steps.

A *kernel* is one loop nest. Its root is an elementwise or reduction node; every elementwise
producer that feeds only this kernel, over the same loop domain, is substituted into the root's
SymPy expression (fusion is substitution), so a chain like ``exp(-x**2/2) * sin(3*x)`` becomes one
loop with no temporaries. Dimshuffles (transposes, broadcast dims) read by a kernel cost nothing:
they only change how the kernel indexes its input. A reduction absorbs the elementwise expression it
reduces, so ``sum((a - b)**2)`` is one loop as well.

Everything else (matrix products, views, slicing) is a *driver step*: one line of NumPy in the
generated driver function, between kernel calls. A ``Map`` node (the rows of a Jacobian) becomes a
:class:`Loop`: its inner graph is lowered to a program of its own, run once per row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sympy

from symgrad.graph import Apply, Constant, Variable, toposort
from symgrad.ops.elemwise import Elemwise, sym
from symgrad.ops.loop import Map
from symgrad.ops.reduce import Reduce
from symgrad.ops.shape import DimShuffle


@dataclass(eq=False)
class Leaf:
    """A materialized value read by a kernel, and how: ``index[d]`` is the loop dim that array
    dim ``d`` follows, or ``None`` to read element 0 (a broadcast dimension)."""

    var: Variable
    index: tuple[int | None, ...]
    symbol: sympy.Symbol


@dataclass(eq=False)
class Result:
    """One value a kernel computes: over the whole loop nest, or reduced over ``axes``."""

    var: Variable
    node: Apply
    expr: sympy.Expr  # the value at one point of the loop nest, in the leaves' symbols
    reduction: str | None = None
    axes: tuple[int, ...] = ()  # the reduced loop dims


@dataclass(eq=False)
class Kernel:
    """One fused loop nest computing one or more results."""

    name: str
    ndim: int  # depth of the loop nest
    broadcastable: tuple[bool, ...]  # loop dims known to have length 1
    results: list[Result] = field(default_factory=list)
    leaves: list[Leaf] = field(default_factory=list)
    # Values of absorbed producers that an expression reads more than once, bound to a local
    # name first (``s0 = ...``) rather than substituted twice: keeps expressions linear in size.
    bindings: list[tuple[sympy.Symbol, sympy.Expr]] = field(default_factory=list)
    # (variable, index) pairs read only for their shape (e.g. ``ones_like(x)``); see _Fuser.
    shape_only: list[tuple[Variable, tuple[int | None, ...]]] = field(default_factory=list)

    @property
    def axes(self) -> tuple[int, ...]:
        """The reduced loop dims, shared by every reduction in the kernel."""
        return next((r.axes for r in self.results if r.reduction), ())

    @property
    def reduces_suffix(self) -> bool:
        """Whether the reduced dims are the innermost loops (a scalar accumulator per result)."""
        return self.axes == tuple(range(self.ndim - len(self.axes), self.ndim))

    @property
    def params(self) -> list[Variable]:
        """The distinct variables the kernel takes as arguments, in first-read order."""
        seen: dict[int, Variable] = {}
        for leaf in self.leaves:
            seen.setdefault(id(leaf.var), leaf.var)
        return list(seen.values())

    def dim_sources(self, dim: int) -> list[tuple[Variable, int]]:
        """(variable, array dim) pairs whose length gives loop dim ``dim``."""
        pairs = []
        for leaf in self.leaves:
            for d, loop_dim in enumerate(leaf.index):
                if loop_dim == dim and (leaf.var, d) not in pairs:
                    pairs.append((leaf.var, d))
        return pairs

    @property
    def parallelizable(self) -> bool:
        """Whether the outermost loop can be a ``prange``: no race on any result."""
        if all(self.broadcastable):  # a single point: nothing to share out
            return False
        if 0 not in self.axes:
            return True
        full = self.axes == tuple(range(self.ndim))
        return full and all(r.reduction in (None, "sum", "prod") for r in self.results)

    def absorb(self, other: Kernel) -> None:
        """Take over ``other``'s results: one loop nest computes both kernels' values."""
        renames: dict[sympy.Symbol, sympy.Symbol] = {}
        for leaf in other.leaves:
            renames[leaf.symbol] = _Fuser._leaf(self, leaf.var, leaf.index)
        for local, expr in other.bindings:
            renames[local] = sympy.Symbol(f"s{len(self.bindings)}", real=True)
            self.bindings.append((renames[local], expr.xreplace(renames)))
        for r in other.results:
            self.results.append(Result(r.var, r.node, r.expr.xreplace(renames), r.reduction, r.axes))


@dataclass(eq=False)
class Program:
    """What the code generator prints: inputs, ordered steps and outputs."""

    inputs: list[Variable]
    outputs: list[Variable]
    steps: list[Kernel | Apply | Loop]


@dataclass(eq=False)
class Loop:
    """A ``Map`` node as a loop: ``body`` computes row ``i`` from the index and the placeholders
    (its inputs, bound to the Map node's outer values); the driver stores each row in the result.

    ``output`` and ``inputs`` are the node's, so the outer program treats a loop like any step.
    """

    node: Apply
    body: Program

    @property
    def output(self) -> Variable:
        return self.node.output

    @property
    def inputs(self) -> tuple[Variable, ...]:
        return self.node.inputs


def _kernel_name(index: int, node: Apply) -> str:
    op = node.op
    label = op.reduction if isinstance(op, Reduce) else (op.name or "fused")
    label = "".join(c if c.isalnum() else "_" for c in label).strip("_") or "fused"
    return f"k{index}_{label}"


class _Fuser:
    def __init__(self, outputs: list[Variable]) -> None:
        self.nodes = toposort(outputs)
        # Uses that read values. An elementwise input whose symbol the expression never mentions
        # only lends its shape (as in the gradient of a sum, ``ones_like(x) * g``); such a use does
        # not stop x from fusing into its real consumer, and the kernel takes its loop bounds from
        # another argument, or from a materialized variable of the same shape (_shape_source).
        self.clients: Counter[int] = Counter()
        for node in self.nodes:
            used = node.op.expr.free_symbols if isinstance(node.op, Elemwise) else None
            for i, inp in enumerate(node.inputs):
                if used is None or sym(i) in used:
                    self.clients[id(inp)] += 1
        for out in outputs:
            self.clients[id(out)] += 2  # an output is always materialized

    def kernel(self, node: Apply) -> Kernel:
        op = node.op
        if isinstance(op, Reduce):
            body = node.inputs[0]
            k = Kernel(_kernel_name(0, node), body.ndim, body.broadcastable)
            expr = self._visit(k, body, tuple(range(body.ndim)), may_inline=True)
            k.results.append(Result(node.output, node, expr, op.reduction, op.axes))
        else:
            out = node.output
            k = Kernel(_kernel_name(0, node), out.ndim, out.broadcastable)
            k.results.append(Result(out, node, self._inline(k, node, tuple(range(out.ndim)), absorb=True)))
        self._cover_loop_dims(k)
        return k

    def _inline(self, k: Kernel, node: Apply, index: tuple[int | None, ...], absorb: bool) -> sympy.Expr:
        """``node``'s expression over ``index``; ``absorb``: its producers may be inlined too."""
        expr = node.op.expr
        values = {}
        for i, inp in enumerate(node.inputs):
            if not expr.has(sym(i)):
                k.shape_only.append((inp, index))
                continue
            value = self._visit(k, inp, index, may_inline=absorb)
            if not value.is_Atom and expr.count(sym(i)) > 1:
                local = sympy.Symbol(f"s{len(k.bindings)}", real=True)
                k.bindings.append((local, value))
                value = local
            values[sym(i)] = value
        return expr.xreplace(values)

    def _cover_loop_dims(self, k: Kernel) -> None:
        """Give every loop dim a length: from a leaf, else from a shape-only input's source."""
        for dim in range(k.ndim):
            if k.broadcastable[dim] or k.dim_sources(dim):
                continue
            var, index = next((v, ix) for v, ix in k.shape_only if dim in ix and not v.broadcastable[ix.index(dim)])
            self._leaf(k, *self._shape_source(var, index, dim))

    def _shape_source(self, var: Variable, index: tuple[int | None, ...], dim: int):
        """A variable that is surely materialized and has loop dim ``dim``'s length."""
        owner = var.owner
        if owner is not None and isinstance(owner.op, Elemwise):
            position = index.index(dim)
            inp = next(i for i in owner.inputs if not i.broadcastable[position])
            return self._shape_source(inp, index, dim)
        if owner is not None and isinstance(owner.op, DimShuffle):
            source = owner.inputs[0]
            source_index = [None] * source.ndim
            for position, d in enumerate(owner.op.new_order):
                if d != "x":
                    source_index[d] = index[position]
            return self._shape_source(source, tuple(source_index), dim)
        return var, index

    def _visit(self, k: Kernel, var: Variable, index: tuple[int | None, ...], may_inline: bool) -> sympy.Expr:
        owner = var.owner
        single_client = self.clients[id(var)] == 1
        if owner is not None and isinstance(owner.op, Elemwise) and may_inline and (single_client or _cheap(owner)):
            covered = {i for i in index if i is not None}
            same_domain = all(
                i is not None and var.broadcastable[d] == k.broadcastable[i] for d, i in enumerate(index)
            ) and all(k.broadcastable[i] or i in covered for i in range(k.ndim))
            if same_domain:
                # A cheap node recomputed in several kernels reads its own inputs as arrays, or the
                # duplication would snowball through everything beneath it.
                return self._inline(k, owner, index, absorb=single_client)
        if owner is not None and isinstance(owner.op, DimShuffle):
            # Read through the view: map the source's dims to the loop dims they follow.
            source = owner.inputs[0]
            source_index: list[int | None] = [None] * source.ndim
            for position, d in enumerate(owner.op.new_order):
                if d != "x":
                    source_index[d] = index[position]
            permutation_only = "x" not in owner.op.new_order and source.ndim == var.ndim
            return self._visit(k, source, tuple(source_index), may_inline and single_client and permutation_only)
        return self._leaf(k, var, index)

    @staticmethod
    def _leaf(k: Kernel, var: Variable, index: tuple[int | None, ...]) -> sympy.Symbol:
        effective = tuple(None if var.type.shape[d] == 1 else i for d, i in enumerate(index))
        for leaf in k.leaves:
            if leaf.var is var and leaf.index == effective:
                return leaf.symbol
        leaf = Leaf(var, effective, sympy.Symbol(f"L{len(k.leaves)}", real=True))
        k.leaves.append(leaf)
        return leaf.symbol


def _cheap(node: Apply) -> bool:
    """An elementwise op cheaper to recompute in each consumer than to store and load again:
    at most two arithmetic operations, no function calls (``a + b``, ``x - m``, ``x > 0``)."""
    expr = node.op.expr
    return sympy.count_ops(expr) <= 2 and not expr.atoms(sympy.Function)


def lower(inputs: list[Variable], outputs: list[Variable]) -> Program:
    """Group the graph of ``outputs`` into kernels and driver steps, in execution order."""
    fuser = _Fuser(outputs)
    kernels: dict[int, Kernel] = {}
    # Consumers first, so each decides which producers it absorbs before they are visited. A
    # cheap producer may be absorbed by some consumers and still be read by others: whether it
    # gets a kernel of its own is decided below, by what is read.
    for node in reversed(fuser.nodes):
        if isinstance(node.op, (Elemwise, Reduce)):
            kernels[id(node)] = fuser.kernel(node)

    # Keep only what is read: outputs, kernel arguments and the inputs of needed driver steps.
    needed = {id(v) for v in outputs}
    for node in reversed(fuser.nodes):
        if id(node.output) not in needed:
            continue
        reads = kernels[id(node)].params if id(node) in kernels else node.inputs
        needed.update(id(v) for v in reads)

    steps: list[Kernel | Apply] = []
    for node in fuser.nodes:
        if id(node.output) not in needed:
            continue
        if id(node) in kernels:
            kernel = kernels[id(node)]
            host = _sibling(kernel, steps)
            if host is None:
                kernel.name = _kernel_name(sum(isinstance(s, Kernel) for s in steps), node)
                steps.append(kernel)
            else:
                host.absorb(kernel)
        else:
            steps.append(_loop(node) if isinstance(node.op, Map) else node)
    _number_kernels(steps)
    return Program(list(inputs), list(outputs), steps)


def _loop(node: Apply) -> Loop:
    """The Map node's inner graph, lowered like any program: its inputs are the index and the
    placeholders, its one output the row."""
    op = node.op
    return Loop(node, lower([op.index, *op.placeholders], [op.row]))


def _number_kernels(steps: list[Kernel | Apply | Loop], first: int = 0) -> int:
    """Name kernels k0, k1, ... in the order they run, loop bodies included, so the kernels of a
    loop and those around it never share a name in the module. Returns the next free number."""
    for step in steps:
        if isinstance(step, Kernel):
            step.name = _kernel_name(first, step.results[0].node)
            first += 1
        elif isinstance(step, Loop):
            first = _number_kernels(step.body.steps, first)
    return first


def _sibling(kernel: Kernel, steps: list[Kernel | Apply]) -> Kernel | None:
    """An earlier kernel that can compute ``kernel``'s results in its own loop nest.

    It must loop over the same domain (the same ranks, and for every dim an array length both
    loops take their bound from), and everything ``kernel`` reads must already exist where that
    kernel runs. Reductions may share a loop only over the same innermost axes.
    """
    made_after: set[int] = set()
    for step in reversed(steps):
        outputs = [r.var for r in step.results] if isinstance(step, Kernel) else [step.output]
        made_after.update(id(v) for v in outputs)
        if not isinstance(step, Kernel) or step.ndim != kernel.ndim or step.broadcastable != kernel.broadcastable:
            continue
        if any(id(v) in made_after for v in kernel.params):
            return None  # it reads something made at or after this step: no earlier one works either
        if kernel.axes and step.axes and kernel.axes != step.axes:
            continue
        if (kernel.axes or step.axes) and not (kernel.reduces_suffix and step.reduces_suffix):
            continue
        if all(
            kernel.broadcastable[d] or set(kernel.dim_sources(d)) & set(step.dim_sources(d)) for d in range(kernel.ndim)
        ):
            return step
    return None


def constants_of(program: Program) -> list[Constant]:
    """Array constants the program reads (scalars live inside kernel expressions)."""
    seen: dict[int, Constant] = {}
    reads: list[Variable] = list(program.outputs)
    for step in program.steps:
        reads.extend(step.params if isinstance(step, Kernel) else step.inputs)
        if isinstance(step, Loop):
            reads.extend(constants_of(step.body))
    for var in reads:
        if isinstance(var, Constant):
            seen.setdefault(id(var), var)
    return list(seen.values())
