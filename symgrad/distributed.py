"""Compiled functions over Dask arrays: one compiled call per chunk, sums over rows by tree reduction.

``f(X, w)``, where ``f`` came from ``theano.function`` and ``X`` is a Dask array, returns Dask
arrays (lazy). The compiled entry's argument check sees the Dask array and hands the call here
(``codegen.errors.ChunkedArguments``); nothing runs until the result is computed.

Which graphs can run chunk by chunk is decided from the graph, once per function and chunk layout,
by giving each variable a *kind* (:class:`_Analysis`):

- ``FREE``: independent of the chunked data (the weights, constants): the same in every chunk;
- ``('rows', a)``: its axis ``a`` runs along the chunked rows, and each row depends only on the
  same row of the data (elementwise work, products with unchunked matrices, reductions over other
  axes): computed chunk by chunk, it is a chunked Dask array;
- ``COUNT``: computed from the chunk's lengths only (``x.shape[0]``, the ``n`` of a mean). Where it
  gives a length (an ``alloc``, the shape of a gradient), the chunk's own length is right; where it
  is used as a number (dividing by ``n``), the total length is, so that a mean is weighted right
  whatever the chunk sizes: those uses read it with the chunk length replaced by the total;
- ``REDUCED``: computed from reductions over the rows (``sum``, ``max``, ``min``, ``prod`` over the
  row axis, or a ``dot`` that contracts it, as ``X.T @ g`` in a gradient) and free values.

The graph is then split in two compiled functions. The *chunk* function computes, for one chunk,
the row-by-row outputs and the partial results of each reduction over rows (the frontier); Dask
combines the partials in a tree (``split_every`` at a time, in chunk order, so the result does not
depend on which worker ran what); the *finish* function computes the reduced outputs from the
combined partials, so any function of the sums works (a mean, a variance, a log of a sum). A graph
that needs a row-by-row value after a reduction over the rows (``X - X.mean(axis=0)``: two passes),
or mixes rows across chunks (a cumulative sum, a reshape of the row axis), raises
:class:`ChunkingError`, naming the chunked inputs and the axis that would have to be one chunk.

Workers receive each compiled function as :class:`Program`: its ``FunctionCall`` pickled (graph and
options, never machine code), its cache key and a token. Each worker process compiles it once, on
first use, which the disk cache turns into loading the program (shared by the processes of one
machine; built once per machine otherwise): :func:`loaded_programs` reports what was loaded and
Numba's cache hits and misses (compilations), which ``client.run(loaded_programs)`` shows per worker.

Dask is imported only when a call gets a Dask array: ``import symgrad`` never imports it.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import pickle
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .graph import Apply, Variable, graph_inputs, make_variable, toposort
from .ops.alloc import Alloc
from .ops.blas import Dot
from .ops.elemwise import Elemwise, elemwise
from .ops.gradient import GradientStop
from .ops.reduce import Reduce
from .ops.shape import DimShuffle, Reshape, Shape, Size, Subtensor, size
from .types import TensorType

FREE = "free"
COUNT = "count"
REDUCED = "reduced"
Kind = Any  # FREE, COUNT, REDUCED or ('rows', axis)

#: How the partial results of a reduction over rows combine, by the reduction's name.
_COMBINE = {"sum": "add", "max": "maximum", "min": "minimum", "prod": "multiply"}

#: How many partial results one task of the tree reduction combines.
SPLIT_EVERY = 8


class ChunkingError(ValueError):
    """A graph that cannot run chunk by chunk over the way its Dask arguments are chunked."""


def _rows(kind: Kind) -> int | None:
    """The row axis of a ``('rows', a)`` kind; ``None`` for the others."""
    return kind[1] if isinstance(kind, tuple) else None


class _Analysis:
    """Each variable's kind (see the module's docstring) and the frontier: the reductions over the
    rows, with how their partial results combine."""

    def __init__(self, outputs: list[Variable], row_inputs: dict[int, tuple[Variable, int, str]]) -> None:
        self.row_inputs = row_inputs  # id(input) -> (input, its chunked axis, its label)
        self.kinds: dict[int, Kind] = {id(v): ("rows", a) for v, a, _ in row_inputs.values()}
        self.frontier: dict[int, str] = {}  # id(reduction's output) -> how its partials combine
        for node in toposort(outputs):
            kinds = [self.kind(i) for i in node.inputs]
            if all(k == FREE for k in kinds):
                self.kinds[id(node.output)] = FREE
            else:
                self.kinds[id(node.output)] = _RULES.get(type(node.op), _other)(self, node, kinds)

    def kind(self, v: Variable) -> Kind:
        return self.kinds.get(id(v), FREE)

    def fail(self, node: Apply, reason: str) -> ChunkingError:
        """The error for ``node``: what it does, and which inputs' axes would have to be one chunk."""
        involved = {id(v) for v in graph_inputs(list(node.inputs))}
        named = [(label, a) for v, a, label in self.row_inputs.values() if id(v) in involved] or [
            (label, a) for _, a, label in self.row_inputs.values()
        ]
        where = f" (built at {node.trace})" if node.trace else ""
        inputs = " and ".join(f"axis {a} of input {label!r}" for label, a in named)
        rechunk = "; ".join(f"{label}.rechunk({{{a}: -1}})" for label, a in named)
        return ChunkingError(
            f"cannot compute {node.op}{where} chunk by chunk: {reason}. The graph is neither row by row "
            f"along the chunked {inputs} nor a sum over those rows; put that axis in one chunk ({rechunk}) "
            f"or pass the data as a NumPy array"
        )

    def value_use(self, node: Apply, position: int) -> bool:
        """Does ``node`` read its operand at ``position``, a ``COUNT``, as a number (not as a length)?"""
        if self.kind(node.inputs[position]) != COUNT or self.kind(node.output) == COUNT:
            return False
        return not _LENGTH_OPERANDS.get(type(node.op), _no_operand)(position)


