"""Lowering: from an optimized graph to a :class:`Program` of fused kernels and driver steps.

A *kernel* is one loop nest. Its root is an elementwise or reduction node; every elementwise
producer that feeds only this kernel, over the same loop domain, is substituted into the root's
SymPy expression (fusion is substitution), so a chain like ``exp(-x**2/2) * sin(3*x)`` becomes one
loop with no temporaries. Dimshuffles (transposes, broadcast dims) read by a kernel cost nothing:
they only change how the kernel indexes its input. A reduction absorbs the elementwise expression it
reduces, so ``sum((a - b)**2)`` is one loop as well.

The gradient of a slice (``SubtensorGrad``: zeros shaped like ``x`` with ``g`` written at
``x[1:]``) is read by its consumer through a *guarded* leaf: at point ``i`` the kernel reads
``g[i - 1] if i >= 1 else 0``, so the sum of the gradients of ``x[1:]`` and ``x[:-1]`` is one loop
over ``x``'s elements, with no zero-filled arrays and no passes of their own.

Everything else (matrix products, views, slicing) is a *driver step*: one line of NumPy in the
generated driver function, between kernel calls. A ``Map`` node (the rows of a Jacobian) becomes a
:class:`Loop`: its inner graph is lowered to a program of its own, run once per row. The ``Scan``
nodes of one loop (each gives one of its results) become one :class:`ScanLoop`, whose body runs
once per time step.
"""

from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field

import sympy

from symgrad.graph import Apply, Constant, Variable, toposort
from symgrad.ifelse import IfElse
from symgrad.ops.elemwise import Elemwise, sym
from symgrad.ops.loop import Map
from symgrad.ops.reduce import Reduce
from symgrad.ops.scan import Scan, ScanCore
from symgrad.ops.shape import DimShuffle, Subtensor, SubtensorGrad
from symgrad.ops.substitution import substitute
from symgrad.rewrite import optimize, rebuild


@dataclass(eq=False)
class Leaf:
    """A materialized value read by a kernel, and how: ``index[d]`` is the loop dim that array
    dim ``d`` follows, or ``None`` to read element 0 (a broadcast dimension).

    A *guarded* leaf (``shift`` given) is read at loop index ``index[d]`` plus ``shift[d]``; its
    lengths are not the loop's, so the read tests its own bounds (``kernel_body.leaf_read``), and
    a condition of the kernel's expression decides where its value counts (``_Fuser._padded``).
    """

    var: Variable
    index: tuple[int | None, ...]
    symbol: sympy.Symbol
    shift: tuple[int, ...] | None = None


# A guarded leaf's moves along its dims (see Leaf); None for a plain read.
Shift = tuple[int, ...] | None


def loop_index(dim: int) -> sympy.Symbol:
    """The loop index of dim ``dim`` in a kernel's expressions (``i0``; printed as itself)."""
    return sympy.Symbol(f"i{dim}", integer=True, nonnegative=True)


def loop_length(dim: int) -> sympy.Symbol:
    """The length of loop dim ``dim`` in a kernel's expressions (``n0``; printed as itself)."""
    return sympy.Symbol(f"n{dim}", integer=True, nonnegative=True)


@dataclass(eq=False)
class Result:
    """One value a kernel computes: over the whole loop nest, or reduced over ``axes``."""

    var: Variable
    node: Apply
    expr: sympy.Expr  # the value at one point of the loop nest, in the leaves' symbols
    reduction: str | None = None
    axes: tuple[int, ...] = ()  # the reduced loop dims
    # A shared variable whose buffer this result is written into, in place (an update); see
    # _write_in_place for when that is safe.
    target: Variable | None = None


# The most weight (see Kernel.weight) one kernel holds (see _sibling), and the most one kernel's
# expressions take by inlining producers (see _Fuser._visit).
MAX_FUSED = 200
# What one call of a transcendental function (exp, sin, ...) weighs in a kernel, against 1 for a
# result or a local: codegen.vecmath's functions are inlined, tens of instructions each, and Numba
# and LLVM take more than linear time in the size of one function (100 chained vecmath sin calls
# compiled in 3.9 s, 200 in 11.3 s). Without it, a kernel of 200 results and locals held up to
# hundreds of calls: a sum of 400 terms sin(x*c_i) and its gradient was one kernel of 834.
HEAVY_WEIGHT = 4
# The most producers inlined into one another in a chain (a sum of 1,000 terms, each used once):
# deeper, inlining recursed past Python's limit; the producer at this depth gets its own kernel.
MAX_INLINE_DEPTH = 100
# The most arithmetic operations that one guarded read (a slice's gradient) recomputes of values
# other kernels read too, rather than reading them from an array (see _Fuser._visit).
SHIFTED_BUDGET = 12
# Functions that compile to a compare or a bit operation, not a library call.
_CHEAP_FUNCTIONS = (sympy.Max, sympy.Min, sympy.Abs, sympy.Piecewise, sympy.sign, sympy.floor, sympy.ceiling)


