"""The functions of ``symgrad.tensor`` (Theano's ``theano.tensor``): types, math, shapes, reductions.

Each math function is a thin name over an entry of the elementwise table or a structural op; the
ops themselves live in ``symgrad/ops``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import config
from ..graph import Constant, Variable, apply, make_constant, make_variable
from ..graph import constant as _graph_constant
from ..ops import reduce as _reduce
from ..ops import shape as _shape
from ..ops.alloc import ARange
from ..ops.alloc import alloc as _alloc
from ..ops.blas import dot, outer  # noqa: F401  (re-exported)
from ..ops.elemwise import cast, elemwise, make_elemwise, result_dtype, sym  # noqa: F401
from ..ops.gradient import disconnected_grad
from ..ops.indexing import getitem, inc_subtensor, set_subtensor  # noqa: F401
from ..ops.shape import dimshuffle, flatten, reshape, subtensor, transpose  # noqa: F401
from ..types import TensorType, kind


def as_tensor_variable(x: Any, name: str | None = None, ndim: int | None = None) -> Variable:
    """A symbolic variable for ``x``: variables pass through, Python/NumPy values become constants."""
    if isinstance(x, Variable):
        var = x
    elif isinstance(x, (list, tuple)) and any(isinstance(i, Variable) for i in np.ravel(np.array(x, dtype=object))):
        raise TypeError("a list mixing symbolic variables and values is not supported; use T.stack")
    else:
        try:
            var = _graph_constant(x)
        except (TypeError, ValueError) as err:
            raise TypeError(f"cannot convert {type(x).__name__} {x!r} to a symbolic tensor: {err}") from None
    if ndim is not None and var.ndim != ndim:
        raise ValueError(f"expected a {ndim}-d tensor, got {var.ndim}-d {var!r}")
    return var


# ----------------------------------------------------------------------------------------------
# Types


def tensor(dtype: str | None = None, shape: Sequence[int | None] = (), name: str | None = None) -> Variable:
    """A symbolic input of ``dtype`` (default floatX) and static ``shape`` (None = any length)."""
    if isinstance(dtype, (tuple, list)):  # T.tensor(shape) form
        dtype, shape = None, dtype
    return make_variable(TensorType(dtype or config.floatX, tuple(shape)), name=name)


def _constructor(default_shape: tuple[int | None, ...], kind_name: str):
    """Theano's ``T.vector`` and friends: a function, since its dtype is floatX unless given."""
    ndim = len(default_shape)

    def make(name: str | None = None, dtype: str | None = None, shape: Sequence[int | None] | None = None):
        shape = default_shape if shape is None else tuple(shape)
        if len(shape) != ndim:
            raise ValueError(f"a {kind_name} has {ndim} dimensions, got shape {shape}")
        return tensor(dtype or config.floatX, shape, name)

    make.__name__ = kind_name
    make.__doc__ = f"A symbolic {ndim}-d input of dtype ``dtype`` (default config.floatX) and shape {default_shape}."
    return make


# Default shapes: None is a length known only at run time; 1 is a dimension that broadcasts
# (Theano's broadcastable flag), as in a row (1, n) or a column (n, 1).
_SHAPES = {
    "scalar": (),
    "vector": (None,),
    "matrix": (None, None),
    "row": (1, None),
    "col": (None, 1),
    **{f"tensor{n}": (None,) * n for n in range(3, 8)},
}
# Theano's dtype prefixes: dscalar, fvector, imatrix, ltensor3, wrow (int16), bcol (int8).
_PREFIXES = {"d": "float64", "f": "float32", "i": "int32", "l": "int64", "w": "int16", "b": "int8"}

# ``T.dvector`` is a type, as in Theano: ``T.dvector('x')`` makes a variable, ``x.type == T.dvector``.
TYPES = {
    prefix + kind_name: TensorType(dtype, shape)
    for prefix, dtype in _PREFIXES.items()
    for kind_name, shape in _SHAPES.items()
}
TYPE_CONSTRUCTORS: dict[str, Any] = {kind_name: _constructor(shape, kind_name) for kind_name, shape in _SHAPES.items()}
TYPE_CONSTRUCTORS.update(TYPES)


