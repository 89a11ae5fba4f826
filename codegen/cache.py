"""The disk cache: generated modules stored under a content key, loaded by later processes.

Each compiled function is a real ``.py`` file named after its key, ``symgrad_<key>.py``; its
programs' machine code lives in Numba's files in ``__pycache__`` beside it (see
``codegen/machine_code.py``), so a new process loads both instead of compiling. The key hashes
the optimized graph, the input types, the options and the versions of everything that shapes
the code. A *recipe*, ``symgrad_<key>.recipe``, is keyed by the graph as the user built it,
before any rewrite: it names the module that graph led to (and what else the function needs), so
a process building the same graph again finds its module without rewriting or printing anything.

Integrity. Writes are atomic: the text goes to a temporary file (mode 0600) that is then
hard-linked into place, so the first writer wins and no reader ever sees half a file. The first
line of every module records the SHA-256 of the rest; the text that is checked is the text that
runs (it is compiled from the bytes read, never re-read by an importer). A file that does not
match, is not UTF-8 or cannot be read is discarded with a :class:`CacheWarning` and rebuilt;
Numba's files get the same treatment.

Security. Anyone who can write to the cache can make the next user of it run their code, so
the directory is created with mode 0700, and symgrad loads nothing from a directory (or its
``__pycache__``) owned by another user or writable by group or others: it warns once, saying
why, and compiles in memory. An entry file with such an owner or mode is discarded and rebuilt.
On the warm path this costs one ``stat`` of the directory per process and one ``fstat`` of each
entry file it opens.

Fallbacks. A cache directory that cannot be created or written (read-only, missing parent on a
read-only file system, full disk) gives one warning per process, and the function is compiled
in memory: it works, but the next process compiles it again.

In the process, a loaded module is shared by the functions of its key while any of them lives, and
unloaded after the last is collected (:func:`hold`).

Housekeeping (``python -m symgrad cache info | clear | prune --max-size SIZE``): :func:`entries`,
:func:`clear` and :func:`prune`. Loading an entry sets its access time, so pruning removes the
least recently used entries first.
"""

from __future__ import annotations

import functools
import hashlib
import json
import linecache
import os
import re
import stat
import sys
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from symgrad.config import config

_HASH_PREFIX = "# sha256: "
# The modules loaded in this process, by key, while a function uses them (see `hold`).
_loaded: dict[str, ModuleType] = {}
# How many live functions use each loaded module, by id(module): the last one to go unloads it.
_users: dict[int, int] = {}
# Reentrant: the collector may run a finalizer (`_let_go`) in a thread holding it, inside `hold`.
_users_lock = threading.RLock()
# The verdict on each cache directory (None: usable), reached once per process.
_directory_verdicts: dict[Path, str | None] = {}
_warned: set[str] = set()


class CacheWarning(UserWarning):
    """The disk cache could not be used, or an entry in it was discarded; symgrad carried on."""


def cache_dir() -> Path:
    """``$SYMGRAD_CACHE_DIR``, else ``config.compiledir``, else the platform's user cache dir."""
    configured = os.environ.get("SYMGRAD_CACHE_DIR") or config.compiledir
    if configured:
        return Path(os.path.abspath(os.path.expanduser(configured)))
    import platformdirs

    return Path(platformdirs.user_cache_dir("symgrad"))


@functools.lru_cache(maxsize=1)
def versions() -> str:
    """Everything outside the graph that shapes the generated code or its machine code."""
    import llvmlite
    import numba
    import numpy

    from symgrad import version

    # The compiler's own source too: a development checkout changes without a version bump.
    compiler = hashlib.sha256()
    for package in (Path(version.__file__).parent, Path(__file__).parent):
        for path in sorted(package.rglob("*.py")):
            compiler.update(path.read_bytes())
    return (
        f"symgrad {version.__version__} ({compiler.hexdigest()[:16]}), numba {numba.__version__}, "
        f"llvmlite {llvmlite.__version__}, numpy {numpy.__version__}, python {sys.version.split()[0]}"
    )


def make_key(description: str) -> str:
    """The content key: a hash of the program's canonical description and the tool versions."""
    return hashlib.sha256(f"{description}\n{versions()}".encode()).hexdigest()


# ------------------------------------------------------------------------------------------------
# Who may write: the security checks


