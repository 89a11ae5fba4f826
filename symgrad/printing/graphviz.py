"""Graph pictures: the graph as Graphviz's DOT text (``graph_to_dot``), rendered by Graphviz's
``dot`` program (``pydotprint``, and the SVG that Jupyter shows)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..graph import Apply, Constant, Variable, toposort
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

    def doprint(self, outputs: Sequence[Variable]) -> str:
        from ..grad import is_gradient

        lines = ["digraph symgrad {", "  rankdir=TB;", '  node [fontname="Helvetica"];', "  edge [fontsize=9];"]
        ids: dict[int, str] = {}

        def declare(key: str, label: str, var: Variable, kind: str) -> str:
            lines.append(f"  {key} [label={_dot_quote(label + chr(10) + str(var.type))}, {STYLES[kind]}];")
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


def graph_to_dot(obj: Any) -> str:
    """The DOT text of a variable's, a list's or a compiled function's graph (no Graphviz needed)."""
    return DotPrinter().doprint(outputs_of(obj))


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


def pydotprint(obj: Any, outfile: str | os.PathLike | None = None, format: str | None = None) -> Path:
    """Draw the graph of a variable, a list of variables or a compiled function with Graphviz.

    The format comes from ``format`` or from ``outfile``'s suffix (``.svg``, ``.png``, ``.pdf``);
    the default file is ``symgrad.pydotprint.png`` in the current directory. Returns the path
    written. Raises :class:`GraphvizNotFoundError` when Graphviz is not installed.
    """
    path = Path(outfile) if outfile is not None else Path(f"symgrad.pydotprint.{format or 'png'}")
    format = format or path.suffix.lstrip(".") or "png"
    if format not in ("svg", "png", "pdf"):
        raise ValueError(f"pydotprint: format must be 'svg', 'png' or 'pdf', got {format!r}")
    path.write_bytes(render_dot(graph_to_dot(obj), format))
    return path


def svg(obj: Any) -> str:
    """The graph as SVG text (what Jupyter shows for a variable)."""
    return render_dot(graph_to_dot(obj), "svg").decode()