def heavy_calls(expr: sympy.Expr) -> int:
    """The distinct calls of transcendental functions in ``expr`` (repeats are computed once)."""
    return sum(1 for f in expr.atoms(sympy.Function) if not isinstance(f, _CHEAP_FUNCTIONS))


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
    # Bindings holding the value of a graph variable (a result other results read): printed
    # under the variable's name where it has one.
    bound: dict[sympy.Symbol, Variable] = field(default_factory=dict)
    # Calls of transcendental functions in the expressions (see heavy_calls), kept as they grow.
    heavy: int = 0
    # The ranks of the arrays the leaves read, added up: an array read weighs its rank (the index
    # arithmetic of each read) in the kernel's weight, as Numba and LLVM take time quadratic in the
    # arrays one deep loop nest reads (a sum of 16, 32, 64, 100 rank-6 arrays compiled in 1.9, 3.2,
    # 8.9, 21 s; of rank-1 arrays, about linear: 0.5, 0.8, 1.7, 2.7 s).
    reads: int = 0

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
        """(variable, array dim) pairs whose length gives loop dim ``dim`` (guarded leaves have
        lengths of their own)."""
        pairs = []
        for leaf in self.leaves:
            if leaf.shift is not None:
                continue
            for d, loop_dim in enumerate(leaf.index):
                if loop_dim == dim and (leaf.var, d) not in pairs:
                    pairs.append((leaf.var, d))
        return pairs

    @property
    def cost(self) -> int:
        """Estimated work per loop iteration: 1 per arithmetic operation or comparison, 10 per
        call of a transcendental function (exp, sin, ...), which takes tens of cycles. Decides
        when threads pay off."""
        exprs = [e for _, e in self.bindings] + [r.expr for r in self.results]
        return max(1, sum(sympy.count_ops(e) for e in exprs) + 9 * self.heavy)

    @property
    def weight(self) -> int:
        """How much compiling the kernel costs, roughly: its results and locals (lines),
        :data:`HEAVY_WEIGHT` for each call of a transcendental function, and the rank of each
        array it reads."""
        return len(self.results) + len(self.bindings) + HEAVY_WEIGHT * self.heavy + self.reads

    @property
    def parallelizable(self) -> bool:
        """Whether the outermost loop can be a ``prange``: no race on any result, and no guarded
        read along it. (Numba's ``prange`` loop ran a guarded read, ``x[i0 - 1] if i0 >= 1``,
        2-3 times slower per thread than ``range``: a Hessian-vector product's one loop over 1e6
        elements took 4.7-8.1 ms on one thread, against 1.7-2.9 ms for the serial loop.)"""
        # A reduction over axis 0 is reduced in fixed chunks (see cpu_kernels._chunked_reduction).
        guarded_outer = any(leaf.shift is not None and 0 in leaf.index for leaf in self.leaves)
        return not all(self.broadcastable) and not guarded_outer  # a single point: nothing to share out

    def _bind(self, result: Result) -> sympy.Symbol:
        """A local holding ``result``'s value, for other results to read (keeps expressions small:
        substituting the expression itself would copy it into every reader)."""
        if isinstance(result.expr, sympy.Symbol) and any(result.expr == local for local, _ in self.bindings):
            return result.expr
        local = sympy.Symbol(f"s{len(self.bindings)}", real=True)
        self.bindings.append((local, result.expr))
        self.bound[local] = result.var
        result.expr = local
        return local

    def absorb(self, other: Kernel) -> None:
        """Take over ``other``'s results: one loop nest computes both kernels' values.

        Where ``other`` reads one of this kernel's elementwise results (at the element being
        computed, see _sibling), it uses the value just computed instead of loading it back.
        """
        renames: dict[sympy.Symbol, sympy.Expr] = {}
        for leaf in other.leaves:
            mine = next((r for r in self.results if r.var is leaf.var and r.reduction is None), None)
            if mine is not None and leaf.shift is None:
                renames[leaf.symbol] = self._bind(mine)
                continue
            renames[leaf.symbol] = _Fuser._leaf(self, leaf.var, leaf.index, leaf.shift)
        for local, expr in other.bindings:
            renames[local] = sympy.Symbol(f"s{len(self.bindings)}", real=True)
            self.bindings.append((renames[local], expr.xreplace(renames)))
            if local in other.bound:
                self.bound[renames[local]] = other.bound[local]
        for r in other.results:
            self.results.append(Result(r.var, r.node, r.expr.xreplace(renames), r.reduction, r.axes))
        self.heavy += other.heavy


@dataclass(eq=False)
class Branch:
    """An ``ifelse``: the steps only the true branch needs, and those only the false one needs,
    run inside an ``if``/``else`` on the condition, so the branch not taken costs nothing."""

    node: Apply
    then_steps: list[Step]
    else_steps: list[Step]


