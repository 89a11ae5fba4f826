"""Global settings, Theano-style: ``theano.config.floatX``, ``compiledir``, ``excluded_rewrites``.

Read at the moment they matter (type construction, compilation), so changing them at run time
affects what is built afterwards.
"""

from __future__ import annotations

import os

_FLOAT_DTYPES = ("float32", "float64")


class Config:
    """Mutable settings. ``floatX`` is the dtype of ``T.scalar``/``T.matrix`` and of int/int division."""

    def __init__(self) -> None:
        self._floatX = os.environ.get("SYMGRAD_FLOATX", "float64")
        #: Directory of the disk cache; ``None`` means ``$SYMGRAD_CACHE_DIR`` or the platform cache dir.
        self.compiledir: str | None = None
        #: Loop nests with at least this many elements run the multi-threaded (``prange``) kernel.
        self.parallel_threshold: int = 100_000
        #: Names of graph rewrites (or of whole phases) that no compilation and no ``T.grad`` may
        #: apply; ``$SYMGRAD_EXCLUDED_REWRITES`` (comma-separated) sets the initial value. See
        #: ``symgrad.rewrite.REWRITES`` for the names.
        self.excluded_rewrites: set[str] = {
            name.strip() for name in os.environ.get("SYMGRAD_EXCLUDED_REWRITES", "").split(",") if name.strip()
        }

    @property
    def floatX(self) -> str:
        return self._floatX

    @floatX.setter
    def floatX(self, value: str) -> None:
        if value not in _FLOAT_DTYPES:
            raise ValueError(f"config.floatX must be one of {_FLOAT_DTYPES}, got {value!r}")
        self._floatX = value


config = Config()
