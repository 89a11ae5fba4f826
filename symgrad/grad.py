"""Reverse-mode differentiation over the graph.

Walk the nodes between ``wrt`` and ``cost`` from the cost backwards; each node's op turns the
gradient of its output into gradients of its inputs (its ``vjp``), and the contributions that
reach one variable along different paths are added. Because the graph is hash-consed, the
gradient graph shares every subexpression it can with the function it differentiates, so it
stays within a small constant factor of the function's size.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence

from .graph import Constant, Variable, toposort
from .ops.elemwise import make_elemwise, sym

# Variables computed by nodes that T.grad created (rather than found in the graph it differentiates),
# held weakly: graph pictures draw them in their own colour.
_gradient_variables: weakref.WeakSet = weakref.WeakSet()


def is_gradient(var: Variable) -> bool:
    """Whether ``var`` was computed by a node that ``T.grad`` built."""
    return var in _gradient_variables


def mark_gradient(var: Variable) -> None:
    """Record that ``var`` is computed by a gradient node (T.grad's, or a rewrite of one)."""
    _gradient_variables.add(var)


class DisconnectedInputError(ValueError):
    """``T.grad`` was asked for the gradient with respect to a variable the cost does not use."""


def _describe(var: Variable) -> str:
    return f"{var!r} ({var.type})"


def zeros_like(x: Variable) -> Variable:
    return make_elemwise(sym(0) * 0, [x], x.dtype)


def _add_all(terms: list[Variable], like: Variable) -> Variable:
    total = terms[0]
    if len(terms) > 1:
        total = make_elemwise(sum(sym(i) for i in range(len(terms))), terms, like.dtype)
    return total


def grad(
    cost: Variable,
    wrt: Variable | Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
) -> Variable | list[Variable]:
    """The gradient of the scalar ``cost`` with respect to ``wrt`` (a variable or a list of them).

    ``disconnected_inputs`` says what to do when the cost does not depend on an element of
    ``wrt``: ``'raise'`` (the default), ``'warn'`` or ``'ignore'``; the latter two return zeros.
    Variables in ``consider_constant`` are treated as constants: no gradient flows through them.
    """
    from .tensor.basic import as_tensor_variable

    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"disconnected_inputs must be 'raise', 'warn' or 'ignore', got {disconnected_inputs!r}")
    if not isinstance(cost, Variable):
        cost = as_tensor_variable(cost)
    if cost.ndim != 0:
        raise TypeError(
            f"T.grad needs a scalar (0-d) cost, got {_describe(cost)} with {cost.ndim} dimensions; "
            "reduce it first (e.g. T.sum(cost)), or use T.jacobian for a non-scalar output"
        )
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    for i, v in enumerate(wrt_list):
        if not isinstance(v, Variable):
            raise TypeError(f"T.grad: wrt[{i}] must be a symgrad variable, got {type(v).__name__} {v!r}")
        if not v.type.is_float:
            raise TypeError(
                f"T.grad: cannot differentiate with respect to {_describe(v)}: its dtype {v.dtype} is not a "
                "float type; gradients exist only for float32 and float64 variables"
            )
    if not cost.type.is_float:
        raise TypeError(f"T.grad needs a float cost, got {_describe(cost)}")

    blocked = {id(v) for v in consider_constant or ()}
    nodes = [n for n in toposort([cost]) if id(n.output) not in blocked]
    # Variables on some path from an element of wrt to the cost: only these need gradients.
    wanted = {id(v) for v in wrt_list}
    for node in nodes:
        if any(id(i) in wanted for i in node.inputs):
            wanted.add(id(node.output))

    adjoints: dict[int, list[Variable]] = {id(cost): [make_elemwise(sym(0) * 0 + 1, [cost], cost.dtype)]}
    for node in reversed(nodes):
        terms = adjoints.get(id(node.output))
        if not terms:
            continue
        g = _add_all(terms, node.output)
        input_grads = node.op.vjp(node.inputs, node.output, g)
        for inp, gi in zip(node.inputs, input_grads):
            if gi is None or id(inp) not in wanted or isinstance(inp, Constant):
                continue
            adjoints.setdefault(id(inp), []).append(gi)

    results = []
    for v in wrt_list:
        terms = adjoints.get(id(v))
        if terms:
            results.append(_add_all(terms, v))
            continue
        if id(v) != id(cost) and id(v) not in {id(i) for n in nodes for i in n.inputs}:
            message = f"T.grad: the cost does not depend on {_describe(v)} (it is disconnected from the cost)"
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(
                    message + "; pass disconnected_inputs='ignore' or 'warn' to get zeros instead"
                )
            if disconnected_inputs == "warn":
                warnings.warn(message, stacklevel=2)
        results.append(zeros_like(v))
    forward = {id(n) for n in toposort([cost])}
    for node in toposort(results):
        if id(node) not in forward:
            mark_gradient(node.output)
    return results[0] if single else results
