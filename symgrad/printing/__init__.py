"""Printing graphs for people: infix math (``pp``), LaTeX, the indented tree (``debugprint``) and
Graphviz pictures (``pydotprint``); one module each (``formulas``, ``debug``, ``graphviz``), and
``translate`` for the step the math formats share.

There is one printer class per format, and, as in SymPy's printers, each dispatches on what it
prints: a ``_print_Dot`` method handles ``Dot`` nodes, ``_print_Op`` whatever has no method of
its own (the op's class hierarchy is searched in order).

The two math formats share a first step, :class:`SympyTranslator`, which turns a graph into one
SymPy expression. Elementwise nodes substitute their scalar expressions (they *are* SymPy), and
every other op becomes an opaque SymPy function (``dot``, ``transpose``, ``sum``) that the format
printers know how to write. SymPy then simplifies the elementwise algebra, so the gradient of
``x**2`` reads ``2*x``. Treating tensors as SymPy symbols is sound here because elementwise
products commute; matrix products never meet SymPy's ``*``, they stay ``dot`` calls.

Variables the user named print as their names: inputs always, computed variables everywhere but
at the root (``pp(h)`` shows how ``h`` is computed, ``pp(loss)`` shows ``h`` inside it), as in
Theano. Unnamed intermediates print as their expression.
"""

from ..ops.debug import Print
from .debug import DebugPrinter, debugprint
from .formulas import LatexPrinter, PPrinter, latex, pp
from .graphviz import STYLES, DotPrinter, GraphPicture, GraphvizNotFoundError, draw_graph, graph_to_dot, pydotprint, svg
from .translate import SympyTranslator

__all__ = [
    "STYLES", "DebugPrinter", "DotPrinter", "GraphPicture", "GraphvizNotFoundError", "LatexPrinter", "PPrinter",
    "Print", "SympyTranslator", "debugprint", "draw_graph", "graph_to_dot", "latex", "pp", "pprint", "pydotprint",
    "svg",
]  # fmt: skip

pprint = pp  # Theano's other name for it
