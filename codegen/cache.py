"""The disk cache: generated modules stored under a content key, loaded by later processes.

Each compiled function is a real ``.py`` file named after its key, imported with ``importlib`` and
registered in ``sys.modules``; that is what lets Numba's own ``cache=True`` find the kernels'
machine code again in a new process (it cannot for ``exec``'d code). The key hashes the optimized
graph, the input types, the options and the versions of everything that shapes the code.

Writes are atomic: the text goes to a temporary file that is then hard-linked into place, so the
first writer wins and no reader ever sees half a file. The first line of every module records the
SHA-256 of the rest; a file whose text does not match is discarded and written again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from symgrad.config import config

_HASH_PREFIX = "# sha256: "
_loaded: dict[str, ModuleType] = {}


def cache_dir() -> Path:
    """``$SYMGRAD_CACHE_DIR``, else ``config.compiledir``, else the platform's user cache dir."""
    configured = os.environ.get("SYMGRAD_CACHE_DIR") or config.compiledir
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("symgrad"))


@functools.lru_cache(maxsize=1)
def versions() -> str:
    """Everything outside the graph that shapes the generated code or its machine code."""
    import llvmlite
    import numba
    import numpy

    import symgrad

    # The compiler's own source too: a development checkout changes without a version bump.
    compiler = hashlib.sha256()
    for package in (Path(symgrad.__file__).parent, Path(__file__).parent):
        for path in sorted(package.rglob("*.py")):
            compiler.update(path.read_bytes())
    return (
        f"symgrad {symgrad.__version__} ({compiler.hexdigest()[:16]}), numba {numba.__version__}, "
        f"llvmlite {llvmlite.__version__}, numpy {numpy.__version__}, python {sys.version.split()[0]}"
    )


def make_key(description: str) -> str:
    """The content key: a hash of the program's canonical description and the tool versions."""
    return hashlib.sha256(f"{description}\n{versions()}".encode()).hexdigest()


def _with_hash(text: str) -> str:
    return f"{_HASH_PREFIX}{hashlib.sha256(text.encode()).hexdigest()}\n{text}"


def _read_verified(path: Path) -> str | None:
    """The module text if the file is intact, else None."""
    try:
        first, _, rest = path.read_text(encoding="utf-8").partition("\n")
    except (OSError, UnicodeDecodeError):
        return None
    if first != f"{_HASH_PREFIX}{hashlib.sha256(rest.encode()).hexdigest()}":
        return None
    return rest


def _write_atomically(path: Path, text: str, replace: bool) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # fails if another process got there first: it wins
        except FileExistsError:
            pass
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_module(key: str, build_source: Callable[[], str]) -> ModuleType:
    """The module for ``key``: from this process, from disk, or built by ``build_source()``."""
    if key in _loaded:
        return _loaded[key]
    directory = cache_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"symgrad_{key[:40]}.py"
    if path.exists() and _read_verified(path) is None:
        warnings.warn(f"symgrad: discarding damaged cache entry {path}; rebuilding it", stacklevel=3)
        _write_atomically(path, _with_hash(build_source()), replace=True)
    elif not path.exists():
        _write_atomically(path, _with_hash(build_source()), replace=False)
        if _read_verified(path) is None:  # lost a race to a damaged writer: take the place
            _write_atomically(path, _with_hash(build_source()), replace=True)
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _loaded[key] = module
    return module
