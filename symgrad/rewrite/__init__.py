"""Graph rewrites run by ``theano.function`` before lowering.

Each pass is a named function from output variables to output variables, run in order:

- ``merge``: rebuild the graph through the hash-consing constructors, so identical subgraphs
  (from user code, from ``T.grad``, from substitutions) become one node, and any node whose inputs
  are all constants is evaluated (constant folding happens in ``graph.apply``);
- ``fill_numbers``: a tensor filled with one number is read as that number;
- ``drop_gradient_stops``: ``disconnected_grad`` nodes only matter to ``T.grad``, which has run by
  now; removing them lets the fuser see through them;
- dead-code removal is implicit: later stages only ever walk what the outputs depend on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sympy

from ..grad import is_gradient, mark_gradient
from ..graph import Apply, Variable, apply, toposort
from ..ops.elemwise import Elemwise, make_elemwise, sym
from ..ops.gradient import DisconnectedGrad


def rebuild(
    outputs: list[Variable],
    replace: Mapping[Variable, Variable] | None = None,
    rewrite_expr: Callable[[sympy.Expr, list[Variable]], sympy.Expr] | None = None,
) -> list[Variable]:
    """``outputs`` rebuilt with each key of ``replace`` swapped for its value (``givens``, R-op).

    Every node downstream of a replacement is built again through the hash-consing constructors,
    so equal nodes merge and nodes whose inputs became constants fold. ``rewrite_expr`` may
    rewrite each elementwise node's expression, given its (rebuilt) inputs.
    """
    rebuilt: dict[int, Variable] = {id(old): new for old, new in (replace or {}).items()}

    def new(v: Variable) -> Variable:
        return rebuilt.get(id(v), v)

    for node in toposort(outputs):
        if id(node.output) in rebuilt:  # replaced: what computed it no longer matters
            continue
        inputs = [new(i) for i in node.inputs]
        elementwise = isinstance(node.op, Elemwise)
        expr = rewrite_expr(node.op.expr, inputs) if elementwise and rewrite_expr else None
        if all(a is b for a, b in zip(inputs, node.inputs)) and (expr is None or expr == node.op.expr):
            continue
        rebuilt[id(node.output)] = remake(node, inputs, expr)
    return [new(o) for o in outputs]


def remake(node: Apply, inputs: list[Variable], expr: sympy.Expr | None = None) -> Variable:
    """``node``'s op applied to new ``inputs`` (and, if elementwise, to ``expr`` if given),
    through the hash-consing constructors."""
    if isinstance(node.op, Elemwise):  # re-canonicalize: constants may now fold into the expression
        out = make_elemwise(node.op.expr if expr is None else expr, inputs, node.op.dtype, node.op.name)
    else:
        out = apply(node.op, *inputs)
    out.name = out.name or node.output.name
    if out.owner is not None:  # errors should point at the user's line, not at this rewrite
        out.owner.trace = node.trace
    if is_gradient(node.output):
        mark_gradient(out)
    return out


def merge(outputs: list[Variable]) -> list[Variable]:
    """Rebuild every node from its (rebuilt) inputs; equal nodes merge, constants fold."""
    return rebuild(outputs)


def _read_fills_as_numbers(expr: sympy.Expr, inputs: list[Variable]) -> sympy.Expr:
    numbers = {}
    for i, var in enumerate(inputs):
        owner = var.owner
        if owner is not None and isinstance(owner.op, Elemwise) and owner.op.expr.is_number:
            numbers[sym(i)] = owner.op.expr
    return expr.xreplace(numbers) if numbers else expr


def fill_numbers(outputs: list[Variable]) -> list[Variable]:
    """Read tensors filled with one number (``ones_like(x)``, the seeds ``T.grad`` broadcasts) as
    that number, so ``2 * x * ones_like(x)`` becomes ``2 * x``; such a tensor stays an input of
    the node only where it is needed for the output's shape."""
    return rebuild(outputs, rewrite_expr=_read_fills_as_numbers)


def drop_gradient_stops(outputs: list[Variable]) -> list[Variable]:
    """Replace every ``disconnected_grad(x)`` by ``x``."""
    while True:
        # The first stop in topological order has none upstream, so its input is final.
        stop = next((n for n in toposort(outputs) if isinstance(n.op, DisconnectedGrad)), None)
        if stop is None:
            return outputs
        outputs = rebuild(outputs, {stop.output: stop.inputs[0]})


PASSES: list[tuple[str, Callable[[list[Variable]], list[Variable]]]] = [
    ("merge", merge),
    ("fill_numbers", fill_numbers),
    ("drop_gradient_stops", drop_gradient_stops),
]


def optimize(outputs: list[Variable], applied: list[str] | None = None) -> list[Variable]:
    """Run every pass of ``PASSES`` in order; the names of those that changed the graph are
    appended to ``applied`` (the generated code's header lists them)."""
    for name, rewrite in PASSES:
        rewritten = rewrite(outputs)
        if applied is not None and any(a is not b for a, b in zip(rewritten, outputs)):
            applied.append(name)
        outputs = rewritten
    return outputs
