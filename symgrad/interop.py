"""SymPy interoperation: elementwise graphs to SymPy expressions and back, and a parser.

Elementwise ops already hold SymPy expressions, so the conversions are substitutions:
:func:`to_sympy` substitutes each node's inputs into its expression, and :func:`from_sympy`
renames the given symbols to the positional symbols of one elementwise node.

:func:`parse` reads text with NumPy's and Theano's function names (``arctan``, ``sigmoid``,
``gammaln``), as ``pp`` prints them; the command line uses it.
"""

from __future__ import annotations

import functools
import tokenize
from collections.abc import Mapping

import sympy
from sympy.parsing.sympy_parser import parse_expr, standard_transformations

from .graph import Variable
from .ops.elemwise import SCALAR_OPS, Elemwise, ceil, floor, make_elemwise, result_dtype, sign, sym
from .ops.shape import DimShuffle
from .printing.translate import NUMPY_NAMES, SympyTranslator
from .types import float_of, kind

# SymPy's own functions with a symgrad counterpart of another class (NumPy's float-valued floor,
# NaN-propagating sign): from_sympy swaps them in.
_EQUIVALENTS = {sympy.floor: floor, sympy.ceiling: ceil, sympy.sign: sign}
# Nodes an elementwise expression may contain besides the functions of SCALAR_OPS.
_STRUCTURE = (
    sympy.Symbol, sympy.Number, sympy.NumberSymbol, sympy.Add, sympy.Mul, sympy.Pow, sympy.Piecewise,
    sympy.logic.boolalg.BooleanAtom, sympy.And, sympy.Or, sympy.Not, sympy.core.relational.Relational,
    sympy.functions.elementary.piecewise.ExprCondPair,
)  # fmt: skip


@functools.cache
def supported_functions() -> frozenset[type]:
    """The SymPy function classes that symgrad can compile (those its elementwise table uses)."""
    classes: set[type] = set()
    for scalar_op in SCALAR_OPS.values():
        expr = scalar_op.build(*(sym(i) for i in range(scalar_op.arity)))
        classes.update(type(f) for f in expr.atoms(sympy.Function))
    return frozenset(classes)


@functools.cache
def namespace() -> dict[str, object]:
    """Names :func:`parse` knows: every function of ``SCALAR_OPS`` under its printed name."""
    names: dict[str, object] = {"pi": sympy.pi, "E": sympy.E}
    for cls in supported_functions():
        names[NUMPY_NAMES.get(cls.__name__, cls.__name__)] = cls
    names["abs"] = sympy.Abs
    names["psi"] = lambda x: sympy.polygamma(0, x)
    for name in ("sqrt", "relu", "maximum", "minimum", "clip", "sqr"):
        scalar_op = SCALAR_OPS[name]
        names[name] = scalar_op.build
    return names


class ParseError(ValueError):
    """Text that is not a formula symgrad can read."""


def parse(text: str) -> sympy.Expr:
    """The SymPy expression ``text`` spells, with NumPy's function names (``arctan(x)``).

    Raises :class:`ParseError` for text that is not a formula, names a function symgrad does not
    have, or is not a number-valued expression.
    Like ``sympy.sympify``, this evaluates Python: never pass it text from people you do not trust.
    """
    try:
        expr = parse_expr(text, local_dict=dict(namespace()), transformations=standard_transformations)
    except tokenize.TokenError:
        raise ParseError(f"cannot parse {text!r} as a formula: a parenthesis is not closed") from None
    except SyntaxError as err:
        raise ParseError(f"cannot parse {text!r} as a formula: {err.msg}") from None
    except (TypeError, ValueError, AttributeError) as err:
        raise ParseError(f"cannot parse {text!r} as a formula: {err}") from None
    if not isinstance(expr, sympy.Expr):
        raise ParseError(f"{text!r} is not a number-valued formula (it reads as {type(expr).__name__})")
    unknown = sorted({type(f).__name__ for f in expr.atoms(sympy.core.function.AppliedUndef)})
    if unknown:
        known = ", ".join(sorted(n for n, v in namespace().items() if callable(v)))
        raise ParseError(f"unknown function(s) {', '.join(unknown)} in {text!r}; symgrad knows {known}")
    return expr