def owner_problem(st: os.stat_result, what: object) -> str | None:
    """Why a file or directory with status ``st`` must not be trusted, or None if it may be.

    Trusted means owned by this user and writable by nobody else: anyone else who can write it
    could replace the code symgrad is about to run.
    """
    if st.st_uid != os.geteuid():
        return f"{what} is owned by user id {st.st_uid}, not by you (user id {os.geteuid()})"
    writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable:
        who = {stat.S_IWGRP: "its group", stat.S_IWOTH: "other users"}.get(writable, "its group and other users")
        return f"{what} is writable by {who} (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def directory_problem(directory: Path) -> str | None:
    """Why ``directory`` cannot hold the cache, or None if it can; creates it (mode 0700) if missing."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        return f"cannot create the cache directory {directory}: {err.strerror}"
    if not directory.is_dir():
        return f"the cache directory {directory} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"the cache directory {directory} is read-only"
    numba_dir = directory / "__pycache__"
    try:
        numba_dir.mkdir(mode=0o700, exist_ok=True)  # before Numba makes it with the umask's mode
    except OSError as err:
        return f"cannot create {numba_dir}: {err.strerror}"
    for path in (directory, numba_dir):
        problem = owner_problem(os.stat(path), f"the cache directory {path}")
        if problem is not None:
            return (
                f"{problem}; anyone who can write there could make symgrad run their code, so nothing is loaded "
                f"from it (make it yours with mode 0700, or set SYMGRAD_CACHE_DIR to another directory)"
            )
    return None


def directory_status(directory: Path) -> str:
    """One line for ``cache info``: whether symgrad uses ``directory``, and why not. Creates nothing."""
    if not directory.exists():
        return "does not exist yet (it is created, with mode 0700, when a function is first compiled)"
    if not directory.is_dir():
        return "not used: it is not a directory; functions are compiled in memory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return "not used: it is read-only; functions are compiled in memory"
    for path in (directory, directory / "__pycache__"):
        if path.exists():
            problem = owner_problem(os.stat(path), path)
            if problem is not None:
                return f"not used: {problem}; functions are compiled in memory"
    return f"in use (yours, mode {stat.S_IMODE(os.stat(directory).st_mode):04o})"


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, CacheWarning, stacklevel=5)  # the user's theano.function line


# ------------------------------------------------------------------------------------------------
# Entries: reading, writing, loading


def _with_hash(text: str) -> str:
    return f"{_HASH_PREFIX}{hashlib.sha256(text.encode()).hexdigest()}\n{text}"


def _read_entry(path: Path) -> tuple[str | None, str | None, os.stat_result | None]:
    """``(file text, None, status)`` if the entry is intact and trusted; ``(None, None, None)`` if
    there is none; ``(None, why not, None)`` otherwise."""
    try:
        f = open(path, "rb")  # fstat below checks the file actually read, not a name
    except FileNotFoundError:
        return None, None, None
    except OSError as err:
        return None, f"it cannot be read ({err.strerror})", None
    with f:
        st = os.fstat(f.fileno())
        problem = owner_problem(st, "it")
        if problem is not None:
            return None, f"{problem}, so anyone else able to write it could make symgrad run their code", None
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "it is damaged (not UTF-8 text)", None
    first, _, rest = text.partition("\n")
    if not first.startswith(_HASH_PREFIX):
        return None, "it is damaged (no hash line)", None
    if first != f"{_HASH_PREFIX}{hashlib.sha256(rest.encode()).hexdigest()}":
        return None, "it is damaged (its text does not match the SHA-256 in its first line)", None
    return text, None, st


def _write_atomically(path: Path, text: str, replace: bool) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")  # mode 0600
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


def _execute(name: str, text: str, filename: str) -> ModuleType:
    """A new module ``name`` running ``text``, as if it had been imported from ``filename``."""
    module = ModuleType(name)
    module.__symgrad_source__ = text.partition("\n")[2] if text.startswith(_HASH_PREFIX) else text
    if not filename.startswith("<"):
        module.__file__ = filename
    # Registered so that Numba (and pickle) can find the module's functions by module name.
    sys.modules[name] = module
    exec(compile(text, filename, "exec"), module.__dict__)
    return module


def _load_from_disk(
    directory: Path, key: str, source: Callable[[], str], attach: Callable[[ModuleType], None]
) -> ModuleType:
    path = directory / f"symgrad_{key[:40]}.py"
    text, problem, st = _read_entry(path)
    if problem is not None:
        warnings.warn(f"symgrad: discarding cache entry {path}: {problem}; rebuilding it", CacheWarning, stacklevel=5)
    if text is None:
        _write_atomically(path, _with_hash(source()), replace=problem is not None)
        text, problem, st = _read_entry(path)
        if problem is not None:  # a racing writer left a bad file in the place: take it over
            _write_atomically(path, _with_hash(source()), replace=True)
            text, problem, st = _read_entry(path)
            if problem is not None:
                raise OSError(f"cannot write a trusted cache entry {path}: {problem}")
    return _open_entry(path, text, st, attach)


def _open_entry(path: Path, text: str, st: os.stat_result, attach: Callable[[ModuleType], None]) -> ModuleType:
    """The module of a checked entry file, with its machine-code cache attached."""
    try:  # the access time records the last use, for `cache prune`
        os.utime(path, ns=(time.time_ns(), st.st_mtime_ns))
    except OSError:
        pass
    module = _execute(path.stem, text, str(path))
    attach(module)
    return module


def _usable_directory() -> Path | None:
    """The cache directory, or ``None`` when it cannot be used (the reason is kept for the warning)."""
    directory = cache_dir()
    if directory not in _directory_verdicts:
        _directory_verdicts[directory] = directory_problem(directory)
    return directory if _directory_verdicts[directory] is None else None


def load_existing(key: str, attach: Callable[[ModuleType], None]) -> ModuleType | None:
    """The module for ``key`` if this process or the disk has it intact; ``None`` otherwise (then
    ``load_module`` builds it, and deals with a damaged entry)."""
    if key in _loaded:
        return _loaded[key]
    directory = _usable_directory()
    if directory is None:
        return None
    path = directory / f"symgrad_{key[:40]}.py"
    text, _, st = _read_entry(path)
    if text is None:
        return None
    _loaded[key] = module = _open_entry(path, text, st, attach)
    module.__symgrad_key__ = key
    return module


def remember(built_key: str, key: str, recipe: dict) -> None:
    """Record that the graph as built with key ``built_key`` gave the module ``key``, with what
    else ``recall`` must return (JSON data): a later process then skips rewriting and printing."""
    directory = _usable_directory()
    if directory is None:
        return
    path = directory / f"symgrad_{built_key[:40]}.recipe"
    text = json.dumps({"key": key, **recipe}, sort_keys=True)
    if _read_entry(path)[0] != _with_hash(text):
        try:
            _write_atomically(path, _with_hash(text), replace=True)
        except OSError:
            pass  # only a later process's shortcut is lost


def recall(built_key: str, directory: Path | None = None) -> dict | None:
    """What ``remember`` recorded for ``built_key``, or ``None`` (none, damaged or not trusted:
    the caller then builds the module the long way, which records it again)."""
    directory = directory or _usable_directory()
    if directory is None:
        return None
    text, _, _ = _read_entry(directory / f"symgrad_{built_key[:40]}.recipe")
    if text is None:
        return None
    try:
        recipe = json.loads(text.partition("\n")[2])
    except ValueError:
        return None
    return recipe if isinstance(recipe, dict) and isinstance(recipe.get("key"), str) else None


def load_module(
    key: str, build_source: Callable[[], str], attach: Callable[[ModuleType], None] = lambda module: None
) -> ModuleType:
    """The module for ``key``: from this process, from disk, or built by ``build_source()``.

    ``attach`` is given a module loaded from a file, to give its kernels a disk cache of their
    machine code beside it (``machine_code.attach``, which the caller passes: this module stays free
    of Numba).

    Modules compiled in memory (no usable cache directory) have no ``__file__``; every module has
    ``__symgrad_source__``, its text.
    """
    if key in _loaded:
        return _loaded[key]
    built: list[str] = []

    def source() -> str:
        if not built:
            built.append(build_source())
        return built[0]

    directory = cache_dir()
    if directory not in _directory_verdicts:
        _directory_verdicts[directory] = directory_problem(directory)
    problem = _directory_verdicts[directory]
    module = None
    if problem is None:
        try:
            module = _load_from_disk(directory, key, source, attach)
        except OSError as err:  # the disk filled up, or the directory changed under us
            problem = _directory_verdicts[directory] = f"cannot write to the cache directory {directory}: {err}"
    if module is None:
        _warn_once(f"symgrad: {problem}; compiling in memory, so later processes will compile again")
        filename = f"<symgrad_{key[:40]}>"
        # Tracebacks through the generated code still show its lines.
        linecache.cache[filename] = (len(source()), None, source().splitlines(True), filename)
        module = _execute(f"symgrad_{key[:40]}", source(), filename)
    _loaded[key] = module
    module.__symgrad_key__ = key
    return module


def hold(module: ModuleType, owner: object, release: Callable[[ModuleType], None] = lambda module: None) -> None:
    """Keep ``module`` (from ``load_module`` or ``load_existing``) loaded while ``owner`` lives.

    A second function of the same key meanwhile gets the same module. Once the last owner of a
    module is collected, the module is forgotten (this process's registry, ``sys.modules``,
    ``linecache``) and ``release(module)`` lets go of what else keeps it (Numba's compiled code:
    ``machine_code.release``), so a long-lived process compiling thousands of functions in turn does
    not keep every one. A later function of that key loads the module again, from disk.
    """
    with _users_lock:
        _users[id(module)] = _users.get(id(module), 0) + 1
        # Back in the registry if its last owner went between its loading and this call.
        _loaded.setdefault(module.__symgrad_key__, module)
        sys.modules.setdefault(module.__name__, module)
    weakref.finalize(owner, _let_go, module, release)


def _let_go(module: ModuleType, release: Callable[[ModuleType], None]) -> None:
    with _users_lock:
        _users[id(module)] -= 1
        if _users[id(module)]:
            return
        del _users[id(module)]
        if _loaded.get(module.__symgrad_key__) is module:
            del _loaded[module.__symgrad_key__]
        if sys.modules.get(module.__name__) is module:
            del sys.modules[module.__name__]
        linecache.cache.pop(getattr(module, "__file__", f"<{module.__name__}>"), None)
    release(module)


# ------------------------------------------------------------------------------------------------
# Housekeeping: what `python -m symgrad cache info | clear | prune` do

_ENTRY = re.compile(r"^symgrad_([0-9a-f]{40})\.")
_TEMPORARY = re.compile(r"^\.tmp-.*\.py$|\.tmp\.[0-9a-f]+$")  # ours, and Numba's (<file>.tmp.<uuid>)
_STALE_TEMPORARY_S = 3600  # older temporary files belong to writers that died


@dataclass
class Entry:
    """One compiled function in the cache: its module file and Numba's files for its kernels."""

    key: str
    files: list[Path] = field(default_factory=list)
    size: int = 0
    last_used: float = 0.0
    has_module: bool = False


