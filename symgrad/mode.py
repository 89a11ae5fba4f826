"""Theano's compilation modes: which rewrites ``theano.function`` applies and how the graph runs.

A :class:`Mode` pairs a *linker* (how the optimized graph runs) with an *optimizer* (which rewrite
phases of ``symgrad.rewrite`` it applies), adjusted rule by rule with ``including``/``excluding``:

- linker ``'numba'`` (Theano's ``'cvm'``, ``'vm'``, ``'c'`` and ``'c|py'`` mean the same): one
  compiled Numba program, the default; ``'py'``: each node's NumPy reference (``op.perform``) in
  topological order, with no machine code to build; ``'debug'``: :class:`DebugMode`'s checks.
- optimizer ``'fast_run'``: every phase; ``'fast_compile'``: canonicalize only; ``None``: nothing.
  The Numba linker always adds the ``fuse`` phase, which its loop fuser needs.

The predefined modes are named by strings, as in Theano: ``'FAST_RUN'`` (the default, and
``theano.config.mode``'s), ``'FAST_COMPILE'`` (``Mode('py', 'fast_compile')``: nothing to compile,
for trying a graph out) and ``'DebugMode'`` (:class:`DebugMode`).

``DebugMode`` compiles a build of the function that returns every node's value besides the outputs,
then checks each node against its op's NumPy reference evaluated on the compiled values of the
node's inputs, so a wrong kernel is pinned to the node whose value it got wrong; and it names the
first node (in topological order) whose value holds a nan or an inf though its inputs hold none.
It also runs the program FAST_RUN builds (nodes fused into loops) and checks its results against
those. The shared variables are written only once every check passed.

This module imports neither SymPy nor the back end: ``theano.function`` (``symgrad/function.py``)
hands the back end what the mode asks for.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .graph import Apply, Constant, Variable, toposort

#: Linker names as the user may write them (Theano's included), and what each means here.
LINKERS = {"numba": "numba", "cvm": "numba", "vm": "numba", "c": "numba", "c|py": "numba", "py": "py",
           "debug": "debug"}  # fmt: skip
#: Optimizer names and the rewrite phases each applies (``None``: every phase).
OPTIMIZERS: dict[str | None, tuple[str, ...] | None] = {
    "fast_run": None,
    "fast_compile": ("canonicalize",),
    None: (),
}
#: The phase a linker needs whatever the optimizer (the Numba linker's fuser reads no gradient stops).
_NEEDED_PHASES = {"numba": ("fuse",), "debug": ("fuse",), "py": ()}


class Mode:
    """How ``theano.function`` compiles: ``Mode(linker='numba', optimizer='fast_run')``.

    ``Mode('FAST_COMPILE')`` (a predefined mode's name as the linker) is that mode, to adjust:
    ``Mode('FAST_RUN').excluding('log1p_of_add')``. ``including`` and ``excluding`` take rewrite
    names or phase names (``symgrad.rewrite.REWRITES`` lists them) and return a new mode.
    """

    def __init__(self, linker: str | None = None, optimizer: str | None = "fast_run") -> None:
        if isinstance(linker, str) and linker in PREDEFINED:
            base = PREDEFINED[linker]
            linker, optimizer = base.linker, base.optimizer
        linker = "numba" if linker is None else linker
        if linker not in LINKERS:
            raise ValueError(f"unknown linker {linker!r}; the linkers are {', '.join(map(repr, LINKERS))}")
        if optimizer == "None":
            optimizer = None
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; the optimizers are "
                             f"{', '.join(map(repr, OPTIMIZERS))}")  # fmt: skip
        self.linker = LINKERS[linker]
        self.optimizer = optimizer
        self.included: tuple[str, ...] = ()
        self.excluded: tuple[str, ...] = ()

    def including(self, *names: str) -> Mode:
        """This mode, also applying the rewrites (or phases) ``names``."""
        return self._adjusted(names, "included", "include")

    def excluding(self, *names: str) -> Mode:
        """This mode, leaving the rewrites (or phases) ``names`` out."""
        return self._adjusted(names, "excluded", "exclude")

    def _adjusted(self, names: Sequence[str], field: str, verb: str) -> Mode:
        from .rewrite.core import resolve_exclusions

        resolve_exclusions(names, verb)  # a clear error for an unknown name, now
        new = copy.copy(self)
        setattr(new, field, (*getattr(self, field), *names))
        return new

    def excluded_rewrites(self) -> list[str]:
        """The names of the rewrites this mode does not apply (what ``theano.function`` excludes)."""
        from .rewrite.core import PHASES, REWRITES, resolve_exclusions

        phases = OPTIMIZERS[self.optimizer]
        phases = (*(PHASES if phases is None else phases), *_NEEDED_PHASES[self.linker])
        chosen = {name for name, rule in REWRITES.items() if rule.phase in phases}
        chosen = (chosen | resolve_exclusions(self.included)) - resolve_exclusions(self.excluded)
        return [name for name in REWRITES if name not in chosen]

    def __repr__(self) -> str:
        text = f"Mode(linker={self.linker!r}, optimizer={self.optimizer!r})"
        text += f".including({', '.join(map(repr, self.included))})" if self.included else ""
        return text + (f".excluding({', '.join(map(repr, self.excluded))})" if self.excluded else "")

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), self.linker, self.optimizer, self.included, self.excluded))


class DebugMode(Mode):
    """Theano's ``DebugMode``: every node checked against its op's NumPy reference at each call.

    The comparison allows ``rtol`` (by dtype) relative to the largest magnitude among the node's
    inputs and value, since kernels may reassociate sums; nan must be where the reference has nan.
    With ``check_isfinite`` a node whose value holds a nan or an inf that its inputs do not hold
    raises :class:`InvalidValueError`.
    """

    def __init__(self, optimizer: str | None = "fast_run", check_isfinite: bool = True) -> None:
        super().__init__("debug", optimizer)
        self.check_isfinite = check_isfinite

    def __repr__(self) -> str:
        return "DebugMode()" if self == PREDEFINED["DebugMode"] else super().__repr__()


class DebugModeError(Exception):
    """A check of :class:`DebugMode` failed; ``node`` is the Apply node it names (``None`` for a
    result that is an input)."""

    def __init__(self, message: str, node: Apply | None) -> None:
        super().__init__(message)
        self.node = node


class BadThunkOutput(DebugModeError):
    """A node's compiled value differs from its op's NumPy reference (Theano's name)."""


class InvalidValueError(DebugModeError):
    """A node made a nan or an inf out of inputs that hold none (Theano's name)."""


PREDEFINED: dict[str, Mode] = {}
PREDEFINED["FAST_RUN"] = Mode("numba", "fast_run")
PREDEFINED["FAST_COMPILE"] = Mode("py", "fast_compile")
PREDEFINED["DebugMode"] = PREDEFINED["DEBUG_MODE"] = DebugMode()


def get_mode(mode: str | Mode | None) -> Mode:
    """The :class:`Mode` that ``mode`` names (``None``: ``theano.config.mode``); a clear error otherwise."""
    if mode is None:
        from .config import config

        mode = config.mode
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str) and mode in PREDEFINED:
        return PREDEFINED[mode]
    raise ValueError(f"unknown mode {mode!r}; the known modes are {', '.join(map(repr, PREDEFINED))}, "
                     "or a theano.Mode(linker=..., optimizer=...)")  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Running the graph by the ops' NumPy references: the 'py' linker, and DebugMode's checks


def _what(node: Apply, width: int) -> str:
    """What ``node`` computes, as ``repr`` writes it, cut to ``width`` characters."""
    text = repr(node.output)
    return text if len(text) <= width else text[: width - 3] + "..."


def node_label(node: Apply) -> str:
    """A node as the messages name it: its op, what it computes and the user's line that built it."""
    where = f" (built at {node.trace})" if node.trace else ""
    return f"the {node.op} node computing {_what(node, 80)}{where}"


def _value(values: dict[int, np.ndarray], v: Variable) -> np.ndarray:
    return v.data if isinstance(v, Constant) else values[id(v)]


def _reference(node: Apply, values: dict[int, np.ndarray]) -> np.ndarray:
    """The node's value by its op's ``perform``, in the node's dtype."""
    with np.errstate(all="ignore"):
        return np.asarray(node.op.perform(*(_value(values, i) for i in node.inputs)), dtype=node.output.dtype)


def perform_runner(
    roots: list[Variable], results: list[Variable], profile: tuple[list[float], list[int]] | None = None
) -> tuple[Callable[[list[Any]], list[np.ndarray]], list[str]]:
    """The 'py' linker: a function from the values of ``roots`` (inputs, then shared variables) to
    those of ``results``, running each node's ``perform`` in topological order; and the steps it
    runs, described (one line each). With ``profile`` (seconds and calls per step), it times them."""
    nodes = toposort(results)

    def run(arguments: list[Any]) -> list[np.ndarray]:
        values = {id(v): a for v, a in zip(roots, arguments)}
        for k, node in enumerate(nodes):
            start = time.perf_counter() if profile else 0.0
            values[id(node.output)] = _reference(node, values)
            if profile:
                profile[0][k] += time.perf_counter() - start
                profile[1][k] += 1
        return [_value(values, v) for v in results]

    return run, [f"{node.op}: {_what(node, 60)}" for node in nodes]


def watched_nodes(results: list[Variable]) -> list[Apply]:
    """The nodes DebugMode checks, in topological order: those ``results`` need whichever way each
    ifelse goes. Nodes only a branch reads stay lazy (a branch not taken may not be computable:
    ``ifelse(x > 0, log(x), 0)``), and so are not checked, nor is the ifelse node itself."""
    from .ifelse import IfElse

    needed: set[int] = set()
    stack = list(results)
    while stack:
        node = stack.pop().owner
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            stack += node.inputs[:1] if isinstance(node.op, IfElse) else node.inputs
    return [node for node in toposort(results) if id(node) in needed]


def debug_runner(
    mode: DebugMode,
    roots: list[Variable],
    n_inputs: int,
    results: list[Variable],
    nodes: list[Apply],
    compiled: Callable,
    fused: Callable,
) -> Callable[[list[Any]], list[np.ndarray]]:
    """DebugMode's run. ``compiled`` (the debug build, taking the first ``n_inputs`` of ``roots``)
    gives the values of ``results``, then those of ``nodes``; ``fused`` (the build FAST_RUN makes)
    gives those of ``results``. Each node is checked against its reference, then each result of
    ``fused`` against the debug build's, before the results are returned."""
    n_results = len(results)

    def run(arguments: list[Any]) -> list[np.ndarray]:
        got = compiled(*arguments[:n_inputs])
        values = {id(v): np.asarray(a) for v, a in zip(roots, arguments)}
        values.update((id(node.output), np.asarray(value)) for node, value in zip(nodes, got[n_results:]))
        for node in nodes:
            if all(isinstance(v, Constant) or id(v) in values for v in node.inputs):  # not an ifelse's
                _check_node(node, values, mode.check_isfinite)
        for k, (var, checked, fast) in enumerate(zip(results, got, fused(*arguments[:n_inputs]))):
            wrong = _mismatch(np.asarray(fast), np.asarray(checked), [])
            if wrong:
                what = node_label(var.owner) if var.owner else repr(var)
                raise BadThunkOutput(f"DebugMode: result {k} ({what}) of the fused program differs from the "
                                     f"value checked node by node {wrong}", var.owner)  # fmt: skip
        return got[:n_results]

    return run


#: How far a compiled value may stray from the reference, relative to the largest magnitude among
#: it, the reference and the node's operands (kernels may reassociate sums).
_RTOL = {"float64": 1e-7, "float32": 1e-4}


def _mismatch(got: np.ndarray, reference: np.ndarray, operands: list[np.ndarray]) -> str | None:
    """How ``got`` differs from ``reference`` beyond the tolerance (``by up to ...``), or ``None``."""
    if got.shape != reference.shape:
        return f"in shape: {got.shape} against {reference.shape}"
    rtol = _RTOL.get(reference.dtype.name)
    if rtol is None:
        wrong = got != reference
    else:
        finite = [a[np.isfinite(a)] for a in (got, reference, *operands) if a.dtype.kind in "fc"]
        scale = max([1e-300, *(np.abs(a).max() for a in finite if a.size)])
        with np.errstate(invalid="ignore"):
            wrong = ~((np.abs(got - reference) <= rtol * scale) | (got == reference)
                      | (np.isnan(got) & np.isnan(reference)))  # fmt: skip
    if not np.any(wrong):
        return None
    where = tuple(int(i) for i in np.argwhere(wrong)[0])
    with np.errstate(invalid="ignore"):
        diff = np.nanmax(np.abs(got.astype(float) - reference.astype(float))[wrong], initial=0.0)
    return f"by up to {diff:.3g} (at index {where}: {got[where]!r} against {reference[where]!r})"


def _check_node(node: Apply, values: dict[int, np.ndarray], check_isfinite: bool) -> None:
    """Raise if the compiled value of ``node`` is not its reference, or is a new nan or inf."""
    got = values[id(node.output)]
    operands = [np.asarray(_value(values, i)) for i in node.inputs]
    wrong = _mismatch(got, _reference(node, values), operands)
    if wrong:
        raise BadThunkOutput(f"DebugMode: {node_label(node)} is wrong: its compiled value differs from its NumPy "
                             f"reference {wrong}", node)  # fmt: skip
    if check_isfinite and got.dtype.kind == "f" and not np.all(np.isfinite(got)):
        if all(np.all(np.isfinite(a)) for a in operands if a.dtype.kind == "f"):
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
            raise InvalidValueError(f"DebugMode: {node_label(node)} produced {got[where]!r} (at index {where}) "
                                    "from inputs that hold no nan or inf", node)  # fmt: skip
