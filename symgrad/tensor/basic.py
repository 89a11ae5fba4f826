"""The functions of ``symgrad.tensor`` (Theano's ``theano.tensor``): types, math, shapes, reductions.

Each math function is a thin name over an entry of the elementwise table or a structural op; the
ops themselves live in ``symgrad/ops``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import config
from ..graph import Variable, constant, make_variable
from ..ops import reduce as _reduce
from ..ops.blas import dot, outer  # noqa: F401  (re-exported)
from ..ops.elemwise import cast, elemwise  # noqa: F401
from ..ops.shape import dimshuffle, flatten, reshape, subtensor, transpose  # noqa: F401
from ..types import TensorType


def as_tensor_variable(x: Any, name: str | None = None, ndim: int | None = None) -> Variable:
    """A symbolic variable for ``x``: variables pass through, Python/NumPy values become constants."""
    if isinstance(x, Variable):
        var = x
    elif isinstance(x, (list, tuple)) and any(isinstance(i, Variable) for i in np.ravel(np.array(x, dtype=object))):
        raise TypeError("a list mixing symbolic variables and values is not supported; use T.stack")
    else:
        try:
            var = constant(x)
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


def _constructor(dtype: str | None, default_shape: tuple[int | None, ...], kind_name: str):
    ndim = len(default_shape)

    def make(name: str | None = None, dtype: str | None = dtype, shape: Sequence[int | None] | None = None):
        shape = default_shape if shape is None else tuple(shape)
        if len(shape) != ndim:
            raise ValueError(f"a {kind_name} has {ndim} dimensions, got shape {shape}")
        return tensor(dtype or config.floatX, shape, name)

    make.__name__ = kind_name
    make.__doc__ = f"A symbolic {ndim}-d input of dtype {dtype or 'config.floatX'} and shape {default_shape}."
    return make


# Default shapes: None is a length known only at run time; 1 is a dimension that broadcasts
# (Theano's broadcastable flag), as in a row (1, n) or a column (n, 1).
_SHAPES = {
    "scalar": (),
    "vector": (None,),
    "matrix": (None, None),
    "row": (1, None),
    "col": (None, 1),
    "tensor3": (None,) * 3,
    "tensor4": (None,) * 4,
}
_PREFIXES = {"": None, "d": "float64", "f": "float32", "i": "int32", "l": "int64", "b": "int8"}
TYPE_CONSTRUCTORS = {
    prefix + kind_name: _constructor(dtype, shape, prefix + kind_name)
    for prefix, dtype in _PREFIXES.items()
    for kind_name, shape in _SHAPES.items()
}
globals().update(TYPE_CONSTRUCTORS)


def _plural(make):
    def make_many(*names_or_count: str | int, dtype: str | None = None) -> list[Variable]:
        if len(names_or_count) == 1 and isinstance(names_or_count[0], int):
            names_or_count = (None,) * names_or_count[0]
        return [make(name, dtype=dtype) if dtype else make(name) for name in names_or_count]

    plural = make.__name__.replace("matrix", "matrices") if "matrix" in make.__name__ else make.__name__ + "s"
    make_many.__name__ = plural
    make_many.__doc__ = f"Several {make.__name__} inputs: ``{plural}('a', 'b')`` or ``{plural}(2)``."
    return make_many


_PLURALS = [_plural(make) for make in TYPE_CONSTRUCTORS.values()]
TYPE_CONSTRUCTORS.update({make.__name__: make for make in _PLURALS})
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
clip = _named("clip")
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
abs_ = abs
div = true_div
true_divide = true_div
divide = true_div
power = pow


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


_IMPORTED = {"annotations", "Sequence", "Any", "np", "config", "Variable", "constant", "make_variable", "TensorType"}
__all__ = [n for n in list(globals()) if not n.startswith("_") and n not in _IMPORTED]
