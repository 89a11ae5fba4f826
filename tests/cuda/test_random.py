"""Random draws on the GPU: the same bits as the CPU's (the draws are a pure function of the state
and the position), the state updated on the device, and a dropout training step."""

from __future__ import annotations

import numpy as np

import symgrad as theano
import symgrad.tensor as T
from symgrad.tensor.shared_randomstreams import RandomStreams


def _draws(seed: int) -> tuple[RandomStreams, list]:
    srng = RandomStreams(seed=seed)
    return srng, [
        srng.uniform((3, 5), low=-2.0, high=2.0, dtype="float64"),
        srng.uniform((7,), dtype="float32"),
        srng.normal((2, 3), dtype="float64"),
        srng.normal((5,), avg=1.0, std=2.0, dtype="float32"),
        srng.binomial((9,), p=0.3),
        srng.random_integers((4,), low=3, high=9),
    ]


def test_the_gpu_draws_the_cpus_numbers_bit_for_bit_call_after_call():
    _, on_cpu = _draws(11)
    gpu_streams, on_gpu = _draws(11)
    cpu, gpu = theano.function([], on_cpu, device="cpu"), theano.function([], on_gpu, device="cuda")
    for _ in range(2):  # the second call draws under the state the first one wrote on the device
        for a, b in zip(cpu(), gpu()):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    assert [int(v) for v in gpu_streams.state_updates[0][0].get_value()][1] == 2


def test_a_dropout_training_step_on_the_gpu_matches_the_cpu():
    def step(device: str):
        srng = RandomStreams(seed=5)
        x = T.dmatrix("x")
        w = theano.shared(np.linspace(-1.0, 1.0, 12).reshape(4, 3), name="w")
        hidden = T.tanh(x @ w) * srng.binomial(size=(2, 3), p=0.5, dtype="float64") / 0.5
        cost = T.sum(hidden**2)
        f = theano.function([x], cost, updates=[(w, w - 0.1 * T.grad(cost, w))], device=device)
        xv = np.arange(8.0).reshape(2, 4) / 8
        return [f(xv) for _ in range(3)], w.get_value()

    (costs_cpu, w_cpu), (costs_gpu, w_gpu) = step("cpu"), step("cuda")
    np.testing.assert_allclose(costs_gpu, costs_cpu, rtol=1e-12)
    np.testing.assert_allclose(w_gpu, w_cpu, rtol=1e-12)
