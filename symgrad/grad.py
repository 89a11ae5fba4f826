"""Reverse-mode differentiation over the graph, and the derivatives built from it.

:func:`backprop` is the one reverse sweep: start from seeds (the gradients of some outputs), walk
the nodes from the outputs backwards, let each node's op turn the gradient of its output into
gradients of its inputs (its ``vjp``), and add the contributions that reach one variable along
different paths. Because the graph is hash-consed, the gradient graph shares every subexpression
it can with the function it differentiates, so it stays within a small constant factor of the
function's size. Everything else here is a choice of seeds:

- ``grad(cost, x)``: seed 1 for a scalar cost;
- ``Lop(f, x, u)``: seed ``u`` for any ``f``: the vector-Jacobian product ``u J``;
- ``Rop(f, x, v)``: the Jacobian-vector product ``J v``, from two Lops: ``Lop(f, x, u)`` is linear
  in the dummy seed ``u``, so its own Lop with respect to ``u``, seeded with ``v``, is ``J v``;
- ``hessian_vector_product(cost, x, v)``: the gradient of ``dot(grad(cost, x), v)``, a few times the
  cost of one gradient, never forming the Hessian;
- ``jacobian(y, x)``: row ``i`` is ``grad(y[i], x)`` (the gradient of indexing is the one-hot seed
  ``e_i``), built by a loop over a symbolic index (``ops/loop.py``); ``hessian`` is the Jacobian
  of the gradient.
"""

from __future__ import annotations

import sys
import warnings
import weakref
from collections.abc import Mapping, Sequence
from typing import Protocol

from .graph import _OWN_DIRS, Apply, Constant, Variable, graph_inputs, make_variable, toposort
from .ifelse import IfElse, ifelse
from .ops.elemwise import cast, make_elemwise, sym
from .ops.gradient import DisconnectedGrad, depends_on
from .types import TensorType, describe_shape

# Variables computed by nodes that T.grad created (rather than found in the graph it differentiates),
# held weakly: graph pictures draw them in their own colour.
_gradient_variables: weakref.WeakSet = weakref.WeakSet()


def is_gradient(var: Variable) -> bool:
    """Whether ``var`` was computed by a node that ``T.grad`` built."""
    return var in _gradient_variables


# The stabilize rewrites that fired on the graph T.grad differentiated, by the gradient they gave:
# the compiled function lists them with its own (f.rewrites), though they ran before it was built.
_rewrites_before_sweep: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def rewrites_in_gradients(outputs: Sequence[Variable]) -> list[str]:
    """The rewrites that ``T.grad`` applied to build the gradients found in the graph of ``outputs``."""
    names: dict[str, None] = {}
    for node in toposort(outputs):
        names.update(dict.fromkeys(_rewrites_before_sweep.get(node.output, ())))
    return list(names)


def mark_gradient(var: Variable) -> None:
    """Record that ``var`` is computed by a gradient node (T.grad's, or a rewrite of one)."""
    _gradient_variables.add(var)


class DisconnectedInputError(ValueError):
    """``T.grad`` was asked for the gradient with respect to a variable the cost does not use."""


def _describe(var: Variable) -> str:
    return f"{var!r} ({var.type})"


def zeros_like(x: Variable) -> Variable:
    return make_elemwise(sym(0) * 0, [x], x.dtype)


# The most terms one node of an adjoint's sum adds. Each is an array the kernel computing the sum
# reads, and Numba and LLVM take time quadratic in the arrays one deep loop nest reads (see
# codegen/lower.py): more terms are added in groups, and the groups' sums in turn, which lets the
# lowering split the sum into kernels of bounded size.
MAX_TERMS = 32


def _add_all(terms: list[Variable], like: Variable) -> Variable:
    while len(terms) > MAX_TERMS:
        terms = [_add_all(terms[i : i + MAX_TERMS], like) for i in range(0, len(terms), MAX_TERMS)]
    total = terms[0]
    if len(terms) > 1:
        total = make_elemwise(sum(sym(i) for i in range(len(terms))), terms, like.dtype)
    return total


