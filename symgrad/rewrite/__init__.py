"""Graph rewrites run by ``theano.function`` before lowering.

Each pass is a named function from output variables to output variables, run in order:

- ``merge``: rebuild the graph through the hash-consing constructors, so identical subgraphs
  (from user code, from ``T.grad``, from substitutions) become one node, and any node whose inputs
  are all constants is evaluated (constant folding happens in ``graph.apply``);
- ``drop_gradient_stops``: ``disconnected_grad`` nodes only matter to ``T.grad``, which has run by
  now; removing them lets the fuser see through them;
- dead-code removal is implicit: later stages only ever walk what the outputs depend on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..graph import Variable, apply, toposort
from ..ops.elemwise import Elemwise, make_elemwise
from ..ops.gradient import DisconnectedGrad


def rebuild(outputs: list[Variable], replace: Mapping[Variable, Variable] | None = None) -> list[Variable]:
    """``outputs`` rebuilt with each key of ``replace`` swapped for its value (``givens``, R-op).

    Every node downstream of a replacement is built again through the hash-consing constructors,
    so equal nodes merge and nodes whose inputs became constants fold.
    """
    rebuilt: dict[int, Variable] = {id(old): new for old, new in (replace or {}).items()}

    def new(v: Variable) -> Variable:
        return rebuilt.get(id(v), v)

    for node in toposort(outputs):
        inputs = [new(i) for i in node.inputs]
        if all(a is b for a, b in zip(inputs, node.inputs)):
            continue
        if isinstance(node.op, Elemwise):  # re-canonicalize: constants may now fold into the expression
            out = make_elemwise(node.op.expr, inputs, node.op.dtype, node.op.name)
        else:
            out = apply(node.op, *inputs)
        out.name = out.name or node.output.name
        if out.owner is not None:  # errors should point at the user's line, not at this rewrite
            out.owner.trace = node.trace
        rebuilt[id(node.output)] = out
    return [new(o) for o in outputs]


def merge(outputs: list[Variable]) -> list[Variable]:
    """Rebuild every node from its (rebuilt) inputs; equal nodes merge, constants fold."""
    return rebuild(outputs)


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
    ("drop_gradient_stops", drop_gradient_stops),
]


def optimize(outputs: list[Variable]) -> list[Variable]:
    """Run every pass of ``PASSES`` in order."""
    for _, rewrite in PASSES:
        outputs = rewrite(outputs)
    return outputs
