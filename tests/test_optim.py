"""symgrad.optim, step by step against the update formulas torch.optim documents (in NumPy).

The cost is sum((w - target)**2) / 2 with a new target each step, so the gradient is w - target
and every reference below computes it the same way.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad import optim

STEPS = 5


def reference_sgd(p, targets, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    buffer = np.zeros_like(p)
    for target in targets:
        g = (p - target) + weight_decay * p
        if momentum:
            buffer = momentum * buffer + g
            g = g + momentum * buffer if nesterov else buffer
        p = p - lr * g
        yield p


def reference_adagrad(p, targets, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    total = np.full_like(p, initial_accumulator_value)
    for t, target in enumerate(targets, start=1):
        rate = lr / (1 + (t - 1) * lr_decay)
        g = (p - target) + weight_decay * p
        total = total + g * g
        p = p - rate * g / (np.sqrt(total) + eps)
        yield p


def reference_rmsprop(p, targets, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    square_avg, grad_avg, buffer = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for target in targets:
        g = (p - target) + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        variance = square_avg
        if centered:
            grad_avg = alpha * grad_avg + (1 - alpha) * g
            variance = square_avg - grad_avg * grad_avg
        direction = g / (np.sqrt(variance) + eps)
        if momentum:
            buffer = momentum * buffer + direction
            direction = buffer
        p = p - lr * direction
        yield p


def reference_adam(p, targets, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False):
    m, v, v_max = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t, target in enumerate(targets, start=1):
        g = (p - target) + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_hat = v / (1 - beta2**t)
        if amsgrad:
            v_max = np.maximum(v_max, v_hat)
            v_hat = v_max
        p = p - lr * (m / (1 - beta1**t)) / (np.sqrt(v_hat) + eps)
        yield p


CASES = [
    ("sgd", optim.sgd, reference_sgd, dict(learning_rate=0.1)),
    ("sgd_decay", optim.sgd, reference_sgd, dict(learning_rate=0.1, weight_decay=0.01)),
    ("momentum", optim.momentum, reference_sgd, dict(learning_rate=0.1, momentum=0.9)),
    ("nesterov", optim.momentum, reference_sgd, dict(learning_rate=0.1, momentum=0.8, nesterov=True)),
    ("adagrad", optim.adagrad, reference_adagrad, dict(learning_rate=0.1)),
    ("adagrad_decay", optim.adagrad, reference_adagrad,
     dict(learning_rate=0.1, lr_decay=0.5, weight_decay=0.1, initial_accumulator_value=0.2)),
    ("rmsprop", optim.rmsprop, reference_rmsprop, dict(learning_rate=0.01)),
    ("rmsprop_centered", optim.rmsprop, reference_rmsprop,
     dict(learning_rate=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
    ("adam", optim.adam, reference_adam, dict(learning_rate=0.01)),
    ("adam_amsgrad", optim.adam, reference_adam,
     dict(learning_rate=0.01, beta1=0.8, beta2=0.9, weight_decay=0.1, amsgrad=True)),
]  # fmt: skip
REFERENCE_NAMES = {"learning_rate": "lr"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_five_steps_match_the_published_formulas(case, dtype):
    _, build, reference, hyper = case
    rng = np.random.default_rng(3)
    start = rng.normal(size=(3, 4)).astype(dtype)
    targets = rng.normal(size=(STEPS, 3, 4)).astype(dtype)
    w = theano.shared(start, name="w")
    target = T.tensor(dtype, (None, None), name="target")
    cost = T.sum((w - target) ** 2) / 2  # gradient: w - target
    step = theano.function([target], cost, updates=build(cost, [w], **hyper))

    reference_hyper = {REFERENCE_NAMES.get(k, k): v for k, v in hyper.items()}
    expected = list(reference(start.astype("float64"), targets.astype("float64"), **reference_hyper))
    rtol = 1e-12 if dtype == "float64" else 2e-5
    for t in range(STEPS):
        step(targets[t])
        value = w.get_value()
        assert value.dtype == dtype
        np.testing.assert_allclose(value, expected[t], rtol=rtol, atol=rtol, err_msg=f"step {t + 1}")


def test_optimizers_accept_gradients_and_several_parameters():
    a = theano.shared(np.array([1.0, 2.0]), name="a")
    b = theano.shared(np.array(3.0), name="b")
    cost = T.sum(a**2) + b**2
    updates = optim.adam(T.grad(cost, [a, b]), [a, b], learning_rate=0.1)
    names = [target.name for target, _ in updates]
    assert names == ["step", "a_m", "a_v", "a", "b_m", "b_v", "b"]
    f = theano.function([], cost, updates=updates)
    costs = [float(f()) for _ in range(50)]
    assert costs[-1] < costs[0] / 4


def test_optimizer_errors():
    x = T.dvector("x")
    w = theano.shared(np.zeros(2), name="w")
    with pytest.raises(TypeError, match=r"params\[0\] \(x\) is not a shared variable"):
        optim.sgd(T.sum(x**2), [x])
    with pytest.raises(ValueError, match="got 2 gradients for 1 parameters"):
        optim.sgd([w, w], [w])
    with pytest.raises(ValueError, match="nesterov=True needs a nonzero momentum"):
        optim.sgd(T.sum(w**2), [w], nesterov=True)
