"""Tensor types, dtype promotion and broadcasting.

These three facts live here and only here; ops, gradients and both backends ask this module.

Broadcasting follows NumPy with Theano's static rule: a dimension *known* to have length 1
broadcasts against anything; other dimensions must agree at run time. A dimension's static length
is an ``int`` or ``None`` (unknown until the function is called).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import config

FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
ALL_DTYPES = ("bool", *INT_DTYPES, *FLOAT_DTYPES)
# Theano had complex tensors; symgrad leaves them out (Numba's complex support and the gradient
# conventions for them are a project of their own), and says what to do instead.
COMPLEX_HINT = (
    "; complex dtypes are deliberately left out: carry the real and imaginary parts as two real tensors "
    "(re, im), or use JAX, which differentiates complex functions"
)


@dataclass(frozen=True)
class TensorType:
    """The type of a symbolic tensor: a dtype and a static shape (``None`` for unknown lengths)."""

    dtype: str
    shape: tuple[int | None, ...]

    def __post_init__(self) -> None:
        if self.dtype not in ALL_DTYPES:
            raise TypeError(f"unsupported dtype {self.dtype!r}; symgrad supports {', '.join(ALL_DTYPES)}"
                            + (COMPLEX_HINT if "complex" in str(self.dtype) else ""))  # fmt: skip
        for length in self.shape:
            if length is not None and (not isinstance(length, int) or length < 0):
                raise ValueError(f"static shape entries must be None or ints >= 0, got {self.shape}")

    def __call__(self, name: str | None = None):
        """A symbolic input of this type, as in Theano: ``T.dvector('x')``, ``x.type == T.dvector``."""
        from .graph import make_variable

        return make_variable(self, name=name)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        """Theano's flags: True where the dimension is known to have length 1."""
        return tuple(length == 1 for length in self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    def __str__(self) -> str:
        dims = ", ".join("?" if n is None else str(n) for n in self.shape)
        return f"{self.dtype}[{dims}]" if self.shape else self.dtype


def describe_shape(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("?" if n is None else str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def kind(dtype: str) -> str:
    """'b' for bool, 'i' for integers, 'f' for floats (NumPy's ``dtype.kind`` folded to three)."""
    return {"b": "b", "i": "i", "u": "i", "f": "f"}[np.dtype(dtype).kind]


def promote(strong: list[str], weak: list[str] = ()) -> str:
    """The result dtype of an arithmetic op.

    ``strong`` dtypes come from tensors and promote as NumPy does. ``weak`` ones come from Python
    scalars and only contribute their kind, so ``float32_var * 2.0`` stays float32 and
    ``int32_var + 1`` stays int32 (JAX's weak types; Theano's autocasting had the same aim).
    """
    if not strong:
        return np.result_type(*[_weak_default(d) for d in weak]).name
    result = np.result_type(*strong).name
    for dtype in weak:
        if kind(dtype) == "f" and kind(result) != "f":
            result = config.floatX
        elif kind(dtype) == "i" and kind(result) == "b":
            result = "int64"
    return result


def _weak_default(dtype: str) -> str:
    return {"b": "bool", "i": "int64", "f": "float64"}[kind(dtype)]


def float_of(dtype: str) -> str:
    """The float dtype a transcendental function returns for ``dtype`` (Theano's upgrade_to_float)."""
    if kind(dtype) == "f":
        return dtype
    return "float32" if dtype in ("bool", "int8", "int16", "uint8", "uint16") else "float64"


def broadcast_static(shapes: list[tuple[int | None, ...]], what: str) -> tuple[int | None, ...]:
    """Combine equal-rank static shapes by the broadcasting rule; raise on a known mismatch."""
    result = []
    for dim, lengths in enumerate(zip(*shapes)):
        known = {n for n in lengths if n is not None and n != 1}
        if len(known) > 1:
            raise ValueError(
                f"{what}: dimension {dim} has incompatible static lengths "
                f"{' vs '.join(describe_shape(s) for s in shapes)}"
            )
        if known:
            result.append(known.pop())
        elif all(n == 1 for n in lengths):
            result.append(1)
        else:
            result.append(None)
    return tuple(result)