def _plural(name: str, make):
    plural = name.replace("matrix", "matrices") if "matrix" in name else name + "s"

    def make_many(*names_or_count: str | int, dtype: str | None = None) -> list[Variable]:
        if len(names_or_count) == 1 and isinstance(names_or_count[0], int):
            names_or_count = (None,) * names_or_count[0]
        if dtype is not None and isinstance(make, TensorType):
            raise TypeError(f"{plural} makes {make.dtype} inputs; use {plural[1:]}(..., dtype=...) for another dtype")
        return [make(name, dtype=dtype) if dtype else make(name) for name in names_or_count]

    make_many.__name__ = plural
    make_many.__doc__ = f"Several {name} inputs: ``{plural}('a', 'b')`` or ``{plural}(2)``."
    return make_many


TYPE_CONSTRUCTORS.update({(p := _plural(name, make)).__name__: p for name, make in list(TYPE_CONSTRUCTORS.items())})
globals().update(TYPE_CONSTRUCTORS)


# ----------------------------------------------------------------------------------------------
# Elementwise functions: every entry of the scalar table under its NumPy/Theano name.


def _named(name: str):
    def fn(*args):
        return elemwise(name, *args)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise {name} (see symgrad.ops.elemwise.SCALAR_OPS)."
    return fn


add = _named("add")
sub = _named("sub")
mul = _named("mul")
true_div = _named("true_div")
floor_div = _named("floor_div")
mod = _named("mod")
pow = _named("pow")
neg = _named("neg")
abs = _named("abs")
sign = _named("sign")
sqr = _named("sqr")
lt = _named("lt")
le = _named("le")
gt = _named("gt")
ge = _named("ge")
eq = _named("eq")
neq = _named("neq")
switch = _named("switch")
where = switch
maximum = _named("maximum")
minimum = _named("minimum")
floor = _named("floor")
ceil = _named("ceil")
exp = _named("exp")
log = _named("log")
log1p = _named("log1p")
expm1 = _named("expm1")
exp2 = _named("exp2")
log2 = _named("log2")
log10 = _named("log10")
sqrt = _named("sqrt")
sin = _named("sin")
cos = _named("cos")
tan = _named("tan")
arcsin = _named("arcsin")
arccos = _named("arccos")
arctan = _named("arctan")
arctan2 = _named("arctan2")
sinh = _named("sinh")
cosh = _named("cosh")
tanh = _named("tanh")
arcsinh = _named("arcsinh")
arccosh = _named("arccosh")
arctanh = _named("arctanh")
erf = _named("erf")
erfc = _named("erfc")
gammaln = _named("gammaln")
psi = _named("psi")
isnan = _named("isnan")
isinf = _named("isinf")
isfinite = _named("isfinite")
logaddexp = _named("logaddexp")
logaddexp2 = _named("logaddexp2")
hypot = _named("hypot")
xlogy = _named("xlogy")
sinc = _named("sinc")
deg2rad = _named("deg2rad")
rad2deg = _named("rad2deg")
gamma = _named("gamma")
erfinv = _named("erfinv")
erfcinv = _named("erfcinv")
beta = _named("beta")
betaln = _named("betaln")
fmax = _named("fmax")
fmin = _named("fmin")
reciprocal = _named("reciprocal")
abs_ = abs
absolute = abs
fabs = abs
degrees = rad2deg
radians = deg2rad
remainder = mod
square = sqr
negative = neg
multiply = mul
div = true_div
true_divide = true_div
divide = true_div
power = pow


