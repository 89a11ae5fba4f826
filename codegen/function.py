"""The compiled callable: from the front end's description of a function to a Python callable.

``symgrad.function`` checks what the user passed to ``theano.function``, optimizes the graph and
hands this module one :class:`FunctionSpec`. From it, ``compile_function`` makes the cache key,
loads the module for that key from the cache (lowering and printing it only when it is not there),
and wraps the module's entry with the argument checks, the shared variables' storage and locks.

Every argument is checked against its input's type *before* any kernel sees it, so a user mistake
is reported in the user's terms (input name, expected and received dtype, ndim or shape), never as
a Numba typing trace. Casting follows Theano's rules: a value is accepted when converting it to the
input's dtype loses nothing (int64 data for a float64 input, say); Python floats may always become
the input's float dtype; anything else needs ``allow_input_downcast=True``. Arrays are made
C-contiguous (one copy) whatever their layout, so each kernel is compiled once.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any, TextIO

import numpy as np

from symgrad.config import config
from symgrad.graph import Apply, Constant, Variable, toposort
from symgrad.types import describe_shape
from symgrad.values import coerce

from . import cache, machine_code
from .errors import MISSING, ChunkedArguments
from .errors import built_at as built_at_text
from .lower import Program, lower
from .memory import keep_freed_memory
from .module import ModuleOptions, built_at, graph_nodes
from .names import Names

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class FunctionSpec:
    """One function as the front end hands it over: checked, optimized, ready to lower.

    ``shared`` are the shared variables the graph reads or updates (implicit inputs), ``storage``
    their storage cells (one-slot lists, or device-aware cells on the GPU) and ``locks`` those of the
    updated ones, in one global order. ``parameter_names`` are the keywords of ``theano.In`` (or
    ``None``); ``defaults`` the checked default values of the last parameters. ``device_text`` is
    ``device_description(device)``, computed first so that a missing GPU is reported before any work.
    """

    inputs: list[Variable]
    outputs: list[Variable]
    single: bool
    shared: list[Variable]
    storage: list[Any]
    updates: list[tuple[Variable, Variable]]
    locks: list[threading.Lock]
    parameter_names: list[str | None]
    defaults: list[Any]
    name: str | None
    rewrites: tuple[str, ...]
    device: str
    device_text: str
    allow_input_downcast: bool | None = None
    return_device_arrays: bool = False
    trust_input: bool = False
    built_at: str | None = None
    borrowed: tuple[int, ...] = ()
    profile: bool = False
    #: Called as ``chunked(function, arguments)`` when an argument is a Dask array (CPU only): the
    #: front end's chunk-by-chunk evaluation (``symgrad.distributed``), whose result the call returns.
    chunked: Callable[[Any, tuple], Any] | None = None


def device_description(device: str) -> str:
    """What the cache key says of the device: ``'cpu'``, or the GPU's name and capability (a clear
    error when ``device='cuda'`` and there is none)."""
    if device not in DEVICES:
        raise ValueError(f"theano.function: device must be one of {', '.join(map(repr, DEVICES))}, got {device!r}")
    if device == "cpu":
        return "cpu"
    from .cuda import require_device

    return require_device()


class Function:
    """A compiled symgrad function: call it with one value per input, by position or by name.

    Each compiled function gets its own subclass whose ``__call__`` is the generated entry
    function itself, so a call costs one Python call plus the kernels (no wrapper layers).
    """

    # __weakref__: the disk cache unloads its module once the last function using it is collected.
    __slots__ = ("inputs", "outputs", "name", "rewrites", "built_at", "call", "profile", "_module", "__weakref__")

    def __init__(
        self,
        inputs: list[Variable],
        outputs: list[Variable],
        module,
        name: str | None,
        rewrites: tuple[str, ...],
        built_at: str | None = None,
    ) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.name = name
        #: The graph rewrites that changed this function's graph, in the order they first fired.
        self.rewrites = rewrites
        #: ``file:line`` of the ``theano.function`` call that made it.
        self.built_at = built_at
        #: The arguments of the ``theano.function`` call (``symgrad.function.FunctionCall``), which
        #: pickling writes and ``copy`` compiles again; ``None`` when not made by ``theano.function``.
        self.call = None
        #: The time each step took over the calls so far (:class:`StepProfile`), for a function
        #: compiled with ``profile=True``; ``None`` otherwise.
        self.profile = None
        self._module = module

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        parameters = ", ".join(f"{p}: {v.type}" for p, v in zip(self._module.PARAMETERS, self.inputs))
        results = ", ".join(str(v.type) for v in self.outputs)
        where = f", built at {self.built_at}" if self.built_at else ""
        return f"<symgrad function{name} ({parameters}) -> [{results}]{where}>"

    def __reduce__(self) -> tuple:
        """Pickle the graph and options (``self.call``), never machine code: loading compiles the
        function again, which the disk cache turns into loading its program."""
        if self.call is None:
            raise TypeError(f"{self!r} was not made by theano.function, so it cannot be pickled")
        return type(self.call).compile, (self.call,)

    def copy(
        self,
        share_memory: bool = False,
        swap: dict | None = None,
        delete_updates: bool = False,
        name: str | None = None,
    ) -> Function:
        """The same function with shared variables of its own, as Theano's ``Function.copy``.

        With ``share_memory=False`` (the default) the copy reads and updates copies of this function's
        shared variables (made now, with their current values); with ``True`` it uses the same ones.
        ``swap`` maps shared variables of this function to others of the same type to use instead;
        ``delete_updates=True`` leaves the updates out; ``name`` renames the copy.
        """
        if self.call is None:
            raise TypeError(f"{self!r} was not made by theano.function, so it cannot be copied")
        return self.call.copy(share_memory=share_memory, swap=swap, delete_updates=delete_updates, name=name)

    @property
    def maker(self):
        """Theano's ``f.maker``: ``f.maker.fgraph`` is the optimized graph (``toposort()``,
        ``inputs``, ``outputs``)."""
        if self.call is None:
            raise TypeError(f"{self!r} was not made by theano.function, so it has no maker")
        return self.call.maker

    @property
    def source(self) -> str:
        """The generated module: kernels and the entry function, as Python a person can read."""
        return self._module.__symgrad_source__

    def kernel_cache_stats(self) -> tuple[int, int]:
        """(hits, misses) of Numba's disk cache in this process, over the machine code this
        function caches: its programs (on CUDA, its kernels)."""
        hits = misses = 0
        for value in machine_code.cached_functions(self._module):
            stats = getattr(value, "stats", None)
            if stats is not None and hasattr(stats, "cache_hits"):
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
        return hits, misses


def _call_error(label: str, names: list[str]) -> Callable[[tuple, dict], TypeError]:
    """The error for surplus positional arguments or unknown keywords, listing the inputs."""

    def error(extra: tuple, unknown: dict) -> TypeError:
        if extra:
            return TypeError(
                f"{label} takes {len(names)} argument(s) ({', '.join(names)}), got {len(names) + len(extra)}"
            )
        keyword = next(iter(unknown))
        return TypeError(f"{label} got an unknown keyword argument {keyword!r}; its inputs are {', '.join(names)}")

    return error


def _make_device_check(var: Variable, label: str, allow_downcast: bool | None) -> Callable[[Any], Any]:
    """For ``device='cuda'``: the argument as a device array (or, for a 0-d input, a host scalar).

    A NumPy array (or list, or number) is checked exactly as on the CPU, then copied to the device.
    A device array (Numba's, or any object with ``__cuda_array_interface__``: CuPy, PyTorch CUDA
    tensors) is used where it is, without a copy, so it must already have the input's dtype.
    """
    from . import cuda_runtime as rt

    dtype = np.dtype(var.dtype)
    where = f"input {label!r}"

    def check(value: Any) -> Any:
        if not rt.is_device_array(value):
            host = coerce(value, var.type, where, allow_downcast)
            return host if var.ndim == 0 else rt.to_device(host)
        array = rt.as_device_array(value)
        if array.dtype != dtype:
            raise TypeError(f"{where} expects {dtype.name}, got a device array of {array.dtype}; device arrays are "
                            "not converted: cast it on the device first")  # fmt: skip
        if array.ndim != var.ndim:
            raise TypeError(f"{where} expects a {var.ndim}-d {dtype.name} value ({var.type}), got a {array.ndim}-d "
                            f"device array of shape {describe_shape(tuple(array.shape))}")  # fmt: skip
        for d, n in enumerate(var.type.shape):
            if n is not None and array.shape[d] != n:
                raise ValueError(f"{where} expects shape {describe_shape(var.type.shape)}, got a device array of "
                                 f"shape {describe_shape(tuple(array.shape))}")  # fmt: skip
        return rt.to_host(array)[()] if var.ndim == 0 else array

    return check


def _make_check(
    var: Variable,
    label: str,
    allow_downcast: bool | None,
    function: str,
    names: list[str],
    chunked: Callable[..., Any] | None = None,
) -> Callable[[Any], Any]:
    """A function that returns the argument as the kernel wants it, or raises a clear error.

    The generated entry tests the common case inline; this runs only for the rest, and its own
    fast paths cover Python numbers for scalar inputs. ``function`` and ``names`` (all the
    parameters) word the error for a missing argument. A Dask array (a collection: it has
    ``__dask_graph__``) raises ``ChunkedArguments(chunked)``, which the entry answers by returning
    ``chunked(*arguments)``.
    """
    dtype = np.dtype(var.dtype)
    where = f"input {label!r}"

    def slow(value: Any) -> Any:
        if value is MISSING:
            raise TypeError(
                f"{function} got no value for input {label!r} (a {var.type} value); "
                f"it takes {len(names)} argument(s): {', '.join(names)}"
            )
        if chunked is not None and hasattr(type(value), "__dask_graph__"):
            raise ChunkedArguments(chunked)
        return coerce(value, var.type, where, allow_downcast)

    if var.ndim == 0 and dtype == np.float64:

        def check(value: Any) -> Any:
            kind_ = type(value)
            if kind_ is float:
                return value
            if kind_ is int and -(2**53) <= value <= 2**53:  # exactly representable
                return float(value)
            return slow(value)

    elif var.ndim == 0 and dtype == np.int64:

        def check(value: Any) -> Any:
            return value if type(value) is int and -(2**63) <= value < 2**63 else slow(value)

    else:
        check = slow
    return check


def _serialized(entry: Callable, locks: list[threading.Lock]) -> Callable:
    """``entry`` holding ``locks`` (of the shared variables it updates) while it runs.

    Calls that update the same shared variable then run one at a time, so none reads a value
    another is about to replace (a lost update) or sees a buffer half rewritten in place. The
    locks are taken in one global order (by id), so two functions updating the same variables
    cannot deadlock. Calls that only read shared variables take no lock.
    """
    if len(locks) == 1:
        (lock,) = locks

        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return entry(*args, **kwargs)

    else:

        def call(*args: Any, **kwargs: Any) -> Any:
            with contextlib.ExitStack() as held:
                for lock in locks:
                    held.enter_context(lock)
                return entry(*args, **kwargs)

    call.__name__ = call.__qualname__ = entry.__name__
    return call


_parallel_lock = threading.Lock()


def _guard_parallel_programs(module) -> None:
    """Wrap the module's programs on threads for what Numba leaves to the caller.

    - How many threads: ``config.num_threads`` (all cores when ``None``), but no more than the cores
      free at this call (``threads_free``). Threads of a ``prange`` loop wait for each other at its
      end, so one of them waiting for a core that another process holds stalls them all: measured
      here, a Hessian-vector product at n = 1e6 ran 1.8 times a serial hand loop with both cores free
      and 9 times with one taken. (Still the program on threads, on one thread if need be, not the
      serial one: its sums add fixed chunks in order, and the bits of a result must not depend on
      how busy the machine was.)
    - Numba's thread count (``numba.set_num_threads``) belongs to the thread that set it, so the
      wrapper sets it in the calling thread.
    - Where Numba runs parallel loops on its 'workqueue' threading layer (neither TBB nor OpenMP is
      installed), two threads running parallel loops at once abort the process: there, the programs
      take one process-wide lock.

    Programs on threads run only for large arguments, so the wrapper's cost (a few microseconds,
    most of it reading ``/proc/loadavg``) does not show.
    """
    parallel = [name for name in vars(module) if name.startswith("program") and name.endswith("_parallel")]
    if not parallel:
        return
    import numba
    from numba.np.ufunc import parallel as numba_parallel

    numba_parallel._launch_threads()  # chooses the threading layer, so that it can be asked
    lock = _parallel_lock if numba.threading_layer() == "workqueue" else contextlib.nullcontext()
    for name in parallel:
        threaded = module.__dict__[name]
        if hasattr(threaded, "threaded"):
            continue  # wrapped already, for an earlier function of this module

        def run(*args: Any, _threaded=threaded) -> Any:
            threads = threads_free(config.num_threads or numba.config.NUMBA_NUM_THREADS)
            if numba.get_num_threads() != threads:
                numba.set_num_threads(threads)
            with lock:
                return _threaded(*args)

        run.threaded = threaded  # (not __wrapped__: a Numba dispatcher has one, its Python function)
        setattr(module, name, run)


def threads_free(wanted: int) -> int:
    """How many threads a parallel loop should use now: at most ``wanted``, and no more than the
    cores this process may run on (its CPU affinity: ``taskset``, a container's CPU set) less
    those other tasks keep busy (Linux's count of runnable tasks; the caller is one of them)."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    busy = _runnable_tasks() - 1
    return max(1, min(wanted, allowed, (os.cpu_count() or 1) - busy))


def _runnable_tasks() -> int:
    """Tasks running or waiting for a core on this machine now (the 4th field of /proc/loadavg);
    1 (this one) where the system does not say."""
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return 1


def _describe_graph(
    inputs: list[Variable],
    shared: list[Variable],
    outputs: list[Variable],
    updates: list[tuple[Variable, Variable]],
    options: str,
) -> str:
    """A canonical text of the optimized graph: equal text means the same compiled code."""
    ids: dict[int, int] = {}
    lines = [options]
    for i, v in enumerate(inputs + shared):
        ids[id(v)] = len(ids)
        lines.append(f"{'in' if i < len(inputs) else 'shared'} {i} {v.type} {v.name!r}")

    def ref(v: Variable) -> str:
        if id(v) not in ids:
            ids[id(v)] = len(ids)
            if isinstance(v, Constant):
                lines.append(f"const {ids[id(v)]} {v.dtype} {v.data.shape} {v.data.tobytes().hex()}")
        return str(ids[id(v)])

    for node in toposort(outputs + [v for _, v in updates]):
        args = ",".join(ref(i) for i in node.inputs)
        ids[id(node.output)] = len(ids)
        lines.append(f"{ids[id(node.output)]} = {node.op.signature()}({args}) {node.output.name!r}")
    lines.append("out " + ",".join(ref(o) for o in outputs))
    lines += [f"update {ref(t)} {ref(v)}" for t, v in updates]
    return "\n".join(lines)


def _backend(spec: FunctionSpec) -> tuple[Callable[[Program, ModuleOptions], str], dict[str, Any]]:
    """The module printer of ``spec``'s device, and its options."""
    if spec.device == "cuda":
        from . import cuda_runtime
        from .cuda import emit_cuda_module

        options = dict(return_device_arrays=spec.return_device_arrays, reduce_threads=cuda_runtime.REDUCE_THREADS)
        return emit_cuda_module, options
    from .cpu import emit_module

    if config.reuse_memory:
        keep_freed_memory()
    options = dict(
        parallel_threshold=config.parallel_threshold,
        vector_math=config.vector_math,
        trust_input=spec.trust_input,
        borrowed=spec.borrowed,
        profile=spec.profile,
    )
    return emit_module, options


def _options_text(spec: FunctionSpec, backend: dict[str, Any]) -> str:
    """Everything besides the graph that the module's text depends on, for the cache key."""
    # The rewrites applied are in the key because the module's header lists them.
    return (f"{spec.device_text} {' '.join(f'{k}={v}' for k, v in backend.items())} single={spec.single} "
            f"name={spec.name!r} parameters={spec.parameter_names} defaults={len(spec.defaults)} "
            f"rewrites={spec.rewrites}")  # fmt: skip


def graph_key(spec: FunctionSpec, excluded: list[str]) -> str:
    """The key of the user's graph as built (``spec`` before any rewrite), under the rewrites
    ``excluded``: equal keys optimize to the same graph, and so to the same module."""
    _, backend = _backend(spec)
    options = f"{_options_text(spec, backend)} excluded={sorted(excluded)}"
    return cache.make_key(_describe_graph(spec.inputs, spec.shared, spec.outputs, spec.updates, options))


def compile_function(spec: FunctionSpec, built: tuple[str, FunctionSpec] | None = None) -> Function:
    """The compiled callable for ``spec``: its module from the cache, or lowered and printed now.

    ``built`` is the graph as the user built it (its ``graph_key`` and its spec, before the rewrites
    that made ``spec``): the cache remembers which module it led to, for ``recall_function``.
    """
    emit, backend = _backend(spec)
    key = cache.make_key(_describe_graph(spec.inputs, spec.shared, spec.outputs, spec.updates,
                                         _options_text(spec, backend)))  # fmt: skip

    def build_source() -> str:
        program = lower(spec.inputs, spec.outputs, spec.shared, spec.updates)
        return emit(program, ModuleOptions(
            name=spec.name,
            key=key,
            single=spec.single,
            parameter_names=tuple(spec.parameter_names),
            n_defaults=len(spec.defaults),
            rewrites=spec.rewrites,
            **backend,
        ))  # fmt: skip

    module = cache.load_module(key, build_source, machine_code.attach)
    nodes = graph_nodes(spec.outputs, spec.updates)
    if built is not None:
        cache.remember(built[0], key, _recipe(spec, built[1], [nodes[k] for k in module.SITES]))
    return _function(spec, module, built_at(nodes, module.SITES))


def _function(spec: FunctionSpec, module, sites: dict[int, str]) -> Function:
    """The callable of ``module``'s entry for ``spec``: its argument checks, storage and locks."""
    params = list(module.PARAMETERS)
    label = f"function {spec.name!r}" if spec.name else "the function"
    made: list[Function] = []  # the function, once made: what a chunked call evaluates
    chunked = None if spec.chunked is None else (lambda *arguments: spec.chunked(made[0], arguments))
    checks = [
        _make_device_check(v, p, spec.allow_input_downcast)
        if spec.device == "cuda"
        else _make_check(v, p, spec.allow_input_downcast, label, params, chunked)
        for v, p in zip(spec.inputs, params)
    ]
    entry = module.make_entry(checks, _call_error(label, params), spec.defaults, spec.storage, sites)
    profile = StepProfile(module.STEPS, entry.step_seconds, entry.step_calls) if hasattr(module, "STEPS") else None
    _guard_parallel_programs(module)
    made.append(_wrapped(spec, entry, module, profile))
    cache.hold(module, made[0], machine_code.release if spec.device == "cpu" else lambda module: None)
    return made[0]


def _wrapped(spec: FunctionSpec, entry: Callable, module, profile: StepProfile | None) -> Function:
    """The :class:`Function` calling ``entry`` (holding the locks of the shared variables it updates)."""
    if spec.locks:
        entry = _serialized(entry, spec.locks)
    compiled = type("Function", (Function,), {"__call__": staticmethod(entry), "__slots__": ()})
    function = compiled(spec.inputs, spec.outputs, module, spec.name, spec.rewrites, spec.built_at)
    function.profile = profile
    return function


class StepProfile:
    """The time each step of a profiled function took (``theano.function(..., profile=True)``).

    ``steps`` describes each step (a kernel, a matrix product, a node of the 'py' linker ...),
    ``seconds`` and ``calls`` are the total time and the number of runs of each, over the calls
    so far. On the CPU each step of a profiled function is a compiled program of its own, timed
    from Python, so a step's time includes a call into Numba (about a microsecond), and on the first
    call Numba compiling it, where its machine code is not in the disk cache: ``reset()`` after a
    first call leaves that out.
    """

    def __init__(self, steps: Sequence[str], seconds: list[float], calls: list[int]) -> None:
        self.steps = tuple(steps)
        self.seconds = seconds
        self.calls = calls

    def reset(self) -> None:
        """Forget the calls so far."""
        self.seconds[:] = [0.0] * len(self.seconds)
        self.calls[:] = [0] * len(self.calls)

    def summary(self, file: TextIO | None = None) -> str:
        """A table of the steps, the most expensive first: calls, total and per-call time and share
        of the time; printed (to ``file``, standard output by default) and returned."""
        total = sum(self.seconds)
        rows = ["| step | calls | total s | per call us | % |", "|---|---:|---:|---:|---:|"]
        for k in sorted(range(len(self.steps)), key=lambda k: -self.seconds[k]):
            seconds, calls = self.seconds[k], self.calls[k]
            per_call = 1e6 * seconds / calls if calls else 0.0
            share = 100 * seconds / total if total else 0.0
            rows.append(f"| {self.steps[k]} | {calls} | {seconds:.6f} | {per_call:.1f} | {share:.1f} |")
        rows.append(f"| all {len(self.steps)} steps | {max(self.calls, default=0)} | {total:.6f} | | 100.0 |")
        text = "\n".join(rows)
        print(text, file=file)
        return text


def python_function(
    spec: FunctionSpec,
    run: Callable[[list[Any]], list[Any]],
    source: str | ModuleType,
    profile: StepProfile | None = None,
) -> Function:
    """A :class:`Function` whose steps run in Python: ``run`` takes the checked arguments and then the
    shared variables' values, and returns the outputs' values and then the updates' new values.

    The arguments are bound and checked as by a compiled entry (same parameters, defaults and
    errors); the outputs and new shared values are fresh arrays of their variables' dtypes, written
    after ``run`` returns. ``source`` is what ``f.source`` shows: a text, or a generated module
    whose text to show (DebugMode's build). CPU only.
    """
    if isinstance(source, str):
        names = Names()
        module = ModuleType("symgrad_python_function")
        module.__symgrad_source__ = source
        module.PARAMETERS = tuple(names.add(v, prefix="x", preferred=p) for v, p in zip(spec.inputs,
                                  spec.parameter_names or [None] * len(spec.inputs)))  # fmt: skip
    else:
        module = source
    params = list(module.PARAMETERS)
    label = f"function {spec.name!r}" if spec.name else "the function"
    checks = [_make_check(v, p, spec.allow_input_downcast, label, params) for v, p in zip(spec.inputs, params)]
    call_error = _call_error(label, params)
    n, first_default = len(params), len(params) - len(spec.defaults)
    n_out = len(spec.outputs)

    def entry(*args: Any, **keywords: Any) -> Any:
        unknown = {k: v for k, v in keywords.items() if k not in params}
        if len(args) > n or unknown:
            raise call_error(args[n:], unknown)
        values = [*args, *[MISSING] * (n - len(args))]
        for keyword, value in keywords.items():
            k = params.index(keyword)
            if k < len(args):
                raise TypeError(f"{label} got multiple values for argument {keyword!r}")
            values[k] = value
        for k in range(first_default, n):
            if values[k] is MISSING:
                values[k] = spec.defaults[k - first_default]
        values = [np.asarray(check(value), dtype=v.dtype) for check, value, v in zip(checks, values, spec.inputs)]
        results = run(values + [np.asarray(cell[0]) for cell in spec.storage])
        outputs = [np.array(value, dtype=v.dtype) for value, v in zip(results, spec.outputs)]
        cell_of = {id(v): cell for v, cell in zip(spec.shared, spec.storage)}
        for (target, _), value in zip(spec.updates, results[n_out:]):
            cell_of[id(target)][0] = np.array(value, dtype=target.dtype)
        return outputs[0] if spec.single else outputs

    entry.__qualname__ = entry.__name__ = "compiled_function"
    return _wrapped(spec, entry, module, profile)


def _recipe(spec: FunctionSpec, before: FunctionSpec, sites: list[Apply]) -> dict[str, Any]:
    """What ``recall_function`` needs besides the module to make ``spec``'s function from ``before``,
    the graph as built: the rewrites applied, which of its shared variables the module reads (by
    position), and for each ``built_at`` site a node of it built by the same line (by number in
    ``graph_nodes``; -1 where none was)."""
    position = {id(v): k for k, v in enumerate(before.shared)}
    numbered = {}
    for k, node in enumerate(graph_nodes(before.outputs, before.updates)):
        if node.trace:
            numbered.setdefault(node.trace, k)
    return {
        "rewrites": list(spec.rewrites),
        "shared": [position[id(v)] for v in spec.shared],
        "sites": [numbered.get(node.trace, -1) for node in sites],
    }


def recall_function(built_key: str, before: FunctionSpec) -> Function | None:
    """The function that the graph ``before`` (as the user built it) led to in an earlier process,
    made without rewriting, lowering or printing anything; ``None`` if the cache does not know it."""
    recipe = cache.recall(built_key)
    if recipe is None:
        return None
    nodes = graph_nodes(before.outputs, before.updates)
    try:
        shared = [before.shared[k] for k in recipe["shared"]]
        rewrites = tuple(str(name) for name in recipe["rewrites"])
        lines = [nodes[k] if k >= 0 else None for k in recipe["sites"]]
    except (KeyError, IndexError, TypeError):
        return None  # not what this version of symgrad writes: build it the long way
    module = cache.load_existing(recipe["key"], machine_code.attach)
    if module is None or len(lines) != len(module.SITES):
        return None
    spec = replace(before, shared=shared, storage=[v.storage for v in shared], rewrites=rewrites)
    return _function(spec, module, {k: built_at_text(node) if node else "" for k, node in zip(module.SITES, lines)})
