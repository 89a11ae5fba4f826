"""Ops that only change how gradients flow; they compute nothing.

``disconnected_grad(x)`` is ``x`` for the forward computation and a constant for ``T.grad``
(Theano's ``theano.gradient.disconnected_grad``). Stable softmax and logsumexp use it on the max they
subtract: their value does not depend on that shift, so its exact gradient contribution is zero, and
not differentiating it keeps the gradient graph small. Once gradients are taken the op is an identity,
and the ``drop_gradient_stops`` rewrite removes it before lowering, so kernels fuse through it.
"""

from __future__ import annotations

import numpy as np

from ..graph import Op, Variable, apply
from ..types import TensorType


class DisconnectedGrad(Op):
    """The identity, with no gradient flowing back to its input."""

    def make_type(self, x: Variable) -> TensorType:
        return x.type

    def perform(self, x: np.ndarray) -> np.ndarray:
        return x

    def vjp(self, inputs, output, g):
        return [None]


def disconnected_grad(x: Variable) -> Variable:
    """``x``, treated as a constant by ``T.grad``."""
    return apply(DisconnectedGrad(), x)
