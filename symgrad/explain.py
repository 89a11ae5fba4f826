"""``explain_grad``: reverse-mode differentiation shown step by step, as ``T.grad`` performs it.

The forward pass lists every node of the cost's graph as a named intermediate (``v1 = x**2``)
with its local derivatives (``∂v1/∂x = 2*x``). The backward pass then gives, for each variable
from the cost down to the inputs, its *adjoint* ``v̄ = ∂cost/∂v``: the chain rule summed over
every use of ``v``, the same with the local derivatives filled in, and its value in terms of the
inputs, simplified. The last adjoints are the gradient.

The walk is ``T.grad``'s own reverse sweep (the cost in the same stable form), watched through
its observer: each adjoint as it completes, and each contribution, which is shown again with the
node's ``vjp`` rule applied to a symbolic adjoint (``v̄5``). Because graphs are hash-consed, the
final adjoints are the very variables ``T.grad`` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sympy

from .grad import grad, sweep
from .graph import Apply, Constant, Variable, make_variable, toposort
from .ops.elemwise import Elemwise, make_elemwise, partial, sym
from .ops.shape import DimShuffle
from .ops.substitution import substitute
from .printing.formulas import LatexPrinter, MathTextPrinter
from .printing.translate import SympyTranslator, simplified


def _bar(name: str) -> str:
    """``v3`` → ``v̄3``: the adjoint's name, a macron over the first character."""
    return name[0] + "\u0304" + name[1:]


@dataclass
class ForwardStep:
    """One node: ``name = expr``, and its local derivatives, ``(input name, ∂name/∂input)``;
    a derivative is ``None`` where the op's rule is not a scalar derivative (matrix products...),
    and ``rules`` then holds the vector-Jacobian rule ``v̄ ↦ ...`` instead."""

    name: sympy.Symbol
    expr: sympy.Expr
    derivatives: list[tuple[sympy.Symbol, sympy.Expr]] = field(default_factory=list)
    rules: list[tuple[sympy.Symbol, sympy.Expr]] = field(default_factory=list)
    broadcast: bool = False


@dataclass
class BackwardStep:
    """The adjoint of ``name``: the chain rule's terms ``(consumer, its adjoint)``, the sum with
    the local derivatives applied, its value in the inputs (simplified), and ``gradient``, the
    graph computing it (for a ``wrt`` variable, the very variable ``T.grad`` returns)."""

    name: sympy.Symbol
    adjoint: sympy.Symbol
    chain: list[tuple[sympy.Symbol, sympy.Symbol]]
    applied: sympy.Expr
    value: sympy.Expr
    gradient: Variable