def _no_operand(position: int) -> bool:
    return False


#: The operands that ops read as lengths (or only for their shape), by op class and position.
_LENGTH_OPERANDS: dict[type, Callable[[int], bool]] = {
    Alloc: lambda position: position > 0,  # the lengths after the value
    Reshape: lambda position: position > 0,
    Size: lambda position: True,
    Shape: lambda position: True,
}


def _elemwise(an: _Analysis, node: Apply, kinds: list[Kind]) -> Kind:
    axes = {_rows(k) for k in kinds} - {None}
    if not axes:
        # Lengths only stay lengths; anything with a reduced value is computed after the reduction.
        return COUNT if all(k in (FREE, COUNT) for k in kinds) and COUNT in kinds else REDUCED
    if len(axes) > 1:
        raise an.fail(node, f"it combines values whose rows run along different axes {sorted(axes)}")
    (a,) = axes
    if REDUCED in kinds:
        raise an.fail(node, "it combines a row-by-row value with a result over all the rows, which takes two passes")
    for v, k in zip(node.inputs, kinds):
        if k == FREE and v.type.shape[a] != 1:
            raise an.fail(node, f"its operand {v!r} is not chunked but is not known to have length 1 along the rows")
    return ("rows", a)


def _dimshuffle(an: _Analysis, node: Apply, kinds: list[Kind]) -> Kind:
    a = _rows(kinds[0])
    return kinds[0] if a is None else ("rows", node.op.new_order.index(a))


def _reduce(an: _Analysis, node: Apply, kinds: list[Kind]) -> Kind:
    a = _rows(kinds[0])
    if a is None:
        return REDUCED if kinds[0] == REDUCED else _other(an, node, kinds)
    if a not in node.op.axes:
        return ("rows", a - sum(1 for d in node.op.axes if d < a))
    an.frontier[id(node.output)] = _COMBINE[node.op.reduction]
    return REDUCED


