"""``Map``: the rows ``row(i)`` for ``i in range(n)``, stacked; a loop over a symbolic int64 index.

A Jacobian has one row per element of its expression, and how many there are is known only when
the function runs; ``Map`` is the loop that builds them (Theano used ``scan`` for this). Its body
is an *inner graph*: the row as a function of a symbolic index ``i`` and of *placeholders*, which
stand for the values of the outer graph that the row reads.

:func:`map_rows` builds it from a row written over outer variables and hoists everything that does
not depend on ``i`` out of the loop: the inner graph keeps only the nodes that do (and of their
elementwise expressions only the parts that do), and the values they read from the outer graph
(the forward pass of a cost and its derivatives, for a Hessian) become the node's inputs, computed
once by the outer program. The back end prints the loop as a plain ``for i in range(n):``
in the generated entry function, whose body runs the inner graph's kernels and steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy

from ..graph import Constant, Op, Variable, apply, make_variable, toposort
from ..types import TensorType, describe_shape, kind
from .elemwise import Elemwise, make_elemwise, sym


def new_index(name: str = "i") -> Variable:
    """A fresh int64 scalar to use as the index of a :func:`map_rows` loop."""
    return make_variable(TensorType("int64", ()), name=name)


def evaluate(outputs: Sequence[Variable], givens: dict[int, np.ndarray]) -> list[np.ndarray]:
    """The values of ``outputs`` by each node's NumPy reference; ``givens`` maps id(variable) to
    the value of each root the outputs read."""
    values = dict(givens)

    def value(v: Variable) -> np.ndarray:
        return v.data if isinstance(v, Constant) else values[id(v)]

    for node in toposort(outputs):
        if id(node.output) not in values:
            values[id(node.output)] = node.op.perform(*(value(i) for i in node.inputs))
    return [value(o) for o in outputs]


def describe_graph(roots: Sequence[Variable], outputs: Sequence[Variable]) -> str:
    """A canonical text of the graph from ``roots`` to ``outputs``: equal text, equal computation
    (what the disk-cache key needs from an op that holds a graph)."""
    ids = {id(v): k for k, v in enumerate(roots)}
    lines = [f"root {v.type} {v.name!r}" for v in roots]

    def ref(v: Variable) -> str:
        if id(v) not in ids:
            ids[id(v)] = len(ids)
            lines.append(f"const {v.dtype} {v.data.shape} {v.data.tobytes().hex()}")
        return str(ids[id(v)])

    for node in toposort(list(outputs)):
        args = ",".join(ref(i) for i in node.inputs)
        ids[id(node.output)] = len(ids)
        lines.append(f"{ids[id(node.output)]} = {node.op.signature()}({args}) {node.output.name!r}")
    lines.append("out " + " ".join(ref(o) for o in outputs))
    return "\n".join(lines)


class Map(Op):
    """``stack([row(i) for i in range(n)])``, each row shaped like the input ``like``.

    Inputs: ``n`` (an integer scalar), ``like`` (lends the row shape, so that ``n == 0`` still
    gives a result of the right shape), then one outer value per placeholder. ``row`` is a graph
    in ``index`` and ``placeholders`` only.
    """

    props = ("index", "placeholders", "row")

    def __init__(self, index: Variable, placeholders: tuple[Variable, ...], row: Variable) -> None:
        self.index = index
        self.placeholders = placeholders
        self.row = row
        self._signature: str | None = None

    def __str__(self) -> str:
        return f"Map{{{self.index.name}}}"

    def signature(self) -> str:
        if self._signature is None:  # the inner graph never changes: describe it once
            self._signature = "Map(" + describe_graph([self.index, *self.placeholders], [self.row]) + ")"
        return self._signature

    def make_type(self, n: Variable, like: Variable, *outer: Variable) -> TensorType:
        if n.ndim != 0 or kind(n.dtype) != "i":
            raise TypeError(f"Map: the number of rows must be an integer scalar, got {n!r} ({n.type})")
        if len(outer) != len(self.placeholders):
            raise TypeError(f"Map: expected {len(self.placeholders)} outer values, got {len(outer)}")
        for p, v in zip(self.placeholders, outer):
            known = [(a, b) for a, b in zip(p.type.shape, v.type.shape) if a is not None and b is not None]
            if p.dtype != v.dtype or p.ndim != v.ndim or any(a != b for a, b in known):
                raise TypeError(f"Map: outer value {v!r} ({v.type}) does not fit its placeholder ({p.type})")
        if self.row.ndim != like.ndim:
            raise ValueError(
                f"Map: a row has shape {describe_shape(self.row.type.shape)}, "
                f"but {like!r} gives it {describe_shape(like.type.shape)}"
            )
        rows = int(n.data) if isinstance(n, Constant) else None
        row_shape = tuple(r if r is not None else s for r, s in zip(self.row.type.shape, like.type.shape))
        return TensorType(self.row.dtype, (rows, *row_shape))

    def perform(self, n: np.ndarray, like: np.ndarray, *outer: np.ndarray) -> np.ndarray:
        out = np.empty((int(n), *np.shape(like)), dtype=self.row.dtype)
        givens = {id(p): v for p, v in zip(self.placeholders, outer)}
        for i in range(int(n)):
            givens[id(self.index)] = np.asarray(i, dtype="int64")
            out[i] = evaluate([self.row], givens)[0]
        return out

    def vjp(self, inputs, output, g):
        """Row i's vector-Jacobian product with ``g[i]``, summed over i: another loop per input.

        In the placeholders' terms, every outer value is an independent input of the row, so one
        reverse sweep of the inner graph gives the gradient of each; the outer graph then chains
        it into whatever computed that value.
        """
        from ..grad import backprop
        from ..rewrite import rebuild
        from .reduce import Reduce
        from .shape import subtensor

        n, like, *outer = inputs
        g_placeholder = make_variable(g.type, name=g.name)
        adjoints = backprop([self.row], [subtensor(g_placeholder, self.index)], list(self.placeholders))
        grads: list[Variable | None] = [None, None]
        for p, value in zip(self.placeholders, outer):
            adjoint = adjoints.get(id(p))
            if adjoint is None or not value.type.is_float:
                grads.append(None)
                continue
            index = new_index(self.index.name)
            replace = {self.index: index, g_placeholder: g, **dict(zip(self.placeholders, outer))}
            (row,) = rebuild([adjoint], replace)
            grads.append(apply(Reduce("sum", (0,)), map_rows(index, n, row, like=value)))
        return grads


def map_rows(index: Variable, n: Variable, row: Variable, like: Variable) -> Variable:
    """``stack([row(i) for i in range(n)])`` where ``row`` is a graph in ``index`` (from
    :func:`new_index`) over outer variables; every row has ``like``'s shape.

    What does not depend on ``index`` is hoisted (see :func:`hoist_invariants`): it stays in the
    outer graph and is computed once; the values the loop body reads from it become the Map node's
    inputs.
    """
    (inner_row,), placeholders, outer = hoist_invariants([row], [index])
    return apply(Map(index, placeholders, inner_row), n, like, *outer)


def hoist_invariants(
    outputs: Sequence[Variable], varying_roots: Sequence[Variable]
) -> tuple[list[Variable], tuple[Variable, ...], list[Variable]]:
    """A loop body: ``outputs`` (graphs in ``varying_roots``, the values that change from one
    iteration to the next, and in outer variables) with everything that does not depend on the
    roots split off, to be computed once outside the loop.

    Returns the body's outputs in terms of the roots and of *placeholders*, and the outer value
    each placeholder stands for. Nodes, and the parts of elementwise expressions that read only
    invariant values (see :class:`_Hoister`), stay outside.
    """
    from ..rewrite import rebuild

    outputs, varying = _hoist(list(outputs), varying_roots)
    # The frontier: values the varying nodes read that do not themselves vary.
    frontier: dict[int, Variable] = {}
    for node in toposort(outputs):
        if id(node.output) not in varying:
            continue
        for inp in node.inputs:
            if id(inp) in varying or isinstance(inp, Constant):
                continue
            if _is_fill(inp):  # the body makes it itself, from the values that give its shape
                frontier.update((id(v), v) for v in inp.owner.inputs if not isinstance(v, Constant))
            else:
                frontier.setdefault(id(inp), inp)
    for out in outputs:
        if id(out) not in varying and not isinstance(out, Constant):
            frontier.setdefault(id(out), out)  # the same value every iteration, computed once outside
    outer = list(frontier.values())
    placeholders = tuple(make_variable(v.type, name=v.name) for v in outer)
    inner = rebuild(outputs, dict(zip(outer, placeholders)))
    return inner, placeholders, outer


def _is_fill(v: Variable) -> bool:
    """A constant-valued elementwise node (the ones of a sum's gradient): free inside a fused loop,
    so the loop body keeps it rather than load a stored copy once per row."""
    return v.owner is not None and isinstance(v.owner.op, Elemwise) and v.owner.op.expr.is_number


def _hoist(outputs: list[Variable], roots: Sequence[Variable]) -> tuple[list[Variable], set[int]]:
    """``outputs`` with the invariant parts of their varying elementwise nodes split off, and the
    ids of the variables that depend on ``roots``."""
    from ..rewrite import remake

    varying = {id(r) for r in roots}
    new: dict[int, Variable] = {}
    for node in toposort(outputs):
        inputs = [new.get(id(i), i) for i in node.inputs]
        moving = {k for k, i in enumerate(inputs) if id(i) in varying}
        if not moving:
            continue
        if isinstance(node.op, Elemwise) and node.output.type.is_float and len(moving) < len(inputs):
            out = _Hoister(inputs, moving, node.op.dtype).split(node.op.expr, node.op.name)
        elif any(a is not b for a, b in zip(inputs, node.inputs)):
            out = remake(node, inputs)
        else:
            out = node.output
        new[id(node.output)] = out
        varying.add(id(out))
    return [new.get(id(o), o) for o in outputs], varying


class _Hoister:
    """Splits an elementwise expression into index-free parts, each a node of its own outside the
    loop, and the rest. In the rows of a Hessian, ``g_i * exp(x) * cos(x) + ...`` with the one-hot
    ``g_i`` becomes ``g_i * h`` where ``h = exp(x) * cos(x) + ...`` is computed once.

    Sums are grouped by their index-dependent factor (``a*g + b*g`` hoists ``a + b``); products
    hoist their index-free factors; other functions are rebuilt from their split arguments. Even a
    single operation is worth hoisting: once outside replaces once per row inside.
    """

    def __init__(self, inputs: list[Variable], moving: set[int], dtype: str) -> None:
        self.inputs = inputs
        self.dtype = dtype
        self.moving = {sym(k) for k in moving}
        self.fixed = [k for k in range(len(inputs)) if k not in moving]
        self.hoisted: dict[sympy.Expr, sympy.Symbol] = {}
        self.extra: list[Variable] = []

    def split(self, expr: sympy.Expr, name: str | None) -> Variable:
        body = self.visit(expr)
        return make_elemwise(body, [*self.inputs, *self.extra], self.dtype, name if body == expr else None)

    def lift(self, e: sympy.Basic) -> sympy.Basic:
        """A symbol for the index-free ``e``, computed by a new node over the index-free inputs."""
        if e.is_Atom or not isinstance(e, sympy.Expr):  # already one load, or a condition (not a value)
            return e
        if e not in self.hoisted:
            self.hoisted[e] = sym(len(self.inputs) + len(self.extra))
            renumber = {sym(k): sym(j) for j, k in enumerate(self.fixed)}
            self.extra.append(make_elemwise(e.xreplace(renumber), [self.inputs[k] for k in self.fixed], self.dtype))
        return self.hoisted[e]

    def visit(self, e: sympy.Basic) -> sympy.Basic:
        if e.is_Atom:
            return e
        if not e.free_symbols & self.moving:
            return self.lift(e)
        if e.is_Add:
            groups: dict[sympy.Expr, list[sympy.Expr]] = {}
            for term in e.args:
                free, dependent = term.as_independent(*self.moving, as_Add=False)
                groups.setdefault(dependent, []).append(free)
            return sympy.Add(*(self.lift(sympy.Add(*free)) * self.factors(dep) for dep, free in groups.items()))
        if e.is_Mul:
            free, dependent = e.as_independent(*self.moving, as_Add=False)
            return self.lift(free) * self.factors(dependent)
        return e.func(*(self.visit(a) for a in e.args))

    def factors(self, e: sympy.Expr) -> sympy.Expr:
        """The index-dependent part of a term: each factor split on its own."""
        return sympy.Mul(*(self.visit(a) for a in e.args)) if e.is_Mul else self.visit(e)