def _files(directory: Path) -> list[tuple[Path, os.stat_result]]:
    found = []
    for folder in (directory, directory / "__pycache__"):
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        for name in names:
            try:
                found.append((folder / name, os.lstat(folder / name)))
            except FileNotFoundError:  # removed by another process meanwhile
                continue
    return [(path, st) for path, st in found if stat.S_ISREG(st.st_mode)]


def entries(directory: Path | None = None) -> tuple[list[Entry], list[Path]]:
    """The cache's entries, least recently used first, and its leftover temporary files."""
    directory = directory or cache_dir()
    by_key: dict[str, Entry] = {}
    temporary = []
    for path, st in _files(directory):
        if _TEMPORARY.search(path.name):
            temporary.append(path)
            continue
        match = _ENTRY.match(path.name)
        if match is None:
            continue
        key = match.group(1)
        if path.suffix == ".recipe":  # part of the entry of the module it names
            recipe = recall(key, directory)
            key = recipe["key"][:40] if recipe is not None else key
        entry = by_key.setdefault(key, Entry(key))
        entry.files.append(path)
        entry.size += st.st_size
        if path.parent == directory and path.suffix == ".py":
            entry.has_module = True
            entry.last_used = max(entry.last_used, st.st_atime, st.st_mtime)
        elif not entry.has_module:
            entry.last_used = max(entry.last_used, st.st_mtime)
    # Machine code without its module can never be loaded again: it goes first.
    ordered = sorted(by_key.values(), key=lambda e: (e.has_module, e.last_used))
    return ordered, temporary


