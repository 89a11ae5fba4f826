"""Shared variables: symbolic variables that own a value, kept between calls (``theano.shared``).

A shared variable is an implicit input of every function that uses it: the function reads its
current value at each call, and ``updates=`` write new values back. The value lives in a one-slot
list, the *storage cell*, which compiled functions hold on to, so ``set_value`` is seen by every
function at its next call.

Threads: each shared variable has a lock. A call of a compiled function that updates it holds
the lock (see ``codegen/function.py``), and so do ``get_value`` and ``set_value``, so updates from
several threads are never lost or torn and a copy is never taken half-way through one.

Aliasing follows Theano's "Understanding Memory Aliasing": ``shared(v)`` and ``set_value(v)`` copy
``v`` unless ``borrow=True``; ``get_value()`` returns a copy unless ``borrow=True``. With
``borrow=True`` the array may be the one a compiled function updates in place, so later calls can
change it under you, exactly as in Theano.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .tensor.variable import TensorVariable
from .types import ALL_DTYPES, TensorType
from .values import coerce


class SharedVariable(TensorVariable):
    """A variable with a value of its own; use it anywhere a symbolic variable is expected."""

    __slots__ = ("storage", "lock")

    def __init__(self, type: TensorType, value: np.ndarray, name: str | None) -> None:
        super().__init__(type, None, name)
        self.storage: list[np.ndarray] = [value]
        self.lock = threading.Lock()

    def _label(self) -> str:
        return f"shared variable {self.name!r}" if self.name else "the shared variable"

    def get_value(self, borrow: bool = False) -> np.ndarray:
        """The current value; a copy unless ``borrow=True``."""
        if borrow:
            return self.storage[0]
        with self.lock:  # not half-way through an update written in place
            return self.storage[0].copy()

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Replace the value. It must keep the variable's dtype (or cast to it without loss) and ndim."""
        array = np.asarray(coerce(value, self.type, self._label()))
        if array is value and not borrow:
            array = array.copy()
        with self.lock:  # not between an updating call's reads and its writes, which would undo this
            self.storage[0] = array

    def __repr__(self) -> str:
        return self.name or f"<shared {self.type}>"


def shared(
    value: Any,
    name: str | None = None,
    borrow: bool = False,
    *,
    broadcastable: Sequence[bool] | None = None,
    shape: Sequence[int | None] | None = None,
) -> SharedVariable:
    """A shared variable holding ``value`` (copied unless ``borrow=True``).

    Its type takes the value's dtype and ndim; every dimension has an unknown length (so the value
    may change shape through ``set_value`` or updates), except dimensions marked ``True`` in
    ``broadcastable`` or given a length in ``shape``, which are fixed and, when 1, broadcast.
    """
    array = np.asarray(value)
    if array.dtype.name not in ALL_DTYPES:
        raise TypeError(f"theano.shared: cannot hold a value of dtype {array.dtype} ({type(value).__name__})")
    if broadcastable is not None and shape is not None:
        raise TypeError("theano.shared: pass broadcastable= or shape=, not both")
    if broadcastable is not None:
        shape = [1 if b else None for b in broadcastable]
    if shape is None:
        shape = [None] * array.ndim
    if len(shape) != array.ndim:
        raise ValueError(f"theano.shared: the value has {array.ndim} dimensions, but {len(shape)} were described")
    var_type = TensorType(array.dtype.name, tuple(shape))
    label = f"theano.shared {name!r}" if name else "theano.shared"
    stored = np.asarray(coerce(array, var_type, label))
    if stored is value and not borrow:
        stored = stored.copy()
    return SharedVariable(var_type, stored, name)