def walk(steps: list[Step]) -> list[Kernel | Apply | Loop]:
    """Every step, branches flattened in order (a Branch as its ifelse node); loops stay whole."""
    flat: list[Kernel | Apply | Loop] = []
    for step in steps:
        if isinstance(step, Branch):
            flat += walk(step.then_steps) + walk(step.else_steps) + [step.node]
        else:
            flat.append(step)
    return flat


@dataclass(eq=False)
class Program:
    """What the code generator prints: inputs, ordered steps, outputs and shared-variable updates.

    ``shared`` are the shared variables the program reads or updates (implicit inputs); each of
    ``updates`` pairs one of them with the variable holding its new value. Updates whose value a
    kernel writes straight into the shared buffer are marked on that kernel's result (``target``);
    the others are stored after the outputs are computed.
    """

    inputs: list[Variable]
    outputs: list[Variable]
    steps: list[Step]
    shared: list[Variable] = field(default_factory=list)
    updates: list[tuple[Variable, Variable]] = field(default_factory=list)

    def deferred_updates(self) -> list[tuple[Variable, Variable]]:
        """The updates not written in place by a kernel: stored when the call ends."""
        kernels = [s for s in walk(self.steps) if isinstance(s, Kernel)]
        in_place = {id(r.target) for k in kernels for r in k.results if r.target is not None}
        return [(target, value) for target, value in self.updates if id(target) not in in_place and value is not target]


@dataclass(eq=False)
class Loop:
    """A ``Map`` node as a loop: ``body`` computes row ``i`` from the index and the placeholders
    (its inputs, bound to the Map node's outer values); the driver stores each row in the result.

    ``bound`` pairs each placeholder the body reads with its outer value: one placeholder per
    distinct non-constant value (see _loop). ``output`` and ``inputs`` are the node's, so the
    outer program treats a loop like any step.
    """

    node: Apply
    body: Program
    bound: list[tuple[Variable, Variable]]

    @property
    def row(self) -> Variable:
        """The body's output: row ``i`` of the result."""
        return self.body.outputs[0]

    @property
    def output(self) -> Variable:
        return self.node.output

    @property
    def inputs(self) -> tuple[Variable, ...]:
        return self.node.inputs

    @property
    def outputs(self) -> list[Variable]:
        return [self.node.output]


@dataclass(eq=False)
class ScanLoop(Loop):
    """The ``Scan`` nodes of one loop (``nodes``, the results the graph reads) as one ``for`` over
    the time steps: ``body`` computes every state's next value and every output's row from the
    slots (the sequences' rows, the states' taps) and the placeholders in ``bound``."""

    nodes: list[Apply] = field(default_factory=list)
    #: The loop run: of the nodes' loops, the one with the most results (see ``ScanCore.root``).
    core: ScanCore | None = None

    @property
    def outputs(self) -> list[Variable]:
        return [n.output for n in self.nodes]


Step = Kernel | Apply | Branch | Loop


def _kernel_name(index: int, node: Apply) -> str:
    op = node.op
    if isinstance(op, Reduce):
        label = op.reduction
    else:
        label = "slice_grad" if isinstance(op, SubtensorGrad) else (op.name or "fused")
    label = "".join(c if c.isalnum() else "_" for c in label).strip("_") or "fused"
    return f"k{index}_{label}"


def _light_first(nodes: list[Apply]) -> list[Apply]:
    """``nodes`` reordered so that scalar work which needs no array work (``1/n`` of a mean's
    gradient, from the input's length) comes first: computed early, it keeps a kernel that reads
    it free to share the loop of a reduction over the same data (the cost and its gradient in one
    pass) instead of waiting for the kernel that the scalar would otherwise join. So do the slices
    of inputs (``x[1:]``, views that cost nothing): a kernel reading a slice first needed late
    could otherwise not join the loop of an earlier kernel over the same elements (the two halves
    of a Hessian-vector product)."""
    light: set[int] = set()
    for node in nodes:
        scalar = node.output.ndim == 0 and not isinstance(node.op, Reduce)
        after_light = all(i.owner is None or id(i.owner) in light for i in node.inputs)
        if (scalar or isinstance(node.op, Subtensor)) and after_light:
            light.add(id(node))
    return [n for n in nodes if id(n) in light] + [n for n in nodes if id(n) not in light]


