"""theano.scan on the GPU: the loop over the steps runs on the host, each step's kernels on the
device, and the values and gradients equal the ops' NumPy references (finite differences, which
call the function twice per element, are left to the CPU tests)."""

from __future__ import annotations

import numpy as np

import symgrad as theano
import symgrad.tensor as T
from tests.helpers import rand
from tests.test_scan import (  # noqa: F401 - pytest collects the imported tests
    _rnn,
    _rnn_values,
    _until_loop,
    _until_reference,
    test_errors_name_what_is_wrong,
    test_the_tutorials_loops,
    test_zero_steps_give_empty_results,
)

from .helpers import evaluate


def test_rnn_and_its_gradients_equal_the_reference():
    inputs, hs, cost = _rnn("float64")
    wanted = [hs, cost, *T.grad(cost, inputs)]
    values = _rnn_values()
    got = theano.function(inputs, wanted)(*values)
    for g, e in zip(got, evaluate(wanted, dict(zip(inputs, values)))):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def test_taps_backwards_and_an_output_not_fed_back_equal_the_reference():
    x, s0 = T.dvector("x"), T.dvector("s0")
    (s, y), _ = theano.scan(lambda x_prev, x_next, s2, s1: [s1 - 0.5 * T.sin(s2) * x_prev, s1 * x_next],
                            sequences=dict(input=x, taps=[-1, 1]), outputs_info=[dict(initial=s0, taps=[-2, -1]), None],
                            go_backwards=True)  # fmt: skip
    cost = (s**2).sum() + y.sum()
    wanted = [s, y, *T.grad(cost, [x, s0])]
    values = [rand(6, seed=3), rand(2, seed=4)]
    got = theano.function([x, s0], wanted)(*values)
    for g, e in zip(got, evaluate(wanted, dict(zip([x, s0], values)))):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def test_until_stops_the_loop_and_the_gradient_goes_back_through_the_steps_run():
    inputs, outputs, updates, counter = _until_loop()
    wanted = outputs + T.grad(outputs[0], inputs)
    values = [rand(8, low=0.2, high=1.5, seed=5), np.float64(1.1), np.float64(0.3)]
    got = theano.function(inputs, wanted, updates=updates)(*values)
    _, steps = _until_reference(*values)
    assert 0 < steps < 8 and len(got[1]) == steps and counter.get_value() == steps
    for g, e in zip(got, evaluate(wanted, {**dict(zip(inputs, values)), counter: np.int64(0)})):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
