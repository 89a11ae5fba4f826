"""Random draws on the GPU: the same bits as the CPU's (the draws are a pure function of the state
and the position), with the state updated on the device between calls."""

from __future__ import annotations

import numpy as np

import symgrad as theano
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