def backprop(
    outputs: Sequence[Variable],
    seeds: Sequence[Variable],
    wrt: Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
) -> dict[int, Variable]:
    """The reverse sweep: ``sum_k seeds[k] · d outputs[k] / d w`` for each ``w`` in ``wrt``.

    Returns a dict from ``id(w)`` to its gradient, holding only the variables some gradient
    reached. No gradient flows through the variables in ``consider_constant``.

    The outputs are first put in their numerically stable forms (the stabilize rewrites, with
    ``wrt`` and ``consider_constant`` left in place), so that a naive ``log(1 / (1 + exp(-x)))``
    is differentiated as ``-softplus(-x)``: its gradient is then finite where the naive one is nan.
    A ``wrt`` variable computed inside the graph must stay, and a pattern through it cannot be
    rewritten; so the gradients with respect to the graph's inputs get a sweep of their own, over
    the graph stabilized without that constraint.
    """
    from .rewrite import stabilize_for_grad

    constants = list(consider_constant or ())
    inputs = [w for w in wrt if w.owner is None]
    computed = [w for w in wrt if w.owner is not None]
    gradients: dict[int, Variable] = {}
    for group in [inputs, computed] if inputs and computed else [list(wrt)]:
        applied: list[str] = []
        stable = stabilize_for_grad(list(outputs), keep=group + constants, applied=applied)
        swept = sweep(stable, seeds, group, constants)
        for g in swept.values():
            if applied and g.owner is not None:
                _rewrites_before_sweep[g] = (*_rewrites_before_sweep.get(g, ()), *applied)
        gradients.update(swept)
    return gradients


class SweepObserver(Protocol):
    """Watches one reverse sweep: ``explain_grad`` shows the chain rule from the sweep itself."""

    def adjoint(self, var: Variable, total: Variable) -> None:
        """``var``'s adjoint is complete: ``total``, the sum of its contributions."""

    def contribution(self, node: Apply, position: int, term: Variable) -> None:
        """``node``'s vector-Jacobian rule gave ``term`` toward the adjoint of its input ``position``."""


def sweep(
    outputs: Sequence[Variable],
    seeds: Sequence[Variable],
    wrt: Sequence[Variable],
    consider_constant: Sequence[Variable],
    observer: SweepObserver | None = None,
) -> dict[int, Variable]:
    """One reverse sweep over the graph of ``outputs`` (see :func:`backprop`), watched by ``observer``."""
    blocked = {id(v) for v in consider_constant}
    nodes = [n for n in toposort(outputs) if id(n.output) not in blocked]
    # Variables on some path from an element of wrt to an output: only these need gradients.
    wanted = {id(v) for v in wrt}
    for node in nodes:
        if any(id(i) in wanted for i in node.inputs):
            wanted.add(id(node.output))

    adjoints: dict[int, list[Variable]] = {}
    for out, seed in zip(outputs, seeds):
        adjoints.setdefault(id(out), []).append(seed)
    joint = _joint_groups(nodes)
    for node in reversed(nodes):
        if id(node) in joint:
            # One node of several that compute the results of one operation (a scan's loop): the
            # group is differentiated together, at its first node, once every result's adjoint is complete.
            members = joint[id(node)]
            if node is not members[0]:
                continue
            grads = []
            for member in members:
                terms = adjoints.get(id(member.output))
                if terms and id(member.output) in wanted:
                    grads.append((member.op, _add_all(terms, member.output)))
                    if observer is not None:
                        observer.adjoint(member.output, grads[-1][1])
            if not grads:
                continue
            input_grads = node.op.joint_vjp(node.inputs, grads, [id(i) in wanted for i in node.inputs])
        else:
            terms = adjoints.get(id(node.output))
            if not terms or id(node.output) not in wanted:
                continue
            g = _add_all(terms, node.output)
            if observer is not None:
                observer.adjoint(node.output, g)
            if isinstance(node.op, IfElse):
                _sweep_branches(node, g, nodes, outputs, wrt, wanted, consider_constant, adjoints)
                continue
            input_grads = node.op.vjp(node.inputs, node.output, g)
        for position, (inp, gi) in enumerate(zip(node.inputs, input_grads)):
            if gi is None or id(inp) not in wanted or isinstance(inp, Constant):
                continue
            adjoints.setdefault(id(inp), []).append(gi)
            if observer is not None:
                observer.contribution(node, position, gi)
    gradients = {id(v): _add_all(adjoints[id(v)], v) for v in wrt if adjoints.get(id(v))}
    if observer is not None:  # the adjoints of inputs, which no node's turn completed
        swept = {id(n.output) for n in nodes}
        for v in wrt:
            if id(v) in gradients and id(v) not in swept:
                observer.adjoint(v, gradients[id(v)])
    forward = {id(n) for n in nodes}
    for node in toposort(list(gradients.values())):
        if id(node) not in forward:
            mark_gradient(node.output)  # for pictures: gradient nodes look different
    return gradients


