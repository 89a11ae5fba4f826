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
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from symgrad.config import config
from symgrad.graph import Constant, Variable, toposort
from symgrad.types import describe_shape
from symgrad.values import coerce

from . import cache, machine_code
from .cpu import emit_module
from .errors import MISSING
from .lower import lower
from .module import ModuleOptions, built_at, graph_nodes

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

    __slots__ = ("inputs", "outputs", "name", "rewrites", "built_at", "_module")

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
        self._module = module

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        parameters = ", ".join(f"{p}: {v.type}" for p, v in zip(self._module.PARAMETERS, self.inputs))
        results = ", ".join(str(v.type) for v in self.outputs)
        where = f", built at {self.built_at}" if self.built_at else ""
        return f"<symgrad function{name} ({parameters}) -> [{results}]{where}>"

    @property
    def source(self) -> str:
        """The generated module: kernels and the entry function, as Python a person can read."""
        return self._module.__symgrad_source__

    def kernel_cache_stats(self) -> tuple[int, int]:
        """(hits, misses) of Numba's disk cache over this function's kernels in this process."""
        hits = misses = 0
        for value in vars(self._module).values():
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
    var: Variable, label: str, allow_downcast: bool | None, function: str, names: list[str]
) -> Callable[[Any], Any]:
    """A function that returns the argument as the kernel wants it, or raises a clear error.

    The generated entry tests the common case inline; this runs only for the rest, and its own
    fast paths cover Python numbers for scalar inputs. ``function`` and ``names`` (all the
    parameters) word the error for a missing argument.
    """
    dtype = np.dtype(var.dtype)
    where = f"input {label!r}"

    def slow(value: Any) -> Any:
        if value is MISSING:
            raise TypeError(
                f"{function} got no value for input {label!r} (a {var.type} value); "
                f"it takes {len(names)} argument(s): {', '.join(names)}"
            )
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


def _guard_parallel_kernels(module) -> None:
    """Wrap the module's parallel kernels for two things Numba leaves to the caller.

    Numba's thread count (``numba.set_num_threads``) belongs to the thread that set it, so a call
    from another thread would use every core whatever ``config.num_threads`` says: the wrapper sets
    it in the calling thread first. And where Numba runs parallel loops on its 'workqueue'
    threading layer (neither TBB nor OpenMP is installed), two threads running parallel kernels at
    once abort the process: there, the kernels take one process-wide lock. Parallel kernels run
    only on large inputs, so the wrapper's cost (well under a microsecond) does not show.
    """
    parallel = [
        name for name in vars(module) if name.endswith("_parallel") and hasattr(module.__dict__[name], "py_func")
    ]
    if not parallel:
        return
    import numba
    from numba.np.ufunc import parallel as numba_parallel

    numba_parallel._launch_threads()  # chooses the threading layer, so that it can be asked
    lock = _parallel_lock if numba.threading_layer() == "workqueue" else contextlib.nullcontext()
    for name in parallel:
        kernel = module.__dict__[name]

        def run(*args: Any, _kernel=kernel) -> Any:
            wanted = config.num_threads
            if wanted is not None and numba.get_num_threads() != wanted:
                numba.set_num_threads(wanted)
            with lock:
                return _kernel(*args)

        setattr(module, name, run)


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


def compile_function(spec: FunctionSpec) -> Function:
    """The compiled callable for ``spec``: its module from the cache, or lowered and printed now."""
    if spec.device == "cuda":
        from . import cuda_runtime
        from .cuda import emit_cuda_module as emit

        backend = dict(return_device_arrays=spec.return_device_arrays, reduce_threads=cuda_runtime.REDUCE_THREADS)
    else:
        emit = emit_module
        backend = dict(
            parallel_threshold=config.parallel_threshold, vector_math=config.vector_math, trust_input=spec.trust_input
        )
    # The rewrites applied are in the key because the module's header lists them.
    options = (f"{spec.device_text} {' '.join(f'{k}={v}' for k, v in backend.items())} single={spec.single} "
               f"name={spec.name!r} parameters={spec.parameter_names} defaults={len(spec.defaults)} "
               f"rewrites={spec.rewrites}")  # fmt: skip
    key = cache.make_key(_describe_graph(spec.inputs, spec.shared, spec.outputs, spec.updates, options))

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
    params = list(module.PARAMETERS)
    label = f"function {spec.name!r}" if spec.name else "the function"
    checks = [
        _make_device_check(v, p, spec.allow_input_downcast)
        if spec.device == "cuda"
        else _make_check(v, p, spec.allow_input_downcast, label, params)
        for v, p in zip(spec.inputs, params)
    ]
    sites = built_at(graph_nodes(spec.outputs, spec.updates), module.SITES) if module.SITES else {}
    entry = module.make_entry(checks, _call_error(label, params), spec.defaults, spec.storage, sites)
    if spec.locks:
        entry = _serialized(entry, spec.locks)
    _guard_parallel_kernels(module)
    compiled = type("Function", (Function,), {"__call__": staticmethod(entry), "__slots__": ()})
    return compiled(spec.inputs, spec.outputs, module, spec.name, spec.rewrites, spec.built_at)
