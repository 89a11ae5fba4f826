"""``theano.printing.Print``: an identity that prints its value each time the function computes it.

It is a debugging aid, so it runs as a Python step between the compiled parts of the program
(``compiled=False`` in ``codegen/cpu_rules.py``), where it prints as NumPy prints; the rest of the
function stays compiled. Its gradient is the incoming gradient, unprinted.
"""

from __future__ import annotations

import numpy as np

from ..graph import Op, Variable, apply
from ..types import TensorType


class Print(Op):
    """``Print(message, attrs=('__str__',))(x)``: ``x``, printing ``message attr = value`` for each
    attribute named in ``attrs`` (``'__str__'`` is the value itself, ``'shape'`` its shape, ...)."""

    props = ("message", "attrs")

    def __init__(self, message: str = "", attrs: tuple[str, ...] = ("__str__",)) -> None:
        self.message = str(message)
        self.attrs = tuple(attrs)
        for attr in self.attrs:
            if not (attr == "__str__" or attr.isidentifier() and hasattr(np.empty(0), attr)):
                raise ValueError(
                    f"Print: attrs must name attributes of an array ('__str__', 'shape', ...), got {attr!r}"
                )

    def __call__(self, x) -> Variable:
        from ..tensor.basic import as_tensor_variable

        return apply(self, as_tensor_variable(x))

    def make_type(self, x: Variable) -> TensorType:
        return x.type

    def perform(self, x: np.ndarray) -> np.ndarray:
        print_values(self.message, self.attrs, x)
        return x

    def vjp(self, inputs, output, g):
        return [g]


def printed_attribute(name: str, attr: str) -> str:
    """The expression a ``Print`` step prints for ``attr`` of the array named ``name``: the array
    itself for ``'__str__'``, else the attribute, called if it is a method (``'sum'``, ``'max'``)."""
    if attr == "__str__":
        return name
    return f"{name}.{attr}()" if callable(getattr(np.empty(0), attr, None)) else f"{name}.{attr}"


def print_values(message: str, attrs: tuple[str, ...], x: np.ndarray) -> None:
    """What a ``Print`` step prints, as Theano prints it: one line per attribute."""
    for attr in attrs:
        value = x if attr == "__str__" else getattr(x, attr)
        print(message, attr, "=", value() if callable(value) else value)
