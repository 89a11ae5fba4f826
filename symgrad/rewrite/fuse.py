"""The fuse phase: what the loop fuser in ``codegen/lower.py`` needs before it runs.

Fusion itself (substituting elementwise producers into their consumers, reductions absorbing what
they reduce, sibling loops sharing one loop nest) is done by the lowering, which knows the loop
domains; these rules only clear the way for it.
"""

from __future__ import annotations

from ..graph import Apply, Variable
from ..ops.gradient import DisconnectedGrad
from .core import Context, node_rewrite


@node_rewrite("fuse", DisconnectedGrad)
def drop_gradient_stops(node: Apply, ctx: Context) -> Variable:
    """disconnected_grad(x) → x

    The stop only matters to T.grad, which has run by now, and the fuser cannot see through it.
    """
    return node.inputs[0]
