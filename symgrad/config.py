"""Global settings, Theano-style: ``theano.config.floatX``, ``mode``, ``compiledir``, ``excluded_rewrites``, ...

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
        #: A loop nest runs its multi-threaded (``prange``) twin when its elements times its estimated
        #: operations per element (1 per arithmetic operation, 10 per function call) reach this.
        #: Measured on 2 cores: starting threads costs 3-5 us on a quiet machine (x + y breaks even
        #: near 30,000 elements, exp(-x**2/2)*sin(3*x) + log1p(y**2)*tanh(x*y) near 600), but far
        #: more when other processes share the cores: a 300x100 net's training step took 45 ms
        #: with threads against 1 ms without. So threads start only where the serial loop would
        #: take about 100 us: 250,000 units (x + y from 250,000 elements, that expression from ~5,000).
        self.parallel_threshold: int = 250_000
        #: Whether freed memory is kept for the next call rather than handed back to the system at
        #: once (glibc's malloc thresholds, set once per process by the first CPU function made;
        #: see ``codegen/memory.py``): large temporaries then cost no page faults. ``False`` (or
        #: ``$SYMGRAD_REUSE_MEMORY=0``) before the first function leaves malloc as it is.
        self.reuse_memory: bool = os.environ.get("SYMGRAD_REUSE_MEMORY", "1") != "0"
        #: Names of graph rewrites (or of whole phases) that no compilation and no ``T.grad`` may
        #: apply; ``$SYMGRAD_EXCLUDED_REWRITES`` (comma-separated) sets the initial value. See
        #: ``symgrad.rewrite.REWRITES`` for the names.
        self.excluded_rewrites: set[str] = {
            name.strip() for name in os.environ.get("SYMGRAD_EXCLUDED_REWRITES", "").split(",") if name.strip()
        }
        self._compute_test_value = "off"
        #: Whether ``theano.function`` times each step of the functions it compiles (its ``profile=``
        #: when not given; ``$SYMGRAD_PROFILE=1`` sets the initial value): see ``f.profile.summary()``.
        self.profile: bool = os.environ.get("SYMGRAD_PROFILE", "0") == "1"
        self._mode = os.environ.get("SYMGRAD_MODE", "FAST_RUN")
        self._num_threads: int | None = None
        self._device = os.environ.get("SYMGRAD_DEVICE", "cpu")
        self._vector_math = True

    @property
    def num_threads(self) -> int | None:
        """Threads for parallel loops; ``None`` means Numba's default (all cores)."""
        return self._num_threads

    @num_threads.setter
    def num_threads(self, value: int | None) -> None:
        import numba

        if value is not None and (not isinstance(value, int) or not 1 <= value <= numba.config.NUMBA_NUM_THREADS):
            raise ValueError(f"config.num_threads must be None or 1..{numba.config.NUMBA_NUM_THREADS}, got {value!r}")
        numba.set_num_threads(value or numba.config.NUMBA_NUM_THREADS)
        self._num_threads = value

    @property
    def mode(self):
        """The mode ``theano.function`` compiles with when not told: ``'FAST_RUN'`` (the default,
        or ``$SYMGRAD_MODE``), ``'FAST_COMPILE'``, ``'DebugMode'`` or a ``theano.Mode``."""
        return self._mode

    @mode.setter
    def mode(self, value) -> None:
        from .mode import get_mode

        get_mode(value)  # a clear error for an unknown name, now
        self._mode = value

    @property
    def device(self) -> str:
        """Where ``theano.function`` compiles for when not told: ``'cpu'`` or ``'cuda'`` (as Theano's)."""
        return self._device

    @device.setter
    def device(self, value: str) -> None:
        if value not in ("cpu", "cuda"):
            raise ValueError(f"config.device must be 'cpu' or 'cuda', got {value!r}")
        self._device = value

    @property
    def vector_math(self) -> bool:
        """Whether CPU kernels compute exp, expm1, log, log1p, sin, cos, tanh, sigmoid and softplus
        with ``codegen.vecmath``'s implementations, which let their loops vectorize (to 4 ulp in
        float64, 2 in float32), rather than with the C library's (``math``, to 1 ulp). CUDA
        kernels always use the device's own library."""
        return self._vector_math

    @vector_math.setter
    def vector_math(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"config.vector_math must be True or False, got {value!r}")
        self._vector_math = value

    @property
    def floatX(self) -> str:
        return self._floatX

    @floatX.setter
    def floatX(self, value: str) -> None:
        if value not in _FLOAT_DTYPES:
            raise ValueError(f"config.floatX must be one of {_FLOAT_DTYPES}, got {value!r}")
        self._floatX = value

    @property
    def compute_test_value(self) -> str:
        """Theano's debugging aid: with ``'raise'``, ``'warn'`` or ``'ignore'``, every op applied to
        variables that carry ``x.tag.test_value`` computes its value at once (with its NumPy
        reference), so a shape mistake raises on the line that builds the graph, naming it. An input
        without a test value raises, warns or is passed over, by that setting; ``'off'`` (the
        default) computes nothing."""
        return self._compute_test_value

    @compute_test_value.setter
    def compute_test_value(self, value: str) -> None:
        if value not in ("off", "ignore", "warn", "raise"):
            raise ValueError(f"config.compute_test_value must be 'off', 'ignore', 'warn' or 'raise', got {value!r}")
        self._compute_test_value = value


config = Config()
