"""Graph pictures: the graph as Graphviz's DOT text (``graph_to_dot``), rendered by Graphviz's
``dot`` program (``pydotprint``, and the SVG that Jupyter shows); at a point, each node with its
value and, as micrograd's ``draw_dot`` shows it, the gradient of the output with respect to it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..graph import Apply, Constant, Variable, constant, graph_inputs, toposort
from .formulas import MathTextPrinter
from .translate import GraphPrinter, constant_text, elemwise_label, outputs_of


class GraphvizNotFoundError(RuntimeError):
    """Graph pictures need Graphviz's ``dot`` program, which is not installed."""


STYLES = {
    "input": 'shape=ellipse, style=filled, fillcolor="#b7e4c7"',
    "constant": 'shape=box, style="rounded,filled", fillcolor="#e9ecef", fontsize=10',
    "op": 'shape=box, style="rounded,filled", fillcolor="#dbe4ff"',
    "gradient": 'shape=box, style="rounded,filled", fillcolor="#ffd8a8"',
    "output": 'shape=ellipse, style="filled,bold", fillcolor="#a5d8ff", peripheries=2',
}


def _value_text(value: np.ndarray) -> str:
    """A value as a label shows it: four significant digits, a long array cut in the middle."""
    formatter = {"float_kind": lambda v: f"{v:.4g}"}
    return np.array2string(np.asarray(value), threshold=6, edgeitems=2, separator=", ", formatter=formatter)