def _joint_groups(nodes: list[Apply]) -> dict[int, list[Apply]]:
    """Nodes whose op has a ``joint_vjp`` (several results of one computation, each a node), grouped
    by that computation (``joint_key``) and inputs: id(node) -> the group, first node first."""
    groups: dict[tuple, list[Apply]] = {}
    for node in nodes:
        if hasattr(node.op, "joint_vjp"):
            groups.setdefault((node.op.joint_key, *map(id, node.inputs)), []).append(node)
    return {id(node): group for group in groups.values() for node in group}


def _sweep_branches(
    node: Apply,
    g: Variable,
    nodes: list[Apply],
    outputs: Sequence[Variable],
    wrt: Sequence[Variable],
    wanted: set[int],
    consider_constant: Sequence[Variable],
    adjoints: dict[int, list[Variable]],
) -> None:
    """The reverse sweep through ``ifelse(c, then, otherwise)``, as lazy as the forward one.

    The nodes only one branch needs (its own region) are differentiated in a sweep of their own,
    and each gradient leaving the region is gated by an ifelse on ``c``: zero when the branch was
    not taken, without computing that branch's backward pass, which may read values the forward
    pass never computed (a max over an empty axis, which raises).
    """
    condition, *branches = node.inputs
    if branches[0] is branches[1]:  # ifelse(c, x, x) is x
        adjoints.setdefault(id(branches[0]), []).append(g)
        return
    readers: dict[int, list[Apply]] = {}
    for n in nodes:
        for i in n.inputs:
            readers.setdefault(id(i), []).append(n)
    for side, branch in enumerate(branches):
        if id(branch) not in wanted or isinstance(branch, Constant):
            continue
        region = _branch_region(branch, nodes, [*outputs, *wrt], readers)
        if region:
            inside = {id(n) for n in region}
            reads = {id(i): i for n in region for i in n.inputs if id(i) in wanted and id(i.owner) not in inside}
            boundary = list(reads.values())
            # The sweep stops at the boundary: a boundary value computed from another (exp(u) and u,
            # both read in the branch, exp(u) outside it too) passes its adjoint on in the outer
            # sweep, which would count that contribution twice if this one passed it on as well.
            inner = sweep([branch], [g], boundary, [*consider_constant, *boundary])
        else:
            boundary, inner = [branch], {id(branch): g}
        for v in boundary:
            if id(v) in inner and not isinstance(v, Constant):
                gated = [inner[id(v)], zeros_like(v)] if side == 0 else [zeros_like(v), inner[id(v)]]
                adjoints.setdefault(id(v), []).append(ifelse(condition, *gated))


def _branch_region(
    branch: Variable, nodes: list[Apply], needed: Sequence[Variable], readers: dict[int, list[Apply]]
) -> list[Apply]:
    """The nodes whose values only the ifelse reading ``branch`` needs: ``branch``'s own node,
    unless something else reads ``branch`` too, and the nodes all of whose readers are in the
    region. A value in ``needed`` (an output of the graph, or one the sweep differentiates with
    respect to, which must get its own gradient) stays outside."""
    needed_outside = {id(v) for v in needed}
    if branch.owner is None or len(readers.get(id(branch), [])) > 1 or id(branch) in needed_outside:
        return []
    region, inside = [branch.owner], {id(branch.owner)}
    ancestors = {id(n) for n in toposort([branch])}
    for n in reversed(nodes):
        if id(n) not in ancestors or id(n) in inside or id(n.output) in needed_outside:
            continue
        if all(id(r) in inside for r in readers.get(id(n.output), [])):
            region.append(n)
            inside.add(id(n))
    return region


# ------------------------------------------------------------------------------------------------
# Argument handling shared by the public functions


def _as_list(value) -> tuple[bool, list]:
    """(whether ``value`` was a single item, the items as a list)."""
    if isinstance(value, (list, tuple)):
        return False, list(value)
    return True, [value]


