"""The canonicalize phase: identities that make equal computations look alike, and cheaper.

Within one elementwise node SymPy applies the algebraic identities as it builds the expression
(``x*1``, ``x + 0``, ``x - x``, ``x**1``, ``exp(log(x))``; a division by a number is stored as a
multiplication by its reciprocal). The rules here apply them *across* nodes, where SymPy cannot see:
between an elementwise node and the nodes computing its inputs, and through shape operations.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import sympy

from ..graph import Apply, Constant, Variable, apply, constant
from ..ifelse import IfElse
from ..ops.blas import Dot
from ..ops.elemwise import Elemwise, make_elemwise, sym
from ..ops.gradient import DependsOn
from ..ops.reduce import Reduce
from ..ops.shape import DimShuffle, Join, Reshape, ReshapeAs, Shape, Size, dimshuffle, size
from ..ops.substitution import defined_where, restricted, substitute
from ..types import kind
from .core import Context, Scope, expr_rewrite, node_rewrite, uniform_number

# ------------------------------------------------------------------------------------------------
# Elementwise identities across nodes


@expr_rewrite("canonicalize")
def neg_neg(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """-(-x) → x

    Across nodes: within one node SymPy has simplified it already.
    """
    coeff, rest = e.as_coeff_Mul()
    if coeff == -1:
        inner = scope.look(rest)
        if inner is not rest:
            inner_coeff, value = inner.as_coeff_Mul()
            if inner_coeff == -1:
                return value
    return None


def _inverse_of_inverse(e: sympy.Expr, scope: Scope, outer: type, inner: type) -> sympy.Expr | None:
    """x for ``outer(inner(x))``, looking through a node boundary between the two, and nan where
    ``inner`` is undefined (``exp(log(-1))`` is nan in NumPy)."""
    if isinstance(e, outer):
        found = scope.look(e.args[0])
        if isinstance(found, inner):
            return defined_where(found.args[0], restricted(found) - restricted(found.args[0]))
    return None


@expr_rewrite("canonicalize")
def exp_log(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """exp(log(x)) → x (nan where x < 0)

    Across nodes: within one node SymPy has simplified it already.
    """
    return _inverse_of_inverse(e, scope, sympy.exp, sympy.log)


@expr_rewrite("canonicalize")
def log_exp(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """log(exp(x)) → x

    Across nodes: within one node SymPy has simplified it already.
    """
    return _inverse_of_inverse(e, scope, sympy.log, sympy.exp)


def _cancels(parts: list[sympy.Expr], split) -> bool:
    """Whether some base occurs more than once in ``parts`` with amounts that sum to zero."""
    totals: dict[sympy.Expr, list[sympy.Expr]] = defaultdict(list)
    for part in parts:
        amount, base = split(part)
        totals[base].append(amount)
    return any(len(amounts) > 1 and sum(amounts) == 0 for amounts in totals.values())


@expr_rewrite("canonicalize")
def add_cancel(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """(x + y) - x → y

    Terms that cancel once the sums computing them are opened up.
    """
    if not e.is_Add:
        return None
    terms: list[sympy.Expr] = []
    for term in e.args:
        coeff, rest = term.as_coeff_Mul()
        inner = scope.look(rest)
        terms += [coeff * t for t in inner.args] if inner is not rest and inner.is_Add else [term]
    if len(terms) == len(e.args) or not _cancels(terms, lambda t: t.as_coeff_Mul()):
        return None
    return sympy.Add(*terms)


@expr_rewrite("canonicalize")
def mul_cancel(e: sympy.Expr, scope: Scope) -> sympy.Expr | None:
    """(x * y) / x → y

    Factors that cancel once the products computing them are opened up.
    """
    if not e.is_Mul:
        return None
    factors: list[sympy.Expr] = []
    for factor in e.args:
        base, exponent = factor.as_base_exp()
        inner = scope.look(base)
        opened = inner is not base and inner.is_Mul and exponent.is_Integer
        factors += [f**exponent for f in inner.args] if opened else [factor]
    if len(factors) == len(e.args) or not _cancels(factors, lambda f: tuple(reversed(f.as_base_exp()))):
        return None
    return sympy.Mul(*factors)


# ------------------------------------------------------------------------------------------------
# Constants inside elementwise nodes


@node_rewrite("canonicalize", Elemwise)
def fill_numbers(node: Apply, ctx: Context) -> Variable | None:
    """x * ones_like(y) → x

    A tensor filled with one number (a fill, a constant array of 2s) is read as that number, so
    x*1, x + 0 and x**1 vanish across nodes too; it stays an input only where it gives the result
    its shape.
    """
    numbers = {}
    for i, var in enumerate(node.inputs):
        number = None if ctx.frozen(var) else uniform_number(var)
        if number is not None and not (isinstance(var, Constant) and var.data.size == 1):
            numbers[sym(i)] = number
    expr = substitute(node.op.expr, numbers)
    if expr == node.op.expr:
        return None
    return make_elemwise(expr, node.inputs, node.op.dtype, node.op.name)


@node_rewrite("canonicalize", Elemwise)
def div_by_constant(node: Apply, ctx: Context) -> Variable | None:
    """x / c → x * (1/c) for a constant array c

    The reciprocals are computed once, when compiling, and each element costs a multiplication
    instead of a division. (Division by a number is a multiplication in SymPy's form already.)
    """
    for i, var in enumerate(node.inputs):
        if not isinstance(var, Constant) or var.dtype != node.op.dtype or kind(var.dtype) != "f":
            continue
        reciprocal_symbol = sympy.Dummy()
        marked = node.op.expr.xreplace({1 / sym(i): reciprocal_symbol})
        if sym(i) in marked.free_symbols or reciprocal_symbol not in marked.free_symbols:
            continue  # c is also read otherwise than as 1/c
        with np.errstate(divide="ignore"):
            reciprocal = constant(np.reciprocal(var.data), dtype=var.dtype, weak=False)
        inputs = list(node.inputs)
        inputs[i] = reciprocal
        return make_elemwise(marked.xreplace({reciprocal_symbol: sym(i)}), inputs, node.op.dtype, node.op.name)
    return None


@node_rewrite("canonicalize", DependsOn)
def drop_recorded_inputs(node: Apply, ctx: Context) -> Variable:
    """depends_on(x, others) → x

    The inputs it records only matter to theano.function's check of unused inputs, done by now;
    removed early, it hides nothing from the other rewrites.
    """
    return node.inputs[0]


# ------------------------------------------------------------------------------------------------
# Shapes

#: The ops whose output lengths follow from their inputs' lengths alone.
_LENGTHS_KNOWN = (Elemwise, DimShuffle, Reduce, Join, Dot)


@node_rewrite("canonicalize", Shape, Size)
def static_shape(node: Apply, ctx: Context) -> Variable | None:
    """x.shape → a constant, where x's lengths are known before the call

    Types can become more specific after the graph was built (givens, rewrites).
    """
    x = node.inputs[0]
    if isinstance(node.op, Shape):
        return None if None in x.type.shape else constant(np.array(x.type.shape, dtype="int64"), weak=False)
    lengths = [x.type.shape[a] for a in node.op.axes]
    return None if None in lengths else constant(int(np.prod(lengths)), dtype="int64", weak=False)


@node_rewrite("canonicalize", Shape)
def shape_from_lengths(node: Apply, ctx: Context) -> Variable | None:
    """shape(f(x)) → [size(f(x), 0), size(f(x), 1), ...], each traced back to x's lengths

    Each length is then traced back to the inputs by ``size_of_input``, so a function returning a
    shape computes no elementwise work, join or product (Theano's shape feature).
    """
    x = node.inputs[0]
    owner = ctx.owner(x)
    if owner is None or not isinstance(owner.op, _LENGTHS_KNOWN) or x.ndim == 0:
        return None
    lengths = [dimshuffle(size(x, (k,)), ["x"]) for k in range(x.ndim)]
    return lengths[0] if len(lengths) == 1 else apply(Join(0), *lengths)


def _input_length(owner: Apply, axis: int) -> Variable | None:
    """The length of ``owner``'s output along ``axis``, from its inputs' lengths; ``None`` when
    it is 1 (a broadcast dimension)."""
    op, inputs = owner.op, owner.inputs
    if isinstance(op, Elemwise):
        source = next((v for v in inputs if v.type.shape[axis] != 1), None)
        return None if source is None else size(source, (axis,))
    if isinstance(op, DimShuffle):
        return None if op.new_order[axis] == "x" else size(inputs[0], (op.new_order[axis],))
    if isinstance(op, Reduce):
        kept = [d for d in range(inputs[0].ndim) if d not in op.axes]
        return size(inputs[0], (kept[axis],))
    if isinstance(op, Join):
        if axis != op.axis:
            return size(inputs[0], (axis,))
        total = sympy.Add(*(sym(i) for i in range(len(inputs))))
        return make_elemwise(total, [size(t, (axis,)) for t in inputs], "int64")
    a, b = inputs  # a matrix product: a's lengths but its last, then b's but its first
    return size(a, (axis,)) if axis < a.ndim - 1 else size(b, (axis - a.ndim + 2,))


@node_rewrite("canonicalize", Size)
def size_of_input(node: Apply, ctx: Context) -> Variable | None:
    """size(f(x), axis) → size(x, axis) for f elementwise, a dimshuffle, reduction, join or product

    A length never needs the values computed.
    """
    owner = ctx.owner(node.inputs[0])
    if owner is None or not isinstance(owner.op, _LENGTHS_KNOWN):
        return None
    lengths = [length for axis in node.op.axes if (length := _input_length(owner, axis)) is not None]
    if not lengths:
        return constant(1, dtype="int64", weak=False)
    return make_elemwise(sympy.Mul(*(sym(i) for i in range(len(lengths)))), lengths, "int64")


@node_rewrite("canonicalize", DimShuffle)
def transpose_transpose(node: Apply, ctx: Context) -> Variable | None:
    """x.T.T → x

    A dimshuffle of a dimshuffle (transposes, broadcast dims) is one dimshuffle, or none.
    """
    x = node.inputs[0]
    if node.op.new_order == tuple(range(x.ndim)):
        return x
    inner = ctx.owner(x)
    if inner is not None and isinstance(inner.op, DimShuffle):
        return dimshuffle(x, node.op.new_order)  # the constructor composes the two
    return None


def _compose_reshapes(outer: Apply, inner: Apply) -> Variable | None:
    """``outer``'s reshape applied straight to ``inner``'s input: the entries of its shape that
    name a length of ``inner``'s result are replaced by what gave that length."""
    source, *inner_lengths = inner.inputs
    _, *outer_lengths = outer.inputs
    lengths: list[Variable] = []

    def arg(var: Variable) -> tuple[str, int]:
        if var not in lengths:
            lengths.append(var)
        return ("arg", lengths.index(var))

    pattern = []
    for entry in outer.op.shape:
        if isinstance(entry, tuple) and entry[0] == "arg":
            entry = arg(outer_lengths[entry[1]])
        elif isinstance(entry, tuple) and entry[0] == "prod":  # a product of inner's result lengths
            return None
        elif isinstance(entry, tuple):  # ("dim", k): a length of inner's result
            given = inner.op.shape[entry[1]]
            if given == -1:
                given = inner.output.type.shape[entry[1]]
                if given is None:
                    return None
            entry = arg(inner_lengths[given[1]]) if isinstance(given, tuple) and given[0] == "arg" else given
        pattern.append(entry)
    return apply(Reshape(tuple(pattern)), source, *lengths)


@node_rewrite("canonicalize", Reshape, ReshapeAs)
def reshape_chain(node: Apply, ctx: Context) -> Variable | None:
    """x.reshape(a).reshape(b) → x.reshape(b), and x.reshape(x.shape) → x

    Also for the reshapes of gradients (reshaped like another variable).
    """
    x = node.inputs[0]
    out_shape = node.output.type.shape
    if out_shape == x.type.shape and None not in out_shape:
        return x
    if isinstance(node.op, Reshape) and node.op.shape == tuple(("dim", k) for k in range(x.ndim)):
        return x
    inner = ctx.owner(x)
    if inner is None or not isinstance(inner.op, (Reshape, ReshapeAs)):
        return None
    if isinstance(node.op, ReshapeAs):  # only the final shape counts
        return apply(ReshapeAs(), inner.inputs[0], node.inputs[1])
    if isinstance(inner.op, Reshape):
        return _compose_reshapes(node, inner)
    if not any(isinstance(e, tuple) and e[0] in ("dim", "prod") for e in node.op.shape):
        return apply(node.op, inner.inputs[0], *node.inputs[1:])
    return None


@node_rewrite("canonicalize", Reduce)
def sum_of_broadcast(node: Apply, ctx: Context) -> Variable | None:
    """sum(x, axis) → x * length(axis), where x does not vary along axis

    A broadcast value, a fill, the gradient of a sum: one multiplication instead of a loop over
    the axis.
    """
    if node.op.reduction != "sum":
        return None
    x, axes = node.inputs[0], node.op.axes
    kept = [d for d in range(x.ndim) if d not in axes]
    out_dtype = node.output.dtype
    if all(x.type.shape[a] == 1 for a in axes):  # summing one element
        return make_elemwise(sym(0), [dimshuffle(x, kept)], out_dtype)
    owner = ctx.owner(x)
    if owner is None or not isinstance(owner.op, Elemwise):
        return None
    read = [i for i, v in enumerate(owner.inputs) if sym(i) in owner.op.expr.free_symbols]
    if any(owner.inputs[i].type.shape[a] != 1 for i in read for a in axes):
        return None
    if kept and not read:  # a fill: nothing read would give the result its kept dims
        return None
    # Every kept dim of the result must get its length from a value read (a fill read only for its
    # shape would have to keep the reduced dims).
    if any(node.output.type.shape[k] != 1 and all(owner.inputs[i].type.shape[d] == 1 for i in read)
           for k, d in enumerate(kept)):  # fmt: skip
        return None
    lengths = []
    for axis in axes:
        source = next((v for v in owner.inputs if v.type.shape[axis] != 1), None)
        if source is not None:
            lengths.append(size(source, (axis,)))
    inputs = [dimshuffle(owner.inputs[i], kept) for i in read] + lengths
    expr = owner.op.expr.xreplace({sym(i): sym(k) for k, i in enumerate(read)})
    count = sympy.Mul(*(sym(len(read) + j) for j in range(len(lengths))))
    return make_elemwise(expr * count, inputs, out_dtype)


# ------------------------------------------------------------------------------------------------
# Dead code


@node_rewrite("canonicalize", IfElse)
def dead_branch(node: Apply, ctx: Context) -> Variable | None:
    """ifelse(True, a, b) → a, and ifelse(c, a, a) → a

    Dead code: a branch that cannot be taken is dropped with everything only it needed.
    """
    condition, then, otherwise = node.inputs
    if then is otherwise:
        return then
    if isinstance(condition, Constant):
        return then if bool(condition.data) else otherwise
    return None
