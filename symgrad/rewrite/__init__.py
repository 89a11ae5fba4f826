"""Graph rewrites run by ``theano.function`` before lowering.

Each pass is a named function from output variables to output variables, run in order:

- ``merge``: rebuild the graph through the hash-consing constructors, so identical subgraphs
  (from user code, from ``T.grad``, from substitutions) become one node, and any node whose inputs
  are all constants is evaluated (constant folding happens in ``graph.apply``);
- dead-code removal is implicit: later stages only ever walk what the outputs depend on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..graph import Apply, Variable, apply, toposort
from ..ops.elemwise import Elemwise, make_elemwise


def rebuild(outputs: list[Variable], replace: Mapping[Variable, Variable] | None = None) -> list[Variable]:
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
        if all(a is b for a, b in zip(inputs, node.inputs)):
            continue
        rebuilt[id(node.output)] = remake(node, inputs)
    return [new(o) for o in outputs]


def remake(node: Apply, inputs: list[Variable]) -> Variable:
    """``node``'s op applied to new ``inputs``, through the hash-consing constructors."""
    if isinstance(node.op, Elemwise):  # re-canonicalize: constants may now fold into the expression
        out = make_elemwise(node.op.expr, inputs, node.op.dtype, node.op.name)
    else:
        out = apply(node.op, *inputs)
    out.name = out.name or node.output.name
    return out


def merge(outputs: list[Variable]) -> list[Variable]:
    """Rebuild every node from its (rebuilt) inputs; equal nodes merge, constants fold."""
    return rebuild(outputs)


PASSES: list[tuple[str, Callable[[list[Variable]], list[Variable]]]] = [("merge", merge)]


def optimize(outputs: list[Variable]) -> list[Variable]:
    """Run every pass of ``PASSES`` in order."""
    for _, rewrite in PASSES:
        outputs = rewrite(outputs)
    return outputs
