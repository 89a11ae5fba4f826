"""Numba's machine-code cache for generated modules, with the checks symgrad's own entries get.

Numba keeps each kernel's machine code in ``__pycache__`` next to its source file: an index
(``*.nbi``, which signatures are cached and in which file) and one data file per signature
(``*.nbc``). Both are pickles, and Numba trusts them: a truncated or garbage file raises from deep
inside the first call (and keeps raising in every later process), and unpickling a file someone
else wrote runs their code. :func:`attach` gives each kernel of a module loaded from the disk
cache a cache that

- writes every file with a SHA-256 of its payload (mode 0600, to a temporary name, then renamed),
- refuses a file owned by another user or writable by group or others, before unpickling it,
- treats a file whose hash does not match as damaged,

and turns any such problem into a warning, the removal of that kernel's files, and a recompile.
The files always live in ``__pycache__`` next to the module, even where ``NUMBA_CACHE_DIR`` is
set, so ``python -m symgrad cache clear`` and ``prune`` find them.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pickle
import warnings
from types import ModuleType

import numba
from numba.core.caching import CompileResultCacheImpl, FunctionCache, IndexDataCacheFile, InTreeCacheLocator
from numba.core.dispatcher import Dispatcher

from .cache import CacheWarning, owner_problem

# Our files start with this line (the Numba version: files of another version are stale, not
# damaged), then the SHA-256 of the payload, then the payload (Numba's pickle).
_HEADER = f"symgrad-numba-cache {numba.__version__}\n".encode()
_DIGEST_SIZE = hashlib.sha256().digest_size


class DamagedCacheFile(Exception):
    """A Numba cache file that is damaged or unsafe to load; its message says which and why."""


class _CheckedCacheFile(IndexDataCacheFile):
    """Numba's index and data files, each checked (owner, mode, hash) before it is unpickled."""

    def _load_index(self) -> dict:
        payload = self._read(self._index_path)
        if payload is None:
            return {}
        stamp, overloads = pickle.loads(payload)
        # A stamp from another version of the module's text: stale, recompiled and overwritten.
        return overloads if stamp == self._source_stamp else {}

    def _save_index(self, overloads: dict) -> None:
        self._write(self._index_path, self._dump((self._source_stamp, overloads)))

    def _load_data(self, name: str) -> object:
        payload = self._read(self._data_path(name))
        if payload is None:  # removed since the index named it; Numba's load() treats this as a miss
            raise FileNotFoundError(self._data_path(name))
        return pickle.loads(payload)

    def _save_data(self, name: str, data: object) -> None:
        self._write(self._data_path(name), self._dump(data))

    def _write(self, path: str, payload: bytes) -> None:
        with self._open_for_write(path) as f:  # Numba's: a temporary name, then os.replace
            os.fchmod(f.fileno(), 0o600)  # whatever the umask: only the owner reads machine code
            f.write(_HEADER + hashlib.sha256(payload).digest() + payload)

    def _read(self, path: str) -> bytes | None:
        try:
            f = open(path, "rb")  # fstat below checks the file actually read, not a name
        except FileNotFoundError:
            return None
        with f:
            problem = owner_problem(os.fstat(f.fileno()), path)
            if problem is not None:
                raise DamagedCacheFile(f"refusing to load it: {problem}")
            data = f.read()
        if not data.startswith(_HEADER):
            if data.startswith(b"symgrad-numba-cache "):
                return None  # written by another Numba version: stale
            raise DamagedCacheFile(f"{os.path.basename(path)} is damaged (no symgrad header)")
        digest, payload = data[len(_HEADER) : len(_HEADER) + _DIGEST_SIZE], data[len(_HEADER) + _DIGEST_SIZE :]
        if hashlib.sha256(payload).digest() != digest:
            raise DamagedCacheFile(f"{os.path.basename(path)} is damaged (its contents do not match their SHA-256)")
        return payload

    def remove_all(self) -> None:
        """Delete this kernel's index and data files (a damaged one is never read again)."""
        pattern = glob.escape(self._index_path[: -len(".nbi")]) + ".*.nbc"
        for path in [self._index_path, *glob.glob(pattern)]:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


class _InTreeImpl(CompileResultCacheImpl):
    # Only next to the module: never NUMBA_CACHE_DIR or the user-wide directory, where symgrad's
    # directory checks, `cache clear` and `cache prune` would not reach.
    _locator_classes = [InTreeCacheLocator]