def _dot(an: _Analysis, node: Apply, kinds: list[Kind]) -> Kind:
    a_var, b_var = node.inputs
    ra, rb = _rows(kinds[0]), _rows(kinds[1])
    if ra is None and rb is None:
        return _other(an, node, kinds)
    if REDUCED in kinds:
        raise an.fail(node, "it multiplies a row-by-row value by a result over all the rows, which takes two passes")
    contracted_a, contracted_b = a_var.ndim - 1, 0
    if ra is not None and rb is not None:
        if ra == contracted_a and rb == contracted_b:  # X.T @ g: a sum over the rows
            an.frontier[id(node.output)] = "add"
            return REDUCED
        raise an.fail(node, "its result would pair every row with every other row")
    if ra is not None:
        if ra == contracted_a:
            raise an.fail(node, f"it sums the rows against {b_var!r}, which is not chunked")
        return ("rows", ra)
    if rb == contracted_b:
        raise an.fail(node, f"it sums the rows against {a_var!r}, which is not chunked")
    return ("rows", a_var.ndim - 1 + rb - 1)


def _size(an: _Analysis, node: Apply, kinds: list[Kind]) -> Kind:
    return COUNT if _rows(kinds[0]) is not None else kinds[0] if kinds[0] == COUNT else FREE


def _subtensor(an: _Analysis, node: Apply, kinds: list[Kind]) -> Kind:
    a = _rows(kinds[0])
    if a is None or any(_rows(k) is not None for k in kinds[1:]):
        return _other(an, node, kinds)
    index = node.op.index
    item = index[a] if a < len(index) else (None, None, None)
    if item != (None, None, None):
        raise an.fail(node, f"it indexes axis {a}, along which the rows run")
    return ("rows", a - sum(1 for d in index[:a] if not isinstance(d, tuple)))


def _alloc(an: _Analysis, node: Apply, kinds: list[Kind]) -> Kind:
    value_kind, lengths = kinds[0], kinds[1:]
    arg_axes = {d for d, entry in enumerate(node.op.shape) if isinstance(entry, tuple) and entry[0] == "arg"}
    counted = [d for d in arg_axes if lengths[node.op.shape[d][1]] == COUNT]
    offset = len(node.op.shape) - node.inputs[0].ndim
    own = _rows(value_kind)
    axes = set(counted) | ({own + offset} if own is not None else set())
    if value_kind == REDUCED or len(axes) != 1 or any(_rows(k) is not None for k in lengths):
        return _other(an, node, kinds)
    return ("rows", axes.pop())


def _gradient_stop(an: _Analysis, node: Apply, kinds: list[Kind]) -> Kind:
    # The value is the first operand's; the others only say what the gradient depends on.
    return kinds[0] if all(k in (FREE, kinds[0]) for k in kinds[1:]) else _other(an, node, kinds)


def _other(an: _Analysis, node: Apply, kinds: list[Kind]) -> Kind:
    if any(_rows(k) is not None for k in kinds):
        raise an.fail(node, "it is not known to keep the rows apart")
    return REDUCED


_RULES: dict[type, Callable[[_Analysis, Apply, list[Kind]], Kind]] = {
    Elemwise: _elemwise,
    DimShuffle: _dimshuffle,
    Reduce: _reduce,
    Dot: _dot,
    Size: _size,
    Subtensor: _subtensor,
    Alloc: _alloc,
    **{op: _gradient_stop for op in (GradientStop, *GradientStop.__subclasses__())},
}


