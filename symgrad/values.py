"""Turning a user's value into the array a symbolic input stands for: one place for the rules.

Used for the arguments of compiled functions, for ``shared(...).set_value`` and for
``theano.In`` default values. Casting follows Theano: an array is accepted when converting it to
the input's dtype loses nothing (int64 data for a float64 input, say); Python numbers and lists when
their values survive the conversion (``[1.5, 2.5]`` for a float32 input, not ``0.1``); a Python float
may always become ``floatX``; anything else needs ``allow_downcast=True``. Arrays come back
C-contiguous (one copy at most) whatever their layout, so each kernel is compiled once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import config
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
        literal = value.__class__ is float and allow_downcast is None and dtype.name == config.floatX
        array = _cast(array, dtype, label, from_python, literal, allow_downcast)
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


def _cast(
    array: np.ndarray, dtype: np.dtype, label: str, from_python: bool, literal: bool, allow_downcast: bool | None
) -> np.ndarray:
    """``array`` converted to ``dtype`` under Theano's rule: an array only when no value can change
    (int8 to float32); Python numbers and lists when their values survive the round trip (1.5 and
    2.5 become float32, 0.1 does not); a Python float literal always becomes ``floatX`` (``literal``);
    anything with ``allow_downcast=True``."""
    source_kind, target_kind = array.dtype.kind, dtype.kind
    if source_kind == "b" and target_kind != "b" and not allow_downcast:
        raise TypeError(f"{label} expects {dtype.name}, got bool; cast it explicitly if you mean 0/1")
    with np.errstate(invalid="ignore", over="ignore"):  # nan or 1e300 to int: caught by the round trip
        converted = array.astype(dtype)
    if allow_downcast or literal or np.can_cast(array.dtype, dtype, "safe"):
        return converted
    if from_python:
        with np.errstate(invalid="ignore", over="ignore"):
            back = converted.astype(array.dtype)
        survived = (back == array) | (np.isnan(back) & np.isnan(array)) if source_kind == "f" else back == array
        if np.all(survived):
            return converted
        what = (
            f"the {type(array.item()).__name__} {array.item()!r}"
            if array.ndim == 0
            else f"values such as {array[~survived].flat[0].item()!r}"
        )
        raise TypeError(
            f"{label} expects {dtype.name}, got {what}, which {dtype.name} cannot hold exactly. "
            "Pass allow_input_downcast=True to theano.function to convert it"
        )
    raise TypeError(
        f"{label} expects {dtype.name}, got {array.dtype}; converting would lose precision. "
        f"Cast the value, or pass allow_input_downcast=True to theano.function"
    )
