"""The rewrite machinery: the registry of named rules, the fixed-point driver, and the helpers rules use.

A rewrite is a small named rule in one phase. It comes in one of two forms:

- a **node rule** looks at one Apply node (of the op classes it names) and returns the variable to
  use instead of the node's output, or ``None``: ``DimShuffle(DimShuffle(x)) → DimShuffle(x)``;
- an **expression rule** looks at one subexpression of an elementwise node's SymPy expression and
  returns its replacement, or ``None``: ``log(1 + x) → log1p(x)``. It may look *through* the leaves
  of the expression into the elementwise nodes that compute them (:meth:`Scope.look`), so a pattern
  such as ``log(1 + exp(x))`` matches whether the user wrote it as one expression or as three nodes;
  only the parts the rule matched are pulled into the rewritten node.

The driver (:func:`run_phase`) walks the graph in topological order, rebuilding each node from its
rewritten inputs and offering it to every rule of the phase, round after round until a round changes
nothing: a fixed point. Every node is built through the hash-consing constructors, so equal
subgraphs stay merged (common-subexpression elimination is structural, not a pass) and nodes whose
inputs became constants fold.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from ..grad import is_gradient, mark_gradient
from ..graph import Apply, Constant, Op, Variable, apply, toposort
from ..ops.elemwise import Elemwise, make_elemwise, sym, sympy_number

#: The phases, in the order they run. canonicalize: algebraic identities and shape folding, so that
#: equal computations look alike; stabilize: numerically stable forms of naive formulas;
#: specialize: cheaper forms for this back end (BLAS transpose flags); fuse: what the loop fuser in
#: ``codegen/lower.py`` needs (gradient stops removed).
PHASES = ("canonicalize", "stabilize", "specialize", "fuse")

# A phase that keeps changing the graph after this many rounds has two rules undoing each other.
MAX_ROUNDS = 50


@dataclass(frozen=True)
class Rewrite:
    """One named rule: ``node`` (with the op classes it looks at) or ``expr``; ``doc`` is its
    pattern → replacement, the first paragraph of the rule's docstring (the rest says why)."""

    name: str
    phase: str
    doc: str
    node: Callable[[Apply, Context], Variable | None] | None = None
    ops: tuple[type[Op], ...] = ()
    expr: Callable[[sympy.Expr, Scope], sympy.Expr | None] | None = None


#: Every rewrite by name, in registration order (which is the order rules are tried in a phase).
REWRITES: dict[str, Rewrite] = {}


def _register(rule: Rewrite) -> None:
    if rule.phase not in PHASES:
        raise ValueError(f"unknown rewrite phase {rule.phase!r}; the phases are {', '.join(PHASES)}")
    if rule.name in REWRITES or rule.name in PHASES:
        raise ValueError(f"a rewrite or phase named {rule.name!r} exists already")
    REWRITES[rule.name] = rule


def _doc(fn: Callable) -> str:
    return " ".join((inspect.getdoc(fn) or "").partition("\n\n")[0].split())


def node_rewrite(phase: str, *ops: type[Op]) -> Callable:
    """Register the decorated ``fn(node, ctx) -> Variable | None`` as a node rule of ``phase``,
    offered the nodes whose op is one of ``ops``, under the function's name."""

    def register(fn: Callable[[Apply, Context], Variable | None]) -> Callable:
        _register(Rewrite(fn.__name__, phase, _doc(fn), node=fn, ops=ops))
        return fn

    return register


def expr_rewrite(phase: str) -> Callable:
    """Register the decorated ``fn(expr, scope) -> Expr | None`` as an expression rule of ``phase``,
    offered every subexpression of every elementwise node, under the function's name."""

    def register(fn: Callable[[sympy.Expr, Scope], sympy.Expr | None]) -> Callable:
        _register(Rewrite(fn.__name__, phase, _doc(fn), expr=fn))
        return fn

    return register


def resolve_exclusions(names: Iterable[str], verb: str = "exclude") -> set[str]:
    """The rewrite names ``names`` exclude (a phase name excludes all of its rules); unknown
    names raise, listing the known ones, so a typo does not silently exclude nothing (``verb``:
    what the caller does with them, for the message)."""
    excluded: set[str] = set()
    for name in names:
        if name in PHASES:
            excluded.update(r.name for r in REWRITES.values() if r.phase == name)
        elif name in REWRITES:
            excluded.add(name)
        else:
            raise ValueError(
                f"unknown rewrite {name!r} to {verb}; the phases are {', '.join(PHASES)} and the rewrites "
                f"{', '.join(REWRITES)}"
            )
    return excluded


# ------------------------------------------------------------------------------------------------
# What rules see


