"""The compiled callable: argument checking, then the generated driver.

Every argument is checked against its input's type *before* any kernel sees it, so a user mistake
is reported in the user's terms (input name, expected and received dtype, ndim or shape), never as
a Numba typing trace. Casting follows Theano's rules: a value is accepted when converting it to the
input's dtype loses nothing (int64 data for a float64 input, say); Python floats may always become
the input's float dtype; anything else needs ``allow_input_downcast=True``. Arrays are made
C-contiguous (one copy) whatever their layout, so each kernel is compiled once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from symgrad.config import config
from symgrad.graph import Constant, Variable, graph_inputs, toposort
from symgrad.rewrite import optimize
from symgrad.types import describe_shape

from . import cache
from .cpu import emit_module
from .lower import lower


class Function:
    """A compiled symgrad function: call it with one value per input, by position or by name.

    Each compiled function gets its own subclass whose ``__call__`` is the generated entry
    function itself, so a call costs one Python call plus the kernels (no wrapper layers).
    """

    __slots__ = ("inputs", "outputs", "name", "_module")

    def __init__(self, inputs: list[Variable], outputs: list[Variable], module, name: str | None) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.name = name
        self._module = module

    @property
    def source(self) -> str:
        """The generated module: kernels and the entry function, as Python a person can read."""
        with open(self._module.__file__, encoding="utf-8") as f:
            return f.read().partition("\n")[2]

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


def _make_check(var: Variable, label: str, allow_downcast: bool | None) -> Callable[[Any], Any]:
    """A function that returns the argument as the kernel wants it, or raises a clear error."""
    dtype = np.dtype(var.dtype)
    ndim = var.ndim
    static = var.type.shape
    fixed = [(d, n) for d, n in enumerate(static) if n is not None]

    def slow(value: Any) -> Any:
        if isinstance(value, Variable):
            raise TypeError(f"input {label!r}: got the symbolic variable {value!r}; pass a value (e.g. a NumPy array)")
        from_python = isinstance(value, (bool, int, float, list, tuple))
        array = value if isinstance(value, np.ndarray) else _as_array(value, label, var.dtype)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"input {label!r} expects {var.dtype}, got an array of {array.dtype}, not real numbers")
        if array.ndim != ndim:
            raise TypeError(
                f"input {label!r} expects a {ndim}-d {var.dtype} value ({var.type}), got a {array.ndim}-d "
                f"{array.dtype} value of shape {describe_shape(array.shape)}"
            )
        for d, n in fixed:
            if array.shape[d] != n:
                raise ValueError(
                    f"input {label!r} expects shape {describe_shape(static)}, got {describe_shape(array.shape)}"
                )
        if array.dtype != dtype:
            array = _cast(array, dtype, label, from_python and not isinstance(value, (list, tuple)), allow_downcast)
        if ndim == 0:
            return array[()]
        return np.ascontiguousarray(array)

    if ndim == 0 and dtype == np.float64:

        def check(value: Any) -> Any:
            kind_ = type(value)
            if kind_ is float:
                return value
            if kind_ is int and -(2**53) <= value <= 2**53:  # exactly representable
                return float(value)
            return slow(value)

    elif ndim == 0 and dtype == np.int64:

        def check(value: Any) -> Any:
            return value if type(value) is int and -(2**63) <= value < 2**63 else slow(value)

    elif ndim == 0:
        check = slow
    else:

        def check(value: Any) -> Any:
            if (
                type(value) is np.ndarray and value.dtype is dtype and value.ndim == ndim
                and value.flags.c_contiguous and not fixed
            ):  # fmt: skip
                return value
            return slow(value)

    return check


def _as_array(value: Any, label: str, dtype: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"input {label!r}: cannot convert {type(value).__name__} to an array: {err}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"input {label!r} expects {dtype}, got {type(value).__name__} {value!r:.60}, not real numbers")
    return array


def _cast(array: np.ndarray, dtype: np.dtype, label: str, python_scalar: bool, allow_downcast: bool | None):
    source_kind, target_kind = array.dtype.kind, dtype.kind
    if source_kind == "b" and target_kind != "b" and not allow_downcast:
        raise TypeError(f"input {label!r} expects {dtype.name}, got bool; cast it explicitly if you mean 0/1")
    lossless = np.can_cast(array.dtype, dtype, "safe")
    if python_scalar and not lossless:
        # A Python number may take the input's dtype if the value survives the trip.
        converted = array.astype(dtype)
        lossless = target_kind == "f" and source_kind in "iuf" or converted.astype(array.dtype) == array
    if not lossless and not allow_downcast:
        raise TypeError(
            f"input {label!r} expects {dtype.name}, got {array.dtype}; converting would lose precision. "
            f"Cast the value, or pass allow_input_downcast=True to theano.function"
        )
    return array.astype(dtype)


def _describe_graph(inputs: list[Variable], outputs: list[Variable], options: str) -> str:
    """A canonical text of the optimized graph: equal text means the same compiled code."""
    ids: dict[int, int] = {}
    lines = [options]
    for i, v in enumerate(inputs):
        ids[id(v)] = len(ids)
        lines.append(f"in {i} {v.type} {v.name!r}")

    def ref(v: Variable) -> str:
        if id(v) not in ids:
            ids[id(v)] = len(ids)
            if isinstance(v, Constant):
                lines.append(f"const {ids[id(v)]} {v.dtype} {v.data.shape} {v.data.tobytes().hex()}")
        return str(ids[id(v)])

    for node in toposort(outputs):
        args = ",".join(ref(i) for i in node.inputs)
        ids[id(node.output)] = len(ids)
        lines.append(f"{ids[id(node.output)]} = {node.op.signature()}({args}) {node.output.name!r}")
    lines.append("out " + ",".join(ref(o) for o in outputs))
    return "\n".join(lines)


def compile_function(
    inputs: Sequence[Variable],
    outputs: Variable | Sequence[Variable] | None,
    *,
    name: str | None,
    on_unused_input: str,
    allow_input_downcast: bool | None,
) -> Function:
    from symgrad.tensor.basic import as_tensor_variable

    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"theano.function: inputs must be a list of variables, got {type(inputs).__name__}")
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', got {on_unused_input!r}")
    inputs = list(inputs)
    for i, v in enumerate(inputs):
        if not isinstance(v, Variable):
            raise TypeError(f"theano.function: inputs[{i}] is a {type(v).__name__}, not a symbolic variable")
        if isinstance(v, Constant) or v.owner is not None:
            raise TypeError(f"theano.function: inputs[{i}] ({v!r}) is computed from other variables or is a "
                            "constant; inputs must be free variables such as T.dmatrix('x')")  # fmt: skip
        if any(v is w for w in inputs[:i]):
            raise ValueError(f"theano.function: input {v!r} is listed twice")
    single = not isinstance(outputs, (list, tuple))
    out_list = [outputs] if single else list(outputs)
    out_list = [as_tensor_variable(o) for o in out_list]
    out_list = optimize(out_list)

    used = {id(v) for v in graph_inputs(out_list)}
    for v in inputs:
        if id(v) not in used:
            message = f"theano.function: input {v!r} is not used to compute any output"
            if on_unused_input == "raise":
                raise ValueError(message + "; pass on_unused_input='ignore' (or 'warn') if that is intended")
            if on_unused_input == "warn":
                import warnings

                warnings.warn(message, stacklevel=3)
    listed = {id(v) for v in inputs}
    for v in graph_inputs(out_list):
        if id(v) not in listed:
            raise ValueError(
                f"theano.function: the outputs depend on {v!r} ({v.type}), which is not in the inputs list"
            )

    options = f"cpu parallel_threshold={config.parallel_threshold} single={single} name={name!r}"
    key = cache.make_key(_describe_graph(inputs, out_list, options))

    def build_source() -> str:
        return emit_module(lower(inputs, out_list), name, key, config.parallel_threshold, single)

    module = cache.load_module(key, build_source)
    params = list(module.PARAMETERS)
    checks = [_make_check(v, p, allow_input_downcast) for v, p in zip(inputs, params)]
    label = f"function {name!r}" if name else "the function"
    entry = module.make_entry(checks, _call_error(label, params))
    compiled = type("Function", (Function,), {"__call__": staticmethod(entry), "__slots__": ()})
    return compiled(inputs, out_list, module, name)
