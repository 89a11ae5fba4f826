"""The scalar functions behind the elementwise ops: SymPy definitions of those SymPy lacks (or
defines unhelpfully for numeric code), and ``SCALAR_OPS``, the table of named elementwise functions.

This module imports SymPy, which takes about a third of a second; ``symgrad.ops.elemwise`` does
not, and finds these names here on first use (``from symgrad.ops.elemwise import SCALAR_OPS``
still works), so ``import symgrad`` leaves SymPy unloaded until the first expression is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy
from sympy.codegen.cfunctions import exp2, expm1, log1p, log2, log10

# ---------------------------------------------------------------------------------------------
# SymPy functions that SymPy lacks or defines unhelpfully for numeric code.


class Elided(sympy.Dummy):
    """An operand ``repr`` leaves out (see ``symgrad.graph.REPR_DEPTH``): prints as ``…``, and two
    of them are distinct (``… + …``, not ``2*…``)."""

    def _sympystr(self, printer) -> str:
        return "…"


class sigmoid(sympy.Function):
    """The logistic function 1/(1+exp(-x)), kept whole so the printer can call a stable kernel."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)


class softplus(sympy.Function):
    """log(1 + exp(x)), kept whole for a stable implementation."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])


class floor_div(sympy.Function):
    """Python's ``a // b``; piecewise constant, so its derivative is zero almost everywhere."""

    def fdiff(self, argindex=1):
        return sympy.Integer(0)


class mod(sympy.Function):
    """Python's ``a % b`` (sign of the divisor, as NumPy): ``a - b * floor(a / b)``."""

    def fdiff(self, argindex=1):
        a, b = self.args
        return sympy.Integer(1) if argindex == 1 else -floor_div(a, b)


class sign(sympy.Function):
    """NumPy's sign: -1, 0 or 1, and nan for nan. Derivative zero (as Theano and PyTorch)."""

    def fdiff(self, argindex=1):
        return sympy.Integer(0)


class floor(sympy.Function):
    """Floor returning a float, as NumPy's; derivative zero."""

    def fdiff(self, argindex=1):
        return sympy.Integer(0)


class ceil(sympy.Function):
    """Ceiling returning a float, as NumPy's; derivative zero."""

    def fdiff(self, argindex=1):
        return sympy.Integer(0)


class maximum(sympy.Function):
    """NumPy's maximum: the larger argument, and nan if either is nan (SymPy's Max, like any
    Piecewise on real symbols, assumes there is no nan). At a tie the gradient goes to the first
    argument."""

    @classmethod
    def eval(cls, a, b):
        if sympy.nan in (a, b):
            return sympy.nan
        if a.is_Number and b.is_Number:
            return a if a >= b else b
        return None

    def fdiff(self, argindex=1):
        a, b = self.args
        return sympy.Piecewise((1, a >= b), (0, True)) if argindex == 1 else sympy.Piecewise((0, a >= b), (1, True))


class minimum(sympy.Function):
    """NumPy's minimum: the smaller argument, and nan if either is nan. At a tie the gradient goes
    to the first argument."""

    @classmethod
    def eval(cls, a, b):
        if sympy.nan in (a, b):
            return sympy.nan
        if a.is_Number and b.is_Number:
            return a if a <= b else b
        return None

    def fdiff(self, argindex=1):
        a, b = self.args
        return sympy.Piecewise((1, a <= b), (0, True)) if argindex == 1 else sympy.Piecewise((0, a <= b), (1, True))


def as_condition(e: sympy.Expr) -> sympy.Basic:
    """A boolean condition from a 0/1-valued expression (a comparison) or any number (nonzero)."""
    if isinstance(e, sympy.Piecewise) and len(e.args) == 2 and e.args[0].expr == 1 and e.args[1].expr == 0:
        return e.args[0].cond
    return sympy.Ne(e, 0)


def indicator(cond: sympy.Basic) -> sympy.Expr:
    """1 where ``cond`` holds, else 0: how booleans live inside arithmetic expressions."""
    return sympy.Piecewise((1, cond), (0, True))


# ---------------------------------------------------------------------------------------------
# The table of named elementwise functions.


@dataclass(frozen=True)
class ScalarOp:
    """A named elementwise function: its SymPy definition and how its output dtype is chosen.

    dtype rules: ``promote`` (NumPy promotion of the inputs), ``float`` (promote, then ints become
    floats), ``truediv`` (promote; int/int gives floatX), ``bool`` (comparisons), ``switch``
    (promote the two branches), ``integer`` (promote, and refuse floats: the bitwise functions).
    """

    name: str
    arity: int
    build: Callable[..., sympy.Expr]
    dtype_rule: str


