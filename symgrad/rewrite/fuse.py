"""The fuse phase: what the loop fuser in ``codegen/lower.py`` needs before it runs.

Fusion itself (substituting elementwise producers into their consumers, reductions absorbing what
they reduce, sibling loops sharing one loop nest) is done by the lowering, which knows the loop
domains; these rules only clear the way for it.
"""

from __future__ import annotations

from ..graph import Apply, Variable
from ..ops.gradient import GradientStop
from .core import Context, node_rewrite


@node_rewrite("fuse", GradientStop)
def drop_gradient_stops(node: Apply, ctx: Context) -> Variable:
    """disconnected_grad(x), zero_grad(x), grad_clip(x, lower, upper) → x

    A gradient stop only matters to T.grad, which has run by now, and the fuser cannot see through it.
    """
    return node.inputs[0]
