"""Helpers for the CUDA tests."""

from __future__ import annotations

import numpy as np

import symgrad as theano
import symgrad.tensor as T
from symgrad.graph import Constant, toposort
from tests.helpers import rand


def evaluate(outputs, values):
    """The outputs' values computed by each op's NumPy reference (``perform``): the oracle, no compiler."""
    known = {id(var): value for var, value in values.items()}
    for node in toposort(list(outputs)):
        args = [inp.data if isinstance(inp, Constant) else known[id(inp)] for inp in node.inputs]
        known[id(node.output)] = node.op.perform(*args)
    return [v.data if isinstance(v, Constant) else known[id(v)] for v in outputs]


def check_grad_against_reference(build, values, rtol=1e-6, atol=1e-8):
    """tests.helpers.check_grad for the GPU: T.grad of sum(build(*vars) * w) on the GPU equals the
    gradient graph evaluated by the ops' NumPy references (the CPU tests check the same graphs against
    central finite differences, which call the function twice per element: too slow for the simulator)."""
    variables = [T.tensor("float64", [None] * np.ndim(v), name=f"v{i}") for i, v in enumerate(values)]
    out = build(*variables)
    w = T.tensor("float64", [None] * out.ndim, name="w")
    cost = T.sum(out * w)
    (out_value,) = evaluate([out], dict(zip(variables, values)))
    w_value = rand(np.shape(out_value), low=0.5, high=1.5, seed=11)
    wanted = [cost, *T.grad(cost, variables)]
    expected = evaluate(wanted, dict(zip([*variables, w], [*values, w_value])))
    got = theano.function([*variables, w], wanted, device="cuda")(*values, w_value)
    for i, (g, e) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg="cost" if i == 0 else f"gradient {i - 1}")