def _check_wrt(wrt: list, who: str) -> None:
    for i, v in enumerate(wrt):
        if not isinstance(v, Variable):
            raise TypeError(f"{who}: wrt[{i}] must be a symgrad variable, got {type(v).__name__} {v!r}")
        if not v.type.is_float:
            raise TypeError(
                f"{who}: cannot differentiate with respect to {_describe(v)}: its dtype {v.dtype} is not a "
                "float type; gradients exist only for float32 and float64 variables"
            )


def _check_float(f: Variable, who: str, what: str) -> None:
    if not f.type.is_float:
        raise TypeError(f"{who} needs a float {what}, got {_describe(f)}")


def _check_disconnected(disconnected_inputs: str, who: str) -> None:
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"{who}: disconnected_inputs must be 'raise', 'warn' or 'ignore', got {disconnected_inputs!r}")


def _eval_points(points: list, targets: list[Variable], who: str, target_label: str) -> list[Variable]:
    """Each of ``points`` as a variable of its target's dtype and static shape, after checking it
    has its shape."""
    from .ops.shape import specify_shape
    from .tensor.basic import as_tensor_variable

    if len(points) != len(targets):
        raise ValueError(
            f"{who}: got {len(points)} eval_points for {len(targets)} {target_label} "
            f"({', '.join(map(repr, targets))}); give one per {target_label}, of the same shape"
        )
    checked = []
    for k, (point, target) in enumerate(zip(points, targets)):
        point = as_tensor_variable(point)
        mismatch = point.ndim != target.ndim or any(
            (p is not None and t is not None and p != t) or (p == 1 and t != 1)
            for p, t in zip(point.type.shape, target.type.shape)
        )
        if mismatch:
            raise ValueError(
                f"{who}: eval_points[{k}] {_describe(point)} must have the shape of {target_label}[{k}] "
                f"{_describe(target)}: {describe_shape(point.type.shape)} does not fit "
                f"{describe_shape(target.type.shape)}"
            )
        if point.dtype == "bool":
            raise TypeError(f"{who}: eval_points[{k}] {_describe(point)} must hold numbers, not booleans")
        if point.type.shape != target.type.shape:
            # The target's static lengths, checked at run time: the sweep drops the dimensions of a
            # seed known to be 1 (the vjp of a broadcast), which a point of unknown length is not.
            point = specify_shape(point, target.type.shape)
        checked.append(cast(point, target.dtype))
    return checked


def _warn(message: str) -> None:
    """A warning attributed to the user's line: the first caller outside symgrad."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_OWN_DIRS):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, stacklevel=level)


def _uses(outputs: list[Variable]) -> set[int]:
    """ids of the variables the graph of ``outputs`` reads (the outputs included), not looking
    behind a ``disconnected_grad``: what only it reads is disconnected, as in Theano."""
    used: set[int] = set()
    pending = list(outputs)
    while pending:
        v = pending.pop()
        if id(v) not in used:
            used.add(id(v))
            if v.owner is not None and not isinstance(v.owner.op, DisconnectedGrad):
                pending.extend(v.owner.inputs)
    return used


def _results(
    wrt: list[Variable],
    grads: dict[int, Variable],
    outputs: list[Variable],
    disconnected_inputs: str,
    who: str,
    what: str = "the cost",
) -> list[Variable]:
    """The gradient for each of ``wrt``: zeros where none flowed, after the disconnected check.

    A variable the outputs use only through piecewise-constant ops (``floor``) gets zeros without
    complaint; one they do not use at all is *disconnected*.
    """
    used = _uses(outputs)
    results = []
    for v in wrt:
        if id(v) in grads:
            results.append(grads[id(v)])
            continue
        if id(v) not in used:
            message = f"{who}: {what} does not depend on {_describe(v)} (it is disconnected from {what})"
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(
                    message + "; pass disconnected_inputs='ignore' or 'warn' to get zeros instead"
                )
            if disconnected_inputs == "warn":
                _warn(message)
        results.append(zeros_like(v))
    return results


def _gradients(
    cost: Variable,
    wrt: list[Variable],
    consider_constant: Sequence[Variable] | None,
    disconnected_inputs: str,
    who: str,
    what: str = "the cost",
) -> list[Variable]:
    """The gradient of the 0-d ``cost`` for each of ``wrt``: the reverse sweep seeded with 1."""
    grads = backprop([cost], [_unit_seed(cost)], wrt, consider_constant)
    return _results(wrt, grads, [cost], disconnected_inputs, who, what)


def _unit_seed(cost: Variable) -> Variable:
    """1 of the cost's dtype, the seed of its reverse sweep."""
    return make_elemwise(sym(0) * 0 + 1, [cost], cost.dtype)


