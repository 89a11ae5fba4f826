"""``debugprint``: the graph as an indented tree, one node a line, as Theano prints it."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

from ..graph import Apply, Constant, Variable, toposort
from .formulas import MathTextPrinter
from .translate import GraphPrinter, constant_text, elemwise_label, outputs_of


def char_id(n: int) -> str:
    """Theano's node ids: A, B, ..., Z, BA, BB, ... (base 26 with A for 0)."""
    text = ""
    while True:
        n, digit = divmod(n, 26)
        text = chr(ord("A") + digit) + text
        if n == 0:
            return text


class DebugPrinter(GraphPrinter):
    """``debugprint``: Theano's indented tree, one line per variable: what computes it, an id,
    its name and its type. A node met again prints its line only (its id names it)."""

    def __init__(self, print_type: bool = True, ids: str = "CHAR", depth: int = -1, topo: list[Apply] | None = None):
        if ids not in ("CHAR", "int", ""):
            raise ValueError(f"debugprint: ids must be 'CHAR', 'int' or '', got {ids!r}")
        self.print_type = print_type
        self.ids = ids
        self.depth = depth
        self.topo = {id(node): i for i, node in enumerate(topo)} if topo is not None else None
        self._ids: dict[int, str] = {}

    def label(self, var: Variable) -> str:
        if isinstance(var, Constant):
            return f"TensorConstant{{{constant_text(var)}}}"
        if var.owner is None:
            return var.name or f"<{var.type}>"
        return self.dispatch(var.owner)

    def _print_Elemwise(self, node: Apply) -> str:
        return elemwise_label(node.op, MathTextPrinter().doprint)

    def _print_Op(self, node: Apply) -> str:
        return str(node.op)

    def line(self, var: Variable) -> str:
        parts = [self.label(var)]
        if self.ids:
            if id(var) not in self._ids:
                self._ids[id(var)] = char_id(len(self._ids)) if self.ids == "CHAR" else str(len(self._ids))
            parts.append(f"[id {self._ids[id(var)]}]")
        if var.owner is not None and var.name:
            parts.append(repr(var.name))
        if self.print_type:
            parts.append(f"<{var.type}>")
        if self.topo is not None and var.owner is not None:
            parts.append(str(self.topo[id(var.owner)]))
        return " ".join(parts)

    def doprint(self, outputs: Iterable[Variable]) -> str:
        lines: list[str] = []
        expanded: set[int] = set()
        for out in outputs:
            stack = [(out, 0)]
            while stack:
                var, depth = stack.pop()
                lines.append(" |" * depth + self.line(var))
                if var.owner is None or id(var) in expanded or depth == self.depth:
                    continue
                expanded.add(id(var))
                stack.extend((i, depth + 1) for i in reversed(var.owner.inputs))
        return "\n".join(lines)


def debugprint(
    obj: Any, file: TextIO | str | None = None, print_type: bool = True, ids: str = "CHAR", depth: int = -1
) -> str | None:
    """Print the graph of a variable, a list of variables, or a compiled function as an indented
    tree with node ids and types (Theano's ``debugprint``).

    For a compiled function the graph is the optimized one, and each computed line ends with its
    node's position in execution order. ``file='str'`` returns the text instead of printing it;
    otherwise it is written to ``file`` (default ``sys.stdout``).
    """
    outputs = outputs_of(obj)
    topo = toposort(outputs) if not isinstance(obj, (Variable, list, tuple)) else None
    text = DebugPrinter(print_type, ids, depth, topo).doprint(outputs)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return None
