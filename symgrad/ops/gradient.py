"""Ops that only change how gradients flow; they compute nothing (Theano's ``theano.gradient``).

Each is the identity for the forward computation, with its own vector-Jacobian rule:

- ``disconnected_grad(x)``: no gradient flows back to ``x``; to ``T.grad`` it is a constant. Stable
  softmax and logsumexp use it on the max they subtract: their value does not depend on that shift,
  so its exact gradient contribution is zero, and not differentiating it keeps the gradient small.
- ``zero_grad(x)``: the gradient through ``x`` is zero, but ``x`` stays connected (``T.grad`` of a
  cost that reaches ``wrt`` only through it gives zeros rather than a disconnected-input error).
- ``grad_clip(x, lower, upper)``: the gradient passing back through ``x`` is clipped elementwise.
- ``depends_on(x, others)``: ``x``, which the graph records as a function of ``others`` too.

Once gradients are taken they are identities, and the ``drop_gradient_stops`` rewrite removes them
before lowering, so kernels fuse through them.
"""

from __future__ import annotations

import numpy as np

from ..graph import Op, Variable, apply
from ..types import TensorType


class GradientStop(Op):
    """Base of the ops above: ``x`` forward (any further inputs are only recorded, for
    ``depends_on``); subclasses say what flows back."""

    def make_type(self, x: Variable, *others: Variable) -> TensorType:
        return x.type

    def perform(self, x: np.ndarray, *others: np.ndarray) -> np.ndarray:
        return x


class DisconnectedGrad(GradientStop):
    """The identity, with no gradient flowing back to its input."""

    def vjp(self, inputs, output, g):
        return [None]


class ZeroGrad(GradientStop):
    """The identity, whose gradient is zero (connected, unlike ``DisconnectedGrad``)."""

    def vjp(self, inputs, output, g):
        from ..tensor.basic import zeros_like

        return [zeros_like(inputs[0])]


class GradClip(GradientStop):
    """The identity, whose incoming gradient is clipped to ``[lower, upper]`` elementwise."""

    props = ("lower", "upper")

    def __init__(self, lower: float, upper: float) -> None:
        if not lower <= upper:
            raise ValueError(f"grad_clip: lower ({lower}) must not exceed upper ({upper})")
        self.lower, self.upper = float(lower), float(upper)

    def vjp(self, inputs, output, g):
        from ..tensor.basic import clip

        return [clip(g, self.lower, self.upper)]


class DependsOn(GradientStop):
    """``x``, recorded as a function of further inputs whose values it does not read.

    ``T.Rop``'s result is a function of the variables its ``f`` came from, as in Theano: the
    tutorial compiles ``theano.function([W, V, x], T.Rop(T.dot(x, W), W, V))``, whose value
    ``dot(x, V)`` does not read ``W``, and an input nothing uses would be refused.
    """

    def vjp(self, inputs, output, g):
        return [g, *[None] * (len(inputs) - 1)]


def depends_on(x: Variable, others: list[Variable]) -> Variable:
    """``x``, as a function of ``others`` too (see ``DependsOn``)."""
    return apply(DependsOn(), x, *others) if others else x


def disconnected_grad(x: Variable) -> Variable:
    """``x``, treated as a constant by ``T.grad``."""
    return apply(DisconnectedGrad(), x)


def zero_grad(x: Variable) -> Variable:
    """``x``, whose gradient is zero."""
    return apply(ZeroGrad(), x)


def grad_clip(x: Variable, lower: float, upper: float) -> Variable:
    """``x``, with the gradient flowing back through it clipped to ``[lower, upper]``."""
    return apply(GradClip(lower, upper), x)