def round(x, mode: str = "half_to_even") -> Variable:
    """NumPy's ``round`` (``rint``): the nearest integer, ties to even (Theano's ``mode``
    ``'half_to_even'``); integers stay as they are. Its gradient is zero."""
    if mode != "half_to_even":
        raise ValueError(f"T.round: mode {mode!r} is not supported; symgrad rounds half to even, as NumPy")
    x = as_tensor_variable(x)
    return x if kind(x.dtype) != "f" else elemwise("round", x)


rint = round


def _bitwise(name: str, logical):
    """A bitwise function of integers, which on booleans is the logical one (as in NumPy, where
    ``invert(True)`` is False, not -2)."""

    def fn(*args) -> Variable:
        args = [as_tensor_variable(a) for a in args]
        if any(kind(a.dtype) == "f" for a in args):
            raise TypeError(f"T.{name} takes integers or booleans, got {', '.join(a.dtype for a in args)}")
        if all(a.dtype == "bool" for a in args):
            return logical(*args)
        return elemwise(name, *args)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise bitwise {name} of integers; logical on booleans."
    return fn


and_ = _bitwise("and_", lambda a, b: neq(a * b, 0))
or_ = _bitwise("or_", lambda a, b: neq(maximum(a, b), 0))
xor = _bitwise("xor", lambda a, b: neq(a, b))
invert = _bitwise("invert", lambda a: eq(a, 0))
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert


def clip(x, a_min=None, a_max=None) -> Variable:
    """``x`` limited to ``[a_min, a_max]`` (NumPy's names; either bound may be None). The gradient
    passes where ``x`` is inside the bounds."""
    if a_min is None and a_max is None:
        raise ValueError("T.clip needs a_min or a_max")
    if a_min is None:
        return minimum(x, a_max)
    if a_max is None:
        return maximum(x, a_min)
    return elemwise("clip", x, a_min, a_max)


# ----------------------------------------------------------------------------------------------
# Reductions


def sum(x, axis=None, keepdims: bool = False, dtype: str | None = None) -> Variable:
    return _reduce.reduce("sum", x, axis, keepdims, dtype)


def prod(x, axis=None, keepdims: bool = False, dtype: str | None = None) -> Variable:
    return _reduce.reduce("prod", x, axis, keepdims, dtype)