class _Fuser:
    def __init__(self, outputs: list[Variable]) -> None:
        self.nodes = _light_first(toposort(outputs))
        self.depth = 0  # producers being inlined, one inside the other
        self.weight = 0  # the weight (see Kernel.weight) inlined into the kernel being built
        self.budget = 0  # operations a guarded read may still recompute (see _padded)
        # Uses that read values. An elementwise input whose symbol the expression never mentions
        # only lends its shape (as in the gradient of a sum, ``ones_like(x) * g``); such a use does
        # not stop x from fusing into its real consumer, and the kernel takes its loop bounds from
        # another argument, or from a materialized variable of the same shape (_shape_source).
        self.clients: Counter[int] = Counter()
        for node in self.nodes:
            used = node.op.expr.free_symbols if isinstance(node.op, Elemwise) else None
            for i, inp in enumerate(node.inputs):
                if (used is None or sym(i) in used) and not (i == 0 and padding(node) is not None):
                    self.clients[id(inp)] += 1
        for out in outputs:
            self.clients[id(out)] += 2  # an output is always materialized
        self.outputs = {id(out) for out in outputs}

    def kernel(self, node: Apply) -> Kernel:
        op = node.op
        self.weight = 0
        if isinstance(op, Reduce):
            body = node.inputs[0]
            k = Kernel(_kernel_name(0, node), body.ndim, body.broadcastable)
            expr = self._visit(k, body, tuple(range(body.ndim)), may_inline=True)
            k.results.append(Result(node.output, node, expr, op.reduction, op.axes))
        elif isinstance(op, Elemwise):
            out = node.output
            k = Kernel(_kernel_name(0, node), out.ndim, out.broadcastable)
            k.results.append(Result(out, node, self._inline(k, node, tuple(range(out.ndim)), absorb=True)))
        else:  # a slice's gradient (see padding)
            out = node.output
            k = Kernel(_kernel_name(0, node), out.ndim, out.broadcastable)
            k.results.append(Result(out, node, self._padded(k, node, tuple(range(out.ndim)))))
        self._cover_loop_dims(k)
        k.heavy = sum(heavy_calls(e) for e in [*(e for _, e in k.bindings), *(r.expr for r in k.results)])
        return k

    def _padded(self, k: Kernel, node: Apply, index: tuple[int, ...], may_inline: bool = True) -> sympy.Expr:
        """The value at the loop's point of ``node``, zeros like ``x`` with ``g`` at a block of
        ``x`` (``padding(node)``): ``g`` read ``start`` elements back where the point is inside the
        block, 0 elsewhere. ``x`` only lends the loop its lengths. ``g``'s producers are inlined
        as usual, their reads moved by the same amount (``x[:-1]`` read at ``i - 1``): the kernel
        computes the slice's gradient where it adds it."""
        x, g = node.inputs
        bounds = padding(node)
        conditions = []
        for d, (start, stop) in enumerate(bounds):
            i = loop_index(index[d])
            if start:
                conditions.append(i >= start)
            if stop is not None:
                conditions.append(i < (loop_length(index[d]) + stop if stop < 0 else stop))
        k.shape_only.append((x, index))
        if not conditions:  # the block is the whole of x
            return self._visit(k, g, index, may_inline)
        self.budget = SHIFTED_BUDGET
        read = self._visit(k, g, index, may_inline, tuple(-(start or 0) for start, _ in bounds))
        return sympy.Piecewise((read, sympy.And(*conditions)), (0, True))

    def _inline(
        self, k: Kernel, node: Apply, index: tuple[int | None, ...], absorb: bool, shift: Shift = None
    ) -> sympy.Expr:
        """``node``'s expression over ``index`` (moved by ``shift``, under a guard; see _padded);
        ``absorb``: its producers may be inlined too."""
        expr = node.op.expr
        values = {}
        for i, inp in enumerate(node.inputs):
            if not expr.has(sym(i)):
                if shift is None:  # under a guard, the input's lengths are not the loop's
                    k.shape_only.append((inp, index))
                continue
            value = self._visit(k, inp, index, absorb, shift)
            if not value.is_Atom and expr.count(sym(i)) > 1:
                local = sympy.Symbol(f"s{len(k.bindings)}", real=True)
                k.bindings.append((local, value))
                value = local
            values[sym(i)] = value
        return substitute(expr, values)

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

    def _visit(
        self, k: Kernel, var: Variable, index: tuple[int | None, ...], may_inline: bool, shift: Shift = None
    ) -> sympy.Expr:
        """``var``'s value at the loop's point (moved by ``shift``, under a guard; see _padded)."""
        owner = var.owner
        single_client = self.clients[id(var)] == 1
        # A cheap node is recomputed by each consumer rather than stored and loaded, unless it is
        # an output (stored anyway): then a consumer in the same loop domain shares its loop
        # nest and uses the value directly (_sibling), which beats recomputing it. Read a few
        # elements away (a slice's gradient), no loop can share it: up to SHIFTED_BUDGET more
        # operations, with their own producers, are recomputed rather than stored in a pass.
        elementwise = owner is not None and isinstance(owner.op, Elemwise)
        cheap = elementwise and id(var) not in self.outputs and _cheap(owner, 2 if shift is None else self.budget)
        # The kernel stops taking producers when it weighs MAX_FUSED (a sum of thousands of terms,
        # each used once, flattens into one expression): the producer gets its own kernel.
        small = self.depth < MAX_INLINE_DEPTH and self.weight + k.reads < MAX_FUSED
        if elementwise and may_inline and (single_client or cheap) and small:
            if self._at_point(k, var, index):
                self.weight += 1 + HEAVY_WEIGHT * heavy_calls(owner.op.expr)
                # A cheap node recomputed in several kernels reads its own inputs as arrays, or the
                # duplication would snowball through everything beneath it (under a guard, the
                # budget bounds it).
                if shift is not None and not single_client:
                    self.budget -= sympy.count_ops(owner.op.expr)
                self.depth += 1
                try:
                    return self._inline(k, owner, index, single_client or shift is not None, shift)
                finally:
                    self.depth -= 1
        if padding(owner) is not None and shift is None and single_client and self._at_point(k, var, index):
            return self._padded(k, owner, index, may_inline)
        if owner is not None and isinstance(owner.op, DimShuffle):
            # Read through the view: map the source's dims to the loop dims they follow.
            source = owner.inputs[0]
            source_index: list[int | None] = [None] * source.ndim
            for position, d in enumerate(owner.op.new_order):
                if d != "x":
                    source_index[d] = index[position]
            source_shift = None
            if shift is not None:
                source_shift = [0] * source.ndim
                for position, d in enumerate(owner.op.new_order):
                    if d != "x":
                        source_shift[d] = shift[position]
                source_shift = tuple(source_shift)
            permutation_only = "x" not in owner.op.new_order and source.ndim == var.ndim
            inline = may_inline and single_client and permutation_only
            return self._visit(k, source, tuple(source_index), inline, source_shift)
        return self._leaf(k, var, index, shift)

    @staticmethod
    def _at_point(k: Kernel, var: Variable, index: tuple[int | None, ...]) -> bool:
        """Whether ``var``, read at ``index``, has the loop's domain: each of its dims follows a
        loop dim of the same broadcast pattern, and every loop dim is followed."""
        covered = {i for i in index if i is not None}
        return all(i is not None and var.broadcastable[d] == k.broadcastable[i] for d, i in enumerate(index)) and all(
            k.broadcastable[i] or i in covered for i in range(k.ndim)
        )

    @staticmethod
    def _leaf(k: Kernel, var: Variable, index: tuple[int | None, ...], shift: Shift = None) -> sympy.Symbol:
        effective = tuple(None if var.type.shape[d] == 1 else i for d, i in enumerate(index))
        if shift is not None:  # a broadcast dim reads element 0 wherever the point is
            shift = tuple(0 if i is None else s for i, s in zip(effective, shift))
            shift = shift if any(i is not None for i in effective) else None
        for leaf in k.leaves:
            if leaf.var is var and leaf.index == effective and leaf.shift == shift:
                return leaf.symbol
        leaf = Leaf(var, effective, sympy.Symbol(f"L{len(k.leaves)}", real=True), shift)
        k.leaves.append(leaf)
        k.reads += var.ndim
        return leaf.symbol


