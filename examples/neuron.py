"""A sigmoid neuron, differentiated step by step, then trained.

    python examples/neuron.py            # the chain rule for one neuron, then logistic regression
    python examples/neuron.py --latex    # the step-by-step derivation as LaTeX

First one neuron with one input, ``y = sigmoid(w*x + b)`` and the squared error ``(y - t)**2``:
``symgrad.explain_grad`` shows every local derivative and adjoint on the way to ``∂cost/∂w`` and
``∂cost/∂b``. Then the same neuron over a batch (a weight vector, ``X·w + b``): ``theano.pp``
prints its gradients as matrix expressions, and a few hundred steps of gradient descent on a toy
problem use the compiled gradient.
"""

from __future__ import annotations

import argparse

import numpy as np

import symgrad as theano
import symgrad.tensor as T


def one_neuron(latex: bool) -> None:
    x, w, b, t = T.dscalars("x", "w", "b", "t")
    y = T.nnet.sigmoid(w * x + b)
    cost = (y - t) ** 2
    explanation = theano.explain_grad(cost, [w, b])
    print(explanation.latex() if latex else explanation)


def batch_neuron(steps: int) -> float:
    X, y = T.dmatrix("X"), T.dvector("y")
    w, b = T.dvector("w"), T.dscalar("b")
    p = T.nnet.sigmoid(X @ w + b)
    loss = T.mean((p - y) ** 2)
    gw, gb = T.grad(loss, [w, b])
    print(f"loss  = {theano.pp(loss)}")
    print(f"∂/∂w  = {theano.pp(gw)}")
    print(f"∂/∂b  = {theano.pp(gb)}")

    step = theano.function([X, y, w, b], [loss, gw, gb])
    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 2))
    labels = (data @ np.array([2.0, -1.0]) + 0.5 > 0).astype(float)
    weights, bias = np.zeros(2), 0.0
    for _ in range(steps):
        value, grad_w, grad_b = step(data, labels, weights, bias)
        weights -= 2.0 * grad_w
        bias -= 2.0 * float(grad_b)
    accuracy = float(np.mean((data @ weights + bias > 0) == (labels > 0.5)))
    print(f"\nafter {steps} steps of gradient descent: loss {float(value):.4f}, accuracy {accuracy:.1%}")
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latex", action="store_true", help="print the derivation as LaTeX")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    one_neuron(args.latex)
    print()
    batch_neuron(args.steps)


if __name__ == "__main__":
    main()