def values_at(
    outputs: Sequence[Variable], values: Mapping[Variable, Any], grads: bool
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """The value of every variable of the graph at the point ``values`` (shared variables at their
    own values), by each op's NumPy reference; with ``grads``, also the gradient of the (single,
    scalar) output with respect to each of them: the reverse sweep of ``T.grad`` over this very
    graph, every node's adjoint kept, then evaluated the same way. Both dicts are keyed by id."""
    from ..grad import sweep
    from ..ops.loop import evaluate
    from ..shared import SharedVariable

    given = {id(v): value for v, value in values.items()}
    roots = graph_inputs(outputs)
    point: dict[int, np.ndarray] = {}
    for root in roots:
        if id(root) in given:
            point[id(root)] = np.asarray(given[id(root)], dtype=root.dtype)
        elif isinstance(root, SharedVariable):
            point[id(root)] = root.get_value()
        else:
            raise ValueError(f"values= has no value for the input {root!r}: give each input one ({{{root!r}: 1.0}})")
    variables = [*roots, *(node.output for node in toposort(outputs))]
    node_values = dict(zip(map(id, variables), evaluate(variables, point)))
    if not grads:
        return node_values, {}
    if len(outputs) != 1 or outputs[0].ndim != 0:
        shapes = ", ".join(f"{out.ndim}-d" for out in outputs)
        raise ValueError(f"grads=True draws the gradient of one scalar (0-d) output; the graph's outputs are {shapes}: "
                         "draw T.sum(output), or one output at a time")  # fmt: skip
    (cost,) = outputs
    adjoints = sweep([cost], [constant(np.ones((), cost.dtype))], variables, [])
    return node_values, dict(zip(adjoints, evaluate(list(adjoints.values()), point)))


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class DotPrinter(GraphPrinter):
    """The graph in Graphviz's DOT language: inputs (green ellipses), constants (grey), ops (blue
    boxes), gradient ops (orange boxes, the nodes ``T.grad`` built) and outputs (double ellipses).
    """

    def _print_Elemwise(self, node: Apply) -> str:
        return elemwise_label(node.op, MathTextPrinter().doprint)

    def _print_Op(self, node: Apply) -> str:
        return str(node.op)

    def doprint(
        self, outputs: Sequence[Variable], values: Mapping[Variable, Any] | None = None, grads: bool = False
    ) -> str:
        """The DOT text of ``outputs``' graph; given ``values`` (an input's value for each input),
        each node also shows its value there and, with ``grads``, the output's gradient with respect
        to it (see :func:`values_at`)."""
        from ..grad import is_gradient

        if grads and values is None:
            raise ValueError("grads=True needs the point to differentiate at: pass values={input: value, ...}")
        node_values, node_grads = values_at(outputs, values, grads) if values is not None else ({}, {})
        lines = ["digraph symgrad {", "  rankdir=TB;", '  node [fontname="Helvetica"];', "  edge [fontsize=9];"]
        ids: dict[int, str] = {}

        def declare(key: str, label: str, var: Variable, kind: str) -> str:
            label += "\n" + str(var.type)
            if id(var) in node_values:
                label += "\nvalue " + _value_text(node_values[id(var)])
            if id(var) in node_grads:
                label += "\ngrad " + _value_text(node_grads[id(var)])
            lines.append(f"  {key} [label={_dot_quote(label)}, {STYLES[kind]}];")
            return key

        def source(var: Variable) -> str:
            if id(var) not in ids:  # a leaf: an input or a constant
                if isinstance(var, Constant):
                    ids[id(var)] = declare(f"v{len(ids)}", f"TensorConstant{{{constant_text(var)}}}", var, "constant")
                else:
                    ids[id(var)] = declare(f"v{len(ids)}", var.name or "input", var, "input")
            return ids[id(var)]

        for node in toposort(outputs):
            label = self.dispatch(node)
            if node.output.name:
                label = f"{node.output.name} = {label}"
            kind = "gradient" if is_gradient(node.output) else "op"
            key = declare(f"n{len(ids)}", label, node.output, kind)
            for position, inp in enumerate(node.inputs):
                edge_label = f" [label={position}]" if len(node.inputs) > 1 else ""
                lines.append(f"  {source(inp)} -> {key}{edge_label};")
            ids[id(node.output)] = key
        for i, out in enumerate(outputs):
            label = out.name or (f"output {i}" if len(outputs) > 1 else "output")
            key = declare(f"out{i}", label, out, "output")
            lines.append(f"  {source(out)} -> {key};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def graph_to_dot(obj: Any, values: Mapping[Variable, Any] | None = None, grads: bool = False) -> str:
    """The DOT text of a variable's, a list's or a compiled function's graph (no Graphviz needed);
    with ``values`` and ``grads``, each node's value and gradient at that point."""
    return DotPrinter().doprint(outputs_of(obj), values, grads)


def dot_program() -> str:
    """The path of Graphviz's ``dot``, or a :class:`GraphvizNotFoundError` saying how to get it."""
    path = shutil.which("dot")
    if path is None:
        raise GraphvizNotFoundError(
            "graph pictures need Graphviz's 'dot' program, which is not on PATH. Install Graphviz "
            "(apt-get install graphviz, brew install graphviz or conda install graphviz); "
            "printing.graph_to_dot(...) gives the DOT text without it"
        )
    return path


def render_dot(dot_text: str, format: str) -> bytes:
    """Run Graphviz on ``dot_text``; returns the picture in ``format`` ('svg', 'png', 'pdf')."""
    done = subprocess.run([dot_program(), f"-T{format}"], input=dot_text.encode(), capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz's dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def pydotprint(
    obj: Any,
    outfile: str | os.PathLike | None = None,
    format: str | None = None,
    values: Mapping[Variable, Any] | None = None,
    grads: bool = False,
) -> Path:
    """Draw the graph of a variable, a list of variables or a compiled function with Graphviz.

    The format comes from ``format`` or from ``outfile``'s suffix (``.svg``, ``.png``, ``.pdf``);
    the default file is ``symgrad.pydotprint.png`` in the current directory. Given ``values``, a
    value for each input (``{x: 1.5}``), each node shows its value at that point; with
    ``grads=True`` also the gradient of the (scalar) output with respect to it. Returns the path
    written. Raises :class:`GraphvizNotFoundError` when Graphviz is not installed.
    """
    path = Path(outfile) if outfile is not None else Path(f"symgrad.pydotprint.{format or 'png'}")
    format = format or path.suffix.lstrip(".") or "png"
    if format not in ("svg", "png", "pdf"):
        raise ValueError(f"pydotprint: format must be 'svg', 'png' or 'pdf', got {format!r}")
    path.write_bytes(render_dot(graph_to_dot(obj, values, grads), format))
    return path


def svg(obj: Any, values: Mapping[Variable, Any] | None = None, grads: bool = False) -> str:
    """The graph as SVG text (what Jupyter shows for a variable)."""
    return render_dot(graph_to_dot(obj, values, grads), "svg").decode()


class GraphPicture:
    """A graph picture for Jupyter: shown as SVG where Graphviz is installed, as its DOT text where
    not. ``dot`` is the DOT text."""

    def __init__(self, dot: str) -> None:
        self.dot = dot

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        bundle = {"text/plain": self.dot}
        if shutil.which("dot"):
            bundle["image/svg+xml"] = render_dot(self.dot, "svg").decode()
        return bundle


def draw_graph(obj: Any, values: Mapping[Variable, Any] | None = None, grads: bool = False) -> GraphPicture:
    """The graph as a picture a notebook shows (the last line of a cell), as micrograd's
    ``draw_dot``: ``draw_graph(cost, values={x: 1.5}, grads=True)`` shows each node's value and
    gradient there (see :func:`pydotprint`)."""
    return GraphPicture(graph_to_dot(obj, values, grads))