SCALAR_OPS: dict[str, ScalarOp] = {}


def _scalar(name: str, arity: int, dtype_rule: str, build: Callable[..., sympy.Expr]) -> None:
    SCALAR_OPS[name] = ScalarOp(name, arity, build, dtype_rule)


# arithmetic
_scalar("add", 2, "promote", lambda a, b: a + b)
_scalar("sub", 2, "promote", lambda a, b: a - b)
_scalar("mul", 2, "promote", lambda a, b: a * b)
_scalar("true_div", 2, "truediv", lambda a, b: a / b)
_scalar("floor_div", 2, "promote", floor_div)
_scalar("mod", 2, "promote", mod)
_scalar("pow", 2, "promote", lambda a, b: a**b)
_scalar("neg", 1, "promote", lambda a: -a)
_scalar("abs", 1, "promote", sympy.Abs)
_scalar("sign", 1, "promote", sign)
_scalar("sqr", 1, "promote", lambda a: a**2)
_scalar("identity", 1, "promote", lambda a: a)
# comparisons give bool; inside expressions a boolean is a 0/1 indicator
_scalar("lt", 2, "bool", lambda a, b: indicator(sympy.StrictLessThan(a, b)))
_scalar("le", 2, "bool", lambda a, b: indicator(sympy.LessThan(a, b)))
_scalar("gt", 2, "bool", lambda a, b: indicator(sympy.StrictGreaterThan(a, b)))
_scalar("ge", 2, "bool", lambda a, b: indicator(sympy.GreaterThan(a, b)))
_scalar("eq", 2, "bool", lambda a, b: indicator(sympy.Eq(a, b)))
_scalar("neq", 2, "bool", lambda a, b: indicator(sympy.Ne(a, b)))
# selection; ties in maximum/minimum send the gradient to the first argument
_scalar("switch", 3, "switch", lambda c, a, b: sympy.Piecewise((a, as_condition(c)), (b, True)))
_scalar("maximum", 2, "promote", maximum)
_scalar("minimum", 2, "promote", minimum)
_scalar("clip", 3, "promote", lambda x, lo, hi: sympy.Piecewise((lo, x < lo), (hi, x > hi), (x, True)))
_scalar("relu", 1, "promote", lambda a: sympy.Piecewise((a, a > 0), (0, True)))
_scalar("floor", 1, "float", floor)
_scalar("ceil", 1, "float", ceil)
# transcendental functions
for _name, _fn in {
    "exp": sympy.exp, "log": sympy.log, "log1p": log1p, "expm1": expm1, "exp2": exp2, "log2": log2,
    "log10": log10, "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan,
    "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan, "sinh": sympy.sinh,
    "cosh": sympy.cosh, "tanh": sympy.tanh, "arcsinh": sympy.asinh, "arccosh": sympy.acosh,
    "arctanh": sympy.atanh, "erf": sympy.erf, "erfc": sympy.erfc, "gammaln": sympy.loggamma,
    "psi": lambda a: sympy.polygamma(0, a), "sigmoid": sigmoid, "softplus": softplus,
}.items():  # fmt: skip
    _scalar(_name, 1, "float", _fn)
_scalar("arctan2", 2, "float", sympy.atan2)


# ---------------------------------------------------------------------------------------------
# NumPy's remaining elementwise functions (issue 16): tests, rounding, bitwise logic and special
# functions. Piecewise-constant ones differentiate to zero.


class _Flat(sympy.Function):
    """A piecewise-constant function: its derivative is zero wherever it exists."""

    def fdiff(self, argindex=1):
        return sympy.Integer(0)


class _NumberTest(_Flat):
    """1 where a number test holds, else 0: ``isnan``, ``isinf`` and ``isfinite``."""

    test: Callable[[sympy.Expr], bool]

    @classmethod
    def eval(cls, x):
        if x.is_Number or x in (sympy.oo, -sympy.oo, sympy.nan):
            return sympy.Integer(int(cls.test(x)))
        return None


class isnan(_NumberTest):
    test = staticmethod(lambda x: x is sympy.nan)


class isinf(_NumberTest):
    test = staticmethod(lambda x: x in (sympy.oo, -sympy.oo))


class isfinite(_NumberTest):
    test = staticmethod(lambda x: x.is_finite is True and x is not sympy.nan)


