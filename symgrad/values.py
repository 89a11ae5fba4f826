"""Turning a user's value into the array a symbolic input stands for: one place for the rules.

Used for the arguments of compiled functions, for ``shared(...).set_value`` and for
``theano.In`` default values. Casting follows Theano: a value is accepted when converting it to
the input's dtype loses nothing (int64 data for a float64 input, say); a Python float may always
become the input's float dtype; anything else needs ``allow_downcast=True``. Arrays come back
C-contiguous (one copy at most) whatever their layout, so each kernel is compiled once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .types import TensorType, describe_shape


def coerce(value: Any, type: TensorType, label: str, allow_downcast: bool | None = None) -> Any:
    """``value`` as ``type`` wants it (an ndarray, or a NumPy scalar for 0-d), or a clear error.

    ``label`` names the value in errors: ``"input 'x'"``, ``"shared variable 'W'"``.
    """
    from .graph import Variable

    if isinstance(value, Variable):
        raise TypeError(f"{label}: got the symbolic variable {value!r}; pass a value (e.g. a NumPy array)")
    dtype = np.dtype(type.dtype)
    from_python = isinstance(value, (bool, int, float, list, tuple))
    array = value if isinstance(value, np.ndarray) else _as_array(value, label, type.dtype)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{label} expects {type.dtype}, got an array of {array.dtype}, not real numbers")
    if array.ndim != type.ndim:
        raise TypeError(
            f"{label} expects a {type.ndim}-d {type.dtype} value ({type}), got a {array.ndim}-d "
            f"{array.dtype} value of shape {describe_shape(array.shape)}"
        )
    for d, n in enumerate(type.shape):
        if n is not None and array.shape[d] != n:
            raise ValueError(f"{label} expects shape {describe_shape(type.shape)}, got {describe_shape(array.shape)}")
    if array.dtype != dtype:
        python_scalar = from_python and not isinstance(value, (list, tuple))
        array = _cast(array, dtype, label, python_scalar, allow_downcast)
    if type.ndim == 0:
        return array[()]
    return np.ascontiguousarray(array)


def _as_array(value: Any, label: str, dtype: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{label}: cannot convert {type(value).__name__} to an array: {err}") from None
    if array.dtype.kind == "O" and type(value) is int:
        # Too large for any NumPy integer (NumPy made an object array): a number all the same.
        if np.dtype(dtype).kind == "f" and abs(value) < 2**1024:
            return np.asarray(float(value))
        raise TypeError(f"{label} expects {dtype}, got the int {value}, which is out of the range of {dtype}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{label} expects {dtype}, got {type(value).__name__} {value!r:.60}, not real numbers")
    return array


def _cast(array: np.ndarray, dtype: np.dtype, label: str, python_scalar: bool, allow_downcast: bool | None):
    source_kind, target_kind = array.dtype.kind, dtype.kind
    if source_kind == "b" and target_kind != "b" and not allow_downcast:
        raise TypeError(f"{label} expects {dtype.name}, got bool; cast it explicitly if you mean 0/1")
    lossless = np.can_cast(array.dtype, dtype, "safe")
    if python_scalar and not lossless:
        # A Python number may take the input's dtype if the value survives the trip.
        with np.errstate(invalid="ignore", over="ignore"):  # nan or 1e300 to int: tested just below
            converted = array.astype(dtype)
            lossless = target_kind == "f" and source_kind in "iuf" or converted.astype(array.dtype) == array
        if not lossless and not allow_downcast:
            raise TypeError(
                f"{label} expects {dtype.name}, got the {type(array.item()).__name__} {array.item()!r}, which "
                f"{dtype.name} cannot hold exactly. Pass allow_input_downcast=True to theano.function to convert it"
            )
    if not lossless and not allow_downcast:
        raise TypeError(
            f"{label} expects {dtype.name}, got {array.dtype}; converting would lose precision. "
            f"Cast the value, or pass allow_input_downcast=True to theano.function"
        )
    with np.errstate(invalid="ignore", over="ignore"):  # allowed by allow_downcast: NumPy's conversion
        return array.astype(dtype)
