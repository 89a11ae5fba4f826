"""Elementwise ops as data: a SymPy expression in positional scalar symbols ``a0, a1, ...``.

One op class, :class:`Elemwise`, covers every elementwise function. What distinguishes ``exp``
from ``x * y + 1`` is only the expression, so the same machinery serves the ops users call, the
gradient expressions ``T.grad`` builds, and the fused expressions the back end makes by
substitution. Derivatives come from ``sympy.diff`` (cached per expression and symbol).

``SCALAR_OPS`` (in ``scalar.py``) is the table of named elementwise functions: one entry per
function, holding its arity, its SymPy definition and its dtype rule. Adding a function means adding
one entry (and, if SymPy has no printable form for it, a printer rule in ``codegen/scalar_printer.py``).

SymPy takes about a third of a second to import, so this module does not import it at its top: the
functions that need it import it when called (the first expression built loads it), and
``SCALAR_OPS`` and the SymPy functions of ``scalar.py`` (``sigmoid``, ``maximum``, ...) are found
there on first use, as attributes of this module too.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..config import config
from ..graph import Constant, Op, Variable, apply, constant, operand_text
from ..types import ALL_DTYPES, TensorType, broadcast_static, float_of, kind, promote

if TYPE_CHECKING:
    import sympy

# Names defined in scalar.py (which imports SymPy), found there when first asked for.
_SCALAR_NAMES = frozenset(
    ["SCALAR_OPS", "ScalarOp", "as_condition", "indicator", "ceil", "floor", "floor_div", "maximum", "minimum",
     "mod", "sigmoid", "sign", "softplus"]
)  # fmt: skip


def __getattr__(name: str):
    if name not in _SCALAR_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import scalar

    value = getattr(scalar, name)
    globals()[name] = value  # found directly from now on
    return value


@functools.cache
def sym(i: int) -> sympy.Symbol:
    """The scalar symbol standing for input ``i`` of an elementwise expression."""
    import sympy

    return sympy.Symbol(f"a{i}", real=True)


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
    if rule == "integer" and kind(dtype) == "f":  # NumPy's bitwise functions refuse floats too
        floating = next(v for v in inputs if kind(v.dtype) == "f")
        raise TypeError(f"a bitwise operation takes booleans or integers, but {floating!r} is {floating.dtype}")
    return dtype


# ---------------------------------------------------------------------------------------------
# Derivatives


@functools.lru_cache(maxsize=4096)
def partial(expr: sympy.Expr, wrt: sympy.Symbol) -> sympy.Expr:
    """d expr / d wrt, with the derivative of piecewise-constant parts taken as zero."""
    import sympy

    from .scalar import pow_log_at_zero, sign
    from .substitution import real_valued

    d = sympy.diff(expr, wrt)
    # Abs differentiates to SymPy's sign, whose derivative is a DiracDelta: zero almost everywhere,
    # and zero at the kink too, as Theano and PyTorch define it.
    d = d.replace(sympy.DiracDelta, lambda *args: sympy.Integer(0))
    d = d.replace(sympy.sign, sign)
    d = real_valued(d)  # d/dx (-2.5)**x = (-2.5)**x*log(-2.5)
    d = pow_log_at_zero(d)
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

    def describe(self, operands: Sequence[Variable], depth: int) -> str:
        """The expression itself, constants and all (``2*tanh(x)``), with the unnamed elementwise
        operands written out in it (``depth`` levels), so that SymPy's printer places the parentheses."""
        return str(self._expression_on(operands, depth))

    def _expression_on(self, operands: Sequence[Variable], depth: int) -> sympy.Expr:
        import sympy

        from .scalar import Elided

        values = {}
        for i, operand in enumerate(operands):
            owner = operand.owner
            if operand.name is None and owner is not None and isinstance(owner.op, Elemwise) and depth > 0:
                values[sym(i)] = owner.op._expression_on(owner.inputs, depth - 1)
            else:  # each elided operand is a symbol of its own: … + …, not 2*…
                text = operand_text(operand, depth)
                values[sym(i)] = Elided() if text == "…" else sympy.Symbol(text)
        return self.expr.xreplace(values)

    def signature(self) -> str:
        import sympy

        return f"Elemwise({sympy.srepr(self.expr)}, {self.dtype})"

    def make_type(self, *inputs: Variable) -> TensorType:
        return TensorType(self.dtype, broadcast_static([v.type.shape for v in inputs], str(self)))

    def _numpy_fn(self, nin: int) -> Callable:
        # One cache entry per live op: a cache of fixed size shared by all ops, as lru_cache on a
        # method is, made each node of a graph with more elementwise ops than that lambdify again
        # at every evaluation ('py' linker, DebugMode: milliseconds per node). Not in the op's
        # __dict__: ops pickle with it, and lambdified functions do not pickle.
        functions = _NUMPY_FUNCTIONS.setdefault(self, {})
        if nin not in functions:
            functions[nin] = numpy_function([sym(i) for i in range(nin)], self.expr)
        return functions[nin]

    def perform(self, *values: np.ndarray) -> np.ndarray:
        shape = np.broadcast_shapes(*(np.shape(v) for v in values))
        with np.errstate(all="ignore"):
            result = self._numpy_fn(len(values))(*values)
        return np.broadcast_to(np.asarray(result), shape).astype(self.dtype, order="C")

    def vjp(self, inputs: Sequence[Variable], output: Variable, g: Variable) -> list[Variable | None]:
        import sympy

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


