"""Random draws inside compiled functions: :class:`RandomDraw`, uniform or standard normal numbers
from a counter-based generator (Philox4x32-10, as cuRAND and JAX use).

A draw reads a *state*, a uint64 vector ``[key, counter]`` (in practice a shared variable that
``RandomStreams`` advances after each call), and its shape. Elements ``2b`` and ``2b + 1`` come
from Philox applied to the 128-bit counter ``(b, counter)`` under ``key``: a pure function of the
state and the position, so the numbers are the same on any number of threads and on the GPU (the
back end's rules call ``codegen.runtime.random_pair``, which this module's ``perform`` mirrors in
NumPy). The state is an ordinary input, so a loop can carry it as a value. Other distributions are
graphs over these two (``symgrad.tensor.shared_randomstreams``), so their parameters fuse with
whatever uses the draw and get gradients; the draw itself has none.
"""

from __future__ import annotations

import numpy as np

from ..graph import Op, Variable, apply
from ..types import FLOAT_DTYPES, TensorType, describe_shape
from .shape import _runtime_length, shape_arguments

_LOW32 = np.uint64(0xFFFFFFFF)
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)


def philox_words(key: np.uint64, counter: np.uint64, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Philox4x32-10 of the counters ``(block, counter)`` under ``key``, for each entry of ``blocks``
    (uint64): two uint64 words per block, output words 0|1 and 2|3 (the first in the low half)."""
    c0, c1 = blocks & _LOW32, blocks >> np.uint64(32)
    c2 = np.full_like(blocks, counter & _LOW32)
    c3 = np.full_like(blocks, counter >> np.uint64(32))
    k0, k1 = key & _LOW32, key >> np.uint64(32)
    for r in range(10):
        if r:
            k0, k1 = (k0 + _W0) & _LOW32, (k1 + _W1) & _LOW32
        p0, p1 = _M0 * c0, _M1 * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _LOW32, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _LOW32
    return c0 | (c1 << np.uint64(32)), c2 | (c3 << np.uint64(32))


def reference_draw(distribution: str, dtype: str, state: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The draw in NumPy: what the compiled kernels compute (bit for bit for uniforms; normals go
    through NumPy's log, cos and sin, where the kernels use fdlibm's methods in plain arithmetic,
    so they may differ in the last bits)."""
    n = int(np.prod(shape, dtype=np.int64))
    w0, w1 = philox_words(np.uint64(state[0]), np.uint64(state[1]), np.arange((n + 1) // 2, dtype=np.uint64))
    if distribution == "uniform" and dtype == "float32":
        pair = [(w >> np.uint64(40)).astype(np.float64) * 2.0**-24 for w in (w0, w1)]
    else:
        pair = [(w >> np.uint64(11)).astype(np.float64) * 2.0**-53 for w in (w0, w1)]
        if distribution == "normal":
            r = np.sqrt(-2.0 * np.log(1.0 - pair[0]))
            t = 2.0 * np.pi * pair[1]
            pair = [r * np.cos(t), r * np.sin(t)]
    return np.stack(pair, axis=1).reshape(-1)[:n].astype(dtype).reshape(shape)


class RandomDraw(Op):
    """Uniform numbers on [0, 1) or standard normals (``distribution``) of ``dtype`` and ``shape``
    (ints and ``('arg', j)``, the j-th length input), drawn under a ``[key, counter]`` state."""

    props = ("distribution", "dtype", "shape")

    def __init__(self, distribution: str, dtype: str, shape: tuple) -> None:
        if distribution not in ("uniform", "normal"):
            raise ValueError(f"RandomDraw: unknown distribution {distribution!r}")
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"RandomDraw: dtype must be float32 or float64, got {dtype!r}")
        self.distribution = distribution
        self.dtype = dtype
        self.shape = shape

    def __str__(self) -> str:
        static = tuple(n if isinstance(n, int) else None for n in self.shape)
        return f"random_{self.distribution}{{{self.dtype}}}{describe_shape(static)}"

    def make_type(self, state: Variable, *lengths: Variable) -> TensorType:
        if state.dtype != "uint64" or state.ndim != 1 or state.type.shape[0] not in (None, 2):
            raise TypeError(
                f"a random draw's state must be a uint64 vector [key, counter], got {state!r} ({state.type})"
            )
        return TensorType(self.dtype, tuple(n if isinstance(n, int) else None for n in self.shape))

    def perform(self, state: np.ndarray, *lengths: np.ndarray) -> np.ndarray:
        shape = tuple(_runtime_length(e, (), lengths) for e in self.shape)
        if any(n < 0 for n in shape):
            raise ValueError(f"a random draw of negative shape {shape}")
        return reference_draw(self.distribution, self.dtype, state, shape)

    def vjp(self, inputs, output, g):
        return [None] * len(inputs)  # the numbers do not vary smoothly with the state or the shape


def random_draw(distribution: str, state: Variable, shape: object, dtype: str) -> Variable:
    """``distribution`` (``'uniform'`` or ``'normal'``) numbers of ``shape`` (ints, integer scalars or
    a symbolic vector of known length) under ``state``."""
    pattern, lengths = shape_arguments(shape, f"random {distribution}")
    return apply(RandomDraw(distribution, dtype, pattern), state, *lengths)
