"""The spiral two-layer net again, Theano-style: shared weights trained in place by ``optim.adam``.

    python examples/spiral_adam.py               # 1000 full-batch Adam steps
    python examples/spiral_adam.py --steps 300   # fewer, for a quick run

``examples/spiral.py`` compiles the loss and its gradients and updates NumPy arrays itself. Here the
weights are ``theano.shared`` variables and ``optim.adam(loss, params)`` returns the update list
(moment estimates, step counter and parameter steps, with ``torch.optim.Adam``'s formulas), so
one call of the compiled ``train`` does the forward pass, the backward pass and the Adam step,
writing the new weights and moments into their buffers in place. The loss is the mean negative
log-likelihood of the integer labels, read from ``T.nnet.log_softmax`` by integer-array indexing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from spiral import spiral_data  # the same data set as spiral.py

import symgrad as theano
import symgrad.tensor as T
from symgrad import optim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="full-batch Adam steps")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.02)
    args = parser.parse_args()

    x_data, labels = spiral_data()
    rng = np.random.default_rng(1)
    w1 = theano.shared(0.5 * rng.standard_normal((2, args.hidden)), name="w1")
    b1 = theano.shared(np.zeros(args.hidden), name="b1")
    w2 = theano.shared(0.5 * rng.standard_normal((args.hidden, 3)) / np.sqrt(args.hidden), name="w2")
    b2 = theano.shared(np.zeros(3), name="b2")
    params = [w1, b1, w2, b2]

    x, y = T.dmatrix("x"), T.lvector("y")
    scores = T.nnet.relu(x @ w1 + b1) @ w2 + b2
    log_probs = T.nnet.log_softmax(scores)
    loss = -T.mean(log_probs[T.arange(y.shape[0]), y]) + 1e-4 * (T.sum(w1**2) + T.sum(w2**2))

    start = time.perf_counter()
    train = theano.function([x, y], loss, updates=optim.adam(loss, params, learning_rate=args.lr), name="train")
    predict = theano.function([x], T.argmax(scores, axis=1), name="predict")
    value = train(x_data, labels)  # the first call loads or compiles the kernels
    print(f"compile and first step: {time.perf_counter() - start:.2f} s")

    start = time.perf_counter()
    for i in range(1, args.steps):
        value = train(x_data, labels)
        if i % max(args.steps // 5, 1) == 0:
            print(f"step {i:5d}  loss {float(value):.4f}")
    per_step = (time.perf_counter() - start) / max(args.steps - 1, 1)

    accuracy = float(np.mean(predict(x_data) == labels))
    print(f"final loss {float(value):.4f}  training accuracy {accuracy:.1%}  time per step {per_step * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
