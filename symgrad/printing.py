"""Printing graphs for people: infix math (``pp``), LaTeX, the indented tree (``debugprint``) and
Graphviz pictures (``pydotprint``).

There is one printer class per format, and, as in SymPy's printers, each dispatches on what it
prints: a ``_print_Dot`` method handles ``Dot`` nodes, ``_print_Op`` whatever has no method of
its own (the op's class hierarchy is searched in order).

The two math formats share a first step, :class:`SympyTranslator`, which turns a graph into one
SymPy expression. Elementwise nodes substitute their scalar expressions (they *are* SymPy), and
every other op becomes an opaque SymPy function (``dot``, ``transpose``, ``sum``) that the format
printers know how to write. SymPy then simplifies the elementwise algebra, so the gradient of
``x**2`` reads ``2*x``. Treating tensors as SymPy symbols is sound here because elementwise
products commute; matrix products never meet SymPy's ``*``, they stay ``dot`` calls.

Variables the user named print as their names: inputs always, computed variables everywhere but
at the root (``pp(h)`` shows how ``h`` is computed, ``pp(loss)`` shows ``h`` inside it), as in
Theano. Unnamed intermediates print as their expression.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import sympy
from sympy.printing.latex import LatexPrinter as _SympyLatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .graph import Apply, Constant, Variable, toposort
from .ops.elemwise import SCALAR_OPS, Elemwise, sym
from .ops.reduce import Reduce
from .ops.shape import index_text
from .ops.substitution import substitute

__all__ = [
    "DebugPrinter", "DotPrinter", "GraphvizNotFoundError", "LatexPrinter", "PPrinter", "SympyTranslator",
    "debugprint", "graph_to_dot", "latex", "pp", "pydotprint",
]  # fmt: skip

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


# ---------------------------------------------------------------------------------------------
# Non-elementwise ops inside SymPy expressions


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


def _constant_text(c: Constant) -> str:
    if c.data.size <= 6:
        return repr(c.data.tolist())
    return f"Constant{{{c.type}}}"


# ---------------------------------------------------------------------------------------------
# Graph -> SymPy


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
        wanted = self.names.get(var) or var.name or (_constant_text(var) if isinstance(var, Constant) else None)
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


# ---------------------------------------------------------------------------------------------
# Text


class MathTextPrinter(StrPrinter):
    """SymPy's ``str`` printer, with symgrad's structural ops and NumPy's function names.

    Scalar expressions print as SymPy parses them back (``symgrad.interop.parse`` reads NumPy's
    names); matrix products print as ``X·W``, transposes as ``Wᵀ``.
    """

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))

    def _print_Function(self, expr: sympy.Function) -> str:
        name = NUMPY_NAMES.get(expr.func.__name__, expr.func.__name__)
        return f"{name}({self.stringify(expr.args, ', ')})"

    def _print_Abs(self, expr) -> str:
        return self._print_Function(expr)

    def _print_polygamma(self, expr) -> str:
        order, x = expr.args
        return f"psi({self._print(x)})" if order == 0 else f"polygamma({self._print(order)}, {self._print(x)})"

    def _print_floor_div(self, expr) -> str:
        return " // ".join(self.parenthesize(a, PRECEDENCE["Mul"] + 1) for a in expr.args)

    def _print_mod(self, expr) -> str:
        return " % ".join(self.parenthesize(a, PRECEDENCE["Mul"] + 1) for a in expr.args)

    def _print_Relational(self, expr) -> str:
        # x == y rather than SymPy's Eq(x, y): comparisons read as in NumPy.
        lhs, rhs = (self.parenthesize(a, PRECEDENCE["Relational"] + 1) for a in expr.args)
        return f"{lhs} {expr.rel_op} {rhs}"

    def _print_Piecewise(self, expr) -> str:
        *branches, (last, _) = expr.args
        if len(branches) == 1 and branches[0].expr == 1 and last == 0:  # a comparison used as 0/1
            return f"({self._print(branches[0].cond)})"
        text = self._print(last)
        for value, cond in reversed(branches):
            text = f"switch({self._print(cond)}, {self._print(value)}, {text})"
        return text

    def _print_OpaqueBase(self, expr: OpaqueBase) -> str:
        special = getattr(self, f"_print_op_{expr.op_name}", None)
        if special is not None:
            return special(expr)
        args = [self._print(a) for a in expr.args]
        if expr.postfix:
            first = self.parenthesize(expr.args[0], PRECEDENCE["Func"], strict=True)
            return f"{first}{expr.postfix}" if len(args) == 1 else f"{expr.op_name}({first}{expr.postfix}, {args[1]})"
        return f"{expr.op_name}({', '.join(args + ([expr.keywords] if expr.keywords else []))})"

    def _print_op_dimshuffle(self, expr: OpaqueBase) -> str:
        return f"{self.parenthesize(expr.args[0], PRECEDENCE['Func'], strict=True)}.dimshuffle({expr.keywords})"

    def _print_Mul(self, expr: sympy.Mul) -> str:
        # -(X·W) reads as -X·W: negation commutes with the product.
        if len(expr.args) == 2 and expr.args[0] == -1 and isinstance(expr.args[1], OpaqueBase):
            return "-" + self._print(expr.args[1])
        return super()._print_Mul(expr)

    def _print_op_dot(self, expr: OpaqueBase) -> str:
        a, b = expr.args
        left = self._print(a) if isinstance(a, OpaqueBase) and a.op_name == "dot" else self.parenthesize(a, DOT_OPERAND)
        return f"{left}·{self.parenthesize(b, DOT_OPERAND)}"

    def _print_op_transpose(self, expr: OpaqueBase) -> str:
        return f"{self.parenthesize(expr.args[0], PRECEDENCE['Func'], strict=True)}ᵀ"


class PPrinter:
    """``pp``: a variable as readable infix math, its elementwise algebra simplified by SymPy.

    ``simplify=False`` prints the expression as built. Expressions too big to simplify quickly
    are printed as they are, and very big ones with their repeated parts named first.
    """

    def __init__(self, simplify: bool = True) -> None:
        self.simplify = simplify

    def expression(self, var: Variable) -> sympy.Expr:
        expr = SympyTranslator().translate(var)
        return simplified(expr) if self.simplify else expr

    def doprint(self, var: Variable) -> str:
        expr = self.expression(var)
        printer = MathTextPrinter()
        if tree_size(expr) <= SHARE_LIMIT:
            return printer.doprint(expr)
        parts, body = share_repeats(expr)
        return "\n".join([f"{printer.doprint(s)} = {printer.doprint(e)}" for s, e in parts] + [printer.doprint(body)])


def pp(var: Variable | Sequence[Variable], simplify: bool = True) -> str:
    """The math ``var`` computes, readable: ``pp(T.grad(x**2, x))`` is ``'2*x'``.

    Accepts a variable, a list of variables (one line each) or a compiled function (its
    optimized outputs).
    """
    printer = PPrinter(simplify)
    return "\n".join(printer.doprint(v) for v in _outputs(var))


# ---------------------------------------------------------------------------------------------
# LaTeX


class MathLatexPrinter(_SympyLatexPrinter):
    """SymPy's LaTeX printer, with symgrad's structural ops and functions."""

    def _print_OpaqueBase(self, expr: OpaqueBase) -> str:
        special = getattr(self, f"_print_op_{expr.op_name}", None)
        if special is not None:
            return special(expr)
        args = [self._print(a) for a in expr.args]
        if expr.postfix:
            first = self.parenthesize(expr.args[0], PRECEDENCE["Func"], strict=True)
            index = expr.postfix.replace(":", r"\colon ")
            return (
                f"{first}_{{{index}}}"
                if len(args) == 1
                else rf"\operatorname{{{expr.op_name}}}\left({first}_{{{index}}}, {args[1]}\right)"
            )
        name = expr.op_name.replace("_", r"\_")
        subscript = rf"_{{\text{{{expr.keywords.replace('_', ' ')}}}}}" if expr.keywords else ""
        return rf"\operatorname{{{name}}}{subscript}\left({', '.join(args)}\right)"

    def _print_op_dot(self, expr: OpaqueBase) -> str:
        a, b = expr.args
        left = self._print(a) if isinstance(a, OpaqueBase) and a.op_name == "dot" else self.parenthesize(a, DOT_OPERAND)
        return rf"{left} \cdot {self.parenthesize(b, DOT_OPERAND)}"

    def _print_op_transpose(self, expr: OpaqueBase) -> str:
        return rf"{self.parenthesize(expr.args[0], PRECEDENCE['Func'], strict=True)}^{{\top}}"

    def _call(self, name: str, expr) -> str:
        return rf"{name}\left({', '.join(self._print(a) for a in expr.args)}\right)"

    def _print_sigmoid(self, expr) -> str:
        return self._call(r"\sigma", expr)

    def _print_softplus(self, expr) -> str:
        return self._call(r"\operatorname{softplus}", expr)

    def _print_sign(self, expr) -> str:
        return self._call(r"\operatorname{sign}", expr)

    def _print_ceil(self, expr) -> str:
        return rf"\left\lceil {self._print(expr.args[0])} \right\rceil"

    def _print_log1p(self, expr) -> str:
        return rf"\log\left(1 + {self._print(expr.args[0])}\right)"

    def _print_expm1(self, expr) -> str:
        return rf"\left(e^{{{self._print(expr.args[0])}}} - 1\right)"

    def _print_exp2(self, expr) -> str:
        return f"2^{{{self._print(expr.args[0])}}}"

    def _print_log2(self, expr) -> str:
        return self._call(r"\log_{2}", expr)

    def _print_log10(self, expr) -> str:
        return self._call(r"\log_{10}", expr)

    def _print_loggamma(self, expr, exp=None) -> str:
        return self._call(r"\ln\Gamma", expr)

    def _print_polygamma(self, expr, exp=None) -> str:
        order, x = expr.args
        if order == 0:
            return rf"\psi\left({self._print(x)}\right)"
        return rf"\psi^{{({self._print(order)})}}\left({self._print(x)}\right)"

    def _print_floor_div(self, expr) -> str:
        a, b = (self._print(x) for x in expr.args)
        return rf"\left\lfloor \frac{{{a}}}{{{b}}} \right\rfloor"

    def _print_mod(self, expr) -> str:
        a, b = (self.parenthesize(x, PRECEDENCE["Mul"]) for x in expr.args)
        return rf"{a} \bmod {b}"

    def _print_Piecewise(self, expr) -> str:
        (first, *rest) = expr.args
        if len(rest) == 1 and first.expr == 1 and rest[0].expr == 0:  # Iverson bracket: 1 where true
            return rf"\left[{self._print(first.cond)}\right]"
        return super()._print_Piecewise(expr)


class LatexPrinter(PPrinter):
    """``latex``: the same expression as ``pp``, as LaTeX math (no surrounding ``$``)."""

    def __init__(self, simplify: bool = True, symbol_names: Mapping[sympy.Symbol, str] | None = None) -> None:
        super().__init__(simplify)
        self.symbol_names = dict(symbol_names or {})

    def print_expr(self, expr: sympy.Expr) -> str:
        return MathLatexPrinter({"symbol_names": self.symbol_names}).doprint(expr)

    def doprint(self, var: Variable) -> str:
        return self.print_expr(self.expression(var))


def latex(var: Variable | Sequence[Variable], simplify: bool = True) -> str:
    """``var`` as LaTeX math, simplified as ``pp`` does; a list gives one line each (``\\\\``)."""
    printer = LatexPrinter(simplify)
    return r" \\ ".join(printer.doprint(v) for v in _outputs(var))


def _outputs(obj: Any) -> list[Variable]:
    if isinstance(obj, Variable):
        return [obj]
    outputs = getattr(obj, "outputs", None)
    if outputs is not None and not isinstance(obj, (list, tuple)):
        return list(outputs)
    if isinstance(obj, (list, tuple)) and all(isinstance(v, Variable) for v in obj):
        return list(obj)
    raise TypeError(f"expected a symbolic variable, a list of them or a compiled function, got {type(obj).__name__}")


# ---------------------------------------------------------------------------------------------
# debugprint


def char_id(n: int) -> str:
    """Theano's node ids: A, B, ..., Z, BA, BB, ... (base 26 with A for 0)."""
    text = ""
    while True:
        n, digit = divmod(n, 26)
        text = chr(ord("A") + digit) + text
        if n == 0:
            return text


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


