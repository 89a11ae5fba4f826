"""Shared test helpers: random data and central finite differences."""

from __future__ import annotations

import numpy as np

import symgrad as theano
import symgrad.tensor as T


def rand(shape, dtype="float64", low=-2.0, high=2.0, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(low), int(high) + 1, size=shape).astype(dtype)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    return rng.uniform(low, high, size=shape).astype(dtype)


def numeric_grad(f, values, i, eps=1e-6):
    """Central differences of the scalar f(*values) with respect to values[i]."""
    x = np.array(values[i], dtype="float64", order="C")  # C order: the flat view below must alias x
    grad = np.zeros_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + eps
        plus = float(f(*[x if k == i else v for k, v in enumerate(values)]))
        flat[j] = old - eps
        minus = float(f(*[x if k == i else v for k, v in enumerate(values)]))
        flat[j] = old
        g[j] = (plus - minus) / (2 * eps)
    return grad


def check_grad(build, values, rtol=1e-6, atol=1e-8):
    """Compare T.grad of sum(build(*vars) * w), for fixed random w, with central differences."""
    variables = [T.tensor("float64", [None] * np.ndim(v), name=f"v{i}") for i, v in enumerate(values)]
    out = build(*variables)
    w = T.tensor("float64", [None] * out.ndim, name="w")
    cost = T.sum(out * w)
    w_value = rand(np.shape(theano.function(variables, out)(*values)), low=0.5, high=1.5, seed=11)
    f = theano.function([*variables, w], cost)
    grads = theano.function([*variables, w], T.grad(cost, variables))
    args = [*values, w_value]
    for i, symbolic in enumerate(grads(*args)):
        expected = numeric_grad(f, args, i)
        np.testing.assert_allclose(symbolic, expected, rtol=rtol, atol=atol, err_msg=f"gradient {i}")
