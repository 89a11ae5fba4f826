"""The stabilize phase: naive formulas in forms that stay finite and accurate at extreme inputs.

Users write ``1 / (1 + T.exp(-x))``, ``T.log(1 - p)`` and ``T.exp(x) / T.sum(T.exp(x))``, as the
Theano tutorials do; at ``x = ±1000`` or ``1e-300`` those overflow, round to 0 or lose every digit.
These rules replace them with ``sigmoid``, ``softplus``, ``log1p``, ``expm1`` and max-shifted
softmax and logsumexp. ``T.grad`` applies this phase to the cost before differentiating, so the
gradient is that of the stable form too (the gradient of ``log(sigmoid(x))`` written naively is
``sigmoid'(x) / sigmoid(x)``, which is ``0 / 0`` at ``x = -1000``).

``log(1 - sigmoid(x))`` becomes ``-softplus(x)`` in two steps (``one_minus_sigmoid``, then
``log_sigmoid``), and so does the binary cross-entropy of a sigmoid,
``-(t*log(sigmoid(z)) + (1 - t)*log(1 - sigmoid(z)))``, which becomes
``t*softplus(-z) + (1 - t)*softplus(z)``.
"""

from __future__ import annotations

import sympy
from sympy.codegen.cfunctions import expm1 as sympy_expm1
from sympy.codegen.cfunctions import log1p as sympy_log1p

from ..graph import Apply, Variable, apply
from ..ops.elemwise import Elemwise, make_elemwise, sym
from ..ops.elemwise import sigmoid as sympy_sigmoid
from ..ops.elemwise import softplus as sympy_softplus
from ..ops.gradient import DisconnectedGrad, disconnected_grad
from ..ops.indexing import AdvancedSubtensor
from ..ops.reduce import Reduce, expand
from ..ops.shape import DimShuffle, Subtensor, dimshuffle
from ..types import kind
from .core import REWRITES, Context, Scope, expr_rewrite, node_rewrite, rewrite_expression


