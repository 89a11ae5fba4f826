"""The graph: Variables, Constants, Apply nodes, the Op protocol, hash-consing and toposort.

Every symbolic value is a :class:`Variable`. A variable computed by an op has an ``owner``, the
:class:`Apply` node that records the op and its input variables. Nodes are *hash-consed*: applying
the same op to the same inputs twice returns the very same variable, so equal subexpressions are
one node from the start (that is most of common-subexpression elimination, for free).

An :class:`Op` answers four questions, each in one method:

- ``make_type(*inputs)``: the output's :class:`TensorType` (and the place to reject bad inputs);
- ``perform(*values)``: the NumPy reference implementation, used by constant folding, ``eval`` and
  the tests as the oracle;
- ``vjp(inputs, output, g)``: the vector-Jacobian product, one symbolic gradient per input
  (``None`` where no gradient flows);
- ``__str__``: how the node reads in debug output.

How an op is lowered to code lives in the back end (``codegen/lower.py``), keyed by op class.
"""

from __future__ import annotations

import abc
import os
import sys
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .config import config
from .types import TensorType

# Frames in these directories are symgrad's own (the front end and the back end, which rebuilds
# graphs while optimizing them); the user's line is the innermost frame outside them.
_OWN_DIRS = tuple(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), package) + os.sep
    for package in ("symgrad", "codegen")
)


def user_line() -> str | None:
    """``file:line`` of the innermost caller outside symgrad: where the user built this node."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_OWN_DIRS):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


class Op(abc.ABC):
    """Base class of operations. Ops are immutable; equality and hash come from ``props``."""

    props: tuple[str, ...] = ()

    def _key(self) -> tuple:
        return (type(self), *(getattr(self, p) for p in self.props))

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self) -> int:
        # Computed once: hashing SymPy expressions is slow, and the hash-consing tables hash ops
        # again when entries die, which can happen while the interpreter is shutting down.
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = hash(self._key())
        return cached

    def __str__(self) -> str:
        args = ", ".join(str(getattr(self, p)) for p in self.props)
        return f"{type(self).__name__}{{{args}}}" if args else type(self).__name__

    def describe(self, operands: Sequence[Variable], depth: int) -> str:
        """How a variable this op computes from ``operands`` reads in ``repr``, writing out ``depth``
        more levels of ops below it (:func:`operand_text` writes each operand)."""
        return f"{self}({', '.join(operand_text(v, depth) for v in operands)})"

    def signature(self) -> str:
        """A deterministic text naming this op exactly; part of the disk-cache key."""
        return str(self._key()[1:]) + type(self).__name__

    @abc.abstractmethod
    def make_type(self, *inputs: Variable) -> TensorType:
        """The output type; raise here, in the user's terms, if the inputs do not fit."""

    @abc.abstractmethod
    def perform(self, *values: np.ndarray) -> np.ndarray:
        """The NumPy reference implementation."""

    @abc.abstractmethod
    def vjp(self, inputs: Sequence[Variable], output: Variable, g: Variable) -> list[Variable | None]:
        """Gradients with respect to each input given ``g``, the gradient of the output."""


class Apply:
    """One application of an op to input variables; ``output`` is the variable it computes."""

    __slots__ = ("op", "inputs", "output", "trace")

    def __init__(self, op: Op, inputs: tuple[Variable, ...], output: Variable, trace: str | None) -> None:
        self.op = op
        self.inputs = inputs
        self.output = output
        self.trace = trace


class Variable:
    """A symbolic tensor. Operators and methods are added by ``symgrad.tensor.variable``."""

    __slots__ = ("type", "owner", "name", "_tag", "__weakref__")

    def __init__(self, type: TensorType, owner: Apply | None = None, name: str | None = None) -> None:
        self.type = type
        self.owner = owner
        self.name = name
        self._tag = None

    @property
    def tag(self) -> Tag:
        """Theano's free-form annotations; ``tag.test_value`` is read by ``config.compute_test_value``."""
        if self._tag is None:
            self._tag = Tag()
        return self._tag

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return self.type.broadcastable

    @property
    def static_shape(self) -> tuple[int | None, ...]:
        return self.type.shape

    def __repr__(self) -> str:
        if self.name:
            return self.name
        if self.owner is not None:
            return self.owner.op.describe(self.owner.inputs, repr_depth(self))
        return f"<{self.type}>"

    def __bool__(self) -> bool:
        raise TypeError(
            "a symbolic variable has no truth value; use T.switch(cond, a, b) or symgrad.ifelse "
            "for conditions on values"
        )

    def __iter__(self):
        raise TypeError("symbolic variables are not iterable; index them explicitly (x[0], x[1], ...)")

    def __reduce_ex__(self, protocol):
        # A computed variable pickles as its whole graph written flat (see pack_graph): pickling
        # the owner chain as it stands recurses once per level and fails on deep graphs.
        if self.owner is None:
            return object.__reduce_ex__(self, protocol)
        return _unpack_variable, pack_graph([self])