class _Split:
    """A function split for one chunk layout: the chunk function (row-by-row outputs and the partial
    results of the reductions over rows), how partials combine, and the finish function."""

    def __init__(self, function, row_axes: dict[int, int], labels: list[str]) -> None:
        from .function import function as compile_
        from .rewrite.core import remake

        call = function.call
        inputs = [spec.variable for spec in call.inputs]
        outputs = list(call.outputs)
        if call.givens:
            from .rewrite import rebuild

            outputs = rebuild(outputs, call.givens)
        row_inputs = {id(inputs[i]): (inputs[i], a, labels[i]) for i, a in row_axes.items()}
        an = _Analysis(outputs, row_inputs)
        n_total = make_variable(TensorType("int64", ()), name="n_rows")  # the total length along the rows

        local: dict[int, Variable] = {}
        total: dict[int, Variable] = {}

        def in_chunk(v: Variable) -> Variable:
            """``v`` computed from one chunk, with lengths used as numbers read as totals."""
            if id(v) not in local:
                node = v.owner
                if node is None or an.kind(v) == FREE:
                    local[id(v)] = v
                else:
                    operands = [
                        as_total(i) if an.value_use(node, k) else in_chunk(i) for k, i in enumerate(node.inputs)
                    ]
                    local[id(v)] = remake(node, operands)
            return local[id(v)]

        def as_total(v: Variable) -> Variable:
            """The ``COUNT`` ``v`` with the chunk's length along the rows replaced by the total."""
            if id(v) not in total:
                node = v.owner
                if isinstance(node.op, Size) and _rows(an.kind(node.inputs[0])) in node.op.axes:
                    rest = tuple(d for d in node.op.axes if d != _rows(an.kind(node.inputs[0])))
                    x = in_chunk(node.inputs[0])
                    total[id(v)] = elemwise("mul", n_total, size(x, rest)) if rest else n_total
                elif isinstance(node.op, Size):
                    total[id(v)] = in_chunk(v)
                else:
                    operands = [as_total(i) if an.kind(i) == COUNT else in_chunk(i) for i in node.inputs]
                    total[id(v)] = remake(node, operands)
            return total[id(v)]

        # The finish graph: the frontier's results and the lengths used as numbers are its inputs.
        partials: list[tuple[Variable, Variable, str]] = []  # (in the chunk function, placeholder, combine)
        placeholders: dict[int, Variable] = {}
        finished: dict[int, Variable] = {}

        def placeholder(v: Variable, in_chunk_value: Variable, combine: str) -> Variable:
            if id(v) not in placeholders:
                p = make_variable(v.type, name=f"partial_{len(partials)}")
                partials.append((in_chunk_value, p, combine))
                placeholders[id(v)] = p
            return placeholders[id(v)]

        def after(v: Variable) -> Variable:
            """``v`` computed from the combined partial results (and the unchunked inputs)."""
            if id(v) in an.frontier:
                return placeholder(v, in_chunk(v), an.frontier[id(v)])
            kind = an.kind(v)
            if kind == COUNT:  # the same total in every chunk: take the first
                return placeholder(v, as_total(v), "first")
            if kind == FREE or v.owner is None:
                return v
            if id(v) not in finished:
                finished[id(v)] = remake(v.owner, [after(i) for i in v.owner.inputs])
            return finished[id(v)]

        self.row_outputs = [(k, _rows(an.kind(o))) for k, o in enumerate(outputs) if _rows(an.kind(o)) is not None]
        rowed = {k for k, _ in self.row_outputs}
        self.reduced_outputs = [k for k in range(len(outputs)) if k not in rowed]
        finish_outputs = [after(outputs[k]) for k in self.reduced_outputs]
        chunk_outputs = [in_chunk(outputs[k]) for k, _ in self.row_outputs] + [p[0] for p in partials]
        self.combine = tuple(p[2] for p in partials)
        self.outputs = outputs
        self.single = call.single
        options = dict(
            mode=call.options["mode"], exclude=call.options["exclude"], on_unused_input="ignore",
            allow_input_downcast=call.options["allow_input_downcast"],
        )  # fmt: skip
        name = call.options["name"] or "f"
        self.chunk = None
        if chunk_outputs:
            self.chunk = compile_([*inputs, n_total], chunk_outputs, name=f"{name}_chunk", **options)
        self.finish_inputs = [i for i in range(len(inputs)) if i not in row_axes]
        self.finish = None
        if finish_outputs:
            placeholders_and_unchunked = [*(p[1] for p in partials), *(inputs[i] for i in self.finish_inputs)]
            self.finish = compile_(placeholders_and_unchunked, finish_outputs, name=f"{name}_finish", **options)


