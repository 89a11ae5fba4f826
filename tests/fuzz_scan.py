"""Random loops for the fuzzer (``tests/fuzz.py``): a ``theano.scan`` whose step is a random graph.

The step reads the row of a random sequence, the previous state (one or two steps back) and outer
inputs, and returns the next state and, sometimes, an output that is not fed back. Its graph is
grown by the fuzzer's :class:`~tests.fuzz.GraphBuilder`, without the ops whose kinks or jumps the
oracle could not see inside the loop (``near_kink`` looks at the outer graph only). The oracle is
the loop's own NumPy reference (``Scan.perform``, each step's nodes evaluated by their
``perform``); the gradients (backpropagation through time) are checked against central
differences by ``check_example``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import symgrad as theano
import symgrad.tensor as T
from symgrad.rewrite import rebuild

from .fuzz import GraphBuilder


class SmoothBuilder(GraphBuilder):
    """A GraphBuilder whose graphs are differentiable wherever they are defined."""

    def make_jump(self, dims: tuple, depth: int):
        return self.make_unary(dims, depth)

    def make_switch(self, dims: tuple, depth: int):
        return self.make_binary(dims, depth)

    def make_clip(self, dims: tuple, depth: int):
        return self.make_unary(dims, depth)

    def make_ifelse(self, dims: tuple, depth: int):
        return self.make_binary(dims, depth)

    def make_argmax(self, dims: tuple, depth: int):
        return self.make_unary(dims, depth)


@st.composite
def scan_graphs(draw, max_depth: int = 2):
    """``(dtype, inputs, outputs, values)`` of a random scan (see the module docstring)."""
    dtype = "float64"
    builder = SmoothBuilder(draw, dtype)
    steps = builder.new_dim(draw(st.integers(0, 4)))
    row_dims = tuple(builder.new_dim() for _ in range(draw(st.integers(0, 2))))
    state_dims = tuple(builder.new_dim() for _ in range(draw(st.integers(0, 2))))
    lag = draw(st.integers(1, 2))
    row = T.tensor(dtype, [None] * len(row_dims), name="x_t")
    previous = [T.tensor(dtype, [None] * len(state_dims), name=f"h_tm{k}") for k in range(lag, 0, -1)]
    builder.inputs += [(row, row_dims), *((p, state_dims) for p in previous)]
    stand_ins = [row, *previous]
    depth = draw(st.integers(1, max_depth))
    # Damped, so that a few steps of the recurrence stay within the range of the random inputs.
    new_state = 0.5 * T.tanh(builder.expr(state_dims, depth)) + 0.5 * previous[-1]
    results = [new_state]
    if draw(st.booleans()):
        results.append(builder.expr(draw(st.sampled_from([(), row_dims, state_dims])), depth))
    outer = [(v, dims) for v, dims in builder.inputs if all(v is not s for s in stand_ins)]
    sequence = T.tensor(dtype, [None] * (1 + len(row_dims)), name="xs")
    initial = T.tensor(dtype, [None] * (len(state_dims) + (lag > 1)), name="h0")

    def step(*args):
        return rebuild(results, dict(zip(stand_ins, args[: len(stand_ins)])))

    outputs_info = [initial if lag == 1 else dict(initial=initial, taps=[-2, -1])] + [None] * (len(results) - 1)
    loop, _ = theano.scan(step, sequences=sequence, outputs_info=outputs_info, return_list=True,
                          go_backwards=draw(st.booleans()))  # fmt: skip
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    initial_shape = ((lag,) if lag > 1 else ()) + builder.shape(state_dims)
    values = [
        rng.uniform(-1.0, 1.0, size=(builder.lengths[steps], *builder.shape(row_dims))),
        rng.uniform(-1.0, 1.0, size=initial_shape),
        *(rng.uniform(-1.0, 1.0, size=builder.shape(dims)) for _, dims in outer),
    ]
    return dtype, [sequence, initial, *(v for v, _ in outer)], loop, values