class Context:
    """What a node rule may ask about the graph being rewritten."""

    def __init__(self, outputs: Sequence[Variable], frozen: set[int]) -> None:
        self._frozen = frozen
        self._clients: Counter[int] = Counter(id(o) for o in outputs)
        for node in toposort(outputs):
            self._clients.update(id(i) for i in node.inputs)

    def clients(self, var: Variable) -> int | None:
        """How many times ``var`` is read (as an input or an output) in the graph this round
        started from; ``None`` for a variable made during this round (not known yet)."""
        return self._clients.get(id(var))

    def frozen(self, var: Variable) -> bool:
        """Whether ``var`` must stay as it is (``T.grad``'s ``wrt`` variables and what they need)."""
        return id(var) in self._frozen

    def owner(self, var: Variable) -> Apply | None:
        """The node computing ``var``, for a rule to look through; ``None`` for an input, a constant
        or a frozen variable (which must stay in the graph, so no rule may see past it)."""
        return None if id(var) in self._frozen else var.owner


class Scope:
    """The leaves of one elementwise node's expression during expression rewriting.

    Every distinct variable read is a SymPy symbol (``symbol``), and :meth:`look` sees through a
    leaf into the elementwise node that computes it, so patterns match across node boundaries.
    """

    def __init__(self, node: Apply, ctx: Context) -> None:
        self.dtype = node.op.dtype
        self.ctx = ctx
        self.variables: dict[sympy.Symbol, Variable] = {}
        self._symbols: dict[int, sympy.Symbol] = {}
        self._looks: dict[sympy.Symbol, sympy.Expr] = {}
        self.expr = self.translate(node.op.expr, node.inputs)

    def symbol(self, var: Variable) -> sympy.Symbol:
        """The symbol standing for ``var`` (real, so SymPy may use ``log(exp(x)) = x``)."""
        found = self._symbols.get(id(var))
        if found is None:
            found = self._symbols[id(var)] = sympy.Dummy(f"v{len(self._symbols)}", real=True)
            self.variables[found] = var
        return found

    def translate(self, expr: sympy.Expr, inputs: Sequence[Variable]) -> sympy.Expr:
        """``expr`` (in ``a0, a1, ...``) with each positional symbol replaced by its input's symbol."""
        return expr.xreplace({sym(i): self.symbol(v) for i, v in enumerate(inputs)})

    def look(self, e: sympy.Expr) -> sympy.Expr:
        """``e``, or if ``e`` is the symbol of a variable computed by an elementwise node of this
        node's dtype, that node's expression (in symbols of its own inputs); a tensor filled with
        one number (``ones_like(x)``, a constant array of 2s) is that number."""
        if not isinstance(e, sympy.Dummy) or e not in self.variables:
            return e
        if e not in self._looks:
            self._looks[e] = self._look(self.variables[e], e)
        return self._looks[e]

    def _look(self, var: Variable, symbol: sympy.Symbol) -> sympy.Expr:
        if self.ctx.frozen(var):
            return symbol
        number = uniform_number(var)
        if number is not None:
            return number
        node = self.ctx.owner(var)
        if node is None or not isinstance(node.op, Elemwise):
            return symbol
        if node.op.dtype != self.dtype:  # a cast or a comparison: its rounding is part of the value
            return symbol
        return self.translate(node.op.expr, node.inputs)


def uniform_number(var: Variable) -> sympy.Expr | None:
    """The number filling ``var`` if it is a tensor of one repeated number: a fill such as
    ``ones_like(x)`` (an elementwise node whose expression is a number) or a constant array."""
    if isinstance(var, Constant):
        flat = var.data.reshape(-1)
        if flat.size and np.all(flat == flat[0]):
            return sympy_number(flat[0])
        return None
    node = var.owner
    if node is not None and isinstance(node.op, Elemwise) and node.op.expr.is_number:
        return node.op.expr
    return None


def rewrite_expression(node: Apply, rules: Sequence[Rewrite], ctx: Context) -> tuple[Variable | None, list[str]]:
    """``node`` (elementwise) with ``rules`` applied to its expression bottom-up, and the names of the
    rules that fired; ``(None, [])`` if none did."""
    scope = Scope(node, ctx)
    fired: list[str] = []

    def visit(e: sympy.Expr) -> sympy.Expr:
        if e.args and not isinstance(e, sympy.Dummy):
            args = [visit(a) for a in e.args]
            if any(a is not b for a, b in zip(args, e.args)):
                e = e.func(*args)
        if not isinstance(e, sympy.Expr):  # conditions and the pieces of a Piecewise: no rule's root
            return e
        for _ in range(len(rules) + 1):  # each rule may enable another at the same place
            for rule in rules:
                replacement = rule.expr(e, scope)
                if replacement is not None and replacement != e:
                    fired.append(rule.name)
                    e = replacement
                    break
            else:
                return e
        return e

    new = visit(scope.expr)
    if not fired:
        return None, []
    leaves = sorted(new.free_symbols, key=lambda s: s.dummy_index)
    # The node's own inputs come last, read only for their shape if the new expression no longer
    # reads them (x*0 + y must keep x's shape), so the result never has a smaller shape.
    inputs = [scope.variables[s] for s in leaves] + list(node.inputs)
    expr = new.xreplace({s: sym(i) for i, s in enumerate(leaves)})
    return make_elemwise(expr, inputs, node.op.dtype), fired