class rint(_Flat):
    """NumPy's ``round``/``rint``: the nearest integer, ties to even, as a float."""


class bitwise_and(_Flat):
    """``a & b`` on integers."""


class bitwise_or(_Flat):
    """``a | b`` on integers."""


class bitwise_xor(_Flat):
    """``a ^ b`` on integers."""


class bitwise_not(_Flat):
    """``~a`` on integers."""


class logaddexp(sympy.Function):
    """``log(exp(a) + exp(b))``, kept whole: the printer writes the stable form, and the derivative
    is the logistic function of the difference (exact, never 0/0)."""

    def fdiff(self, argindex=1):
        a, b = self.args
        return sigmoid(a - b) if argindex == 1 else sigmoid(b - a)

    def stable_form(self) -> sympy.Expr:
        """The larger argument plus ``log1p(exp(-|a - b|))``; equal arguments (infinities among
        them, whose difference is nan) give ``a + log(2)``."""
        a, b = self.args
        return sympy.Piecewise(
            (a + sympy.log(2), sympy.Eq(a, b)),
            (maximum(a, b) + log1p(sympy.exp(-sympy.Abs(a - b))), True),
        )


class hypot(sympy.Function):
    """``sqrt(a**2 + b**2)`` without overflow or underflow (C's hypot)."""

    def fdiff(self, argindex=1):
        return self.args[argindex - 1] / self


def pow_log_at_zero(d: sympy.Expr) -> sympy.Expr:
    """``x**y * log(x)`` (the derivative of ``x**y`` in ``y``) is 0 where ``x == 0`` and ``y > 0``,
    as the limit says; the product as written gives ``0 * -inf = nan`` there."""

    def pow_log_term(e: sympy.Basic) -> bool:
        return e.is_Mul and any(f.is_Pow and sympy.log(f.args[0]) in e.args for f in e.args)

    def guard(e: sympy.Expr) -> sympy.Expr:
        base, exponent = next(f.args for f in e.args if f.is_Pow and sympy.log(f.args[0]) in e.args)
        return sympy.Piecewise((0, sympy.Eq(base, 0) & (exponent > 0)), (e, True))

    return d.replace(pow_log_term, guard)


_LN2 = sympy.log(2)
_scalar("isnan", 1, "bool", isnan)
_scalar("isinf", 1, "bool", isinf)
_scalar("isfinite", 1, "bool", isfinite)
_scalar("round", 1, "promote", rint)
_scalar("and_", 2, "integer", bitwise_and)
_scalar("or_", 2, "integer", bitwise_or)
_scalar("xor", 2, "integer", bitwise_xor)
_scalar("invert", 1, "integer", bitwise_not)
_scalar("logaddexp", 2, "float", logaddexp)
_scalar("logaddexp2", 2, "float", lambda a, b: logaddexp(a * _LN2, b * _LN2) / _LN2)
_scalar("hypot", 2, "float", hypot)
_scalar("xlogy", 2, "float", lambda x, y: sympy.Piecewise((0, sympy.Eq(x, 0)), (x * sympy.log(y), True)))
_scalar(
    "sinc", 1, "float", lambda x: sympy.Piecewise((1, sympy.Eq(x, 0)), (sympy.sin(sympy.pi * x) / (sympy.pi * x), True))
)
_scalar("deg2rad", 1, "float", lambda x: x * (sympy.pi / 180))
_scalar("rad2deg", 1, "float", lambda x: x * (180 / sympy.pi))
_scalar("gamma", 1, "float", sympy.gamma)
_scalar("erfinv", 1, "float", sympy.erfinv)
_scalar("erfcinv", 1, "float", sympy.erfcinv)
_scalar("betaln", 2, "float", lambda a, b: sympy.loggamma(a) + sympy.loggamma(b) - sympy.loggamma(a + b))
_scalar("beta", 2, "float", sympy.beta)
# NumPy's fmax and fmin ignore a nan operand (maximum and minimum propagate it)
_scalar(
    "fmax",
    2,
    "promote",
    lambda a, b: sympy.Piecewise((b, as_condition(isnan(a))), (a, as_condition(isnan(b))), (maximum(a, b), True)),
)
_scalar(
    "fmin",
    2,
    "promote",
    lambda a, b: sympy.Piecewise((b, as_condition(isnan(a))), (a, as_condition(isnan(b))), (minimum(a, b), True)),
)
_scalar("reciprocal", 1, "promote", lambda a: 1 / a)