def to_sympy(var: Variable, symbols: Mapping[Variable, sympy.Symbol] | None = None) -> sympy.Expr:
    """The SymPy expression an elementwise (or scalar) graph computes.

    Inputs become real symbols named after the variables, or the symbols ``symbols`` gives for
    them. Raises TypeError for graphs with other ops (matrix products, reductions, indexing).
    """
    return _ElementwiseTranslator(symbols).translate(var)


class _ElementwiseTranslator(SympyTranslator):
    """The translator restricted to what has a scalar meaning, with functions as SymPy defines
    them (Piecewise for relu), and named intermediates expanded."""

    def __init__(self, symbols: Mapping[Variable, sympy.Symbol] | None) -> None:
        super().__init__(abbreviate_named=False, named_functions=False, symbols=symbols)

    def dispatch(self, node, *args):
        op = node.op
        broadcast_only = isinstance(op, DimShuffle) and [d for d in op.new_order if d != "x"] == sorted(
            d for d in op.new_order if d != "x"
        )
        if not isinstance(op, Elemwise) and not broadcast_only:
            raise TypeError(
                f"to_sympy: {node.output!r} is computed by {op}, which has no scalar meaning; "
                "to_sympy takes elementwise and scalar graphs (use symgrad.pp to read any graph)"
            )
        return super().dispatch(node, *args)


def from_sympy(expr: sympy.Expr | str, mapping: Mapping[sympy.Symbol | str, object]) -> Variable:
    """The symgrad variable computing ``expr`` elementwise, with each symbol of ``mapping``
    standing for its variable (or number): ``from_sympy(sympy.exp(-t**2), {t: x})``.

    ``expr`` may also be text (see :func:`parse`), and keys may be symbol names. The result is
    one elementwise node; its dtype is the inputs' (promoted), made float unless the expression
    is a polynomial with integer coefficients.
    """
    from .tensor.basic import as_tensor_variable

    if isinstance(expr, str):
        expr = parse(expr)
    expr = sympy.sympify(expr)
    by_name = {(k if isinstance(k, str) else k.name): v for k, v in mapping.items()}
    missing = sorted(s.name for s in expr.free_symbols if s.name not in by_name)
    if missing:
        raise ValueError(f"from_sympy: no variable given for symbol(s) {', '.join(missing)} of {expr}")
    expr = expr.replace(sympy.Max, lambda *a: sympy.Max(*a).rewrite(sympy.Piecewise))
    expr = expr.replace(sympy.Min, lambda *a: sympy.Min(*a).rewrite(sympy.Piecewise))
    for theirs, ours in _EQUIVALENTS.items():
        expr = expr.replace(theirs, ours)
    _check_supported(expr)
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    inputs = [as_tensor_variable(by_name[s.name]) for s in symbols]
    positional = expr.xreplace({s: sym(i) for i, s in enumerate(symbols)})
    # Python numbers in the mapping are weak, as in arithmetic: float32 stays float32.
    dtype = result_dtype("promote", inputs) if inputs else "float64"
    if kind(dtype) != "f" and not _integer_polynomial(positional):
        dtype = float_of(dtype)
    return make_elemwise(positional, inputs, dtype)


def _check_supported(expr: sympy.Expr) -> None:
    if expr.has(sympy.I, sympy.zoo, sympy.nan):
        raise ValueError(f"from_sympy: {expr} is not real-valued")
    supported = supported_functions() | {sympy.Abs}
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Function) and type(node) in supported:
            continue
        if not isinstance(node, _STRUCTURE):
            raise TypeError(
                f"from_sympy: symgrad has no elementwise op for {node} ({type(node).__name__}); it supports "
                f"arithmetic, comparisons, Piecewise and {', '.join(sorted(c.__name__ for c in supported))}"
            )


def _integer_polynomial(expr: sympy.Expr) -> bool:
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    if not symbols:
        return expr.is_Integer
    try:
        return sympy.Poly(expr, *symbols).domain == sympy.ZZ
    except sympy.PolynomialError:
        return False
