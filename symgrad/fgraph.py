"""``f.maker.fgraph``: the optimized graph of a compiled function, as Theano shows it.

Theano users inspect what the optimizer made of their graph with ``f.maker.fgraph.toposort()``.
symgrad compiles from the same optimized graph; this module only presents it. It is built on first
use (from the function's ``FunctionCall``), since a function served by the disk cache never
needed the optimized graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .graph import Apply, Variable, toposort


@dataclass
class FunctionGraph:
    """The optimized graph: ``inputs`` (the function's, then the shared variables it reads),
    ``outputs`` (the function's outputs, then the new values of its updates)."""

    inputs: list[Variable]
    outputs: list[Variable]
    _order: list[Apply] | None = field(default=None, repr=False)

    def toposort(self) -> list[Apply]:
        """The nodes, each after the nodes computing its inputs."""
        if self._order is None:
            self._order = toposort(self.outputs)
        return list(self._order)

    @property
    def apply_nodes(self) -> set[Apply]:
        return set(self.toposort())

    @property
    def variables(self) -> set[Variable]:
        found = {*self.inputs, *self.outputs}
        for node in self.toposort():
            found.update((*node.inputs, node.output))
        return found


@dataclass
class FunctionMaker:
    """What made a compiled function: its optimized ``fgraph`` and its ``inputs`` and ``outputs``."""

    fgraph: FunctionGraph
    inputs: list[Variable]
    outputs: list[Variable]