def _scalar_cost(cost, who: str, hint: str) -> Variable:
    from .tensor.basic import as_tensor_variable

    cost = as_tensor_variable(cost)
    if cost.ndim != 0:
        raise TypeError(f"{who} needs a scalar (0-d) cost, got {_describe(cost)} with {cost.ndim} dimensions; {hint}")
    _check_float(cost, who, "cost")
    return cost


# ------------------------------------------------------------------------------------------------
# Public functions


def grad(
    cost: Variable | None,
    wrt: Variable | Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
    known_grads: Mapping[Variable, Variable] | None = None,
) -> Variable | list[Variable]:
    """The gradient of the scalar ``cost`` with respect to ``wrt`` (a variable or a list of them).

    ``disconnected_inputs`` says what to do when the cost does not depend on an element of
    ``wrt``: ``'raise'`` (the default), ``'warn'`` or ``'ignore'``; the latter two return zeros.
    Variables in ``consider_constant`` are treated as constants: no gradient flows through them.
    ``known_grads`` maps variables to gradients the caller already has (of some cost outside the
    graph, as Theano's): they are swept back as well, and ``cost`` may then be ``None``.
    """
    who = "T.grad"
    _check_disconnected(disconnected_inputs, who)
    if cost is not None:
        cost = _scalar_cost(cost, who, "reduce it first (e.g. T.sum(cost)), or use T.jacobian for a non-scalar output")
    elif not known_grads:
        raise TypeError(f"{who}: cost is None and no known_grads were given; pass a scalar cost")
    single, wrt_list = _as_list(wrt)
    _check_wrt(wrt_list, who)
    if known_grads:
        outputs, seeds = _known_seeds(known_grads, who)
        if cost is not None:
            outputs, seeds = [cost, *outputs], [_unit_seed(cost), *seeds]
        grads = backprop(outputs, seeds, wrt_list, consider_constant)
        results = _results(wrt_list, grads, outputs, disconnected_inputs, who, "the cost and known_grads")
    else:
        results = _gradients(cost, wrt_list, consider_constant, disconnected_inputs, who)
    return results[0] if single else results


def _known_seeds(known_grads: Mapping[Variable, Variable], who: str) -> tuple[list[Variable], list[Variable]]:
    """The variables of ``known_grads`` and their gradients, each checked to have its variable's shape."""
    from .tensor.basic import as_tensor_variable

    outputs, seeds = [], []
    for v, g in known_grads.items():
        if not isinstance(v, Variable):
            raise TypeError(f"{who}: the keys of known_grads must be symbolic variables, got {v!r}")
        g = as_tensor_variable(g)
        if g.ndim != v.ndim:
            raise ValueError(f"{who}: known_grads gives {_describe(v)} a gradient of {g.ndim} dimensions, "
                             f"but it has {v.ndim}")  # fmt: skip
        _check_float(v, who, "a known_grads variable")
        outputs.append(v)
        seeds.append(cast(g, v.dtype) if g.dtype != v.dtype else g)
    return outputs, seeds


def Lop(
    f: Variable | Sequence[Variable],
    wrt: Variable | Sequence[Variable],
    eval_points: Variable | Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
) -> Variable | list[Variable]:
    """The vector-Jacobian product ``u J``: ``sum_k eval_points[k] · d f[k] / d w`` for each w in wrt.

    ``f`` and ``eval_points`` are a variable each or lists of equal length, each point shaped like
    its ``f``; ``wrt`` is a variable or a list (the result has the same form). Costs one reverse
    sweep. Shapes are checked where they are known statically; lengths known only at run time
    are checked by the operations the seeds meet.
    """
    who = "T.Lop"
    _check_disconnected(disconnected_inputs, who)
    _, f_list = _as_list(f)
    single, wrt_list = _as_list(wrt)
    _check_wrt(wrt_list, who)
    _check_outputs(f_list, who)
    _, points = _as_list(eval_points)
    seeds = _eval_points(points, f_list, who, "f")
    grads = backprop(f_list, seeds, wrt_list, consider_constant)
    results = _results(wrt_list, grads, f_list, disconnected_inputs, who, "f")
    return results[0] if single else results


