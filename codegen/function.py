"""The compiled callable: argument checking, then the generated driver.

Every argument is checked against its input's type *before* any kernel sees it, so a user mistake
is reported in the user's terms (input name, expected and received dtype, ndim or shape), never as
a Numba typing trace. Casting follows Theano's rules: a value is accepted when converting it to the
input's dtype loses nothing (int64 data for a float64 input, say); Python floats may always become
the input's float dtype; anything else needs ``allow_input_downcast=True``. Arrays are made
C-contiguous (one copy) whatever their layout, so each kernel is compiled once.
"""

from __future__ import annotations

import contextlib
import keyword
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from symgrad.config import config
from symgrad.grad import rewrites_in_gradients
from symgrad.graph import Constant, Variable, graph_inputs, toposort
from symgrad.rewrite import optimize, rebuild
from symgrad.types import describe_shape
from symgrad.values import coerce

from . import cache
from .cpu import emit_module
from .errors import MISSING
from .lower import lower

DEVICES = ("cpu", "cuda")


class Function:
    """A compiled symgrad function: call it with one value per input, by position or by name.

    Each compiled function gets its own subclass whose ``__call__`` is the generated entry
    function itself, so a call costs one Python call plus the kernels (no wrapper layers).
    """

    __slots__ = ("inputs", "outputs", "name", "rewrites", "_module")

    def __init__(
        self, inputs: list[Variable], outputs: list[Variable], module, name: str | None, rewrites: tuple[str, ...]
    ) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.name = name
        #: The graph rewrites that changed this function's graph, in the order they first fired.
        self.rewrites = rewrites
        self._module = module

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


def _pairs(value: Any, what: str) -> list[tuple[Any, Any]]:
    """``updates=``/``givens=`` as a list of pairs: from a dict, or a list or tuple of pairs."""
    if value is None:
        return []
    items = list(value.items()) if isinstance(value, Mapping) else value
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"theano.function: {what} must be a dict or a list of (variable, value) pairs, "
                        f"got {type(value).__name__}")  # fmt: skip
    if len(items) == 2 and isinstance(items[0], Variable) and not isinstance(items[1], (list, tuple)):
        items = [items]  # a single pair, as Theano accepts
    pairs = []
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise TypeError(f"theano.function: each entry of {what} must be a (variable, value) pair, got {item!r}")
        pairs.append(tuple(item))
    return pairs


def _check_updates(pairs: list[tuple[Any, Any]]) -> list[tuple[Variable, Variable]]:
    from symgrad.shared import SharedVariable
    from symgrad.tensor.basic import as_tensor_variable

    checked: list[tuple[Variable, Variable]] = []
    for target, value in pairs:
        if not isinstance(target, SharedVariable):
            raise TypeError(f"theano.function: update target {target!r} is not a shared variable; "
                            "only variables made with theano.shared can be updated")  # fmt: skip
        if any(t is target for t, _ in checked):
            raise ValueError(f"theano.function: shared variable {target!r} is updated twice")
        value = as_tensor_variable(value)
        if value.dtype != target.dtype or value.ndim != target.ndim:
            raise TypeError(
                f"theano.function: the update of {target!r} must have its type {target.type}, got {value.type} "
                f"(an update cannot change the dtype or number of dimensions; cast it with T.cast)"
            )
        if any(n is not None and m is not None and n != m for n, m in zip(target.type.shape, value.type.shape)):
            raise ValueError(f"theano.function: the update of {target!r} has shape {value.type}, not {target.type}")
        checked.append((target, value))
    return checked


def _check_givens(pairs: list[tuple[Any, Any]]) -> dict[Variable, Variable]:
    from symgrad.tensor.basic import as_tensor_variable

    replace: dict[Variable, Variable] = {}
    for old, new in pairs:
        if not isinstance(old, Variable) or old.owner is not None or isinstance(old, Constant):
            raise TypeError(f"theano.function: givens can only replace free variables (inputs or shared "
                            f"variables), got {old!r}")  # fmt: skip
        new = as_tensor_variable(new)
        if new.dtype != old.dtype or new.ndim != old.ndim:
            raise TypeError(f"theano.function: givens replaces {old!r} ({old.type}) with a value of type {new.type}; "
                            "the types must agree")  # fmt: skip
        replace[old] = new
    return replace


def _parameters(inputs: Sequence[Any], allow_downcast: bool | None) -> tuple[list[Variable], list, list]:
    """The input variables, their parameter names and the checked default values (``theano.In``)."""
    from symgrad.function import In
    from symgrad.shared import SharedVariable

    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"theano.function: inputs must be a list of variables, got {type(inputs).__name__}")
    variables, names, defaults = [], [], []
    for i, item in enumerate(inputs):
        spec = item if isinstance(item, In) else In(item)
        v = spec.variable
        if not isinstance(v, Variable):
            raise TypeError(f"theano.function: inputs[{i}] is a {type(v).__name__}, not a symbolic variable")
        if isinstance(v, SharedVariable):
            raise TypeError(f"theano.function: inputs[{i}] ({v!r}) is a shared variable; shared variables are "
                            "implicit inputs (their value is used), so leave them out of the inputs list")  # fmt: skip
        if isinstance(v, Constant) or v.owner is not None:
            raise TypeError(f"theano.function: inputs[{i}] ({v!r}) is computed from other variables or is a "
                            "constant; inputs must be free variables such as T.dmatrix('x')")  # fmt: skip
        if any(v is w for w in variables):
            raise ValueError(f"theano.function: input {v!r} is listed twice")
        label = spec.name or v.name or f"inputs[{i}]"
        if spec.name is not None and (not spec.name.isidentifier() or keyword.iskeyword(spec.name)):
            raise ValueError(f"theano.function: In(name={spec.name!r}) is not a valid Python parameter name")
        if spec.has_default:
            defaults.append(coerce(spec.value, v.type, f"the default value of input {label!r}", allow_downcast))
        elif defaults:
            raise ValueError(f"theano.function: input {label!r} has no default value but follows one that has; "
                             "inputs with defaults (theano.In(..., value=...)) must come last")  # fmt: skip
        variables.append(v)
        names.append(spec.name)
    return variables, names, defaults