#: Each elementwise op's NumPy functions, by number of operands (see ``Elemwise._numpy_fn``).
_NUMPY_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Folded:
    """``np.logical_and``/``np.logical_or`` as lambdify prints them, ``logical_and.reduce((a, b))``,
    but folding the operands pairwise, so that they broadcast (``ufunc.reduce`` stacks them into one
    array first, which fails for a condition on a row and one on a matrix: the gradient of
    ``x**y`` where y broadcasts)."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self.ufunc = ufunc

    def reduce(self, operands: Sequence) -> np.ndarray:
        return functools.reduce(self.ufunc, operands)

    def __call__(self, *operands: np.ndarray) -> np.ndarray:
        return self.ufunc(*operands)


def numpy_function(symbols: Sequence[sympy.Symbol], expr: sympy.Expr) -> Callable:
    """``expr`` as a NumPy function of ``symbols`` (the reference implementation of an op)."""
    import sympy

    from .scalar import sigmoid

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
            "isnan": np.isnan,
            "isinf": np.isinf,
            "isfinite": np.isfinite,
            "rint": np.rint,
            "bitwise_and": np.bitwise_and,
            "bitwise_or": np.bitwise_or,
            "bitwise_xor": np.bitwise_xor,
            "bitwise_not": np.invert,
            "logaddexp": np.logaddexp,
            "hypot": np.hypot,
            "logical_and": _Folded(np.logical_and),
            "logical_or": _Folded(np.logical_or),
        },
        "numpy",
    ]
    special = (
        sympy.erf,
        sympy.erfc,
        sympy.erfinv,
        sympy.erfcinv,
        sympy.loggamma,
        sympy.polygamma,
        sympy.gamma,
        sympy.beta,
    )
    if expr.has(sigmoid, *special):
        import scipy.special  # slow to import: only when the expression needs it

        modules[0]["sigmoid"] = scipy.special.expit
        modules.insert(1, "scipy")
    return sympy.lambdify(list(symbols), expr, modules=modules)


# ---------------------------------------------------------------------------------------------
# Construction


def sympy_number(value: np.ndarray) -> sympy.Expr:
    """The SymPy number for a NumPy scalar: an Integer where the value is integral, else a Float."""
    import sympy

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
    from .substitution import substitute

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
    if not final_inputs and expr.is_number and (expr.is_Integer or expr.is_Float or expr.is_Rational):
        value = np.asarray(int(expr) if expr.is_Integer else float(expr), dtype=dtype)  # no NumPy needed
        return constant(np.broadcast_to(value, [1 if n is None else n for n in out_shape]), dtype=dtype, weak=False)
    if all(isinstance(v, Constant) for v in final_inputs):  # constant folding, NumPy's value (mod(5, 3))
        value = Elemwise(expr, dtype, name).perform(*(v.data for v in final_inputs))
        return constant(np.broadcast_to(value, [1 if n is None else n for n in out_shape]), dtype=dtype, weak=False)
    return apply(Elemwise(expr, dtype, name), *final_inputs)


def elemwise(name: str, *args: object) -> Variable:
    """Apply the named function of ``SCALAR_OPS`` to tensors or Python/NumPy values."""
    from ..tensor.basic import as_tensor_variable
    from .scalar import SCALAR_OPS

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