class Tag:
    """A variable's annotations (attributes set by the user), as Theano's ``Variable.tag``."""

    def __repr__(self) -> str:
        return f"Tag({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


# ``repr`` writes a variable's expression out as many levels of ops deep as fit in REPR_NODES ops
# (a subexpression counts at each use), and at most REPR_DEPTH; the operands below read as ``…``. So
# the text of a deep graph, or of one that uses a subexpression many times, stays short, and
# repr's recursion stays shallow (a 3000-level chain would exceed Python's stack).
REPR_DEPTH = 12
REPR_NODES = 40


def repr_depth(var: Variable) -> int:
    """How many levels of ops below ``var``'s own ``repr`` writes out (see ``REPR_NODES``)."""
    level: dict[int, tuple[Variable, int]] = {id(var): (var, 1)}  # each variable, and its uses as a tree
    total = 0
    for depth in range(REPR_DEPTH):
        below: dict[int, tuple[Variable, int]] = {}
        for v, uses in level.values():
            for i in v.owner.inputs:
                if i.name is None and i.owner is not None:
                    below[id(i)] = (i, below.get(id(i), (i, 0))[1] + uses)
        total += sum(uses for _, uses in below.values())
        if not below or total > REPR_NODES:
            return depth
        level = below
    return REPR_DEPTH


def operand_text(var: Variable, depth: int) -> str:
    """``var`` as an operand in ``repr``: its name, a leaf's text, its op written out (``depth``
    more levels below it), or ``…`` where ``depth`` is 0."""
    if var.name or var.owner is None:
        return repr(var)
    return "…" if depth == 0 else var.owner.op.describe(var.owner.inputs, depth - 1)


class Constant(Variable):
    """A variable with a fixed value. ``weak`` marks Python scalars, which do not widen dtypes."""

    __slots__ = ("data", "weak")

    def __init__(self, type: TensorType, data: np.ndarray, weak: bool) -> None:
        super().__init__(type)
        data.setflags(write=False)
        self.data = data
        self.weak = weak

    def __repr__(self) -> str:
        if self.data.ndim == 0:
            return repr(self.data.item())
        return f"Constant{{{self.type}}}"


# Hash-consing tables. Values are held weakly: a node lives only as long as someone uses it.
_nodes: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_constants: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def make_variable(type: TensorType, owner: Apply | None = None, name: str | None = None) -> Variable:
    from .tensor.variable import TensorVariable

    return TensorVariable(type, owner, name)


def apply(op: Op, *inputs: Variable) -> Variable:
    """The output of ``op`` applied to ``inputs``: the existing node if one was built before."""
    key = (op, inputs)
    existing = _nodes.get(key)
    if existing is not None:
        if config.compute_test_value != "off" and getattr(existing._tag, "test_value", None) is None:
            _compute_test_value(existing.owner)  # built before the setting was on
        return existing
    out_type = op.make_type(*inputs)
    if inputs and all(isinstance(i, Constant) for i in inputs):  # constant folding
        return constant(op.perform(*(i.data for i in inputs)), dtype=out_type.dtype, weak=False)
    output = make_variable(out_type)
    output.owner = Apply(op, inputs, output, user_line())
    if config.compute_test_value != "off":
        _compute_test_value(output.owner)
    _nodes[key] = output
    return output


def _test_value_of(v: Variable) -> np.ndarray | None:
    """``v``'s test value as an array of its type (a constant's is its data); ``None`` if it has none."""
    if isinstance(v, Constant):
        return v.data
    value = getattr(v._tag, "test_value", None)
    if value is None and hasattr(v, "get_value"):  # a shared variable: its value is its test value
        value = v.get_value(borrow=True)
    if value is None:
        return None
    array = np.asarray(value, dtype=v.dtype)
    if array.ndim != v.ndim or any(n is not None and n != m for n, m in zip(v.static_shape, array.shape)):
        raise ValueError(f"the test value of {v!r} has shape {array.shape}, but {v!r} is {v.type}")
    return array