def _check_outputs(f_list: list, who: str) -> None:
    for k, fk in enumerate(f_list):
        if not isinstance(fk, Variable):
            raise TypeError(f"{who}: f[{k}] must be a symgrad variable, got {type(fk).__name__} {fk!r}")
        _check_float(fk, who, f"f[{k}]")


def Rop(
    f: Variable | Sequence[Variable],
    wrt: Variable | Sequence[Variable],
    eval_points: Variable | Sequence[Variable],
    disconnected_outputs: str = "raise",
) -> Variable | list[Variable]:
    """The Jacobian-vector product ``J v``: ``sum_j d f / d wrt[j] · eval_points[j]`` for each f.

    ``wrt`` and ``eval_points`` are a variable each or lists of equal length, each point shaped like
    its ``wrt``; ``f`` is a variable or a list (the result has the same form, each shaped like its f).
    An ``f`` that depends on no element of ``wrt`` raises, or with ``disconnected_outputs`` 'warn'
    or 'ignore' gets zeros.

    Built as two reverse sweeps: ``L(u) = Lop(f, wrt, u)`` for a dummy ``u`` shaped like ``f`` is
    linear in ``u``, so ``Lop(L, u, v)`` is ``J v`` and cannot depend on the value of ``u``. Any
    reference to ``u`` left in the graph (an input kept only for its shape) is replaced by zeros.
    """
    from .rewrite import rebuild

    who = "T.Rop"
    if disconnected_outputs not in ("raise", "warn", "ignore"):
        raise ValueError(
            f"{who}: disconnected_outputs must be 'raise', 'warn' or 'ignore', got {disconnected_outputs!r}"
        )
    single_f, f_list = _as_list(f)
    _check_outputs(f_list, who)
    _, wrt_list = _as_list(wrt)
    _check_wrt(wrt_list, who)
    _, points = _as_list(eval_points)
    vs = _eval_points(points, wrt_list, who, "wrt")
    results = []
    for k, fk in enumerate(f_list):
        u = make_variable(TensorType(fk.dtype, fk.type.shape), name="u")
        transposed = backprop([fk], [u], wrt_list)  # u J, one entry per wrt some gradient reached
        connected = [(transposed[id(w)], v) for w, v in zip(wrt_list, vs) if id(w) in transposed]
        jvp = None
        if connected:
            lops = [lop for lop, _ in connected]
            jvp = backprop(lops, [cast(v, lop.dtype) for lop, v in connected], [u]).get(id(u))
        if jvp is None:
            used = _uses([fk])
            if not any(id(w) in used for w in wrt_list) and disconnected_outputs != "ignore":
                message = f"{who}: f[{k}] {_describe(fk)} does not depend on any of wrt"
                if disconnected_outputs == "raise":
                    raise DisconnectedInputError(message + "; pass disconnected_outputs='ignore' to get zeros")
                _warn(message)
            jvp = zeros_like(fk)
        elif any(r is u for r in graph_inputs([jvp])):
            (jvp,) = rebuild([jvp], {u: zeros_like(fk)})
        read = {id(r) for r in graph_inputs([jvp])}
        results.append(depends_on(jvp, [r for r in graph_inputs([fk]) if id(r) not in read]))
    return results[0] if single_f else results