#: Each function's splits (by its FunctionCall), by chunk layout (the chunked axis of each input).
_SPLITS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _is_dask(value: Any) -> bool:
    return hasattr(type(value), "__dask_graph__")


def chunked_call(function, arguments: tuple) -> Any:
    """``function(*arguments)`` with Dask arrays among ``arguments``: Dask arrays, lazily."""
    import dask.array as da

    call = function.call
    if call is None:
        raise TypeError(f"{function!r} was not made by theano.function, so it cannot take Dask arrays")
    if call.updates:
        raise ChunkingError(f"{function!r} updates shared variables, which a computation over Dask arrays cannot do")
    labels = [spec.name or spec.variable.name or f"inputs[{i}]" for i, spec in enumerate(call.inputs)]
    arguments = list(arguments)
    row_axes: dict[int, int] = {}
    for i, (spec, value) in enumerate(zip(call.inputs, arguments)):
        if not _is_dask(value):
            continue
        var = spec.variable
        if not isinstance(value, da.Array):
            raise TypeError(f"input {labels[i]!r}: a {type(value).__name__} is a Dask collection but not a Dask array")
        if value.ndim != var.ndim:
            raise TypeError(f"input {labels[i]!r} expects a {var.type} array, got a {value.ndim}-d Dask array")
        if value.dtype != np.dtype(var.dtype):
            if not np.can_cast(value.dtype, var.dtype, "safe") and not call.options["allow_input_downcast"]:
                raise TypeError(f"input {labels[i]!r} expects dtype {var.dtype}, got a Dask array of {value.dtype} "
                                f"(convert it with .astype({var.dtype!r}))")  # fmt: skip
            arguments[i] = value = value.astype(var.dtype)
        axes = [d for d, c in enumerate(value.chunks) if len(c) > 1]
        if len(axes) > 1:
            rest = ", ".join(f"{d}: -1" for d in axes[1:])
            raise ChunkingError(f"input {labels[i]!r} is chunked along axes {axes}; symgrad splits the data along one "
                                f"axis: put the others in one chunk ({labels[i]}.rechunk({{{rest}}}))")  # fmt: skip
        if axes:
            row_axes[i] = axes[0]
    if row_axes:  # else each Dask argument is one chunk: the whole call is one task
        lengths = {arguments[i].shape[a] for i, a in row_axes.items()}
        if len(lengths) > 1:
            listed = ", ".join(f"{labels[i]!r} has {arguments[i].shape[a]} along axis {a}" for i, a in row_axes.items())
            raise ValueError(f"the chunked inputs have different numbers of rows: {listed}")
        first = min(row_axes)
        chunks = arguments[first].chunks[row_axes[first]]
        for i, a in row_axes.items():  # one partition of the rows for all
            if arguments[i].chunks[a] != chunks:
                arguments[i] = arguments[i].rechunk({a: chunks})
    layout = tuple(sorted(row_axes.items()))
    splits = _SPLITS.setdefault(call, {})
    if layout not in splits:
        splits[layout] = _Split(function, row_axes, labels)
    return _graph(splits[layout], arguments, row_axes)