def _remove(paths: list[Path]) -> int:
    freed = 0
    for path in paths:
        try:
            size = path.lstat().st_size
            path.unlink()
            freed += size
        except FileNotFoundError:
            pass
    return freed


def _stale(paths: list[Path]) -> list[Path]:
    now = time.time()
    stale = []
    for path in paths:
        try:
            if now - path.lstat().st_mtime > _STALE_TEMPORARY_S:
                stale.append(path)
        except FileNotFoundError:
            pass
    return stale


def clear(directory: Path | None = None) -> tuple[int, int]:
    """Remove every entry (and stale temporary files); returns (entries removed, bytes freed).

    Processes running meanwhile are unaffected: they hold what they loaded, and recompile what
    they have not.
    """
    found, temporary = entries(directory)
    freed = sum(_remove(entry.files) for entry in found) + _remove(_stale(temporary))
    return len(found), freed


def prune(max_bytes: int, directory: Path | None = None) -> tuple[int, int]:
    """Remove least recently used entries until the cache holds at most ``max_bytes``; returns
    (entries removed, bytes freed). Machine code whose module is gone is removed first."""
    found, temporary = entries(directory)
    freed = _remove(_stale(temporary))
    total = sum(entry.size for entry in found)
    removed = 0
    for entry in found:
        if total <= max_bytes and entry.has_module:
            break
        gone = _remove(entry.files)
        total -= entry.size
        freed += gone
        removed += 1
    return removed, freed