def padding(node: Apply | None) -> list[tuple[int | None, int | None]] | None:
    """For a slice's gradient ``SubtensorGrad(x, g)`` whose index is a block of consecutive
    elements (slices of step 1, bounds constant, starts counted from the front), the block's
    ``(start, stop)`` in each dim of ``x``; ``None`` for any other node. Lowering reads such a
    gradient in place (``_Fuser._padded``); other indices (steps, negative starts, integer or
    symbolic entries) keep the rule that writes ``g`` into zeros."""
    if node is None or not isinstance(node.op, SubtensorGrad):
        return None
    x, g = node.inputs[:2]
    if len(node.inputs) > 2 or g.ndim != x.ndim:
        return None
    bounds = []
    for d in range(x.ndim):
        start, stop, step = node.op.index[d] if d < len(node.op.index) else (None, None, None)
        if not all(p is None or isinstance(p, int) for p in (start, stop, step)) or step not in (None, 1):
            return None
        if (start is not None and start < 0) or ((start or stop is not None) and x.broadcastable[d]):
            return None
        bounds.append((start, stop))
    return bounds


def _cheap(node: Apply, operations: int) -> bool:
    """An elementwise op cheaper to recompute in each consumer than to store and load again:
    at most ``operations`` arithmetic operations, no function calls (``a + b``, ``x - m``, ``x > 0``)."""
    expr = node.op.expr
    return sympy.count_ops(expr) <= operations and not expr.atoms(sympy.Function)


def lower(
    inputs: list[Variable],
    outputs: list[Variable],
    shared: list[Variable] = (),
    updates: list[tuple[Variable, Variable]] = (),
) -> Program:
    """Group the graph of ``outputs`` and update values into kernels and driver steps, in order."""
    program = Program(list(inputs), list(outputs), _steps(list(outputs) + [v for _, v in updates]), list(shared),
                      list(updates))  # fmt: skip
    for target, value in updates:
        _write_in_place(program, target, value)
    _drop_unread_results(program)
    return program


def _drop_unread_results(program: Program) -> None:
    """Stop storing kernel results that nothing reads any more: a value whose readers all joined
    its kernel's loop nest (see _sibling) is used there as a local and never needs an array."""
    read = {id(v) for v in program.outputs} | {id(v) for _, v in program.updates}
    steps = walk(program.steps)
    for step in steps:
        read.update(id(v) for v in (step.params if isinstance(step, Kernel) else step.inputs))
    for step in steps:
        if isinstance(step, Kernel):
            step.results = [r for r in step.results if r.target is not None or id(r.var) in read]