def hessian_vector_product(
    cost: Variable,
    wrt: Variable | Sequence[Variable],
    v: Variable | Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
) -> Variable | list[Variable]:
    """``H v`` for the Hessian ``H`` of the scalar ``cost``, without forming ``H``.

    The gradient of ``sum_j dot(grad(cost, wrt[j]), v[j])`` with respect to ``wrt``: a reverse sweep
    over the gradient's graph, so it costs a small multiple of one gradient whatever the size of
    ``wrt``. ``wrt`` and ``v`` are a variable each or lists of equal length, each ``v[j]`` shaped
    like ``wrt[j]``; the result has the form of ``wrt``.
    """
    from .ops.reduce import reduce

    who = "T.hessian_vector_product"
    _check_disconnected(disconnected_inputs, who)
    cost = _scalar_cost(cost, who, "reduce it first (e.g. T.sum(cost))")
    single, wrt_list = _as_list(wrt)
    _check_wrt(wrt_list, who)
    _, points = _as_list(v)
    vs = _eval_points(points, wrt_list, who, "wrt")
    if not wrt_list:
        return []
    g = _gradients(cost, wrt_list, consider_constant, disconnected_inputs, who)
    directional = reduce("sum", g[0] * vs[0])
    for gj, vj in zip(g[1:], vs[1:]):
        directional = directional + reduce("sum", gj * vj)
    # A gradient that does not depend on some wrt (a cost linear in it) is a zero Hessian block.
    results = _gradients(directional, wrt_list, consider_constant, "ignore", who)
    return results[0] if single else results


def jacobian(
    expression: Variable,
    wrt: Variable | Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
) -> Variable | list[Variable]:
    """The Jacobian of a vector (or scalar) ``expression``: shape ``expression.shape + w.shape`` for
    each ``w`` of ``wrt`` (a variable or a list; the result has the same form).

    Row ``i`` is ``grad(expression[i], w)``, computed by a loop over ``i`` whose length is known
    only when the function runs; what the rows share (the forward pass) is computed once, outside.
    """
    from .tensor.basic import as_tensor_variable

    who = "T.jacobian"
    _check_disconnected(disconnected_inputs, who)
    expression = as_tensor_variable(expression)
    single, wrt_list = _as_list(wrt)
    _check_wrt(wrt_list, who)
    _check_float(expression, who, "expression")
    if expression.ndim > 1:
        raise TypeError(
            f"{who} needs a vector or scalar expression, got {_describe(expression)} with {expression.ndim} "
            "dimensions; flatten it first (expression.flatten())"
        )
    results = _jacobians(expression, wrt_list, consider_constant, disconnected_inputs, who)
    return results[0] if single else results


def _jacobians(
    expression: Variable,
    wrt: list[Variable],
    consider_constant: Sequence[Variable] | None,
    disconnected_inputs: str,
    who: str,
) -> list[Variable]:
    from .ops.loop import map_rows, new_index
    from .ops.shape import size

    if expression.ndim == 0:
        return _gradients(expression, wrt, consider_constant, disconnected_inputs, who, "the expression")
    n = size(expression, (0,))
    results = []
    for w in wrt:
        i = new_index()
        (row,) = _gradients(expression[i], [w], consider_constant, disconnected_inputs, who, "the expression")
        results.append(map_rows(i, n, row, like=w))
    return results


def hessian(
    cost: Variable,
    wrt: Variable | Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
) -> Variable | list[Variable]:
    """The Hessian of the scalar ``cost``: shape ``w.shape + w.shape`` for each ``w`` of ``wrt``.

    For a list, the list of each variable's own Hessian (the diagonal blocks), as in Theano. For a
    matrix ``w`` of shape (a, b) the result has shape (a, b, a, b), entry ``[i, j, k, l]`` being
    ``d^2 cost / dw[i, j] dw[k, l]``; ``h.reshape((a * b, a * b))`` is the Hessian of the flattened
    ``w``. Computed as the Jacobian of the gradient, one row per element of ``w``.
    """
    from .graph import apply
    from .ops.shape import Reshape, flatten

    who = "T.hessian"
    _check_disconnected(disconnected_inputs, who)
    cost = _scalar_cost(cost, who, "the Hessian is defined for scalar costs (use T.jacobian on a gradient)")
    single, wrt_list = _as_list(wrt)
    _check_wrt(wrt_list, who)
    results = []
    for w in wrt_list:
        (g,) = _gradients(cost, [w], consider_constant, disconnected_inputs, who)
        # The gradient may not depend on w at all (a cost linear in w): its Jacobian is zero.
        (h,) = _jacobians(g if g.ndim <= 1 else flatten(g), [w], consider_constant, "ignore", who)
        if w.ndim > 1:  # (size, *w.shape) to (*w.shape, *w.shape)
            h = apply(Reshape(tuple(("dim", d) for d in range(1, w.ndim + 1)) * 2), h)
        results.append(h)
    return results[0] if single else results
