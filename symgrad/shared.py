"""Shared variables: symbolic variables that own a value, kept between calls (``theano.shared``).

A shared variable is an implicit input of every function that uses it: the function reads its
current value at each call, and ``updates=`` write new values back. The value lives in a one-slot
list, the *storage cell* (:class:`Storage`), which compiled functions hold on to, so ``set_value`` is
seen by every function at its next call. Functions compiled with ``device='cuda'`` keep a copy of
the value on the GPU in the same cell and update it there; the host value is brought up to date
only when something on the host asks for it.

Threads: each shared variable has a lock. A call of a compiled function that updates it holds
the lock (see ``codegen/function.py``), and so do ``get_value`` and ``set_value``, so updates from
several threads are never lost or torn and a copy is never taken half-way through one.

Pickling a shared variable keeps its type, name, current host value and default update, never a
lock or a device copy; shared variables pickled together with the functions that use them (one ``pickle.dumps`` of a
list, say) stay shared between those functions after loading, since pickle keeps one copy of each
object it meets twice.

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


class Storage(list):
    """A shared variable's value: ``storage[0]`` on the host, and a device copy for CUDA functions.

    CPU functions read and write ``storage[0]`` (a NumPy array, or a NumPy scalar for 0-d). CUDA
    functions use :meth:`on_device` and :meth:`set_device`, so a training loop on the GPU moves no
    data to the host. At most one side is newer than the other, and reading the older side copies
    the newer one over first. Host code may write the array it reads in place (a CPU function's
    in-place update, ``get_value(borrow=True)``), so reading ``storage[0]`` drops the device copy;
    :meth:`host_value` reads without dropping it.
    """

    __slots__ = ("device", "device_is_newer")

    def __init__(self, value: Any) -> None:
        super().__init__([value])
        self.device: Any = None
        self.device_is_newer = False

    def host_value(self) -> Any:
        """The host value, brought up to date from the device if needed; the device copy stays valid."""
        if self.device_is_newer:
            from codegen.cuda_runtime import to_host

            value = to_host(self.device)
            list.__setitem__(self, 0, value[()] if value.ndim == 0 else value)
            self.device_is_newer = False
        return list.__getitem__(self, 0)

    def __getitem__(self, index: Any) -> Any:
        value = self.host_value() if index == 0 else list.__getitem__(self, index)
        self.device = None  # the caller may write the array in place: the device copy is stale from now on
        return value

    def __setitem__(self, index: Any, value: Any) -> None:
        list.__setitem__(self, index, value)
        self.device, self.device_is_newer = None, False

    def on_device(self, write: bool = False) -> Any:
        """The device copy, made on first use; ``write``: the caller updates it in place."""
        if self.device is None:
            from codegen.cuda_runtime import to_device

            self.device = to_device(list.__getitem__(self, 0))
        if write:
            self.device_is_newer = True
        return self.device

    def set_device(self, value: Any) -> None:
        """Replace the value with a device array (a CUDA function's update); the host copy is stale."""
        self.device, self.device_is_newer = value, True


class SharedVariable(TensorVariable):
    """A variable with a value of its own; use it anywhere a symbolic variable is expected."""

    __slots__ = ("storage", "lock", "default_update")

    def __init__(self, type: TensorType, value: np.ndarray, name: str | None) -> None:
        super().__init__(type, None, name)
        self.storage = Storage(value)
        self.lock = threading.Lock()
        #: Theano's default update: the new value a function that uses this variable writes after
        #: each call, unless its ``updates`` say otherwise or ``no_default_updates`` names it.
        self.default_update: TensorVariable | None = None

    def _label(self) -> str:
        return f"shared variable {self.name!r}" if self.name else "the shared variable"

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> Any:
        """The current value; a copy unless ``borrow=True``.

        ``return_internal_type=True`` returns the storage as it is, without moving it to the host:
        a NumPy array on the CPU, a device array where a CUDA function keeps the value on the GPU.
        """
        if return_internal_type:
            with self.lock:
                if self.storage.device_is_newer:  # the value lives on the GPU: its device array
                    from codegen.cuda_runtime import contiguous

                    return self.storage.device if borrow else contiguous(self.storage.device)
        if borrow:
            return self.storage[0]
        with self.lock:  # not half-way through an update written in place
            return self.storage.host_value().copy()

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Replace the value. It must keep the variable's dtype (or cast to it without loss) and ndim."""
        array = np.asarray(coerce(value, self.type, self._label()))
        if array is value and not borrow:
            array = array.copy()
        with self.lock:  # not between an updating call's reads and its writes, which would undo this
            self.storage[0] = array

    def __repr__(self) -> str:
        return self.name or f"<shared {self.type}>"

    def __reduce__(self) -> tuple:
        with self.lock:
            value = self.storage.host_value()
        return type(self), (self.type, value, self.name), self.default_update

    def __setstate__(self, default_update: TensorVariable | None) -> None:
        self.default_update = default_update


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
