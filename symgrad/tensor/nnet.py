"""``T.nnet``: neural-network activations, softmax and the usual losses.

Softmax and its logarithm are compositions of max, exp, sum and log, so the fuser turns them into
a few loops like any other expression. They subtract the row maximum first (so inputs of ±1000 are
fine) and treat that maximum as a constant for ``T.grad``: it does not change the value, so its
exact gradient contribution is zero.
"""

from typing import Any

from ..ops.elemwise import elemwise
from ..ops.gradient import disconnected_grad
from ..types import kind
from . import basic as T


def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)), computed without overflow."""
    return elemwise("sigmoid", x)


def softplus(x):
    """log(1 + exp(x)), computed without overflow."""
    return elemwise("softplus", x)


def relu(x, alpha: Any = 0):
    """max(x, 0); its derivative at 0 is 0, as in Theano and PyTorch. With ``alpha`` (a number or a
    tensor), Theano's leaky form: ``x`` where ``x > 0``, ``alpha * x`` elsewhere."""
    if isinstance(alpha, (int, float)) and alpha == 0:
        return elemwise("relu", x)
    return T.switch(T.gt(x, 0), x, alpha * x)


def _shifted(x, axis: int):
    x = T.as_tensor_variable(x)
    if x.ndim == 0:
        raise ValueError(f"softmax needs a vector or a matrix, got the scalar {x!r}")
    return x - disconnected_grad(T.max(x, axis=axis, keepdims=True))


def softmax(x, axis: int = -1):
    """``exp(x) / sum(exp(x))`` along the last axis (each row of a matrix); same shape as ``x``."""
    e = T.exp(_shifted(x, axis))
    return e / T.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1):
    """``log(softmax(x))`` along the last axis, computed as ``x - logsumexp(x)``: finite wherever
    ``x`` is, even where the softmax underflows to 0."""
    shifted = _shifted(x, axis)
    return shifted - T.log(T.sum(T.exp(shifted), axis=axis, keepdims=True))


def categorical_crossentropy(coding_dist, true_dist):
    """The cross-entropy of each row of the predicted distribution ``coding_dist`` with the target.

    ``true_dist`` is either an integer vector of class labels, one per row (the loss is
    ``-log(coding_dist[arange(n), true_dist])``), or distributions (one-hot or soft) of the shape of
    ``coding_dist`` (the loss is ``-sum(true_dist * log(coding_dist), axis=-1)``).
    """
    coding_dist, true_dist = T.as_tensor_variable(coding_dist), T.as_tensor_variable(true_dist)
    if true_dist.ndim == coding_dist.ndim:
        return -T.sum(true_dist * T.log(coding_dist), axis=-1)
    if true_dist.ndim == coding_dist.ndim - 1 and coding_dist.ndim in (1, 2) and kind(true_dist.dtype) == "i":
        if coding_dist.ndim == 1:
            return -T.log(coding_dist[true_dist])
        return -T.log(coding_dist[T.arange(coding_dist.shape[0]), true_dist])
    raise TypeError(
        f"categorical_crossentropy: true_dist must be integer labels with one dimension fewer than coding_dist, "
        f"or distributions of its shape; got coding_dist {coding_dist!r} ({coding_dist.type}) and true_dist "
        f"{true_dist!r} ({true_dist.type})"
    )


def binary_crossentropy(output, target):
    """``-(target * log(output) + (1 - target) * log(1 - output))``, elementwise."""
    output, target = T.as_tensor_variable(output), T.as_tensor_variable(target)
    return -(target * T.log(output) + (1 - target) * T.log(1 - output))


__all__ = ["sigmoid", "softplus", "relu", "softmax", "log_softmax", "categorical_crossentropy", "binary_crossentropy",
           "disconnected_grad"]  # fmt: skip


def __dir__() -> list[str]:
    """The public names only (not the modules this one imports to do its work)."""
    return sorted(__all__)