def _one_plus(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """``x`` where ``e`` is (or is computed as) ``1 + x``."""
    inner = scope.look(e)
    if inner.is_Add:
        constant, rest = inner.as_coeff_Add()
        if constant == 1:
            return rest
    return None


def _exp_argument(e: sympy.Expr | None, scope: Scope) -> sympy.Expr | None:
    """``x`` where ``e`` is (or is computed as) ``exp(x)``."""
    inner = None if e is None else scope.look(e)
    return inner.args[0] if isinstance(inner, sympy.exp) else None


# ------------------------------------------------------------------------------------------------
# Elementwise forms, tried in this order at each subexpression


@expr_rewrite("stabilize")
def sigmoid(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """1/(1 + exp(-x)) → sigmoid(x), and exp(x)/(1 + exp(x)) → sigmoid(x)

    exp(-x) overflows for x < -709, and the gradient of the naive form is then inf/inf.
    """
    if e.is_Pow and e.exp == -1:
        argument = _exp_argument(_one_plus(e.base, scope), scope)
        if argument is not None:
            return sympy_sigmoid(-argument)
    if e.is_Mul:  # exp(x) * sigmoid(-x): what exp(x)/(1 + exp(x)) has become by now
        for factor in e.args:
            argument = _exp_argument(factor, scope)
            if argument is not None and sympy_sigmoid(-argument) in e.args:
                return e / (factor * sympy_sigmoid(-argument)) * sympy_sigmoid(argument)
    return None


@expr_rewrite("stabilize")
def softplus(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """log(1 + exp(x)) → softplus(x)

    The naive form overflows for large x and rounds to 0 for very negative x.
    """
    if isinstance(e, sympy.log):
        argument = _exp_argument(_one_plus(e.args[0], scope), scope)
    elif isinstance(e, sympy_log1p):
        argument = _exp_argument(e.args[0], scope)
    else:
        return None
    return None if argument is None else sympy_softplus(argument)


@expr_rewrite("stabilize")
def log_sigmoid(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """log(sigmoid(x)) → -softplus(-x)

    Finite where sigmoid(x) underflows to 0 (x < -745), and so is its gradient, sigmoid(-x).
    """
    if isinstance(e, sympy.log):
        inner = scope.look(e.args[0])
        if isinstance(inner, sympy_sigmoid):
            return -sympy_softplus(-inner.args[0])
    return None


@expr_rewrite("stabilize")
def log_softmax(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """log(exp(x) / s) → x - log(s): log(softmax) → log_softmax

    The log of a softmax without forming the softmax: finite where it underflows to 0.
    """
    if not isinstance(e, sympy.log):
        return None
    inner = scope.look(e.args[0])
    if not inner.is_Mul:
        return None
    exponents, denominators = [], []
    for factor in inner.args:
        argument = _exp_argument(factor, scope)
        base, power = factor.as_base_exp()
        if argument is not None:
            exponents.append(argument)
        elif power == -1:
            denominators.append(base)
        else:
            return None
    if len(exponents) != 1 or not denominators:
        return None
    return exponents[0] - sympy.Add(*(sympy.log(d) for d in denominators))


@expr_rewrite("stabilize")
def log1p(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """log(1 + x) → log1p(x)

    Exact for tiny x, where 1 + x rounds to 1.
    """
    if isinstance(e, sympy.log):
        rest = _one_plus(e.args[0], scope)
        if rest is not None:
            return sympy_log1p(rest)
    return None


@expr_rewrite("stabilize")
def expm1(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """exp(x) - 1 → expm1(x)

    Exact for tiny x, where exp(x) rounds to 1.
    """
    if e.is_Add:
        constant, rest = e.as_coeff_Add()
        if constant == -1:
            for term in sympy.Add.make_args(rest):
                argument = _exp_argument(term, scope)
                if argument is not None:
                    return sympy_expm1(argument) + (rest - term)
    return None


@expr_rewrite("stabilize")
def one_minus_sigmoid(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """1 - sigmoid(x) → sigmoid(-x)

    Exact where sigmoid(x) rounds to 1; with log_sigmoid, log(1 - sigmoid(x)) → -softplus(x).
    """
    if e.is_Add:
        constant, rest = e.as_coeff_Add()
        if constant == 1:
            for term in sympy.Add.make_args(rest):
                coeff, factor = term.as_coeff_Mul()
                inner = scope.look(factor)
                if coeff == -1 and isinstance(inner, sympy_sigmoid):
                    return sympy_sigmoid(-inner.args[0]) + (rest - term)
    return None


# ------------------------------------------------------------------------------------------------
# Softmax and logsumexp: patterns over reductions


def _unshifted_exp(var: Variable, ctx: Context) -> Apply | None:
    """The node computing ``var`` as ``exp(w)`` (a float elementwise node), unless ``w`` already
    subtracts a maximum (as T.nnet.softmax and T.logsumexp do, and these rules' own results)."""
    node = ctx.owner(var)
    if node is None or not isinstance(node.op, Elemwise) or not isinstance(node.op.expr, sympy.exp):
        return None
    if kind(node.op.dtype) != "f":
        return None
    near = list(node.inputs)
    for v in node.inputs:
        if v.owner is not None and isinstance(v.owner.op, Elemwise):
            near += v.owner.inputs
    for v in near:
        while v.owner is not None and isinstance(v.owner.op, DimShuffle):
            v = v.owner.inputs[0]
        if v.owner is not None and (
            isinstance(v.owner.op, DisconnectedGrad)
            or (isinstance(v.owner.op, Reduce) and v.owner.op.reduction == "max")
        ):
            return None
    return node


def _shifted_sum(exp_node: Apply, axes: tuple[int, ...]) -> tuple[Variable, Variable, Variable]:
    """``(m, sum(exp(w - m)), exp(w - m))`` over ``axes`` for ``exp_node`` computing ``exp(w)``:
    ``m`` is the max of ``w`` (no gradient flows through it: it does not change the value); ``m``
    and the sum are without the axes."""
    dtype = exp_node.op.dtype
    w = make_elemwise(exp_node.op.expr.args[0], exp_node.inputs, dtype)
    m = disconnected_grad(apply(Reduce("max", axes), w))
    shifted = make_elemwise(sympy.exp(sym(0) - sym(1)), [w, expand(m, w.ndim, axes)], dtype)
    return m, apply(Reduce("sum", axes), shifted), shifted


@node_rewrite("stabilize", Elemwise)
def softmax_max_shift(node: Apply, ctx: Context) -> Variable | None:
    """exp(x) / sum(exp(x)) → exp(x - max(x)) / sum(exp(x - max(x)))

    The same ratio, without overflow (inf/inf) or every term underflowing (0/0).
    """
    ndim = node.output.ndim
    for j, total in enumerate(node.inputs):
        view = ctx.owner(total)
        if view is None or not isinstance(view.op, DimShuffle):
            continue
        reduction = ctx.owner(view.inputs[0])
        if reduction is None or not isinstance(reduction.op, Reduce) or reduction.op.reduction != "sum":
            continue
        axes = reduction.op.axes
        if (
            reduction.output.ndim + len(axes) != ndim
            or view.op.new_order != expand(reduction.output, ndim, axes).owner.op.new_order
        ):
            continue  # not the sum broadcast back over the axes it was taken over
        i = next((k for k, v in enumerate(node.inputs) if v is reduction.inputs[0]), None)
        exp_node = None if i is None else _unshifted_exp(node.inputs[i], ctx)
        if exp_node is None:
            continue
        ratio = sympy.Dummy()
        if sym(j) in node.op.expr.xreplace({sym(i): ratio * sym(j)}).free_symbols:
            continue  # the node reads exp(x) or the sum otherwise than as their ratio
        _, total_shifted, shifted = _shifted_sum(exp_node, axes)
        inputs = list(node.inputs)
        inputs[i], inputs[j] = shifted, expand(total_shifted, ndim, axes)
        return make_elemwise(node.op.expr, inputs, node.op.dtype, node.op.name)
    return None


@node_rewrite("stabilize", Elemwise)
def logsumexp_max_shift(node: Apply, ctx: Context) -> Variable | None:
    """log(sum(exp(x))) → max(x) + log(sum(exp(x - max(x))))

    Neither overflows nor takes the log of 0.
    """
    for k, total in enumerate(node.inputs):
        if not node.op.expr.has(sympy.log(sym(k))):
            continue
        view = ctx.owner(total)
        order = None
        if view is not None and isinstance(view.op, DimShuffle):
            order, view = view.op.new_order, ctx.owner(view.inputs[0])
        if view is None or not isinstance(view.op, Reduce) or view.op.reduction != "sum":
            continue
        exp_node = _unshifted_exp(view.inputs[0], ctx)
        if exp_node is None:
            continue
        m, total_shifted, _ = _shifted_sum(exp_node, view.op.axes)
        if order is not None:
            m, total_shifted = dimshuffle(m, order), dimshuffle(total_shifted, order)
        n = len(node.inputs)
        expr = node.op.expr.xreplace({sympy.log(sym(k)): sym(n) + sympy.log(sym(n + 1))})
        return make_elemwise(expr, [*node.inputs, m, total_shifted], node.op.dtype, node.op.name)
    return None


@node_rewrite("stabilize", Elemwise)
def log_softmax_indexed(node: Apply, ctx: Context) -> Variable | None:
    """log(softmax(x)[i]) → log_softmax(x)[i]

    As in categorical_crossentropy(softmax(x), y): finite where the picked probability underflows
    to 0.
    """
    n = len(node.inputs)
    for k, picked in enumerate(node.inputs):
        if not node.op.expr.has(sympy.log(sym(k))):
            continue
        index = ctx.owner(picked)
        if index is None or not isinstance(index.op, (AdvancedSubtensor, Subtensor)):
            continue
        source = index.inputs[0]
        if source.dtype != node.op.dtype:
            continue
        candidate = make_elemwise(sympy.log(sym(0)), [source], source.dtype)
        if candidate.owner is None:
            continue
        log_of_source, _ = rewrite_expression(candidate.owner, [REWRITES["log_softmax"]], ctx)
        if log_of_source is None:
            continue
        indexed = apply(index.op, log_of_source, *index.inputs[1:])
        expr = node.op.expr.xreplace({sympy.log(sym(k)): sym(n)})
        return make_elemwise(expr, [*node.inputs, indexed], node.op.dtype, node.op.name)
    return None