class DebugPrinter(GraphPrinter):
    """``debugprint``: Theano's indented tree, one line per variable: what computes it, an id,
    its name and its type. A node met again prints its line only (its id names it)."""

    def __init__(self, print_type: bool = True, ids: str = "CHAR", depth: int = -1, topo: list[Apply] | None = None):
        if ids not in ("CHAR", "int", ""):
            raise ValueError(f"debugprint: ids must be 'CHAR', 'int' or '', got {ids!r}")
        self.print_type = print_type
        self.ids = ids
        self.depth = depth
        self.topo = {id(node): i for i, node in enumerate(topo)} if topo is not None else None
        self._ids: dict[int, str] = {}

    def label(self, var: Variable) -> str:
        if isinstance(var, Constant):
            return f"TensorConstant{{{_constant_text(var)}}}"
        if var.owner is None:
            return var.name or f"<{var.type}>"
        return self.dispatch(var.owner)

    def _print_Elemwise(self, node: Apply) -> str:
        return elemwise_label(node.op, MathTextPrinter().doprint)

    def _print_Op(self, node: Apply) -> str:
        return str(node.op)

    def line(self, var: Variable) -> str:
        parts = [self.label(var)]
        if self.ids:
            if id(var) not in self._ids:
                self._ids[id(var)] = char_id(len(self._ids)) if self.ids == "CHAR" else str(len(self._ids))
            parts.append(f"[id {self._ids[id(var)]}]")
        if var.owner is not None and var.name:
            parts.append(repr(var.name))
        if self.print_type:
            parts.append(f"<{var.type}>")
        if self.topo is not None and var.owner is not None:
            parts.append(str(self.topo[id(var.owner)]))
        return " ".join(parts)

    def doprint(self, outputs: Iterable[Variable]) -> str:
        lines: list[str] = []
        expanded: set[int] = set()
        for out in outputs:
            stack = [(out, 0)]
            while stack:
                var, depth = stack.pop()
                lines.append(" |" * depth + self.line(var))
                if var.owner is None or id(var) in expanded or depth == self.depth:
                    continue
                expanded.add(id(var))
                stack.extend((i, depth + 1) for i in reversed(var.owner.inputs))
        return "\n".join(lines)