Region = tuple[tuple[int, int], ...]  # nested (ifelse condition id, 0 for then / 1 for else) pairs


def _regions(nodes: list[Apply], outputs: list[Variable]) -> dict[int, Region]:
    """For each node, the innermost ifelse branch that alone needs its value (``()``: none).

    A node read by one branch of an ifelse belongs to that branch; a node read from several
    places belongs to the innermost region they share. Branches are named by their condition, so
    that the same branch of two ifelses on one condition is one region: a gradient through an
    ifelse is gated by a second ifelse on its condition, and the forward values it reads (the
    maximum a max's gradient compares with) are computed only when that branch is taken.
    """
    readers: dict[int, list[tuple[Apply, int]]] = {}
    for node in nodes:
        for position, inp in enumerate(node.inputs):
            readers.setdefault(id(inp), []).append((node, position))
    wanted = {id(v) for v in outputs}
    regions: dict[int, Region] = {}
    for node in reversed(nodes):
        if id(node.output) in wanted:
            regions[id(node)] = ()
            continue
        found: list[Region] = []
        for reader, position in readers.get(id(node.output), []):
            region = regions[id(reader)]
            if isinstance(reader.op, IfElse) and position and reader.inputs.count(node.output) == 1:
                region = region + ((id(reader.inputs[0]), position - 1),)
            found.append(region)
        common = found[0] if found else ()
        for region in found[1:]:
            length = next((i for i, (a, b) in enumerate(zip(common, region)) if a != b), min(len(common), len(region)))
            common = common[:length]
        regions[id(node)] = common
    return regions


def _is_ifelse(step: Kernel | Apply) -> bool:
    return isinstance(step, Apply) and isinstance(step.op, IfElse)


def _nest(steps: list[Kernel | Apply], region_of: dict[int, Region], region: Region = ()) -> list[Step]:
    """The steps of ``region``, each ifelse node replaced by a Branch holding its branches' steps.

    A step of a branch goes into the first ifelse on that branch's condition that follows it:
    everything it reads outside the branch exists by then, and a later ifelse on the same
    condition may read what it computed (the condition, and so the branch taken, is the same).
    """
    depth = len(region)
    owner: dict[int, int] = {}  # step position -> position of the ifelse whose branch holds it
    for i, step in enumerate(steps):
        inner = region_of[id(step)]
        if len(inner) > depth and inner[:depth] == region:
            condition = inner[depth][0]
            owner[i] = next(
                j for j in range(i + 1, len(steps))
                if region_of[id(steps[j])] == region and _is_ifelse(steps[j]) and id(steps[j].inputs[0]) == condition
            )  # fmt: skip
    nested: list[Step] = []
    for i, step in enumerate(steps):
        if region_of[id(step)] != region:
            continue
        if _is_ifelse(step):
            branches = []
            for side in (0, 1):
                held = [steps[k] for k, j in owner.items() if j == i and region_of[id(steps[k])][depth][1] == side]
                branches.append(_nest(held, region_of, region + ((id(step.inputs[0]), side),)))
            nested.append(Branch(step, *branches))
        else:
            nested.append(step)
    return nested


def _steps(outputs: list[Variable]) -> list[Step]:
    fuser = _Fuser(outputs)
    regions = _regions(fuser.nodes, outputs)
    kernels: dict[int, Kernel] = {}
    # Keep only what is read: outputs, kernel arguments and the inputs of needed driver steps.
    # Consumers first, so each decides which producers it absorbs before they are visited; a
    # producer gets a kernel of its own only if something still reads it (a cheap one may be
    # absorbed by some consumers and read by others). Building only these keeps a long chain of
    # single-use nodes linear: each would otherwise inline every node beneath it.
    needed = {id(v) for v in outputs}
    for node in reversed(fuser.nodes):
        if id(node.output) not in needed:
            continue
        if isinstance(node.op, (Elemwise, Reduce)) or padding(node) is not None:
            kernels[id(node)] = fuser.kernel(node)
        reads = kernels[id(node)].params if id(node) in kernels else node.inputs
        needed.update(id(v) for v in reads)

    steps: list[Kernel | Apply] = []
    region_of: dict[int, Region] = {}  # by step
    in_region: dict[Region, set[int]] = {}  # the kernels of each region, by id: the hosts _sibling may pick
    # The Scan nodes of one loop, and of that loop with residuals added for a gradient, are one loop.
    scans: dict[tuple, ScanLoop] = {}
    largest: dict[tuple, ScanCore] = {}
    for node in fuser.nodes:
        if isinstance(node.op, Scan) and id(node.output) in needed:
            key = _loop_key(node)
            if key not in largest or len(node.op.core.steps) > len(largest[key].steps):
                largest[key] = node.op.core
    for node in fuser.nodes:
        if id(node.output) not in needed:
            continue
        if id(node) in kernels:
            kernel = kernels[id(node)]
            host = _sibling(kernel, steps, in_region.setdefault(regions[id(node)], set()))
            if host is None:
                steps.append(kernel)
                region_of[id(kernel)] = regions[id(node)]
                in_region[regions[id(node)]].add(id(kernel))
            else:
                host.absorb(kernel)
        elif isinstance(node.op, Scan) and _loop_key(node) in scans:
            scans[_loop_key(node)].nodes.append(node)  # one loop computes every result of a scan
        else:
            if isinstance(node.op, Scan):
                step = scans[_loop_key(node)] = _scan_loop(node, largest[_loop_key(node)])
            else:
                step = _loop(node) if isinstance(node.op, Map) else node
            steps.append(step)
            region_of[id(step)] = regions[id(node)]
    nested = _nest(steps, region_of)
    _number_kernels(nested)
    return nested