def compile_function(
    inputs: Sequence[Any],
    outputs: Variable | Sequence[Variable] | None,
    *,
    name: str | None,
    on_unused_input: str,
    allow_input_downcast: bool | None,
    updates: Any = None,
    givens: Any = None,
    exclude: Sequence[str] = (),
    device: str | None = None,
    return_device_arrays: bool = False,
) -> Function:
    from symgrad.shared import SharedVariable
    from symgrad.tensor.basic import as_tensor_variable

    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', got {on_unused_input!r}")
    device = config.device if device is None else device
    if device not in DEVICES:
        raise ValueError(f"theano.function: device must be one of {', '.join(map(repr, DEVICES))}, got {device!r}")
    if return_device_arrays and device != "cuda":
        raise ValueError("theano.function: return_device_arrays=True needs device='cuda'")
    if device == "cuda":
        from .cuda import require_device

        device_text = require_device()  # a clear error now, before any work, when there is no GPU
    inputs, parameter_names, defaults = _parameters(inputs, allow_input_downcast)
    single = outputs is not None and not isinstance(outputs, (list, tuple))
    out_list = [] if outputs is None else [outputs] if single else list(outputs)
    out_list = [as_tensor_variable(o) for o in out_list]
    update_pairs = _check_updates(_pairs(updates, "updates"))
    replace = _check_givens(_pairs(givens, "givens"))
    everything = out_list + [v for _, v in update_pairs]
    if replace:
        everything = rebuild(everything, replace)
    # Used means used by the graph as written: rewrites may drop reads of values that only lent
    # a shape (the gradient of sum(x * w) with respect to x is w), which is no user mistake.
    used = {id(v) for v in graph_inputs(everything)}
    rewrites = rewrites_in_gradients(everything)  # those T.grad applied before differentiating
    if isinstance(exclude, str):
        exclude = [exclude]  # one name, not its letters
    everything = optimize(everything, rewrites, exclude=exclude)
    out_list = everything[: len(out_list)]
    update_pairs = [(t, v) for (t, _), v in zip(update_pairs, everything[len(out_list) :])]
    for v in inputs:
        if id(v) not in used:
            message = f"theano.function: input {v!r} is not used to compute any output"
            if on_unused_input == "raise":
                raise ValueError(message + "; pass on_unused_input='ignore' (or 'warn') if that is intended")
            if on_unused_input == "warn":
                warnings.warn(message, stacklevel=3)
    listed = {id(v) for v in inputs}
    shared: list[Variable] = []
    for v in graph_inputs(everything) + [t for t, _ in update_pairs]:
        if isinstance(v, SharedVariable):
            if all(v is not s for s in shared):
                shared.append(v)
        elif id(v) not in listed:
            raise ValueError(
                f"theano.function: the outputs depend on {v!r} ({v.type}), which is not in the inputs list"
            )

    # The rewrites applied are in the key because the module's header lists them.
    common = (f"single={single} name={name!r} parameters={parameter_names} defaults={len(defaults)} "
              f"rewrites={rewrites}")  # fmt: skip
    if device == "cuda":
        from . import cuda_runtime
        from .cuda import emit_cuda_module

        options = f"{device_text} return_device_arrays={return_device_arrays} {common}"
    else:
        options = f"cpu parallel_threshold={config.parallel_threshold} vector_math={config.vector_math} {common}"
    key = cache.make_key(_describe_graph(inputs, shared, out_list, update_pairs, options))

    def build_source() -> str:
        program = lower(inputs, out_list, shared, update_pairs)
        if device == "cuda":
            return emit_cuda_module(program, name, key, single, parameter_names, len(defaults), rewrites,
                                    return_device_arrays, cuda_runtime.REDUCE_THREADS)  # fmt: skip
        return emit_module(
            program, name, key, config.parallel_threshold, single, parameter_names, len(defaults), rewrites,
            config.vector_math,
        )  # fmt: skip

    module = cache.load_module(key, build_source)
    params = list(module.PARAMETERS)
    label = f"function {name!r}" if name else "the function"
    checks = [
        _make_device_check(v, p, allow_input_downcast)
        if device == "cuda"
        else _make_check(v, p, allow_input_downcast, label, params)
        for v, p in zip(inputs, params)
    ]
    storage = [v.storage for v in shared]
    entry = module.make_entry(checks, _call_error(label, params), defaults, storage)
    if update_pairs:
        entry = _serialized(entry, [target.lock for target, _ in sorted(update_pairs, key=lambda p: id(p[0]))])
    _guard_parallel_kernels(module)
    compiled = type("Function", (Function,), {"__call__": staticmethod(entry), "__slots__": ()})
    return compiled(inputs, out_list, module, name, tuple(rewrites))
