"""From a graph to one SymPy expression: the first step of ``pp`` and LaTeX (see the package doc).

Elementwise nodes substitute their scalar expressions; every other op becomes an opaque SymPy
function (``dot``, ``transpose``, ``sum``) that the format printers know how to write. Also here:
what the printers of every format share (``GraphPrinter``'s dispatch, constants' text, the
outputs of whatever is printed) and SymPy's simplification, kept to what reads better.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import sympy
from sympy.printing.precedence import PRECEDENCE

from ..graph import Apply, Constant, Variable, toposort
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
# simplify is slow on big expressions).
SIMPLIFY_LIMIT = 250
REPEATS_LIMIT = 4  # nor when its tree has more than this many nodes per distinct subexpression


# Above this many nodes in its expression tree (counted on the graph, before any SymPy expression
# is built), pp and LaTeX name the repeated parts of an expression instead of repeating them; a part
# is named where its own expression is bigger than SHARE_MIN nodes.
SHARE_LIMIT = 400
SHARE_MIN = 4


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
    elementwise = False  # no Piecewise is folded out of it (see symgrad.ops.substitution)

    def _eval_is_extended_real(self) -> bool:
        # Its elements are real numbers (symgrad has no complex dtypes): without this SymPy prints
        # re(...) around it, and refuses to order it when it simplifies a comparison (a shape in
        # an operand, a tuple, made it non-real).
        return True


@functools.cache
def opaque(op_name: str, keywords: str = "", postfix: str = "") -> type[OpaqueBase]:
    """The SymPy function class standing for ``op_name`` with these options (one class each, so
    that equal calls compare equal and different options do not)."""
    precedence = DOT_PRECEDENCE if op_name == "dot" else PRECEDENCE["Func"]
    attributes = {"op_name": op_name, "keywords": keywords, "postfix": postfix, "precedence": precedence}
    # The class name orders the calls when SymPy sorts terms (p[0] before p[1]); one shared name would
    # leave that to hashes, which differ from process to process, and so would the printed text.
    return type(f"Opaque_{op_name}({keywords}){postfix}", (OpaqueBase,), attributes)


def _reduction_keywords(axes: tuple[int, ...], ndim: int, keepdims: bool = False) -> str:
    parts = []
    if axes != tuple(range(ndim)):
        parts.append(f"axis={axes[0] if len(axes) == 1 else axes}")
    if keepdims:
        parts.append("keepdims=True")
    return ", ".join(parts)


def _axis_keyword(axis: int, ndim: int) -> str:
    """``axis=k``, left out for a vector, which has one axis only."""
    return "" if ndim == 1 else f"axis={axis}"


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

    _print_BatchedDot = _print_Dot  # a stack of products reads as the product, as a @ b does in NumPy

    def _print_Subtensor(self, node: Apply, x: sympy.Expr, *scalars: sympy.Expr) -> sympy.Expr:
        return opaque("subtensor", postfix=index_text(node.op.index, [str(i) for i in scalars]))(x)

    def _print_SubtensorGrad(self, node: Apply, x: sympy.Expr, g: sympy.Expr, *scalars: sympy.Expr) -> sympy.Expr:
        postfix = index_text(node.op.index, [str(i) for i in scalars])
        return opaque("inc_subtensor", postfix=postfix)(opaque("zeros_like")(x), g)

    def _print_Print(self, node: Apply, x: sympy.Expr) -> sympy.Expr:
        return x  # it prints at run time; the value is x itself

    def _print_GradientStop(self, node: Apply, x: sympy.Expr, *others: sympy.Expr) -> sympy.Expr:
        return x  # only T.grad sees the difference; to a reader it is the value itself

    def _print_Reshape(self, node: Apply, x: sympy.Expr, *lengths: sympy.Expr) -> sympy.Expr:
        return opaque("reshape")(x, _shape(node.op.shape, x, lengths, node.inputs[0].ndim))

    def _print_ReshapeAs(self, node: Apply, g: sympy.Expr, like: sympy.Expr) -> sympy.Expr:
        return opaque("reshape")(g, opaque("shape")(like))

    def _print_Size(self, node: Apply, x: sympy.Expr) -> sympy.Expr:
        # A size depends only on a shape: size(y) reads better than size((y - sigmoid(X·w))**2).
        source = same_shape_input(node.inputs[0])
        operand = self.symbol(source) if source.owner is None and not isinstance(source, Constant) else x
        return opaque("size", _reduction_keywords(node.op.axes, node.inputs[0].ndim))(operand)

    def _print_IfElse(self, node: Apply, condition: sympy.Expr, then: sympy.Expr, otherwise: sympy.Expr) -> sympy.Expr:
        return opaque("ifelse")(condition, then, otherwise)

    def _print_ARange(self, node: Apply, start: sympy.Expr, stop: sympy.Expr, step: sympy.Expr) -> sympy.Expr:
        return opaque("arange")(start, stop) if step == 1 else opaque("arange")(start, stop, step)

    def _print_Alloc(self, node: Apply, value: sympy.Expr, *lengths: sympy.Expr) -> sympy.Expr:
        return opaque("alloc")(value, *_shape(node.op.shape, value, lengths))

    def _print_SpecifyShape(self, node: Apply, x: sympy.Expr, *lengths: sympy.Expr) -> sympy.Expr:
        return opaque("specify_shape")(x, _shape(node.op.shape, x, lengths))

    def _print_Shape(self, node: Apply, x: sympy.Expr) -> sympy.Expr:
        return opaque("shape")(x)

    def _print_RandomDraw(self, node: Apply, state: sympy.Expr, *lengths: sympy.Expr) -> sympy.Expr:
        return opaque(f"random_{node.op.distribution}")(state, _shape(node.op.shape, state, lengths))

    def _print_Cumulative(self, node: Apply, x: sympy.Expr) -> sympy.Expr:
        return opaque(f"cum{node.op.mode}", _axis_keyword(node.op.axis, node.inputs[0].ndim))(x)

    def _print_CumprodGrad(self, node: Apply, x: sympy.Expr, g: sympy.Expr) -> sympy.Expr:
        return opaque("cumprod_grad", _axis_keyword(node.op.axis, node.inputs[0].ndim))(x, g)

    def _print_ArgSort(self, node: Apply, x: sympy.Expr) -> sympy.Expr:
        return opaque("argsort", _axis_keyword(node.op.axis, node.inputs[0].ndim))(x)

    def _print_Argmax(self, node: Apply, x: sympy.Expr) -> sympy.Expr:
        return opaque(node.op.which, "" if node.op.axis is None else f"axis={node.op.axis}")(x)

    def _print_AdvancedSubtensor(self, node: Apply, x: sympy.Expr, *indices: sympy.Expr) -> sympy.Expr:
        return _indexed(node.op.pattern, x, indices)

    def _print_AdvancedSubtensorGrad(self, node: Apply, x: sympy.Expr, g: sympy.Expr, *indices) -> sympy.Expr:
        return opaque("inc_subtensor")(_indexed(node.op.pattern, opaque("zeros_like")(x), indices), g)

    def _print_AdvancedIncSubtensor(self, node: Apply, x: sympy.Expr, y: sympy.Expr, *indices) -> sympy.Expr:
        return opaque(f"{node.op.mode}_subtensor")(_indexed(node.op.pattern, x, indices), y)

    def _print_IncSubtensor(self, node: Apply, x: sympy.Expr, y: sympy.Expr, *scalars: sympy.Expr) -> sympy.Expr:
        postfix = index_text(node.op.index, [str(i) for i in scalars])
        return opaque(f"{node.op.mode}_subtensor", postfix=postfix)(x, y)

    def _print_Join(self, node: Apply, *tensors: sympy.Expr) -> sympy.Expr:
        return opaque("concatenate", f"axis={node.op.axis}" if node.op.axis else "")(*tensors)

    def _print_JoinPiece(self, node: Apply, g: sympy.Expr, *tensors: sympy.Expr) -> sympy.Expr:
        # The part of g over tensors[k]: numpy.split(g, at the tensors' boundaries)[k].
        axis = f"axis={node.op.axis}" if node.op.axis else ""
        return opaque("split", axis, postfix=f"[{node.op.k}]")(g, *tensors)

    def _print_Map(self, node: Apply, n: sympy.Expr, like: sympy.Expr, *outer: sympy.Expr) -> sympy.Expr:
        # stack([row(i) for i in range(n)]): the row in the index and the outer values.
        op = node.op
        index = sympy.Symbol(op.index.name or "i", integer=True)
        stand_ins = {p: sympy.Dummy(p.name or "p") for p in op.placeholders}
        inner = SympyTranslator(abbreviate_named=False, named_functions=self.named_functions,
                                symbols={op.index: index, **stand_ins})  # fmt: skip
        row = inner.translate(op.row).xreplace(dict(zip(stand_ins.values(), outer)))
        return opaque("map")(row, index, n)

    def _print_Scan(self, node: Apply, n: sympy.Expr, *inputs: sympy.Expr) -> sympy.Expr:
        # Result `which` of a loop of n steps: the step's value in its slots (the rows and previous
        # states it reads, named after the step function's parameters) and the outer values.
        op, core = node.op, node.op.core
        stand_ins = {s: sympy.Symbol(s.name or f"s{k}") for k, s in enumerate(core.slots)}
        inner = SympyTranslator(abbreviate_named=False, named_functions=self.named_functions, symbols=stand_ins)
        bound = dict(zip((stand_ins[s] for s in core.bound_slots), inputs[len(inputs) - len(core.bound_slots) :]))
        step = inner.translate(core.steps[op.which]).xreplace(bound)
        return opaque("scan")(step, n)

    def _print_Op(self, node: Apply, *args: sympy.Expr) -> sympy.Expr:
        return opaque(str(node.op))(*args)


def _shape(entries: tuple, x: sympy.Expr, lengths: tuple[sympy.Expr, ...], ndim: int = 0) -> sympy.Tuple:
    """An op's shape as its lengths: ints, None (any length), ``('dim', k)`` (``x``'s k-th length),
    ``('prod', k)`` (the product of ``x``'s lengths from the k-th on; ``x`` has ``ndim``
    dimensions) or ``('arg', j)`` (the j-th symbolic length)."""

    def length(entry: int | tuple | None) -> sympy.Basic:
        if entry is None:
            return sympy.Symbol("None")
        if not isinstance(entry, tuple):
            return sympy.Integer(entry)
        kind, k = entry
        if kind == "prod":
            return sympy.Mul(*(opaque("size", f"axis={d}")(x) for d in range(k, ndim)))
        return opaque("size", f"axis={k}")(x) if kind == "dim" else lengths[k]

    return sympy.Tuple(*(length(e) for e in entries))


def _indexed(pattern: tuple[bool, ...], x: sympy.Expr, indices: tuple[sympy.Expr, ...]) -> sympy.Expr:
    """``x[i0, :, i1]``: integer-array indexing, the index arrays ``indices`` where ``pattern`` is
    True, full slices elsewhere (the printers read the pattern from ``keywords``)."""
    return opaque("index", "".join("*" if is_array else ":" for is_array in pattern))(x, *indices)


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
    return _sizes(expr)[0]


def _sizes(expr: sympy.Basic) -> tuple[int, int]:
    """Nodes of ``expr`` as a tree, and its distinct subexpressions."""
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
    return sizes[expr], len(sizes)


def shared_parts(root: Variable) -> list[Variable]:
    """The intermediates the math printers name ``t0, t1, ...`` and print before ``root``, each
    after the parts it uses: none where ``root``'s expression is small (``SHARE_LIMIT``), else each
    unnamed one used more than once whose expression, with the parts below it named, is bigger
    than ``SHARE_MIN`` nodes.

    This is decided on the graph, before SymPy builds anything: a nested gradient is a small graph
    whose tree is exponentially big (9**depth nodes for depth-``d`` ``g(g(...g(x)))``, g(t) =
    sin(t)*t + exp(t)), and SymPy walks expressions as trees. Linear in the graph's size.
    """
    nodes = toposort([root])
    uses = Counter(id(i) for node in nodes for i in node.inputs)
    whole: dict[int, int] = {}  # each variable's expression size with nothing named (capped)
    own: dict[int, int] = {}  # the same with the parts chosen so far named
    parts: list[Variable] = []
    for node in nodes:
        out = node.output
        weight = tree_size(node.op.expr) - len(node.inputs) if isinstance(node.op, Elemwise) else 1
        whole[id(out)] = min(weight + sum(whole.get(id(i), 1) for i in node.inputs), SHARE_LIMIT + 1)
        own[id(out)] = weight + sum(own.get(id(i), 1) for i in node.inputs)
        if out is root:
            continue
        if out.name is not None:  # the user's name prints instead
            whole[id(out)] = own[id(out)] = 1
        elif uses[id(out)] > 1 and own[id(out)] > SHARE_MIN:
            own[id(out)] = 1
            parts.append(out)
    return parts if nodes and whole[id(root)] > SHARE_LIMIT else []


def _functions(expr: sympy.Expr) -> set[type]:
    return {type(f) for f in expr.atoms(sympy.Function)}


def _calls(expr: sympy.Expr) -> set[sympy.Basic]:
    """The calls of math functions in ``expr``: ``sin(x)``, ``exp(-x**2)`` (not of structural ops
    or Piecewise, which change with any simplification inside them)."""
    return {f for f in expr.atoms(sympy.Function) if not isinstance(f, (OpaqueBase, sympy.Piecewise))}


def _constants(expr: sympy.Expr) -> set[sympy.Basic]:
    """The named and irrational constants in ``expr``: ``pi``, ``E``, ``sqrt(2)``."""
    irrational = {p for p in expr.atoms(sympy.Pow) if p.base.is_Number and not p.exp.is_Integer}
    return set(expr.atoms(sympy.NumberSymbol)) | irrational


def _keeps_the_form(result: sympy.Expr, expr: sympy.Expr) -> bool:
    """Whether ``result`` is written with what ``expr`` uses: no function or call it does not
    have (``cos(x + pi/4)`` for ``cos(x) - sin(x)``, ``sin(2*x)`` for ``2*sin(x)*cos(x)``, ``cosh``
    for ``exp``) and no constant it does not have (``sqrt(2)``, ``pi``)."""
    return _calls(result) <= _calls(expr) and _constants(result) <= _constants(expr)


def simplified(expr: sympy.Expr) -> sympy.Expr:
    """``sympy.simplify(expr)`` when ``expr`` is small enough for that to be quick, and when it
    keeps the form a student derives by hand.

    SymPy's simplify also applies identities that bring in functions, calls or constants the
    expression did not have: ``exp(x)*cos(x) - exp(x)*sin(x)`` becomes
    ``sqrt(2)*exp(x)*cos(x + pi/4)``, and ``exp(x)/(exp(x) + 1)**2`` becomes
    ``1/(4*cosh(x/2)**2)``. Then the shortest of the plainer rewritings (factored, over one
    denominator) that keep the expression's own functions and calls wins instead:
    ``(-sin(x) + cos(x))*exp(x)``, as the product rule gives it.

    An expression that is mostly repeats of a few subexpressions (a chain ``g(g(g(x)))`` written
    out) is left as it is too: SymPy's simplify works on the tree and took minutes on one of 241
    nodes and 17 distinct ones.
    """
    tree, distinct = _sizes(expr)
    if tree > SIMPLIFY_LIMIT or distinct * REPEATS_LIMIT < tree:
        return expr
    result = sympy.simplify(expr)
    if _keeps_the_form(result, expr):
        return result
    candidates = [c for c in (sympy.factor(expr), sympy.together(expr)) if _keeps_the_form(c, expr)]
    return min([*candidates, expr], key=sympy.count_ops)