def _write_in_place(program: Program, target: Variable, value: Variable) -> None:
    """Let the kernel computing ``value`` store it straight into ``target``'s buffer, if safe.

    Safe when nothing reads the old value after that kernel, and the kernel itself reads it only
    at the very element it writes (it computes every result of an iteration before storing any).
    Anything that may share ``target``'s memory counts as reading it: driver steps are assumed
    to return views of their inputs.
    """
    aliases = {id(target)}
    found = None
    steps = walk(program.steps)
    for position, step in enumerate(steps):
        if isinstance(step, Kernel):
            result = next((r for r in step.results if r.var is value and r.reduction is None), None)
            if result is not None:
                found = position, step, result
        elif any(id(i) in aliases for i in step.inputs):
            aliases.update(id(v) for v in (step.outputs if isinstance(step, Loop) else [step.output]))
    if found is None or target.ndim == 0:
        return
    position, kernel, result = found
    reads = [leaf for leaf in kernel.leaves if id(leaf.var) in aliases]
    in_step = all(
        leaf.var is target
        and leaf.shift is None
        and all(i == d or (i is None and kernel.broadcastable[d]) for d, i in enumerate(leaf.index))
        for leaf in reads
    )
    if not reads or not in_step or kernel.ndim != target.ndim:
        return
    later = steps[position + 1 :]
    read_later = [v for s in later for v in (s.params if isinstance(s, Kernel) else s.inputs)]
    others = [v for t, v in program.updates if v is not value] + program.outputs
    if any(id(v) in aliases for v in read_later + others):
        return
    if any(v is value for v in read_later + others) or sum(r.var is value for r in kernel.results) > 1:
        return
    result.target = target


def _loop(node: Apply) -> Loop:
    """The Map node's inner graph, lowered like any program: its inputs are the index and the
    placeholders, its one output the row (see ``loop_body``)."""
    row, bound = loop_body(node)
    return Loop(node, lower([node.op.index, *(placeholder for placeholder, _ in bound)], [row]), bound)


def _loop_key(node: Apply) -> tuple:
    return (id(node.op.core.root), *(id(v) for v in node.inputs))


def _scan_loop(node: Apply, core: ScanCore) -> ScanLoop:
    """The loop ``core`` (``node``'s, or one computing more results) on ``node``'s inputs, lowered
    like a Map's: the body's inputs are the slots and placeholders."""
    steps, bound = scan_body(node, core)
    body = lower([*core.varying_slots, *(placeholder for placeholder, _ in bound)], steps)
    return ScanLoop(node, body, bound, [node], core)


def scan_body(node: Apply, core: ScanCore | None = None) -> tuple[list[Variable], list[tuple[Variable, Variable]]]:
    """What the loop ``core`` (by default ``node``'s) computes each step on ``node``'s inputs, and
    the (placeholder, outer value) pairs it reads: the body rebuilt as ``loop_body`` rebuilds a
    Map's row, then optimized as the outer graph was (its gradient stops, kept until the gradients
    were taken, go). The same object for every call on one loop with the same inputs: its nodes
    are numbered for error messages."""
    core = core or node.op.core
    bodies = _optimized_bodies.setdefault(core, [])
    for inputs, steps, bound in bodies:
        if all(a is b for a, b in zip(inputs, node.inputs)):
            return steps, bound
    first_bound = len(node.inputs) - len(core.bound_slots)
    replace, bound = _bind(core.bound_slots, node.inputs[first_bound:])
    steps = optimize(rebuild(list(core.steps), replace))
    bodies.append((node.inputs, steps, bound))
    return steps, bound


# Scan bodies as lowered, by loop: optimized once (see scan_body).
_optimized_bodies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bind(
    placeholders: tuple[Variable, ...], values: tuple[Variable, ...]
) -> tuple[dict[Variable, Variable], list[tuple[Variable, Variable]]]:
    """Which placeholders of a loop body to replace (by a constant, or by the one placeholder kept
    for their value), and the (placeholder, outer value) pairs kept (see ``loop_body``)."""
    replace: dict[Variable, Variable] = {}
    kept: dict[int, Variable] = {}  # id(outer value) -> the placeholder that stands for it
    bound: list[tuple[Variable, Variable]] = []
    for placeholder, value in zip(placeholders, values):
        if isinstance(value, Constant):
            replace[placeholder] = value
        elif id(value) in kept:
            replace[placeholder] = kept[id(value)]
        else:
            kept[id(value)] = placeholder
            bound.append((placeholder, value))
    return replace, bound