@dataclass(repr=False)
class Explanation:
    """What :func:`explain_grad` returns: print it for text, ``.latex()`` for LaTeX (Jupyter
    shows it as math). ``results`` maps each ``wrt`` name to its simplified derivative."""

    cost: sympy.Symbol
    cost_expr: sympy.Expr
    forward: list[ForwardStep]
    backward: list[BackwardStep]
    results: dict[sympy.Symbol, sympy.Expr]
    latex_names: dict[sympy.Symbol, str]

    # --- plain text -----------------------------------------------------------------------------
    def text(self) -> str:
        p = MathTextPrinter().doprint
        lines = [f"The cost: {p(self.cost)} = {p(self.cost_expr)}", ""]
        lines.append("Forward pass, each node with its local derivatives:")
        rows = []
        for step in self.forward:
            left = f"{p(step.name)} = {p(step.expr)}" + ("  (broadcast)" if step.broadcast else "")
            right = [f"∂{p(step.name)}/∂{p(u)} = {p(d)}" for u, d in step.derivatives]
            right += [f"∂{p(step.name)}/∂{p(u)}: {_bar(p(step.name))} ↦ {p(r)}" for u, r in step.rules]
            rows.append((left, ",  ".join(right)))
        width = max(len(left) for left, _ in rows)
        lines += [f"  {left.ljust(width)}    {right}".rstrip() for left, right in rows]
        lines += ["", f"Backward pass: the adjoint v̄ = ∂{p(self.cost)}/∂v of each variable, summed over its uses:"]
        for step in self.backward:
            adjoint = p(step.adjoint)
            if not step.chain:
                lines.append(f"  {adjoint} = 1")
                continue
            chain = " + ".join(f"{p(a)}·∂{p(c)}/∂{p(step.name)}" for c, a in step.chain)
            parts = [chain, p(step.applied)]
            value = p(step.value)
            if value != parts[-1]:
                parts.append(value)
            lines.append(f"  {adjoint} = " + " = ".join(parts))
        lines += ["", "Result:"]
        lines += [f"  ∂{p(self.cost)}/∂{p(w)} = {p(e)}" for w, e in self.results.items()]
        return "\n".join(lines)

    __str__ = __repr__ = text  # a REPL or a notebook's plain-text view shows the explanation itself

    # --- LaTeX ----------------------------------------------------------------------------------
    def latex(self) -> str:
        """An ``aligned`` block: the forward pass, the backward pass and the result."""
        tex = LatexPrinter(symbol_names=self.latex_names).print_expr

        def d(f: sympy.Symbol, u: sympy.Symbol) -> str:
            return rf"\frac{{\partial {tex(f)}}}{{\partial {tex(u)}}}"

        rows = [rf"{tex(self.cost)} &= {tex(self.cost_expr)}"]
        for step in self.forward:
            derivatives = [rf"{d(step.name, u)} = {tex(e)}" for u, e in step.derivatives]
            derivatives += [rf"{d(step.name, u)}\colon\ {tex(self._adjoint(step.name))} \mapsto {tex(r)}"
                            for u, r in step.rules]  # fmt: skip
            row = rf"{tex(step.name)} &= {tex(step.expr)}"
            rows.append(row + (r" & & " + r",\quad ".join(derivatives) if derivatives else ""))
        for step in self.backward:
            if not step.chain:
                rows.append(rf"{tex(step.adjoint)} &= 1")
                continue
            chain = " + ".join(rf"{tex(a)} {d(c, step.name)}" for c, a in step.chain)
            rows.append(rf"{tex(step.adjoint)} &= {chain} = {tex(step.applied)}")
            if step.value != step.applied:
                rows.append(rf"&= {tex(step.value)}")
        rows += [rf"{d(self.cost, w)} &= {tex(e)}" for w, e in self.results.items()]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def _adjoint(self, name: sympy.Symbol) -> sympy.Symbol:
        return next(s.adjoint for s in self.backward if s.name == name)

    def _repr_latex_(self) -> str:
        return f"$$\n{self.latex()}\n$$"