def max(x, axis=None, keepdims: bool = False) -> Variable:
    return _reduce.reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims: bool = False) -> Variable:
    return _reduce.reduce("min", x, axis, keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Variable:
    return _reduce.mean(x, axis, keepdims)


def argmax(x, axis=None, keepdims: bool = False) -> Variable:
    """Indices (int64) of the largest entries over ``axis`` (one axis, or None for the flattened
    tensor). Not differentiable: ``T.grad`` sends no gradient through it."""
    return _reduce.argmax("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims: bool = False) -> Variable:
    """Indices (int64) of the smallest entries over ``axis``; see ``argmax``."""
    return _reduce.argmax("argmin", x, axis, keepdims)


def var(x, axis=None, ddof: int = 0, keepdims: bool = False) -> Variable:
    """The variance over ``axis``: the mean squared deviation, divided by ``n - ddof`` instead of
    ``n`` when ``ddof`` is given (NumPy's meaning)."""
    x = as_tensor_variable(x)
    axes = _reduce.normalize_axes(axis, x.ndim)
    deviation = x - mean(x, axes, keepdims=True)
    if ddof == 0:
        return mean(sqr(deviation), axes, keepdims)
    total = sum(sqr(deviation), axes, keepdims)
    # As NumPy: no degrees of freedom left (n <= ddof) gives nan or inf, never a negative variance.
    count = maximum(_shape.size(x, axes) - ddof, 0)
    return make_elemwise(sym(0) / sym(1), [total, count], total.dtype, "var")  # the count does not widen


def std(x, axis=None, ddof: int = 0, keepdims: bool = False) -> Variable:
    """The standard deviation over ``axis``: ``sqrt(var(x, axis, ddof, keepdims))``."""
    return sqrt(var(x, axis, ddof, keepdims))


def logsumexp(x, axis=None, keepdims: bool = False) -> Variable:
    """``log(sum(exp(x), axis))``, computed as ``m + log(sum(exp(x - m)))`` with ``m`` the max, so that
    it neither overflows nor underflows. ``m`` does not change the value, so ``T.grad`` treats it as
    a constant: the gradient is exactly the softmax."""
    x = as_tensor_variable(x)
    axes = _reduce.normalize_axes(axis, x.ndim)
    shift = disconnected_grad(max(x, axes))
    out = log(sum(exp(x - _reduce.expand(shift, x.ndim, axes)), axes)) + shift
    return _reduce.expand(out, x.ndim, axes) if keepdims else out


# ----------------------------------------------------------------------------------------------
# Shapes, joins and new tensors


def shape(x) -> Variable:
    """The shape of ``x`` as an int64 vector; ``shape(x)[k]`` is an int64 scalar usable as a length."""
    return _shape.shape(as_tensor_variable(x))


def size(x) -> Variable:
    """The number of elements of ``x`` (an int64 scalar)."""
    x = as_tensor_variable(x)
    return _shape.size(x, range(x.ndim))


def specify_shape(x, shape) -> Variable:
    """``x``, with its shape checked when the function runs: ints, None (any length) or integer
    scalars. The given lengths become static, so later ops can rely on them."""
    return _shape.specify_shape(as_tensor_variable(x), shape)


def shape_padleft(x, n_ones: int = 1) -> Variable:
    """``x`` with ``n_ones`` broadcastable dimensions added in front."""
    x = as_tensor_variable(x)
    return dimshuffle(x, ["x"] * n_ones + list(range(x.ndim)))


def shape_padright(x, n_ones: int = 1) -> Variable:
    """``x`` with ``n_ones`` broadcastable dimensions added at the end."""
    x = as_tensor_variable(x)
    return dimshuffle(x, list(range(x.ndim)) + ["x"] * n_ones)


def join(axis: int, *tensors) -> Variable:
    """Theano's ``T.join(axis, a, b, ...)``: the tensors concatenated along ``axis``. Lengths along
    the other axes must agree (a ValueError naming the shapes, at build or call time)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise ValueError("join needs at least one tensor")
    tensors = tuple(as_tensor_variable(t) for t in tensors)
    if len({t.ndim for t in tensors}) > 1 or tensors[0].ndim == 0:
        shapes = ", ".join(f"{t!r} {t.type}" for t in tensors)
        raise ValueError(f"join needs tensors of one rank, at least 1 (use T.stack for scalars); got {shapes}")
    ndim = tensors[0].ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"join: axis {axis} is out of range for {ndim}-d tensors")
    if len(tensors) == 1:
        return tensors[0]
    dtype = result_dtype("promote", tensors)
    return apply(_shape.Join(axis % ndim), *(cast(t, dtype) for t in tensors))


def concatenate(tensor_list: Sequence, axis: int = 0) -> Variable:
    """NumPy's ``concatenate``: ``join(axis, *tensor_list)``."""
    if not isinstance(tensor_list, (list, tuple)):
        raise TypeError(f"concatenate takes a list or tuple of tensors, got {type(tensor_list).__name__}")
    return join(axis, *tensor_list)


def stack(tensors: Sequence, axis: int = 0) -> Variable:
    """The tensors (of one shape) stacked along a new dimension ``axis``."""
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise TypeError(f"stack takes a non-empty list or tuple of tensors, got {tensors!r}")
    tensors = [as_tensor_variable(t) for t in tensors]
    dtype = result_dtype("promote", tensors)  # before padding, while Python numbers still count as weak
    tensors = [cast(t, dtype) for t in tensors]
    ndim = tensors[0].ndim
    if not -ndim - 1 <= axis <= ndim:
        raise ValueError(f"stack: axis {axis} is out of range for {ndim}-d tensors")
    axis %= ndim + 1
    return join(axis, *(dimshuffle(t, [*range(axis), "x", *range(axis, t.ndim)]) for t in tensors))


def arange(start, stop=None, step=1, dtype: str | None = None) -> Variable:
    """NumPy's ``arange`` with constant or symbolic scalar bounds (``T.arange(x.shape[0])``). The
    dtype is int64 for integer bounds, as in NumPy, else the bounds' float type."""
    if stop is None:
        start, stop = 0, start
    bounds = [as_tensor_variable(v) for v in (start, stop, step)]
    for name, v in zip(("start", "stop", "step"), bounds):
        if v.ndim != 0:
            raise TypeError(f"arange: {name} must be a scalar, got {v!r} ({v.type})")
    if isinstance(bounds[2], Constant) and bounds[2].data == 0:
        raise ValueError("arange: step must not be zero")
    if dtype is None:
        dtype = result_dtype("promote", bounds)
        dtype = "int64" if kind(dtype) != "f" else dtype
    return apply(ARange(dtype), *bounds)


def alloc(value, *shape) -> Variable:
    """Theano's ``T.alloc(value, *shape)``: ``value`` broadcast to ``shape`` (ints or integer scalars)."""
    return _alloc(value, *shape)


def zeros(shape, dtype: str | None = None) -> Variable:
    """A tensor of zeros of ``shape`` (ints or integer scalars) and ``dtype`` (floatX by default)."""
    return _alloc(_graph_constant(0, dtype=dtype or config.floatX, weak=False), shape)


def ones(shape, dtype: str | None = None) -> Variable:
    """A tensor of ones of ``shape`` (ints or integer scalars) and ``dtype`` (floatX by default)."""
    return _alloc(_graph_constant(1, dtype=dtype or config.floatX, weak=False), shape)


def fill(model, value) -> Variable:
    """Theano's ``T.fill(model, value)``: ``value`` broadcast to the shape of ``model``. A Python
    number takes the dtype it would have in arithmetic with ``model``."""
    model, value = as_tensor_variable(model), as_tensor_variable(value)
    dtype = result_dtype("promote", [model, value]) if isinstance(value, Constant) and value.weak else value.dtype
    return make_elemwise(sym(1), [model, value], dtype, "fill")


def zeros_like(x, dtype: str | None = None) -> Variable:
    """Zeros of the shape and (unless given) the dtype of ``x``."""
    x = as_tensor_variable(x)
    return make_elemwise(sym(0) * 0, [x], dtype or x.dtype)


def ones_like(x, dtype: str | None = None) -> Variable:
    """Ones of the shape and (unless given) the dtype of ``x``."""
    x = as_tensor_variable(x)
    return make_elemwise(sym(0) * 0 + 1, [x], dtype or x.dtype)


def constant(x: Any, name: str | None = None, ndim: int | None = None, dtype: str | None = None) -> Constant:
    """Theano's ``T.constant``: ``x`` as a constant of ``dtype`` (NumPy's choice when ``None``), with
    leading length-1 dims added up to ``ndim``. Named, it is a node of its own carrying the name
    (``c.name``); unnamed, it is the one constant of that value, as every other."""
    data = np.asarray(x, dtype=dtype)
    if ndim is not None:
        if data.ndim > ndim:
            raise ValueError(f"T.constant: {x!r} has {data.ndim} dims, more than ndim={ndim}")
        data = data.reshape((1,) * (ndim - data.ndim) + data.shape)
    if name is None:
        return _graph_constant(data, weak=False)
    named = make_constant(TensorType(data.dtype.name, data.shape), np.array(data, order="C"), weak=False)
    named.name = name
    return named


_IMPORTED = {
    "annotations", "Sequence", "Any", "np", "config", "Constant", "Variable", "apply", "make_constant", "make_variable",
    "ARange", "TensorType", "kind", "make_elemwise", "result_dtype", "sym", "getitem",
}  # fmt: skip
__all__ = [n for n in list(globals()) if not n.startswith("_") and n not in _IMPORTED]
