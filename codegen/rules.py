"""Lowering rules: how each op that is not fused into a kernel becomes lines of a generated module.

One table per backend (``cpu_rules.CPU_RULES``, ``cuda_rules.CUDA_RULES``), one entry per op class,
registered next to its code by a decorator, as JAX's lowering tables and PyTensor's Numba dispatch
do::

    @CPU_RULES.register(Dot)
    def _dot(p: CpuModulePrinter, step: Apply, out: str) -> list[str]:
        return dot_checks(p, step) + [f"{out} = np.dot(...)"]

A rule receives the module printer (names, ``built_at`` sites, the backend's helpers), the step
and the name of its result, and returns the driver lines computing it. ``view=True`` declares that
the result may share memory with an input (a transpose, a slice): the printer copies such a value
before returning it as an output. A backend that cannot run an op says so with ``unsupported``,
and the printer raises ``NotSupportedOnDevice`` with that reason when it meets one. ``compiled=False``
(or a predicate of the node) says that the lines cannot run inside Numba's compiled program on the
CPU: the step then runs in Python between programs (see ``codegen.segments``).

Some ops never reach a rule: elementwise ops and reductions are fused into kernels by
``codegen.lower``, ``IfElse``, ``Map`` and ``Scan`` become its ``Branch``, ``Loop`` and ``ScanLoop`` steps, and
gradient stops (``GradientStop``) are removed by a rewrite before lowering. ``LOWERED_ELSEWHERE`` names them, so
that ``tests/test_layers.py`` can check that every op has a rule, or a reason, on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from symgrad.graph import Apply, Op
from symgrad.ifelse import IfElse
from symgrad.ops.elemwise import Elemwise
from symgrad.ops.gradient import GradientStop
from symgrad.ops.loop import Map
from symgrad.ops.reduce import Reduce
from symgrad.ops.scan import Scan

from .errors import built_at
from .scalar_printer import NotSupportedOnDevice

#: Ops that no table lowers, and what happens to them instead.
LOWERED_ELSEWHERE: dict[type[Op], str] = {
    Elemwise: "fused into kernels by codegen.lower",
    Reduce: "fused into kernels by codegen.lower",
    IfElse: "a Branch step (if/else) of codegen.lower",
    Map: "a Loop step (for) of codegen.lower",
    Scan: "a ScanLoop step (for) of codegen.lower",
    GradientStop: "removed before lowering by the rewrite 'drop_gradient_stops'",
}

Emit = Callable[[Any, Apply, str], list[str]]


@dataclass(frozen=True)
class Rule:
    """How one op class is lowered on one backend: ``emit`` (``None`` when ``unsupported`` says why
    it cannot be), and whether its result may be a view of an input (``view``: a bool, or a
    predicate of the node when it depends on the node)."""

    emit: Emit | None
    view: bool | Callable[[Apply], bool] = False
    unsupported: str | None = None
    compiled: bool | Callable[[Apply], bool] = True

    def is_view(self, node: Apply) -> bool:
        return self.view(node) if callable(self.view) else self.view

    def runs_compiled(self, node: Apply) -> bool:
        return self.compiled(node) if callable(self.compiled) else self.compiled


class RuleTable:
    """The lowering rules of one backend, by op class."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.rules: dict[type[Op], Rule] = {}

    def register(
        self,
        *op_types: type[Op],
        view: bool | Callable[[Apply], bool] = False,
        compiled: bool | Callable[[Apply], bool] = True,
    ) -> Callable[[Emit], Emit]:
        """Decorator: ``emit`` lowers ``op_types`` on this backend."""

        def add(emit: Emit) -> Emit:
            for op_type in op_types:
                self._add(op_type, Rule(emit, view, compiled=compiled))
            return emit

        return add

    def unsupported(self, *op_types: type[Op], why: str) -> None:
        """This backend cannot run ``op_types``; ``why`` tells the user what to do instead."""
        for op_type in op_types:
            self._add(op_type, Rule(None, unsupported=why))

    def _add(self, op_type: type[Op], rule: Rule) -> None:
        if op_type in self.rules:
            raise ValueError(f"{self.backend} lowering: {op_type.__name__} is registered twice")
        self.rules[op_type] = rule

    def covers(self, op_type: type[Op]) -> bool:
        return op_type in self.rules

    def rule(self, node: Apply) -> Rule:
        """The rule for ``node``'s op: a clear error for an op the backend does not know or cannot run."""
        rule = self.rules.get(type(node.op))
        if rule is None:
            raise NotSupportedOnDevice(
                f"no {self.backend} lowering rule for {node.op} (op class {type(node.op).__name__}): "
                f"register one in codegen/{self.backend}_rules.py"
            )
        if rule.emit is None:
            why = rule.unsupported
            raise NotSupportedOnDevice(f"device={self.backend!r} cannot run {node.op}{built_at(node)}: {why}")
        return rule
