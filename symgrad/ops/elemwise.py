"""Elementwise ops as data: a SymPy expression in positional scalar symbols ``a0, a1, ...``.

One op class, :class:`Elemwise`, covers every elementwise function. What distinguishes ``exp``
from ``x * y + 1`` is only the expression, so the same machinery serves the ops users call, the
gradient expressions ``T.grad`` builds, and the fused expressions the back end makes by
substitution. Derivatives come from ``sympy.diff`` (cached per expression and symbol).

``SCALAR_OPS`` is the table of named elementwise functions: one entry per function, holding its
arity, its SymPy definition and its dtype rule. Adding a function means adding one entry (and, if
SymPy has no printable form for it, a printer rule in ``codegen/scalar_printer.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy
from sympy.codegen.cfunctions import exp2, expm1, log1p, log2, log10

from ..config import config
from ..graph import Constant, Op, Variable, apply, constant
from ..types import ALL_DTYPES, TensorType, broadcast_static, float_of, kind, promote
from .substitution import real_valued, substitute


@functools.cache
def sym(i: int) -> sympy.Symbol:
    """The scalar symbol standing for input ``i`` of an elementwise expression."""
    return sympy.Symbol(f"a{i}", real=True)


# ---------------------------------------------------------------------------------------------
# SymPy functions that SymPy lacks or defines unhelpfully for numeric code.


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
    (promote the two branches).
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


def result_dtype(rule: str, inputs: Sequence[Variable]) -> str:
    """Apply a ScalarOp dtype rule to actual inputs (weak Python-scalar constants count by kind)."""
    if rule == "bool":
        return "bool"
    if rule == "switch":
        inputs = inputs[1:]
    strong = [v.dtype for v in inputs if not (isinstance(v, Constant) and v.weak)]
    weak = [v.dtype for v in inputs if isinstance(v, Constant) and v.weak]
    dtype = promote(strong, weak)
    if rule == "float":
        return float_of(dtype)
    if rule == "truediv" and kind(dtype) != "f":
        return config.floatX
    return dtype


# ---------------------------------------------------------------------------------------------
# Derivatives


@functools.lru_cache(maxsize=4096)
def partial(expr: sympy.Expr, wrt: sympy.Symbol) -> sympy.Expr:
    """d expr / d wrt, with the derivative of piecewise-constant parts taken as zero."""
    d = sympy.diff(expr, wrt)
    # Abs differentiates to SymPy's sign, whose derivative is a DiracDelta: zero almost everywhere,
    # and zero at the kink too, as Theano and PyTorch define it.
    d = d.replace(sympy.DiracDelta, lambda *args: sympy.Integer(0))
    d = d.replace(sympy.sign, sign)
    d = real_valued(d)  # d/dx (-2.5)**x = (-2.5)**x*log(-2.5)
    if d.has(sympy.Derivative):
        raise ValueError(f"symgrad cannot differentiate {expr} with respect to {wrt}: {d}")
    return d


# ---------------------------------------------------------------------------------------------
# The op


class Elemwise(Op):
    """Applies a scalar SymPy expression elementwise, broadcasting its equal-rank inputs."""

    props = ("expr", "dtype")

    def __init__(self, expr: sympy.Expr, dtype: str, name: str | None = None) -> None:
        self.expr = expr
        self.dtype = dtype
        self.name = name

    def __str__(self) -> str:
        return self.name or f"Elemwise{{{self.expr}}}"

    def signature(self) -> str:
        return f"Elemwise({sympy.srepr(self.expr)}, {self.dtype})"

    def make_type(self, *inputs: Variable) -> TensorType:
        return TensorType(self.dtype, broadcast_static([v.type.shape for v in inputs], str(self)))

    @functools.lru_cache(maxsize=8)  # noqa: B019 - ops are few and long-lived
    def _numpy_fn(self, nin: int) -> Callable:
        return numpy_function([sym(i) for i in range(nin)], self.expr)

    def perform(self, *values: np.ndarray) -> np.ndarray:
        shape = np.broadcast_shapes(*(np.shape(v) for v in values))
        with np.errstate(all="ignore"):
            result = self._numpy_fn(len(values))(*values)
        return np.broadcast_to(np.asarray(result), shape).astype(self.dtype, order="C")

    def vjp(self, inputs: Sequence[Variable], output: Variable, g: Variable) -> list[Variable | None]:
        from .reduce import sum_to

        grads: list[Variable | None] = []
        g_sym = sym(len(inputs))
        for i, inp in enumerate(inputs):
            d = partial(self.expr, sym(i)) if inp.type.is_float else sympy.Integer(0)
            if d == 0:
                grads.append(None)
                continue
            gi = make_elemwise(g_sym * d, [*inputs, g], inp.dtype)
            grads.append(sum_to(gi, inp.type))
        return grads


def numpy_function(symbols: Sequence[sympy.Symbol], expr: sympy.Expr) -> Callable:
    """``expr`` as a NumPy function of ``symbols`` (the reference implementation of an op)."""
    modules: list = [
        {
            "softplus": lambda x: np.logaddexp(0.0, x),
            "floor_div": np.floor_divide,
            "mod": np.mod,
            "sign": np.sign,
            "floor": np.floor,
            "ceil": np.ceil,
            "maximum": np.maximum,
            "minimum": np.minimum,
        },
        "numpy",
    ]
    if expr.has(sigmoid, sympy.erf, sympy.erfc, sympy.loggamma, sympy.polygamma):
        import scipy.special  # slow to import: only when the expression needs it

        modules[0]["sigmoid"] = scipy.special.expit
        modules.insert(1, "scipy")
    return sympy.lambdify(list(symbols), expr, modules=modules)


# ---------------------------------------------------------------------------------------------
# Construction


def sympy_number(value: np.ndarray) -> sympy.Expr:
    """The SymPy number for a NumPy scalar: an Integer where the value is integral, else a Float."""
    v = value.item()
    if isinstance(v, bool):
        return sympy.Integer(int(v))
    if isinstance(v, int):
        return sympy.Integer(v)
    if np.isnan(v):
        return sympy.nan
    if np.isinf(v):
        return sympy.oo if v > 0 else -sympy.oo
    if v == int(v) and abs(v) < 2**53:
        return sympy.Integer(int(v))
    return sympy.Float(v)


def align_ndim(inputs: Sequence[Variable], ndim: int) -> list[Variable]:
    """Pad inputs to ``ndim`` with broadcastable leading dimensions (NumPy's right alignment)."""
    from .shape import dimshuffle

    return [v if v.ndim == ndim else dimshuffle(v, ["x"] * (ndim - v.ndim) + list(range(v.ndim))) for v in inputs]


def make_elemwise(expr: sympy.Expr, inputs: Sequence[Variable], dtype: str, name: str | None = None) -> Variable:
    """The canonical Elemwise node computing ``expr`` (in ``a0..``) of ``inputs``.

    Canonical form makes equal computations hash to one node: scalar constants are folded into the
    expression, repeated inputs are merged, inputs the expression does not read are dropped unless
    one is needed to give the output its shape, and symbols are renumbered in input order.
    """
    # Scalar constants become numbers in the expression; tensors are aligned to one rank.
    substitutions: dict[sympy.Symbol, sympy.Expr] = {}
    tensors: list[tuple[int, Variable]] = []
    ndim = max((v.ndim for v in inputs), default=0)
    for i, var in enumerate(inputs):
        if isinstance(var, Constant) and var.data.size == 1:
            substitutions[sym(i)] = sympy_number(var.data.reshape(()))
        else:
            tensors.append((i, var))
    aligned = align_ndim([var for _, var in tensors], ndim)
    kept: list[Variable] = []
    for (i, _), var in zip(tensors, aligned):
        if var not in kept:
            kept.append(var)
        substitutions[sym(i)] = sym(kept.index(var))
    expr = substitute(expr, substitutions)
    out_shape = broadcast_static([(1,) * ndim] + [v.type.shape for v in aligned], name or "elementwise op")
    used = expr.free_symbols
    final = [i for i, v in enumerate(kept) if sym(i) in used]
    for dim, length in enumerate(out_shape):
        if length != 1 and not any(kept[i].type.shape[dim] != 1 for i in final):
            cover = next((i for i, v in enumerate(kept) if v.type.shape[dim] != 1), None)
            if cover is not None:
                final.append(cover)
    final.sort()
    expr = expr.xreplace({sym(i): sym(j) for j, i in enumerate(final)})
    final_inputs = [kept[i] for i in final]
    if expr == sym(0) and final_inputs[0].dtype == dtype and final_inputs[0].type.shape == out_shape:
        return final_inputs[0]  # the identity: no node at all
    if not final_inputs and expr.is_number:  # constant folding of a number: no NumPy needed
        value = np.asarray(int(expr) if expr.is_Integer else float(expr), dtype=dtype)
        return constant(np.broadcast_to(value, [n or 1 for n in out_shape]), dtype=dtype, weak=False)
    if all(isinstance(v, Constant) for v in final_inputs):  # constant folding
        value = Elemwise(expr, dtype, name).perform(*(v.data for v in final_inputs))
        return constant(np.broadcast_to(value, [n or 1 for n in out_shape]), dtype=dtype, weak=False)
    return apply(Elemwise(expr, dtype, name), *final_inputs)


def elemwise(name: str, *args: object) -> Variable:
    """Apply the named function of ``SCALAR_OPS`` to tensors or Python/NumPy values."""
    from ..tensor.basic import as_tensor_variable

    scalar_op = SCALAR_OPS[name]
    if len(args) != scalar_op.arity:
        raise TypeError(f"{name} takes {scalar_op.arity} arguments, got {len(args)}")
    inputs = [as_tensor_variable(a) for a in args]
    dtype = result_dtype(scalar_op.dtype_rule, inputs)
    expr = scalar_op.build(*(sym(i) for i in range(len(inputs))))
    return make_elemwise(expr, inputs, dtype, name)


def cast(x: Variable | float, dtype: str) -> Variable:
    """``x`` converted to ``dtype`` (truncating toward zero for float to int, as NumPy)."""
    from ..tensor.basic import as_tensor_variable

    x = as_tensor_variable(x)
    if dtype not in ALL_DTYPES:
        raise TypeError(f"T.cast: unknown dtype {dtype!r}; use one of {', '.join(ALL_DTYPES)}")
    if x.dtype == dtype:
        return x
    return make_elemwise(sym(0), [x], dtype, f"cast{{{dtype}}}")