def _graph(split: _Split, arguments: list[Any], row_axes: dict[int, int]) -> Any:
    """The Dask arrays of ``split``'s outputs over ``arguments``."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    chunks = arguments[min(row_axes)].chunks[row_axes[min(row_axes)]] if row_axes else ()
    n_rows = int(sum(chunks))
    collections = [v for v in arguments if _is_dask(v)]
    chunk = Program(split.chunk) if split.chunk is not None else None
    finish = Program(split.finish) if split.finish is not None else None
    programs = [p.token for p in (chunk, finish) if p is not None]
    token = tokenize(*[v.name if _is_dask(v) else v for v in arguments], split.combine, *programs)
    stage = f"symgrad-{(chunk or finish).name}-{token}"
    layers: dict[str, Any] = {}
    dependencies: dict[str, set] = {}
    for v in collections:
        layers.update(v.dask.layers)
        dependencies.update(v.dask.dependencies)

    def whole(i: int) -> Any:
        v = arguments[i]
        return (v.name, *([0] * v.ndim)) if _is_dask(v) else v

    def block(i: int, c: int) -> Any:
        if i not in row_axes:
            return whole(i)
        v, a = arguments[i], row_axes[i]
        return (v.name, *(c if d == a else 0 for d in range(v.ndim)))

    tasks: dict[Any, Any] = {}
    n_row_outputs = len(split.row_outputs)
    if chunk is not None:
        for c in range(len(chunks)):
            tasks[(stage, c)] = (_run, chunk, *(block(i, c) for i in range(len(arguments))), n_rows)
    if split.finish is not None:
        level = [(_take, (stage, c), n_row_outputs) for c in range(len(chunks))] if split.combine else []
        depth = 0
        while len(level) > 1:  # the tree: SPLIT_EVERY partial results at a time, in chunk order
            for g in range(0, len(level), SPLIT_EVERY):
                tasks[(f"{stage}-tree{depth}", g)] = (_combine, split.combine, list(level[g : g + SPLIT_EVERY]))
            level = [(f"{stage}-tree{depth}", g) for g in range(0, len(level), SPLIT_EVERY)]
            depth += 1
        combined = level[0] if level else ()
        unchunked = [whole(i) for i in split.finish_inputs]
        tasks[(stage, "finish")] = (_finish, finish, combined, *unchunked)
    layers[stage] = tasks
    dependencies[stage] = {name for v in collections for name in v.__dask_layers__()}

    shapes = _probe(split, arguments, row_axes)
    results: dict[int, Any] = {}
    for k, (position, a) in enumerate(split.row_outputs):
        out = split.outputs[position]
        name = f"{stage}-out{position}"
        layers[name] = {
            (name, *(c if d == a else 0 for d in range(out.ndim))): (operator.getitem, (stage, c), k)
            for c in range(len(chunks))
        }
        dependencies[name] = {stage}
        results[position] = (name, tuple(chunks if d == a else (n,) for d, n in enumerate(shapes[position])))
    for k, position in enumerate(split.reduced_outputs):
        out = split.outputs[position]
        name = f"{stage}-out{position}"
        layers[name] = {(name, *([0] * out.ndim)): (operator.getitem, (stage, "finish"), k)}
        dependencies[name] = {stage}
        results[position] = (name, tuple((n,) for n in shapes[position]))
    graph = HighLevelGraph(layers, dependencies)
    arrays = [
        da.Array(graph, name, chunks=shape, dtype=out.dtype, meta=np.empty((0,) * out.ndim, out.dtype))
        for out, (name, shape) in ((split.outputs[k], results[k]) for k in range(len(split.outputs)))
    ]
    return arrays[0] if split.single else arrays


def _probe(split: _Split, arguments: list[Any], row_axes: dict[int, int]) -> list[tuple]:
    """Each output's shape (``nan`` where unknown), from the chunk and finish functions run here on
    one row of zeros per chunked input (zeros in place of other Dask arrays). Running them here also
    leaves their machine code in the disk cache before any worker asks for it."""
    sample = []
    for i, v in enumerate(arguments):
        if _is_dask(v):
            v = np.zeros([1 if d == row_axes.get(i) else n for d, n in enumerate(v.shape)], v.dtype)
        sample.append(v)
    shapes = [tuple(np.nan if n is None else n for n in out.type.shape) for out in split.outputs]
    try:
        with np.errstate(all="ignore"):
            values = tuple(split.chunk(*sample, 1)) if split.chunk is not None else ()
            n_row = len(split.row_outputs)
            for (position, _), value in zip(split.row_outputs, values):
                shapes[position] = value.shape
            if split.finish is not None:
                unchunked = [sample[i] for i in split.finish_inputs]
                for position, value in zip(split.reduced_outputs, split.finish(*values[n_row:], *unchunked)):
                    shapes[position] = value.shape
    except Exception:  # data the zeros do not fit (an index out of range): shapes stay unknown
        pass
    return shapes


def _run(program: Program, *arguments: Any) -> tuple:
    """One chunk through the chunk function: its outputs, as a tuple."""
    return tuple(program(*arguments))


def _take(values: tuple, start: int) -> tuple:
    """The partial results among a chunk's outputs (those after the row-by-row ones)."""
    return values[start:]