# ------------------------------------------------------------------------------------------------
# Rebuilding


def rebuild(
    outputs: list[Variable],
    replace: Mapping[Variable, Variable] | None = None,
) -> list[Variable]:
    """``outputs`` rebuilt with each key of ``replace`` swapped for its value (``givens``, R-op).

    Every node downstream of a replacement is built again through the hash-consing constructors,
    so equal nodes merge and nodes whose inputs became constants fold.
    """
    rebuilt: dict[int, Variable] = {id(old): new for old, new in (replace or {}).items()}

    def new(v: Variable) -> Variable:
        return rebuilt.get(id(v), v)

    for node in toposort(outputs):
        if id(node.output) in rebuilt:  # replaced: what computed it no longer matters
            continue
        inputs = [new(i) for i in node.inputs]
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            rebuilt[id(node.output)] = remake(node, inputs)
    return [new(o) for o in outputs]


def remake(node: Apply, inputs: list[Variable], expr: sympy.Expr | None = None) -> Variable:
    """``node``'s op applied to new ``inputs`` (and, if elementwise, to ``expr`` if given),
    through the hash-consing constructors."""
    if isinstance(node.op, Elemwise):  # re-canonicalize: constants may now fold into the expression
        out = make_elemwise(node.op.expr if expr is None else expr, inputs, node.op.dtype, node.op.name)
    else:
        out = apply(node.op, *inputs)
    inherit(out, node)
    return out


def inherit(out: Variable, node: Apply) -> None:
    """Let ``out``, which now computes what ``node`` computed, keep its name, the user's line
    (errors should point there, not at a rewrite) and its gradient mark (for pictures)."""
    out.name = out.name or node.output.name
    if out.owner is not None and out.owner is not node:
        out.owner.trace = node.trace
    if is_gradient(node.output):
        mark_gradient(out)


# ------------------------------------------------------------------------------------------------
# The driver


def frozen_ids(keep: Iterable[Variable]) -> set[int]:
    """ids of the variables in ``keep`` and of everything they are computed from."""
    keep = list(keep)
    ids = {id(v) for v in keep}
    ids.update(id(n.output) for n in toposort(keep))
    return ids


def run_phase(outputs: list[Variable], rules: Sequence[Rewrite], frozen: set[int], fired: list[str]) -> list[Variable]:
    """``outputs`` with ``rules`` applied until a round changes nothing; appends the name of each
    rule that fired to ``fired``. Nodes in ``frozen`` are neither rewritten nor looked through."""
    expr_rules = [r for r in rules if r.expr is not None]
    node_rules = [r for r in rules if r.node is not None]
    for _ in range(MAX_ROUNDS):
        ctx = Context(outputs, frozen)
        new: dict[int, Variable] = {}
        changed = False
        for node in toposort(outputs):
            if id(node.output) in frozen:
                continue
            inputs = [new.get(id(i), i) for i in node.inputs]
            out = node.output
            if any(a is not b for a, b in zip(inputs, node.inputs)):
                out = remake(node, inputs)
            rewritten = _apply_rules(out, expr_rules, node_rules, ctx, fired)
            if rewritten is not out:
                if ctx.clients(rewritten) is None:  # a new node (not one the graph had already)
                    inherit(rewritten, node)
                out, changed = rewritten, True
            if out is not node.output:
                new[id(node.output)] = out
        outputs = [new.get(id(o), o) for o in outputs]
        if not changed:
            return outputs
    recent = ", ".join(dict.fromkeys(fired[-10:]))
    raise RuntimeError(f"symgrad's rewrites did not reach a fixed point; still firing: {recent}")


def _apply_rules(
    var: Variable, expr_rules: list[Rewrite], node_rules: list[Rewrite], ctx: Context, fired: list[str]
) -> Variable:
    """``var`` with the first rule that applies to its node applied, repeatedly (a few times: the
    next round takes up whatever is left)."""
    for _ in range(8):
        node = var.owner
        if node is None:
            return var
        replacement = None
        if expr_rules and isinstance(node.op, Elemwise):
            replacement, names = rewrite_expression(node, expr_rules, ctx)
            if replacement is not None and replacement is not var:
                fired.extend(names)
        if replacement is None or replacement is var:
            for rule in node_rules:
                if isinstance(node.op, rule.ops):
                    replacement = rule.node(node, ctx)
                    if replacement is not None and replacement is not var:
                        fired.append(rule.name)
                        break
                    replacement = None
        if replacement is None or replacement is var:
            return var
        var = replacement
    return var
