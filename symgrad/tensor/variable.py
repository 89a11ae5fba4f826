"""Python operators and NumPy-style methods on symbolic tensors.

``x + y``, ``x @ w``, ``x[1:, ::2]``, ``x.T``, ``x.sum(axis=0)`` and friends all build graph
nodes through the functions of ``symgrad.tensor.basic``. ``==`` keeps Python's identity meaning
(as in Theano), so variables can be dict keys; use ``T.eq`` for elementwise equality.
"""

from __future__ import annotations

import weakref

from ..graph import Constant, Variable

# Functions compiled by Variable.eval, per variable (dropped with it) and per tuple of inputs;
# each entry keeps its inputs alive so their ids stay valid.
_eval_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _basic():
    from . import basic

    return basic


def _no_out(out, method: str) -> None:
    """NumPy's ``out=`` names an array to write into; a symbolic result has none."""
    if out is not None:
        raise TypeError(f"{method}(out=...): symbolic results are new variables; leave out as None")


def _extra():
    from . import extra_ops

    return extra_ops


class TensorVariable(Variable):
    """A symbolic tensor with operators."""

    __slots__ = ()
    # NumPy arrays defer to us: ``array * x`` calls ``x.__rmul__`` instead of building an object array.
    __array_ufunc__ = None

    # arithmetic
    def __add__(self, other):
        return _basic().add(self, other)

    def __radd__(self, other):
        return _basic().add(other, self)

    def __sub__(self, other):
        return _basic().sub(self, other)

    def __rsub__(self, other):
        return _basic().sub(other, self)

    def __mul__(self, other):
        return _basic().mul(self, other)

    def __rmul__(self, other):
        return _basic().mul(other, self)

    def __truediv__(self, other):
        return _basic().true_div(self, other)

    def __rtruediv__(self, other):
        return _basic().true_div(other, self)

    def __floordiv__(self, other):
        return _basic().floor_div(self, other)

    def __rfloordiv__(self, other):
        return _basic().floor_div(other, self)

    def __mod__(self, other):
        return _basic().mod(self, other)

    def __rmod__(self, other):
        return _basic().mod(other, self)

    def __pow__(self, other):
        return _basic().pow(self, other)

    def __rpow__(self, other):
        return _basic().pow(other, self)

    def __neg__(self):
        return _basic().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _basic().abs(self)

    # comparisons (== and != stay identity, as in Theano)
    def __lt__(self, other):
        return _basic().lt(self, other)

    def __le__(self, other):
        return _basic().le(self, other)

    def __gt__(self, other):
        return _basic().gt(self, other)

    def __ge__(self, other):
        return _basic().ge(self, other)

    __eq__ = Variable.__eq__
    __hash__ = Variable.__hash__

    # matrix products and shapes
    def __matmul__(self, other):
        return _extra().matmul(self, other)

    def __rmatmul__(self, other):
        return _extra().matmul(other, self)

    def __getitem__(self, index):
        return _basic().getitem(self, index)

    def __iter__(self):
        # A vector of known length (such as x.shape) unpacks: n, m = x.shape. Others stay an error.
        if self.ndim == 1 and self.type.shape[0] is not None:
            return (self[i] for i in range(self.type.shape[0]))
        return super().__iter__()

    @property
    def shape(self):
        return _basic().shape(self)

    @property
    def size(self):
        return _basic().size(self)

    @property
    def rng(self):
        """The state (a shared variable) of a random streams' draw, as Theano's ``rv.rng``."""
        state = getattr(self._tag, "rng", None)
        if state is None:
            raise AttributeError(f"{self!r} was not drawn by random streams, so it has no rng")
        return state

    @property
    def update(self):
        """``(rng, its new value)``: the update a function using this draw applies (Theano's ``rv.update``)."""
        return self.rng, self.rng.default_update

    @property
    def T(self):
        return _basic().transpose(self)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return _basic().transpose(self, axes or None)

    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (tuple, list)):
            pattern = pattern[0]
        return _basic().dimshuffle(self, pattern)

    def reshape(self, shape, ndim=None):
        return _basic().reshape(self, shape, ndim)

    def ravel(self):
        return _basic().flatten(self)

    def squeeze(self, axis=None):
        return _extra().squeeze(self, axis)

    def swapaxes(self, axis1, axis2):
        return _extra().swapaxes(self, axis1, axis2)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _extra().diagonal(self, offset, axis1, axis2)

    def cumsum(self, axis=None):
        return _extra().cumsum(self, axis)

    def cumprod(self, axis=None):
        return _extra().cumprod(self, axis)

    def repeat(self, repeats, axis=None):
        return _extra().repeat(self, repeats, axis)

    def round(self, mode="half_to_even"):
        return _basic().round(self, mode)

    def clip(self, a_min=None, a_max=None):
        return _basic().clip(self, a_min, a_max)

    def any(self, axis=None, keepdims=False, *, out=None):
        _no_out(out, "any")
        return _extra().any(self, axis, keepdims)

    def all(self, axis=None, keepdims=False, *, out=None):
        _no_out(out, "all")
        return _extra().all(self, axis, keepdims)

    def flatten(self, ndim=1):
        return _basic().flatten(self, ndim)

    # reductions (NumPy's ``out=None`` accepted by keyword: symgrad's results are new variables)
    def sum(self, axis=None, keepdims=False, dtype=None, *, out=None):
        _no_out(out, "sum")
        return _basic().sum(self, axis, keepdims=keepdims, dtype=dtype)

    def prod(self, axis=None, keepdims=False, dtype=None, *, out=None):
        _no_out(out, "prod")
        return _basic().prod(self, axis, keepdims=keepdims, dtype=dtype)

    def max(self, axis=None, keepdims=False, *, out=None):
        _no_out(out, "max")
        return _basic().max(self, axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False, *, out=None):
        _no_out(out, "min")
        return _basic().min(self, axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False, *, out=None):
        _no_out(out, "mean")
        return _basic().mean(self, axis, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False, *, out=None):
        _no_out(out, "var")
        return _basic().var(self, axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False, *, out=None):
        _no_out(out, "std")
        return _basic().std(self, axis, ddof=ddof, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return _basic().argmax(self, axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return _basic().argmin(self, axis, keepdims=keepdims)

    def astype(self, dtype):
        return _basic().cast(self, dtype)

    def dot(self, other):
        return _basic().dot(self, other)

    def eval(self, inputs_to_values: dict | None = None):
        """The value of this variable, given values for the inputs it depends on (as in Theano).

        The compiled function is kept (per set of inputs), so evaluating again is cheap.
        """
        from ..function import function
        from ..graph import graph_inputs
        from ..shared import SharedVariable

        inputs_to_values = dict(inputs_to_values or {})
        inputs = list(inputs_to_values)
        given = {id(v) for v in inputs}
        missing = [v for v in graph_inputs([self]) if id(v) not in given and not isinstance(v, SharedVariable)]
        if missing:
            names = ", ".join(map(repr, missing))
            example = ", ".join(f"{v!r}: value" for v in missing)
            subject = repr(self) if repr(self).isidentifier() else f"({self!r})"
            raise ValueError(f"{subject}.eval() needs a value for each input it depends on, and got none for "
                             f"{names}: pass them as a dict, as in .eval({{{example}}})")  # fmt: skip
        key = tuple(id(v) for v in inputs)
        compiled = _eval_cache.setdefault(self, {})
        if key not in compiled:
            compiled[key] = (inputs, function(inputs, self, on_unused_input="ignore"))
        return compiled[key][1](*inputs_to_values.values())

    # Jupyter shows a variable as math (and its graph, where Graphviz is installed).
    def _repr_latex_(self) -> str:
        from ..printing import latex

        return f"${latex(self)}$"

    def _repr_svg_(self) -> str | None:
        from ..printing import GraphvizNotFoundError, svg

        try:
            return svg(self)
        except GraphvizNotFoundError:
            return None  # Jupyter then shows the other representations


class TensorConstant(Constant, TensorVariable):
    """A constant tensor with operators."""

    __slots__ = ()