def loop_body(node: Apply) -> tuple[Variable, list[tuple[Variable, Variable]]]:
    """The row a Map node's loop computes, and the (placeholder, outer value) pairs it reads.

    The printers name each placeholder after its outer value (the body reads the value where the
    outer program put it), so every outer value must reach the body through one variable only.
    Rewrites of the outer graph can break that after the Map was built: two placeholders end up
    bound to one node (``1/size(2*x - 1)`` and ``1/size(x)`` merge), or one to a constant that the
    body also reads directly; a kernel reading both would take two arguments of one name. So the
    row is rebuilt with a constant in place of its placeholder and one placeholder for each
    distinct value.
    """
    replace, bound = _bind(node.op.placeholders, node.inputs[2:])
    (row,) = rebuild([node.op.row], replace)
    return row, bound


def _number_kernels(steps: list[Step], first: int = 0) -> int:
    """Name kernels k0, k1, ... in the order they are printed, loop bodies and branches included,
    so no two kernels of a module share a name. Returns the next free number."""
    for step in steps:
        if isinstance(step, Branch):
            first = _number_kernels(step.then_steps + step.else_steps, first)
        elif isinstance(step, Kernel):
            step.name = _kernel_name(first, step.results[0].node)
            first += 1
        elif isinstance(step, Loop):
            first = _number_kernels(step.body.steps, first)
    return first


def _sibling(kernel: Kernel, steps: list[Kernel | Apply], candidates: set[int]) -> Kernel | None:
    """An earlier kernel, one of ``candidates``, that can compute ``kernel``'s results in its own
    loop nest.

    It must loop over the same domain (the same ranks, and for every dim an array length both
    loops take their bound from), and everything ``kernel`` reads must already exist where that
    kernel runs. Reductions share a loop only over the same axes; elementwise work joins any
    reduction, also one over outer axes (a bias's gradient, sum over axis 0), whose results
    accumulate into arrays of the kept dims. The two together weigh at most :data:`MAX_FUSED`
    (see ``Kernel.weight``): checking a host and absorbing into it cost time in its size, which
    made the lowering of a long chain fused into one kernel quadratic, and Numba's compile time
    grows more than linearly in a kernel's size (benchmarks/graph_size.py).
    """
    made_after: set[int] = set()
    for step in reversed(steps):
        if any(id(v) in made_after for v in kernel.params):
            return None  # it reads something made after this step: no earlier one works either
        outputs = [r.var for r in step.results] if isinstance(step, Kernel) else [step.output]
        made_after.update(id(v) for v in outputs)
        reads_step = any(id(v) in made_after for v in kernel.params)
        if id(step) not in candidates:  # in another ifelse branch, or not a kernel
            if reads_step:
                return None
            continue
        too_big = step.weight + kernel.weight > MAX_FUSED
        if step.ndim != kernel.ndim or step.broadcastable != kernel.broadcastable or too_big:
            if reads_step:
                return None
            continue
        if reads_step and not _reads_pointwise(kernel, step):
            return None
        if kernel.axes and step.axes and kernel.axes != step.axes:
            continue
        made_here = [(r.var, d) for r in step.results if r.reduction is None for d in range(step.ndim)]
        if all(
            kernel.broadcastable[d] or set(kernel.dim_sources(d)) & set(step.dim_sources(d) + made_here)
            for d in range(kernel.ndim)
        ):
            return step
    return None


def _reads_pointwise(kernel: Kernel, host: Kernel) -> bool:
    """Whether ``kernel`` reads ``host``'s results only as elementwise values at the point being
    computed, so one loop nest can compute them and then use them (an update that reads the new
    value of another, as Adam's parameter step reads the new moments)."""
    made = {id(r.var): r for r in host.results}
    for leaf in kernel.leaves:
        r = made.get(id(leaf.var))
        if r is None:
            continue
        if r.reduction is not None or leaf.shift is not None:
            return False
        if any(i != d and not (i is None and kernel.broadcastable[d]) for d, i in enumerate(leaf.index)):
            return False
    return True


def constants_of(program: Program) -> list[Constant]:
    """Array constants the program reads (scalars live inside kernel expressions)."""
    seen: dict[int, Constant] = {}
    reads: list[Variable] = list(program.outputs)
    for step in walk(program.steps):
        reads.extend(step.params if isinstance(step, Kernel) else step.inputs)
        if isinstance(step, Loop):
            reads.extend(constants_of(step.body))
    for var in reads:
        if isinstance(var, Constant):
            seen.setdefault(id(var), var)
    return list(seen.values())