class CheckedFunctionCache(FunctionCache):
    """Numba's per-kernel disk cache, reading and writing through :class:`_CheckedCacheFile`."""

    _impl_class = _InTreeImpl

    def __init__(self, py_func) -> None:
        super().__init__(py_func)
        self._cache_file = _CheckedCacheFile(
            cache_path=self._cache_path,
            filename_base=self._impl.filename_base,
            source_stamp=self._cache_file._source_stamp,
        )

    def load_overload(self, sig, target_context):
        try:
            compiled = super().load_overload(sig, target_context)
        except Exception as err:  # whatever a damaged pickle raises, recompiling is the cure
            reason = str(err) if isinstance(err, DamagedCacheFile) else f"{type(err).__name__}: {err}"
            warnings.warn(
                f"symgrad: discarding the cached machine code of {self._py_func.__qualname__} in "
                f"{self._cache_path}: {reason}; recompiling it",
                CacheWarning,
                stacklevel=2,
            )
            self._cache_file.remove_all()
            return None
        if compiled is not None:
            _trim(compiled.library)
        return compiled

    def save_overload(self, sig, data) -> None:
        super().save_overload(sig, data)
        _trim(data.library)


def _trim(library) -> None:
    """Drop what a program's code library keeps only to be linked into other code or written to
    the cache again, neither of which happens to a program (Python calls it; it is written once).

    ``_shared_module`` is a copy of the program's whole optimized LLVM IR, made to be linked into
    callers (it is also what the cache file holds besides the machine code); ``_compiled_object`` is
    its object code, kept to be written. Measured here, the copy is about 180 KiB of a small
    function's 250 KiB (loaded from the disk cache) or 1.5 MB (compiled); the object code, 20 KiB.
    Only after ``save_overload`` or ``load_overload``: Numba has written or loaded the library by then.
    """
    library._shared_module = None
    library._compiled_object = None


def cached_functions(module: ModuleType) -> list[Dispatcher]:
    """The functions of ``module`` whose machine code goes to the disk cache: its programs, or its
    kernels where it has none (CUDA). A program's machine code holds the kernels it calls: caching
    them too would store them twice."""
    own = [v for v in vars(module).values() if isinstance(v, Dispatcher) and v.py_func.__module__ == module.__name__]
    programs = [v for v in own if v.py_func.__name__.startswith("program")]
    return programs or own


def attach(module: ModuleType) -> None:
    """Give the programs of ``module`` (loaded from its cache file; its kernels where it has no
    programs, as on CUDA) the checked disk cache.

    Only the module's own functions: the functions it imports (codegen.runtime's) keep Numba's cache
    in codegen/__pycache__, whose files Numba's loader must still be able to read in a process
    that uses them without a generated module.
    """
    for value in cached_functions(module):
        try:
            value._cache = CheckedFunctionCache(value.py_func)
        except RuntimeError as err:  # Numba found no usable __pycache__ (it became read-only)
            warnings.warn(f"symgrad: {err}; compiling {value.py_func.__qualname__} in memory", CacheWarning, 2)


def release(module: ModuleType) -> None:
    """Let go of the compiled code of ``module``'s own functions (``cache.hold`` calls this once no
    function uses the module).

    Numba never frees a dispatcher defined in a module: the finalizer it registers for each one holds
    its compile results, whose type annotations hold the module, whose namespace holds the dispatcher.
    Emptying the dispatchers' overloads (and the target context's entries for them, what that
    finalizer would do) breaks the cycle, so the module, the compile results and their code libraries
    are collected. Not everything: a dispatcher that was compiled keeps a reference to its Python
    function that the garbage collector does not see (from inside Numba), so it and the module's
    namespace stay, empty of compiled code; and Numba's JIT engine keeps the machine code and the
    optimized LLVM IR of every module it has compiled (numba#5976, numba#7831). A dispatcher still
    reached afterwards compiles (or loads) again.
    """
    for value in list(vars(module).values()):
        value = getattr(value, "threaded", value)  # a program on threads, as _guard_parallel_programs wraps it
        if isinstance(value, Dispatcher) and value.py_func.__module__ == module.__name__:
            for compiled in value.overloads.values():
                with contextlib.suppress(KeyError):
                    value.targetctx.remove_user_function(compiled.entry_point)
            value._reset_overloads()