def _compute_test_value(node: Apply) -> None:
    """Give ``node``'s output its test value, computed from its inputs' (``config.compute_test_value``)."""
    values = [_test_value_of(i) for i in node.inputs]
    missing = next((i for i, value in zip(node.inputs, values) if value is None), None)
    if missing is not None:
        message = (f"compute_test_value: {missing!r} ({missing.type}) has no test value; set "
                   f"{missing.name or 'the variable'}.tag.test_value to an example value")  # fmt: skip
        if config.compute_test_value == "raise":
            raise ValueError(message)
        if config.compute_test_value == "warn":
            import warnings

            warnings.warn(message, stacklevel=3)
        return
    where = f" (built at {node.trace})" if node.trace else ""
    try:
        value = node.op.perform(*values)
    except Exception as err:
        shapes = ", ".join(f"{i!r}: {v.shape}" for i, v in zip(node.inputs, values))
        raise ValueError(f"compute_test_value: {node.op} fails on the test values ({shapes}){where}: {err}") from None
    node.output.tag.test_value = np.asarray(value, dtype=node.output.dtype)


def constant(value: Any, dtype: str | None = None, weak: bool | None = None) -> Constant:
    """The constant holding ``value``; equal values of equal dtype are one node."""
    from .types import ALL_DTYPES

    if weak is None:
        weak = isinstance(value, (bool, int, float)) and dtype is None
    data = np.asarray(value, dtype=dtype)
    if data.dtype.name not in ALL_DTYPES:
        raise TypeError(f"cannot make a constant of dtype {data.dtype} from {value!r}")
    data = np.array(data, order="C")
    key = (data.dtype.name, data.shape, data.tobytes(), weak)
    existing = _constants.get(key)
    if existing is not None:
        return existing
    const = make_constant(TensorType(data.dtype.name, data.shape), data.copy(), weak)
    _constants[key] = const
    return const


def make_constant(type: TensorType, data: np.ndarray, weak: bool) -> Constant:
    from .tensor.variable import TensorConstant

    return TensorConstant(type, data, weak)


def toposort(outputs: Iterable[Variable]) -> list[Apply]:
    """Apply nodes needed for ``outputs``, each after its inputs' nodes (iterative DFS)."""
    order: list[Apply] = []
    done: set[int] = set()
    for out in outputs:
        stack = [(out, False)]
        while stack:
            var, expanded = stack.pop()
            node = var.owner
            if node is None or id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                order.append(node)
                continue
            stack.append((var, True))
            stack.extend((inp, False) for inp in reversed(node.inputs) if inp.owner is not None)
    return order


def graph_inputs(outputs: Iterable[Variable]) -> list[Variable]:
    """Root variables (no owner, not constant) that ``outputs`` depend on, in first-seen order."""
    seen: dict[int, Variable] = {}
    for out in outputs:
        if out.owner is None and not isinstance(out, Constant):
            seen.setdefault(id(out), out)
    for node in toposort(outputs):
        for inp in node.inputs:
            if inp.owner is None and not isinstance(inp, Constant):
                seen.setdefault(id(inp), inp)
    return list(seen.values())


def pack_graph(outputs: Sequence[Variable]) -> tuple[list[tuple], list[int]]:
    """``outputs`` as flat data for pickle: one entry per variable, each after its inputs.

    Pickling a graph as it is recurses once per level of depth, which fails on deep graphs (a long
    chain of updates, a gradient of a gradient). Here a leaf (a free variable or a constant) is an
    entry ``(variable,)`` and a computed variable ``(op, input_numbers, name, trace)``; the second
    list gives each output's number. :func:`unpack_graph` builds the graph again.
    """
    number: dict[int, int] = {}
    entries: list[tuple] = []

    def numbered(v: Variable) -> int:
        if id(v) not in number:  # a leaf: computed variables are numbered in toposort order below
            number[id(v)] = len(entries)
            entries.append((v,))
        return number[id(v)]

    for node in toposort(outputs):
        inputs = tuple(numbered(i) for i in node.inputs)
        number[id(node.output)] = len(entries)
        entries.append((node.op, inputs, node.output.name, node.trace))
    return entries, [numbered(v) for v in outputs]


def unpack_graph(entries: list[tuple], outputs: list[int]) -> list[Variable]:
    """The outputs of :func:`pack_graph`'s data, built through the hash-consing constructors, so that
    nodes equal to ones this process already has are those very nodes."""
    values: list[Variable] = []
    for entry in entries:
        if len(entry) == 1:
            (v,) = entry
            if isinstance(v, Constant):
                v = constant(v.data, dtype=v.dtype, weak=v.weak)
        else:
            op, inputs, name, trace = entry
            v = apply(op, *(values[k] for k in inputs))
            if name is not None and v.name is None:
                v.name = name
            if v.owner is not None and trace is not None:
                v.owner.trace = trace  # where the user built it, for error messages, not this line
        values.append(v)
    return [values[k] for k in outputs]


def _unpack_variable(entries: list[tuple], outputs: list[int]) -> Variable:
    """The variable that ``Variable.__reduce_ex__`` wrote."""
    return unpack_graph(entries, outputs)[0]
