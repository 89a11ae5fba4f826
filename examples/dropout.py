"""A dropout layer, Theano-style: a two-layer net on the spiral data, trained with random masks.

    python examples/dropout.py               # 600 full-batch steps
    python examples/dropout.py --steps 200   # fewer, for a quick run

The hidden layer's units are kept with probability ``keep`` at each training step (inverted dropout:
``hidden * mask / keep``, so the prediction needs no rescaling). The mask is
``srng.binomial(size=..., p=keep)`` from ``RandomStreams``: drawn inside the compiled ``train``
function, fused with the layer around it, and new at each call, because the draw's state is a
shared variable that the function's default updates move on. ``T.grad`` flows through the mask
(the dropped units get no gradient); ``predict`` uses no mask, so it is deterministic.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from spiral import spiral_data  # the same data set as spiral.py

import symgrad as theano
import symgrad.tensor as T
from symgrad import optim
from symgrad.tensor.shared_randomstreams import RandomStreams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="full-batch steps of gradient descent with momentum")
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--keep", type=float, default=0.8, help="probability of keeping a hidden unit")
    parser.add_argument("--lr", type=float, default=0.2)
    args = parser.parse_args()

    x_data, labels = spiral_data(seed=0)
    x_test, labels_test = spiral_data(seed=1)  # other noise: a held-out set
    rng = np.random.default_rng(1)
    w1 = theano.shared(0.5 * rng.standard_normal((2, args.hidden)), name="w1")
    b1 = theano.shared(np.zeros(args.hidden), name="b1")
    w2 = theano.shared(0.5 * rng.standard_normal((args.hidden, 3)) / np.sqrt(args.hidden), name="w2")
    b2 = theano.shared(np.zeros(3), name="b2")
    params = [w1, b1, w2, b2]

    srng = RandomStreams(seed=1234)
    x, onehot = T.dmatrix("x"), T.dmatrix("onehot")
    hidden = T.nnet.relu(x @ w1 + b1)
    mask = srng.binomial(size=(x.shape[0], args.hidden), p=args.keep, dtype="float64")
    dropped = hidden * mask / args.keep
    log_probs = T.nnet.log_softmax(dropped @ w2 + b2)
    loss = -T.mean(T.sum(log_probs * onehot, axis=1))
    kept = T.mean(mask)

    start = time.perf_counter()
    train = theano.function([x, onehot], [loss, kept], updates=optim.momentum(loss, params, learning_rate=args.lr))
    predict = theano.function([x], T.argmax(hidden @ w2 + b2, axis=1))
    onehot_data = np.eye(3)[labels]
    value, fraction = train(x_data, onehot_data)  # the first call loads or compiles the kernels
    print(f"compile and first step: {time.perf_counter() - start:.2f} s")
    fractions = [float(fraction)]
    start = time.perf_counter()
    for i in range(1, args.steps):
        value, fraction = train(x_data, onehot_data)
        fractions.append(float(fraction))
        if i % max(args.steps // 5, 1) == 0:
            print(f"step {i:5d}  loss {float(value):.4f}  units kept {float(fraction):.1%}")
    per_step = (time.perf_counter() - start) / max(args.steps - 1, 1)
    print(f"units kept: {np.mean(fractions):.2%} on average (p = {args.keep}), from {np.min(fractions):.1%} "
          f"to {np.max(fractions):.1%}: a new mask at each step")  # fmt: skip
    train_accuracy = float(np.mean(predict(x_data) == labels))
    test_accuracy = float(np.mean(predict(x_test) == labels_test))
    print(f"training accuracy {train_accuracy:.1%}  test accuracy {test_accuracy:.1%}  "
          f"time per step {per_step * 1e6:.0f} µs")  # fmt: skip


if __name__ == "__main__":
    main()