def explain_grad(cost: Variable, wrt: Variable | Sequence[Variable], simplify: bool = True) -> Explanation:
    """The chain rule as ``T.grad(cost, wrt)`` applies it, step by step (see the module doc).

    ``print(explain_grad(cost, x))`` shows it as text; ``.latex()`` gives LaTeX. Expressions are
    simplified with SymPy unless ``simplify=False``.
    """
    from .rewrite import stabilize_for_grad

    wrt_list = list(wrt) if isinstance(wrt, (list, tuple)) else [wrt]
    grad(cost, wrt_list)  # T.grad's checks and errors, before anything is shown
    # T.grad differentiates the cost in its stable form (log(sigmoid(x)) as -softplus(-x)): show that.
    (cost,) = stabilize_for_grad([cost], keep=wrt_list)
    nodes = toposort([cost])
    wanted = {id(v) for v in wrt_list}
    for node in nodes:
        if any(id(i) in wanted for i in node.inputs):
            wanted.add(id(node.output))

    # Names: the user's where given, v1, v2, ... for the other intermediates.
    names = SympyTranslator()
    for var in _leaves(nodes, cost):
        names.symbol(var)
    counter = 0
    for node in nodes:
        if node.output.name is None:
            counter += 1
            while f"v{counter}" in names.reserved():
                counter += 1
            names.names[node.output] = f"v{counter}"
        names.symbol(node.output)
    symbol_of = dict(names.symbols)
    latex_names: dict[sympy.Symbol, str] = {}
    placeholders: dict[int, Variable] = {}
    for var in [n.output for n in nodes if id(n.output) in wanted] + wrt_list:
        if id(var) not in placeholders:
            placeholders[id(var)] = make_variable(var.type, name=_bar(symbol_of[var].name))
            adjoint = names.symbol(placeholders[id(var)])
            latex_names[adjoint] = rf"\bar{{{sympy.latex(symbol_of[var])}}}"

    def shown(var: Variable) -> sympy.Expr:
        """``var`` in terms of the named variables and adjoints (one step of the walk)."""
        return SympyTranslator(symbols=names.symbols).translate(var)

    def value(var: Variable) -> sympy.Expr:
        """``var`` in terms of the inputs alone."""
        expr = SympyTranslator(symbols={v: s for v, s in symbol_of.items() if v.owner is None}).translate(var)
        return simplified(expr) if simplify else expr

    forward = [_forward_step(node, names, placeholders, wanted, shown) for node in nodes]

    # The backward walk is T.grad's own sweep, watched: each adjoint as it completes, and each
    # node's contributions, shown again with the node's rule applied to a symbolic adjoint.
    uses: dict[int, list[tuple[Variable, Variable]]] = {}
    backward: list[BackwardStep] = []

    class Recorder:
        def adjoint(self, var: Variable, total: Variable) -> None:
            terms = uses.get(id(var), [])
            applied = sum((shown(t) for _, t in terms), sympy.Integer(0))
            chain = [(symbol_of[c], names.symbols[placeholders[id(c)]]) for c, _ in terms]
            adjoint = names.symbols[placeholders[id(var)]]
            backward.append(BackwardStep(symbol_of[var], adjoint, chain, applied, value(total), total))

        def contribution(self, node: Apply, position: int, term: Variable) -> None:
            symbolic = node.op.vjp(node.inputs, node.output, placeholders[id(node.output)])[position]
            uses.setdefault(id(node.inputs[position]), []).append((node.output, symbolic))

    one = make_elemwise(sym(0) * 0 + 1, [cost], cost.dtype)
    sweep([cost], [one], wrt_list, [], observer=Recorder())
    results = {}
    for var in wrt_list:
        step = next(s for s in backward if s.name == symbol_of[var])
        results[symbol_of[var]] = step.value
    cost_expr = value(cost) if cost.owner is not None else symbol_of[cost]
    return Explanation(symbol_of[cost], cost_expr, forward, backward, results, latex_names)


def _leaves(nodes: list[Apply], cost: Variable) -> list[Variable]:
    seen: dict[int, Variable] = {} if cost.owner is not None else {id(cost): cost}
    for node in nodes:
        for inp in node.inputs:
            if inp.owner is None and not isinstance(inp, Constant):
                seen.setdefault(id(inp), inp)
    return list(seen.values())


def _forward_step(
    node: Apply,
    names: SympyTranslator,
    placeholders: dict[int, Variable],
    wanted: set[int],
    shown: Callable[[Variable], sympy.Expr],
) -> ForwardStep:
    out, op = node.output, node.op
    step = ForwardStep(names.symbol(out), shown(out))
    step.broadcast = isinstance(op, DimShuffle) and step.expr == names.symbol(node.inputs[0])
    for i, inp in enumerate(node.inputs):
        if id(inp) not in wanted or isinstance(inp, Constant) or not inp.type.is_float:
            continue
        if isinstance(op, Elemwise):
            operands = {sym(j): names.symbol(v) for j, v in enumerate(node.inputs)}
            step.derivatives.append((names.symbol(inp), substitute(partial(op.expr, sym(i)), operands)))
        elif id(out) in placeholders:
            rule = op.vjp(node.inputs, out, placeholders[id(out)])[i]
            if rule is not None:
                step.rules.append((names.symbol(inp), shown(rule)))
    return step
