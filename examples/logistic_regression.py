"""Logistic regression, as in the Theano tutorial ("A Real Example: Logistic Regression").

    python examples/logistic_regression.py               # the tutorial's 10000 steps
    python examples/logistic_regression.py --steps 1000  # fewer, for a quick run

The tutorial's code with ``import symgrad as theano`` and ``import symgrad.tensor as T`` in place
of Theano's imports: the weights are shared variables, and the training function updates them in
place (``updates=``) each time it is called. The data are 400 random points with 784 features and
random 0/1 labels; with more features than points the classes can be separated, and training does.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import symgrad as theano
import symgrad.tensor as T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10000, help="gradient steps (the tutorial's 10000)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    N, feats = 400, 784
    D = (rng.standard_normal((N, feats)), rng.integers(size=N, low=0, high=2))

    # Declare Theano symbolic variables
    x = T.dmatrix("x")
    y = T.dvector("y")
    # The weight vector and the bias are shared: they keep their values between training steps.
    w = theano.shared(rng.standard_normal(feats), name="w")
    b = theano.shared(0.0, name="b")

    # Construct the expression graph
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))  # probability that the target is 1
    prediction = p_1 > 0.5  # the prediction, thresholded
    # From the random start x·w + b reaches ±80, where p_1 rounds to exactly 0 or 1. As Theano's
    # did, symgrad's stability rewrites compute log(p_1) and log(1 - p_1) as -softplus(-(x·w + b))
    # and -softplus(x·w + b), so this formula never takes log(0).
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)  # cross-entropy loss function
    cost = xent.mean() + 0.01 * (w**2).sum()  # the cost to minimize, with weight decay
    gw, gb = T.grad(cost, [w, b])

    # Compile
    train = theano.function(inputs=[x, y], outputs=[prediction, xent.mean()],
                            updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))  # fmt: skip
    predict = theano.function(inputs=[x], outputs=prediction)

    # Train
    start = time.perf_counter()
    for i in range(args.steps):
        if i == 1:
            start = time.perf_counter()  # after the first call, which compiled (or loaded) the kernels
        pred, err = train(D[0], D[1])
        if i % max(args.steps // 5, 1) == 0:
            print(f"step {i:5d}  cross-entropy {float(err):.4f}")
    seconds = time.perf_counter() - start

    print("target values for D[:20]:", D[1][:20])
    print("prediction on D[:20]:     ", predict(D[0])[:20].astype(int))
    accuracy = float(np.mean(predict(D[0]) == D[1]))
    print(f"final cross-entropy {float(err):.4f}  training accuracy {accuracy:.1%}  "
          f"({seconds / max(args.steps - 1, 1) * 1e6:.0f} µs per step)")  # fmt: skip


if __name__ == "__main__":
    main()
