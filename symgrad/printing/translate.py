"""From a graph to one SymPy expression: the first step of ``pp`` and LaTeX (see the package doc).

Elementwise nodes substitute their scalar expressions; every other op becomes an opaque SymPy
function (``dot``, ``transpose``, ``sum``) that the format printers know how to write. Also here:
what the printers of every format share (``GraphPrinter``'s dispatch, constants' text, the
outputs of whatever is printed) and SymPy's simplification, kept to what reads better.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from typing import Any

import sympy
from sympy.printing.precedence import PRECEDENCE

from ..graph import Apply, Constant, Variable
from ..ops.elemwise import SCALAR_OPS, Elemwise, sym
from ..ops.reduce import Reduce
from ..ops.shape import index_text
from ..ops.substitution import substitute

# Elementwise functions whose SymPy definition is a Piecewise that hides what they are; the math
# printers keep them as calls (relu(x) reads better than switch(x > 0, x, 0)).
NAMED_PIECEWISE = ("relu", "maximum", "minimum", "clip")


# SymPy spells some functions differently from NumPy and Theano; users wrote the NumPy names.
NUMPY_NAMES = {
    "asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2", "asinh": "arcsinh",
    "acosh": "arccosh", "atanh": "arctanh", "loggamma": "gammaln", "Abs": "abs",
}  # fmt: skip


# Above this many nodes in its expression tree, an expression is not simplified (SymPy's
# simplify is slow on big expressions) and pp names its repeated parts instead of repeating them.
SIMPLIFY_LIMIT = 250


SHARE_LIMIT = 400


# A matrix product binds tighter than + and looser than elementwise *: 2*(X·W) + b. Its operands
# are parenthesized up to products: (2*X)·W.
DOT_PRECEDENCE = PRECEDENCE["Mul"] - 1


DOT_OPERAND = PRECEDENCE["Mul"]


class OpaqueBase(sympy.Function):
    """A non-elementwise op applied to its operands inside a printed expression.

    Each op spelling is its own subclass (see :func:`opaque`): ``op_name`` is what the printers
    write, ``keywords`` the options after the operands (``axis=1``), ``postfix`` an index written
    after the first operand (``[1:, ::2]``). The format printers handle them in
    ``_print_OpaqueBase``, or in ``_print_op_<op_name>`` where one exists. (Every subclass keeps
    this class's name: SymPy's printers skip the bases of a renamed Function subclass unless their
    names end in ``Base``.)
    """

    op_name = "op"
    keywords = ""
    postfix = ""
    precedence = PRECEDENCE["Func"]  # read by SymPy's printers


@functools.cache
def opaque(op_name: str, keywords: str = "", postfix: str = "") -> type[OpaqueBase]:
    """The SymPy function class standing for ``op_name`` with these options (one class each, so
    that equal calls compare equal and different options do not)."""
    precedence = DOT_PRECEDENCE if op_name == "dot" else PRECEDENCE["Func"]
    attributes = {"op_name": op_name, "keywords": keywords, "postfix": postfix, "precedence": precedence}
    return type("OpaqueBase", (OpaqueBase,), attributes)


def _reduction_keywords(axes: tuple[int, ...], ndim: int, keepdims: bool = False) -> str:
    parts = []
    if axes != tuple(range(ndim)):
        parts.append(f"axis={axes[0] if len(axes) == 1 else axes}")
    if keepdims:
        parts.append("keepdims=True")
    return ", ".join(parts)


def constant_text(c: Constant) -> str:
    if c.data.size <= 6:
        return repr(c.data.tolist())
    return f"Constant{{{c.type}}}"


def outputs_of(obj: Any) -> list[Variable]:
    if isinstance(obj, Variable):
        return [obj]
    outputs = getattr(obj, "outputs", None)
    if outputs is not None and not isinstance(obj, (list, tuple)):
        return list(outputs)
    if isinstance(obj, (list, tuple)) and all(isinstance(v, Variable) for v in obj):
        return list(obj)
    raise TypeError(f"expected a symbolic variable, a list of them or a compiled function, got {type(obj).__name__}")


def elemwise_label(op: Elemwise, show: Callable[[sympy.Expr], str]) -> str:
    """``exp``; ``pow{a0**2}`` where constants were folded into a function of the table (or its
    inputs merged), so the label alone says what the node computes; ``Elemwise{...}`` without a
    name. ``show`` prints the expression."""
    definition = SCALAR_OPS.get(op.name)
    if definition is None and op.name:  # cast{float32}, mean: the name says it all
        return op.name
    if definition is not None and op.expr == definition.build(*(sym(i) for i in range(definition.arity))):
        return op.name
    return f"{op.name or 'Elemwise'}{{{show(op.expr)}}}"


class GraphPrinter:
    """Base of the graph printers: finds the ``_print_<OpClass>`` method for a node."""

    def dispatch(self, node: Apply, *args: Any) -> Any:
        for cls in type(node.op).__mro__:
            method = getattr(self, f"_print_{cls.__name__}", None)
            if method is not None:
                return method(node, *args)
        raise TypeError(f"{type(self).__name__} cannot print {node.op}")


class SympyTranslator(GraphPrinter):
    """Turns a graph into a SymPy expression in which variables are symbols.

    ``names`` gives display names to variables that should print as a name rather than as their
    expression (besides inputs, constants and, with ``abbreviate_named``, named variables); the
    root variable is always expanded. ``named_functions`` keeps ``relu``, ``maximum``... as calls
    (for reading) instead of their Piecewise definitions (for computing).
    """

    def __init__(
        self,
        names: Mapping[Variable, str] | None = None,
        abbreviate_named: bool = True,
        named_functions: bool = True,
        symbols: Mapping[Variable, sympy.Symbol] | None = None,
    ) -> None:
        self.names = dict(names or {})
        self.abbreviate_named = abbreviate_named
        self.named_functions = named_functions
        self.symbols: dict[Variable, sympy.Symbol] = dict(symbols or {})
        self._taken = {s.name for s in self.symbols.values()}
        self._memo: dict[int, sympy.Expr] = {}

    # --- leaves ---------------------------------------------------------------------------------
    def is_leaf(self, var: Variable, root: Variable) -> bool:
        if var.owner is None or var in self.symbols or var in self.names:
            return var is not root or var.owner is None
        return self.abbreviate_named and var.name is not None and var is not root

    def symbol(self, var: Variable) -> sympy.Expr:
        """The symbol (or number) a leaf variable prints as; equal names get distinct symbols."""
        if var in self.symbols:
            return self.symbols[var]
        if isinstance(var, Constant) and var.data.size == 1 and var not in self.names:
            return sympy.sympify(var.data.item())
        wanted = self.names.get(var) or var.name or (constant_text(var) if isinstance(var, Constant) else None)
        symbol = sympy.Symbol(self.fresh_name(wanted or f"<{var.type}>"), real=True)
        self.symbols[var] = symbol
        return symbol

    def fresh_name(self, wanted: str) -> str:
        """``wanted``, or ``wanted_1``, ``wanted_2``... if another variable already prints so."""
        name, n = wanted, 0
        while name in self._taken:
            n += 1
            name = f"{wanted}_{n}"
        self._taken.add(name)
        return name

    def reserved(self) -> set[str]:
        """The names already printed for some variable."""
        return set(self._taken)

    # --- the walk -------------------------------------------------------------------------------
    def translate(self, root: Variable) -> sympy.Expr:
        """``root`` as a SymPy expression (iterative: graphs may be deeper than Python's stack)."""
        stack = [(root, False)]
        while stack:
            var, expanded = stack.pop()
            if id(var) in self._memo and var is not root:
                continue
            if self.is_leaf(var, root):
                self._memo[id(var)] = self.symbol(var)
                continue
            node = var.owner
            if not expanded:
                stack.append((var, True))
                stack.extend((i, False) for i in reversed(node.inputs) if id(i) not in self._memo)
                continue
            args = [self._memo[id(i)] for i in node.inputs]
            self._memo[id(var)] = self.dispatch(node, *args)
        result = self._memo[id(root)]
        if root.owner is not None and not self.is_leaf(root, root):
            self._memo.pop(id(root))  # as an operand elsewhere, a named root prints as its name
        return result

    # --- ops --------------------------------------------------------------------------------------
    def _print_Elemwise(self, node: Apply, *args: sympy.Expr) -> sympy.Expr:
        op = node.op
        if self.named_functions and op.name in NAMED_PIECEWISE:
            wilds = [sympy.Wild(f"w{i}") for i in range(SCALAR_OPS[op.name].arity)]
            match = op.expr.match(SCALAR_OPS[op.name].build(*wilds))
            if match is not None and all(w in match for w in wilds):
                values = {sym(i): a for i, a in enumerate(args)}
                return opaque(op.name)(*(substitute(match[w], values) for w in wilds))
        value = substitute(op.expr, {sym(i): a for i, a in enumerate(args)})
        if self.named_functions and op.name == "mean" and isinstance(args[0], OpaqueBase) and args[0].op_name == "sum":
            total = args[0]
            return opaque("mean", total.keywords)(*total.args)
        return value

    def _print_DimShuffle(self, node: Apply, x: sympy.Expr) -> sympy.Expr:
        order, source = node.op.new_order, node.inputs[0]
        kept = [d for d in order if d != "x"]
        reduced = source.owner is not None and isinstance(source.owner.op, Reduce) and isinstance(x, OpaqueBase)
        if reduced and [i for i, d in enumerate(order) if d == "x"] == list(source.owner.op.axes):
            axes, ndim = source.owner.op.axes, source.owner.inputs[0].ndim
            return opaque(x.op_name, _reduction_keywords(axes, ndim, keepdims=True))(*x.args)
        # Right-aligned new broadcastable dims change nothing elementwise (NumPy broadcasting).
        if source.ndim == 0 or order == ("x",) * (len(order) - source.ndim) + tuple(range(source.ndim)):
            return x
        if kept == list(reversed(range(source.ndim))) and len(order) == source.ndim:
            return opaque("transpose")(x)
        return opaque("dimshuffle", ", ".join(repr(d) for d in order))(x)

    def _print_Reduce(self, node: Apply, x: sympy.Expr) -> sympy.Expr:
        return opaque(node.op.reduction, _reduction_keywords(node.op.axes, node.inputs[0].ndim))(x)

    def _print_Dot(self, node: Apply, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
        return opaque("dot")(a, b)

    def _print_Subtensor(self, node: Apply, x: sympy.Expr, *scalars: sympy.Expr) -> sympy.Expr:
        return opaque("subtensor", postfix=index_text(node.op.index, [str(i) for i in scalars]))(x)

    def _print_SubtensorGrad(self, node: Apply, x: sympy.Expr, g: sympy.Expr, *scalars: sympy.Expr) -> sympy.Expr:
        postfix = index_text(node.op.index, [str(i) for i in scalars])
        return opaque("inc_subtensor", postfix=postfix)(opaque("zeros_like")(x), g)

    def _print_DisconnectedGrad(self, node: Apply, x: sympy.Expr) -> sympy.Expr:
        return x  # only T.grad sees the difference; to a reader it is the value itself

    def _print_Reshape(self, node: Apply, x: sympy.Expr, *lengths: sympy.Expr) -> sympy.Expr:
        def entry(e) -> str:  # ("dim", k): x's k-th length; ("arg", j): the j-th symbolic length
            if not isinstance(e, tuple):
                return str(e)
            if e[0] == "prod":  # the product of x's lengths from the k-th on
                return "*".join(f"shape({d})" for d in range(e[1], node.inputs[0].ndim)) or "1"
            return f"shape({e[1]})" if e[0] == "dim" else str(lengths[e[1]])

        shape = ", ".join(entry(e) for e in node.op.shape)
        return opaque("reshape", f"({shape}{',' if len(node.op.shape) == 1 else ''})")(x)

    def _print_ReshapeAs(self, node: Apply, g: sympy.Expr, like: sympy.Expr) -> sympy.Expr:
        return opaque("reshape")(g, opaque("shape")(like))

    def _print_Size(self, node: Apply, x: sympy.Expr) -> sympy.Expr:
        # A size depends only on a shape: size(y) reads better than size((y - sigmoid(X·w))**2).
        source = same_shape_input(node.inputs[0])
        operand = self.symbol(source) if source.owner is None and not isinstance(source, Constant) else x
        return opaque("size", _reduction_keywords(node.op.axes, node.inputs[0].ndim))(operand)

    def _print_IfElse(self, node: Apply, condition: sympy.Expr, then: sympy.Expr, otherwise: sympy.Expr) -> sympy.Expr:
        return opaque("ifelse")(condition, then, otherwise)

    def _print_Op(self, node: Apply, *args: sympy.Expr) -> sympy.Expr:
        return opaque(str(node.op))(*args)


def same_shape_input(var: Variable) -> Variable:
    """The variable furthest up an elementwise chain that surely has ``var``'s shape: one with
    its rank and broadcastable dims (other dims cannot broadcast, so their lengths agree)."""
    while var.owner is not None and isinstance(var.owner.op, Elemwise):
        same = [i for i in var.owner.inputs if i.type.broadcastable == var.type.broadcastable]
        if not same:
            break
        var = next((i for i in same if i.owner is None and not isinstance(i, Constant)), same[0])
    return var


def tree_size(expr: sympy.Basic) -> int:
    """Nodes of ``expr`` as a tree (shared subexpressions counted each time), in linear time."""
    sizes: dict[sympy.Basic, int] = {}
    stack = [expr]
    while stack:
        e = stack[-1]
        pending = [a for a in e.args if a not in sizes]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        sizes[e] = 1 + sum(sizes[a] for a in e.args)
    return sizes[expr]


def share_repeats(expr: sympy.Expr) -> tuple[list[tuple[sympy.Symbol, sympy.Expr]], sympy.Expr]:
    """``expr`` with each compound subexpression it uses more than once named ``t0, t1, ...``:
    the named parts in the order they are needed, and what is left.

    ``sympy.cse`` would do, but it and ``free_symbols`` walk an expression as a tree, and a nested
    gradient is a small graph whose tree is exponentially big (9**depth nodes for depth-``d``
    ``g(g(...g(x)))``, g(t) = sin(t)*t + exp(t)). This walks each distinct subexpression once.
    """
    order: list[sympy.Basic] = []  # distinct subexpressions, each after its arguments
    uses: dict[sympy.Basic, int] = {}
    stack = [(expr, False)]
    while stack:
        e, expanded = stack.pop()
        if expanded:
            order.append(e)
            continue
        uses[e] = uses.get(e, 0) + 1
        if uses[e] == 1:
            stack.append((e, True))
            stack.extend((a, False) for a in reversed(e.args))
    taken = {e.name for e in order if isinstance(e, sympy.Symbol)}
    names = (sympy.Symbol(f"t{i}") for i in range(sys.maxsize) if f"t{i}" not in taken)
    rebuilt: dict[sympy.Basic, sympy.Basic] = {}
    parts: list[tuple[sympy.Symbol, sympy.Expr]] = []
    for e in order:
        new = e.func(*(rebuilt[a] for a in e.args)) if e.args else e
        # Only expressions get names: a Piecewise's (value, condition) pairs must stay pairs.
        if uses[e] > 1 and e.args and e is not expr and isinstance(e, sympy.Expr):
            name = next(names)
            parts.append((name, new))
            new = name
        rebuilt[e] = new
    return parts, rebuilt[expr]


def _functions(expr: sympy.Expr) -> set[type]:
    return {type(f) for f in expr.atoms(sympy.Function)}


def simplified(expr: sympy.Expr) -> sympy.Expr:
    """``sympy.simplify(expr)`` when ``expr`` is small enough for that to be quick.

    Where simplify brings in functions the expression did not use (exp into cosh, tanh into
    cosh), the shortest of the plainer rewritings that keep the user's functions wins instead:
    ``exp(x)/(exp(x) + 1)**2`` teaches more than ``1/(4*cosh(x/2)**2)``.
    """
    if tree_size(expr) > SIMPLIFY_LIMIT:
        return expr
    result = sympy.simplify(expr)
    used = _functions(expr)
    if _functions(result) <= used:
        return result
    candidates = [c for c in (sympy.factor(expr), sympy.together(expr)) if _functions(c) <= used]
    return min([*candidates, expr], key=sympy.count_ops)
