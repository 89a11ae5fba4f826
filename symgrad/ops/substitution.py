"""Substitution into SymPy expressions that keeps NumPy's meaning.

Elementwise expressions are combined by substitution: constants folded into an op's expression,
a producer's expression inlined into its consumer when kernels fuse, a graph translated for
printing. SymPy evaluates as it builds, in complex arithmetic and assuming real symbols are
finite numbers, and three of its habits change what NumPy would compute:

- ``sqrt(-2.5)`` and ``acos(2)`` become complex numbers where NumPy gives nan;
- a comparison with nan raises (``Invalid NaN comparison``) where NumPy's is False (``!=``: True);
- an identity that holds only on a function's domain is applied anyway: ``cos(acos(x))``,
  ``exp(log(x))`` and ``sqrt(x)**2`` become ``x``, and ``sqrt(x) - sqrt(x)`` becomes 0, where
  NumPy's value is nan for x outside the domain.

:func:`substitute` rebuilds an expression bottom-up after replacing symbols and undoes each: a
complex value becomes nan at the node that made it, comparisons with nan follow IEEE, and where
building a node dropped a subexpression that is nan outside its domain, the node keeps that
domain: ``Piecewise((x, (x >= -1) & (x <= 1)), (nan, True))`` for ``cos(acos(x))``.

A fourth habit concerns printing only, where a reduction is a SymPy function of its operand (a
printed ``max(...)``): a comparison in a Piecewise's condition has any Piecewise it holds folded
out through every function around it, which is wrong for a reduction (``max(switch(c, a, b))`` is
not ``switch(c, max(a), max(b))``) and took minutes as SymPy then compared the pieces. Such a
comparison, condition or Piecewise is built as it stands.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np
import sympy
from sympy.codegen.cfunctions import log1p, log2, log10
from sympy.functions.elementary.piecewise import ExprCondPair

__all__ = ["defined_where", "real_valued", "substitute"]


def real_valued(expr: sympy.Expr) -> sympy.Expr:
    """``expr`` as NumPy computes it in real arithmetic: SymPy evaluates the log or the square
    root of a negative constant to a complex number (``sqrt(-2.5)`` is ``1.58*I``), where NumPy
    gives nan."""
    return expr.xreplace({sympy.I: sympy.nan}) if expr.has(sympy.I) else expr


def _unit_interval(x: sympy.Expr) -> sympy.Basic:
    return sympy.And(compare(sympy.GreaterThan, x, -1), compare(sympy.LessThan, x, 1))


# Where each function with a restricted real domain is defined (outside it NumPy gives nan).
DOMAINS: dict[type, Callable[[sympy.Expr], sympy.Basic]] = {
    sympy.log: lambda x: compare(sympy.GreaterThan, x, 0),
    log2: lambda x: compare(sympy.GreaterThan, x, 0),
    log10: lambda x: compare(sympy.GreaterThan, x, 0),
    log1p: lambda x: compare(sympy.GreaterThan, x, -1),
    sympy.acos: _unit_interval,
    sympy.asin: _unit_interval,
    sympy.atanh: _unit_interval,
    sympy.acosh: lambda x: compare(sympy.GreaterThan, x, 1),
}


def _domain(e: sympy.Basic) -> sympy.Basic | None:
    """Where ``e`` is defined, if it is a function with a restricted domain: a fractional power
    (``sqrt(x)``: x >= 0) or one of DOMAINS; None for the others."""
    if isinstance(e, sympy.Pow):
        base, exponent = e.args
        if exponent.is_Number and not exponent.is_integer:
            return compare(sympy.GreaterThan, base, 0)
        return None
    rule = DOMAINS.get(type(e))
    return rule(e.args[0]) if rule is not None else None


@functools.lru_cache(maxsize=65536)
def restricted(e: sympy.Basic) -> frozenset:
    """The subexpressions of ``e`` with a restricted domain, outside which they are nan; those in
    the unselected branches of a Piecewise count too, as a Piecewise does not propagate them."""
    found = frozenset().union(*(restricted(a) for a in e.args)) if e.args else frozenset()
    return found | {e} if _domain(e) is not None else found


def defined_where(value: sympy.Expr, dropped) -> sympy.Expr:
    """``value``, and nan wherever one of the ``dropped`` subexpressions is undefined."""
    conditions = [_domain(d) for d in dropped]
    condition = sympy.And(*conditions)
    if condition == sympy.true:
        return value
    if condition == sympy.false:
        return sympy.nan
    return sympy.Piecewise((value, condition), (sympy.nan, True))


def compare(relation: type, lhs: sympy.Expr, rhs: sympy.Expr) -> sympy.Basic:
    """``relation(lhs, rhs)`` with IEEE's answer where a side is nan (False; ``!=``: True), also
    where nan is one value of a Piecewise side, whose pieces are then compared one by one."""
    lhs, rhs = sympy.sympify(lhs), sympy.sympify(rhs)
    if sympy.nan in (lhs, rhs):
        return sympy.true if relation is sympy.Ne else sympy.false
    for side, pair in ((lhs, lambda piece: (piece, rhs)), (rhs, lambda piece: (lhs, piece))):
        if side.has(sympy.nan):
            side = sympy.piecewise_fold(side)
            if isinstance(side, sympy.Piecewise):
                pieces, earlier = [], []
                for value, cond in side.args:
                    pieces.append(sympy.And(cond, *[sympy.Not(c) for c in earlier], compare(relation, *pair(value))))
                    earlier.append(cond)
                return sympy.Or(*pieces)
    try:
        return relation(lhs, rhs)
    except TypeError:  # SymPy takes a side for non-real (a printed op with a tuple operand): unevaluated
        return relation(lhs, rhs, evaluate=False)


# The nodes whose evaluation may drop an operand's subexpression through an identity; a
# Piecewise drops its unselected branches, whose nan NumPy's select does not propagate either.
_COMBINING = (sympy.Add, sympy.Mul, sympy.Pow, sympy.Function)


# The nodes SymPy builds by folding a Piecewise out of their operands (see the module docstring).
_FOLDING = (sympy.core.relational.Relational, ExprCondPair, sympy.Piecewise)


@functools.lru_cache(maxsize=65536)
def _piecewise_in_a_reduction(e: sympy.Basic) -> bool:
    """Whether a Piecewise sits inside a function of ``e`` that is not elementwise (``elementwise =
    False`` on its class: the printers' reductions), where folding it out would change the value."""
    if isinstance(e, sympy.Function) and not getattr(e, "elementwise", True) and e.has(sympy.Piecewise):
        return True
    return any(_piecewise_in_a_reduction(a) for a in e.args)


def _rebuild(e: sympy.Basic, args: list[sympy.Basic]) -> sympy.Basic:
    """``e``'s kind of node over new ``args``, as NumPy would compute it."""
    if isinstance(e, _FOLDING) and any(_piecewise_in_a_reduction(a) for a in args):
        return sympy.Basic.__new__(type(e), *args)  # unevaluated: SymPy's constructors would fold
    if isinstance(e, sympy.core.relational.Relational):
        return compare(type(e), *args)
    new = e.func(*args)
    if isinstance(e, sympy.Pow) and isinstance(args[0], sympy.Piecewise) and new.has(sympy.zoo):
        # SymPy raised each piece to the power, and 0**-2.5 is zoo: do it here, piece by piece.
        pieces = [(_rebuild(e, [value, args[1]]), cond) for value, cond in args[0].args]
        return sympy.Piecewise(*pieces)
    if all(a.is_Number for a in args) and _not_as_in_numpy(args, new):
        new = _numpy_value(e.func, args)
    new = real_valued(new)
    if isinstance(e, _COMBINING) and not isinstance(e, sympy.Piecewise):
        dropped = frozenset().union(*(restricted(a) for a in args)) - restricted(new)
        if dropped:
            return defined_where(new, dropped)
    return new


def _not_as_in_numpy(args: list[sympy.Basic], value: sympy.Basic) -> bool:
    """Whether SymPy's ``value`` of a function of the numbers ``args`` may differ from NumPy's:
    at an infinite or nan argument SymPy takes limits (``sin(oo)`` is the interval [-1, 1],
    ``atan2(oo, oo)`` is 0, ``1**oo`` is nan; NumPy: nan, pi/4, 1), and its complex infinity
    (``0**-2.5``, ``log(0)``) has no sign."""
    if any(a in (sympy.oo, -sympy.oo, sympy.nan) for a in args):
        return True
    return value is sympy.nan or value.has(sympy.zoo, sympy.AccumBounds)


def _numpy_value(func: type, args: list[sympy.Basic]) -> sympy.Expr:
    """``func(*args)`` of numbers as NumPy computes it in float64."""
    from .elemwise import numpy_function  # the table of NumPy implementations; it imports this module

    symbols = sympy.symbols(f"b0:{len(args)}", real=True)
    with np.errstate(all="ignore"):
        value = float(numpy_function(symbols, func(*symbols))(*(np.float64(float(a)) for a in args)))
    if np.isnan(value):
        return sympy.nan
    return (sympy.oo if value > 0 else -sympy.oo) if np.isinf(value) else sympy.Float(value)


def substitute(expr: sympy.Basic, mapping: Mapping[sympy.Basic, sympy.Basic]) -> sympy.Basic:
    """``expr.xreplace(mapping)``, evaluated as NumPy would (see the module docstring)."""
    if all(isinstance(v, sympy.Symbol) for v in mapping.values()):
        return expr.xreplace(dict(mapping))  # renaming symbols changes no value
    memo: dict[sympy.Basic, sympy.Basic] = {}

    def visit(e: sympy.Basic) -> sympy.Basic:
        if e in mapping:
            return mapping[e]
        if not e.args:
            return e
        if e not in memo:
            args = [visit(a) for a in e.args]
            memo[e] = e if all(a is b for a, b in zip(args, e.args)) else _rebuild(e, args)
        return memo[e]

    return visit(expr)
