"""The gradient of a two-layer net, printed every way symgrad prints graphs.

    python examples/two_layer_gradient.py                       # pp, debugprint, the generated code
    python examples/two_layer_gradient.py --picture net.svg     # also draw the graph (needs Graphviz)

The net is ``relu(X·W1 + b1)·W2`` with a squared-error loss. ``theano.pp`` prints the loss and
each gradient as matrix math (``·`` for products, ``ᵀ`` for transposes); ``debugprint`` shows
the optimized graph the compiled function runs, node by node; the header of ``f.source`` lists
what the generated module computes. ``--picture`` draws the graph with gradient nodes in orange.
"""

from __future__ import annotations

import argparse

import numpy as np

import symgrad as theano
import symgrad.tensor as T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", metavar="FILE", help="draw the compiled graph to FILE (.svg, .png or .pdf)")
    args = parser.parse_args()

    X, W1, W2, Y = T.dmatrices("X", "W1", "W2", "Y")
    b1 = T.dvector("b1")
    hidden = T.nnet.relu(X @ W1 + b1)
    hidden.name = "hidden"
    loss = T.sum((hidden @ W2 - Y) ** 2)
    params = [W1, b1, W2]
    grads = T.grad(loss, params)

    print("The hidden layer, and the loss in terms of it:")
    print(f"  hidden = {theano.pp(hidden)}")
    print(f"  loss   = {theano.pp(loss)}")
    print("\nIts gradients:")
    for param, g in zip(params, grads):
        print(f"  ∂loss/∂{param.name} = {theano.pp(g)}")

    step = theano.function([X, W1, b1, W2, Y], [loss, *grads])
    print("\nThe optimized graph of the compiled function (debugprint):")
    theano.printing.debugprint(step)
    print("\nThe generated module's header:")
    print("\n".join(line for line in step.source.splitlines() if line.startswith("#")))

    rng = np.random.default_rng(0)
    values = [rng.normal(size=shape) for shape in [(8, 3), (3, 5), (5,), (5, 2), (8, 2)]]
    value, *gradients = step(*values)
    print(f"\nAt random values: loss {float(value):.4f}, gradient shapes {[g.shape for g in gradients]}")
    if args.picture:
        print(f"Graph drawn to {theano.printing.pydotprint(step, outfile=args.picture)}")


if __name__ == "__main__":
    main()