def _first(a: Any, b: Any) -> Any:
    return a


_COMBINERS: dict[str, Callable[[Any, Any], Any]] = {
    "add": np.add, "maximum": np.maximum, "minimum": np.minimum, "multiply": np.multiply, "first": _first,
}  # fmt: skip


def _combine(combine: tuple[str, ...], parts: list[tuple]) -> tuple:
    """Partial results combined, each by its own operation, left to right."""
    return tuple(functools.reduce(_COMBINERS[how], values) for how, values in zip(combine, zip(*parts)))


def _finish(program: Program, combined: tuple, *unchunked: Any) -> tuple:
    """The reduced outputs, from the combined partial results and the unchunked inputs."""
    return tuple(program(*combined, *unchunked))


# Programs loaded in this process, by token, and what loading each cost.
_LOADED: dict[str, Any] = {}
_REPORT: dict[str, dict[str, Any]] = {}
_LOCK = threading.Lock()


class Program:
    """A compiled function as it travels to Dask's workers: its ``FunctionCall`` pickled (the graph
    and options, never machine code), the cache key of its module and a token (the SHA-256 of the
    pickle). Unpickling (as the scheduler does) compiles nothing; the first call in a process
    compiles it, which the disk cache turns into loading the program, and later calls and later
    tasks of that process find it by its token. Where it was made (and where Dask runs tasks without
    pickling them: its local schedulers) it calls the function it was made from."""

    __slots__ = ("data", "token", "key", "name", "_function")

    def __init__(self, function: Any = None) -> None:
        if function is None:  # unpickled: __setstate__ fills the slots
            return
        self.data = pickle.dumps(function.call)
        self.token = hashlib.sha256(self.data).hexdigest()
        self.key = function._module.__name__.removeprefix("symgrad_")
        self.name = function.name
        self._function = function

    def __getstate__(self) -> tuple:
        return self.data, self.token, self.key, self.name

    def __setstate__(self, state: tuple) -> None:
        self.data, self.token, self.key, self.name = state
        self._function = None

    def function(self) -> Any:
        """The compiled function, loaded on this process's first use."""
        if self._function is None:
            loaded = _LOADED.get(self.token)
            if loaded is None:
                with _LOCK:
                    loaded = _LOADED.get(self.token)
                    if loaded is None:
                        start = time.perf_counter()
                        loaded = pickle.loads(self.data).compile()
                        _REPORT[self.token] = {"name": self.name, "key": self.key,
                                               "load_seconds": time.perf_counter() - start}  # fmt: skip
                        _LOADED[self.token] = loaded
            self._function = loaded
        return self._function

    def __call__(self, *arguments: Any) -> Any:
        return self.function()(*arguments)


def loaded_programs() -> list[dict[str, Any]]:
    """The programs that Dask tasks loaded in this process: name, cache key, seconds to load, and
    Numba's disk-cache ``hits`` and ``misses`` (a miss is a compilation). Run it on every worker
    with ``client.run(symgrad.distributed.loaded_programs)``."""
    report = []
    with _LOCK:
        for token, entry in _REPORT.items():
            hits, misses = _LOADED[token].kernel_cache_stats()
            report.append(dict(entry, hits=hits, misses=misses))
    return report


__all__ = ["SPLIT_EVERY", "ChunkingError", "Program", "chunked_call", "loaded_programs"]
