"""Optimizers as update lists: ``theano.function(..., updates=optim.adam(cost, params))``.

Each builder takes the cost (a scalar variable, differentiated here) or a list of gradients, the
shared parameters, and hyperparameters named as in ``torch.optim``; it returns ``(variable, new
value)`` pairs for ``updates=``, creating the shared state it needs (momentum buffers, moment
estimates, a step counter) initialised to zero. The formulas are the ones ``torch.optim``
documents, so results match PyTorch step for step.

Hyperparameters are Python numbers (or symbolic scalars, for schedules). Python numbers do not
widen dtypes, so float32 parameters get float32 updates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import tensor as T
from .graph import Variable
from .shared import SharedVariable, shared

Updates = list[tuple[SharedVariable, Variable]]


def _gradients(cost_or_grads: Variable | Sequence[Variable], params: Sequence[SharedVariable]) -> list[Variable]:
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, SharedVariable):
            raise TypeError(f"optimizer params[{i}] ({p!r}) is not a shared variable; only shared variables "
                            "can be updated")  # fmt: skip
    if isinstance(cost_or_grads, Variable):
        return T.grad(cost_or_grads, params)
    grads = list(cost_or_grads)
    if len(grads) != len(params):
        raise ValueError(f"optimizer: got {len(grads)} gradients for {len(params)} parameters")
    return grads


def _state(param: SharedVariable, role: str, value: float = 0.0) -> SharedVariable:
    """A shared buffer shaped like ``param``'s current value, for optimizer state."""
    name = f"{param.name}_{role}" if param.name else role
    return shared(np.full_like(param.get_value(borrow=True), value), name=name)


def _step_counter(params: Sequence[SharedVariable]) -> SharedVariable:
    return shared(np.float64(0.0), name="step")


def _decayed(g: Variable, p: SharedVariable, weight_decay: float) -> Variable:
    return g + weight_decay * p if weight_decay else g


def sgd(
    cost_or_grads: Variable | Sequence[Variable],
    params: Sequence[SharedVariable],
    learning_rate: float = 1e-3,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> Updates:
    """Stochastic gradient descent, with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    g = grad + weight_decay * p; b = momentum * b + g; g = g + momentum * b (Nesterov) or b;
    p = p - learning_rate * g.
    """
    if nesterov and not momentum:
        raise ValueError("sgd: nesterov=True needs a nonzero momentum")
    updates: Updates = []
    for p, g in zip(params, _gradients(cost_or_grads, params)):
        g = _decayed(g, p, weight_decay)
        if momentum:
            buffer = _state(p, "momentum")
            new_buffer = momentum * buffer + g
            updates.append((buffer, new_buffer))
            g = g + momentum * new_buffer if nesterov else new_buffer
        updates.append((p, p - learning_rate * g))
    return updates


def momentum(
    cost_or_grads: Variable | Sequence[Variable],
    params: Sequence[SharedVariable],
    learning_rate: float = 1e-3,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> Updates:
    """SGD with momentum (0.9 by default); ``nesterov=True`` for Nesterov's variant."""
    return sgd(cost_or_grads, params, learning_rate, momentum, nesterov, weight_decay)


def adagrad(
    cost_or_grads: Variable | Sequence[Variable],
    params: Sequence[SharedVariable],
    learning_rate: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
) -> Updates:
    """Adagrad, as ``torch.optim.Adagrad``.

    rate = learning_rate / (1 + (t - 1) * lr_decay); g = grad + weight_decay * p;
    s = s + g**2; p = p - rate * g / (sqrt(s) + eps).
    """
    updates: Updates = []
    grads = _gradients(cost_or_grads, params)
    rate = learning_rate
    if lr_decay:
        step = _step_counter(params)
        updates.append((step, step + 1))
        rate = learning_rate / (1 + step * lr_decay)  # step counts the steps before this one
    for p, g in zip(params, grads):
        g = _decayed(g, p, weight_decay)
        total = _state(p, "sum_of_squares", initial_accumulator_value)
        new_total = total + g**2
        updates += [(total, new_total), (p, p - T.cast(rate, p.dtype) * g / (T.sqrt(new_total) + eps))]
    return updates


def rmsprop(
    cost_or_grads: Variable | Sequence[Variable],
    params: Sequence[SharedVariable],
    learning_rate: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
) -> Updates:
    """RMSprop, as ``torch.optim.RMSprop``.

    g = grad + weight_decay * p; v = alpha * v + (1 - alpha) * g**2; v~ = v, minus the square of
    the running mean of g if ``centered``; with momentum: b = momentum * b + g / (sqrt(v~) + eps),
    p = p - learning_rate * b; without: p = p - learning_rate * g / (sqrt(v~) + eps).
    """
    updates: Updates = []
    for p, g in zip(params, _gradients(cost_or_grads, params)):
        g = _decayed(g, p, weight_decay)
        square_avg = _state(p, "square_avg")
        new_square_avg = alpha * square_avg + (1 - alpha) * g**2
        updates.append((square_avg, new_square_avg))
        variance = new_square_avg
        if centered:
            grad_avg = _state(p, "grad_avg")
            new_grad_avg = alpha * grad_avg + (1 - alpha) * g
            updates.append((grad_avg, new_grad_avg))
            variance = new_square_avg - new_grad_avg**2
        direction = g / (T.sqrt(variance) + eps)
        if momentum:
            buffer = _state(p, "momentum")
            direction = momentum * buffer + direction
            updates.append((buffer, direction))
        updates.append((p, p - learning_rate * direction))
    return updates


def adam(
    cost_or_grads: Variable | Sequence[Variable],
    params: Sequence[SharedVariable],
    learning_rate: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
) -> Updates:
    """Adam, as ``torch.optim.Adam`` (``betas=(beta1, beta2)`` there).

    g = grad + weight_decay * p; m = beta1 * m + (1 - beta1) * g; v = beta2 * v + (1 - beta2) * g**2;
    m^ = m / (1 - beta1**t); v^ = v / (1 - beta2**t) (with ``amsgrad``, the running maximum of v^);
    p = p - learning_rate * m^ / (sqrt(v^) + eps).
    """
    grads = _gradients(cost_or_grads, params)
    step = _step_counter(params)
    t = step + 1
    updates: Updates = [(step, t)]
    for p, g in zip(params, grads):
        g = _decayed(g, p, weight_decay)
        m, v = _state(p, "m"), _state(p, "v")
        new_m = beta1 * m + (1 - beta1) * g
        new_v = beta2 * v + (1 - beta2) * g**2
        updates += [(m, new_m), (v, new_v)]
        v_hat = new_v / T.cast(1 - beta2**t, p.dtype)
        if amsgrad:
            v_max = _state(p, "v_hat_max")
            v_hat = T.maximum(v_max, v_hat)
            updates.append((v_max, v_hat))
        m_hat = new_m / T.cast(1 - beta1**t, p.dtype)
        updates.append((p, p - learning_rate * m_hat / (T.sqrt(v_hat) + eps)))
    return updates
