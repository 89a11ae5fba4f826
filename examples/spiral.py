"""Train a two-layer net on the CS231n spiral data, written as raw matrix expressions.

    python examples/spiral.py            # run it twice: the second run loads the compiled code
    python examples/spiral.py --steps 300 --quiet

The network is ``scores = relu(x @ w1 + b1) @ w2 + b2`` with a softmax cross-entropy loss and L2
regularization, all spelled out with symgrad's tensor operations; ``T.grad`` derives the backward
pass and ``theano.function`` compiles loss and gradients into fused Numba kernels. Plain
full-batch gradient descent then runs in NumPy.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import symgrad as theano
import symgrad.tensor as T


def spiral_data(points_per_class: int = 100, classes: int = 3, seed: int = 0):
    """The CS231n spiral: ``classes`` interleaved arms of noisy points in the plane."""
    rng = np.random.default_rng(seed)
    x = np.zeros((points_per_class * classes, 2))
    y = np.zeros(points_per_class * classes, dtype="int64")
    for k in range(classes):
        rows = slice(points_per_class * k, points_per_class * (k + 1))
        radius = np.linspace(0.0, 1, points_per_class)
        theta = np.linspace(k * 4, (k + 1) * 4, points_per_class) + rng.normal(size=points_per_class) * 0.2
        x[rows] = np.c_[radius * np.sin(theta), radius * np.cos(theta)]
        y[rows] = k
    return x, y


def build_loss_and_gradients(reg: float):
    """The symbolic model: returns (inputs, [loss, grads...])."""
    x, onehot = T.dmatrices("x", "onehot")
    w1, w2 = T.dmatrices("w1", "w2")
    b1, b2 = T.dvectors("b1", "b2")
    hidden = T.nnet.relu(x @ w1 + b1)
    scores = hidden @ w2 + b2
    shifted = scores - T.max(scores, axis=1, keepdims=True)  # softmax without overflow
    log_probs = shifted - T.log(T.sum(T.exp(shifted), axis=1, keepdims=True))
    data_loss = -T.mean(T.sum(log_probs * onehot, axis=1))
    loss = data_loss + 0.5 * reg * (T.sum(w1**2) + T.sum(w2**2))
    params = [w1, b1, w2, b2]
    return [x, onehot, *params], [loss, *T.grad(loss, params)], scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000, help="full-batch gradient steps")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args()

    x_data, labels = spiral_data()
    onehot_data = np.eye(3)[labels]
    rng = np.random.default_rng(1)
    params = [
        0.01 * rng.normal(size=(2, args.hidden)),
        np.zeros(args.hidden),
        0.01 * rng.normal(size=(args.hidden, 3)),
        np.zeros(3),
    ]

    start = time.perf_counter()
    inputs, outputs, scores = build_loss_and_gradients(reg=1e-3)
    step = theano.function(inputs, outputs, name="spiral_step")
    predict = theano.function([inputs[0], *inputs[2:]], scores, name="spiral_scores")
    step(x_data, onehot_data, *params)  # the first call loads or compiles the machine code
    compile_seconds = time.perf_counter() - start
    hits, misses = step.kernel_cache_stats()
    source = "served by the disk cache" if misses == 0 else f"compiled as {misses} program(s)"
    print(f"compile: {compile_seconds:.2f} s ({source})")

    report_every = max(args.steps // 10, 1)
    start = time.perf_counter()
    for i in range(args.steps):
        loss, *grads = step(x_data, onehot_data, *params)
        for p, g in zip(params, grads):
            p -= args.lr * g
        if not args.quiet and (i % report_every == 0 or i == args.steps - 1):
            print(f"step {i:5d}  loss {float(loss):.4f}")
    per_step = (time.perf_counter() - start) / args.steps

    accuracy = float(np.mean(predict(x_data, *params).argmax(axis=1) == labels))
    print(f"final loss {float(loss):.4f}  training accuracy {accuracy:.1%}  time per step {per_step * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