def debugprint(
    obj: Any, file: TextIO | str | None = None, print_type: bool = True, ids: str = "CHAR", depth: int = -1
) -> str | None:
    """Print the graph of a variable, a list of variables, or a compiled function as an indented
    tree with node ids and types (Theano's ``debugprint``).

    For a compiled function the graph is the optimized one, and each computed line ends with its
    node's position in execution order. ``file='str'`` returns the text instead of printing it;
    otherwise it is written to ``file`` (default ``sys.stdout``).
    """
    outputs = _outputs(obj)
    topo = toposort(outputs) if not isinstance(obj, (Variable, list, tuple)) else None
    text = DebugPrinter(print_type, ids, depth, topo).doprint(outputs)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return None


# ---------------------------------------------------------------------------------------------
# Graphviz


class GraphvizNotFoundError(RuntimeError):
    """Graph pictures need Graphviz's ``dot`` program, which is not installed."""


STYLES = {
    "input": 'shape=ellipse, style=filled, fillcolor="#b7e4c7"',
    "constant": 'shape=box, style="rounded,filled", fillcolor="#e9ecef", fontsize=10',
    "op": 'shape=box, style="rounded,filled", fillcolor="#dbe4ff"',
    "gradient": 'shape=box, style="rounded,filled", fillcolor="#ffd8a8"',
    "output": 'shape=ellipse, style="filled,bold", fillcolor="#a5d8ff", peripheries=2',
}


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class DotPrinter(GraphPrinter):
    """The graph in Graphviz's DOT language: inputs (green ellipses), constants (grey), ops (blue
    boxes), gradient ops (orange boxes, the nodes ``T.grad`` built) and outputs (double ellipses).
    """

    def _print_Elemwise(self, node: Apply) -> str:
        return elemwise_label(node.op, MathTextPrinter().doprint)

    def _print_Op(self, node: Apply) -> str:
        return str(node.op)

    def doprint(self, outputs: Sequence[Variable]) -> str:
        from .grad import is_gradient

        lines = ["digraph symgrad {", "  rankdir=TB;", '  node [fontname="Helvetica"];', "  edge [fontsize=9];"]
        ids: dict[int, str] = {}

        def declare(key: str, label: str, var: Variable, kind: str) -> str:
            lines.append(f"  {key} [label={_dot_quote(label + chr(10) + str(var.type))}, {STYLES[kind]}];")
            return key

        def source(var: Variable) -> str:
            if id(var) not in ids:  # a leaf: an input or a constant
                if isinstance(var, Constant):
                    ids[id(var)] = declare(f"v{len(ids)}", f"TensorConstant{{{_constant_text(var)}}}", var, "constant")
                else:
                    ids[id(var)] = declare(f"v{len(ids)}", var.name or "input", var, "input")
            return ids[id(var)]

        for node in toposort(outputs):
            label = self.dispatch(node)
            if node.output.name:
                label = f"{node.output.name} = {label}"
            kind = "gradient" if is_gradient(node.output) else "op"
            key = declare(f"n{len(ids)}", label, node.output, kind)
            for position, inp in enumerate(node.inputs):
                edge_label = f" [label={position}]" if len(node.inputs) > 1 else ""
                lines.append(f"  {source(inp)} -> {key}{edge_label};")
            ids[id(node.output)] = key
        for i, out in enumerate(outputs):
            label = out.name or (f"output {i}" if len(outputs) > 1 else "output")
            key = declare(f"out{i}", label, out, "output")
            lines.append(f"  {source(out)} -> {key};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def graph_to_dot(obj: Any) -> str:
    """The DOT text of a variable's, a list's or a compiled function's graph (no Graphviz needed)."""
    return DotPrinter().doprint(_outputs(obj))


def dot_program() -> str:
    """The path of Graphviz's ``dot``, or a :class:`GraphvizNotFoundError` saying how to get it."""
    path = shutil.which("dot")
    if path is None:
        raise GraphvizNotFoundError(
            "graph pictures need Graphviz's 'dot' program, which is not on PATH. Install Graphviz "
            "(apt-get install graphviz, brew install graphviz or conda install graphviz); "
            "printing.graph_to_dot(...) gives the DOT text without it"
        )
    return path


def render_dot(dot_text: str, format: str) -> bytes:
    """Run Graphviz on ``dot_text``; returns the picture in ``format`` ('svg', 'png', 'pdf')."""
    done = subprocess.run([dot_program(), f"-T{format}"], input=dot_text.encode(), capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz's dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def pydotprint(obj: Any, outfile: str | os.PathLike | None = None, format: str | None = None) -> Path:
    """Draw the graph of a variable, a list of variables or a compiled function with Graphviz.

    The format comes from ``format`` or from ``outfile``'s suffix (``.svg``, ``.png``, ``.pdf``);
    the default file is ``symgrad.pydotprint.png`` in the current directory. Returns the path
    written. Raises :class:`GraphvizNotFoundError` when Graphviz is not installed.
    """
    path = Path(outfile) if outfile is not None else Path(f"symgrad.pydotprint.{format or 'png'}")
    format = format or path.suffix.lstrip(".") or "png"
    if format not in ("svg", "png", "pdf"):
        raise ValueError(f"pydotprint: format must be 'svg', 'png' or 'pdf', got {format!r}")
    path.write_bytes(render_dot(graph_to_dot(obj), format))
    return path


def svg(obj: Any) -> str:
    """The graph as SVG text (what Jupyter shows for a variable)."""
    return render_dot(graph_to_dot(obj), "svg").decode()
