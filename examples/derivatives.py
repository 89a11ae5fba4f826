"""Derivatives of common functions, as symgrad derives, simplifies and computes them.

    python examples/derivatives.py            # the table, checked against finite differences
    python examples/derivatives.py --latex    # the derivatives as LaTeX

Each row is ``T.grad`` of a one-line expression, printed by ``theano.pp`` (which simplifies the
gradient graph with SymPy). All the derivatives are then compiled into one function and checked
at a point against central finite differences of the compiled functions themselves.
"""

from __future__ import annotations

import argparse

import numpy as np

import symgrad as theano
import symgrad.tensor as T

FUNCTIONS = {
    "power": lambda x: x**3,
    "polynomial": lambda x: 3 * x**2 - 2 * x + 5,
    "reciprocal": lambda x: 1 / x,
    "square root": lambda x: T.sqrt(x),
    "exponential": lambda x: T.exp(x),
    "gaussian": lambda x: T.exp(-(x**2) / 2),
    "logarithm": lambda x: T.log(x),
    "sine": lambda x: T.sin(x),
    "cosine": lambda x: T.cos(x),
    "tangent": lambda x: T.tan(x),
    "tanh": lambda x: T.tanh(x),
    "arctan": lambda x: T.arctan(x),
    "sigmoid": lambda x: T.nnet.sigmoid(x),
    "softplus": lambda x: T.nnet.softplus(x),
    "quotient": lambda x: x / (1 + x**2),
    "product": lambda x: x * T.exp(-x),
    "composition": lambda x: T.log(1 + T.exp(T.sin(x))),
    "power of x": lambda x: x**x,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latex", action="store_true", help="print the derivatives as LaTeX")
    parser.add_argument("--at", type=float, default=0.7, help="where to check the derivatives (default 0.7)")
    args = parser.parse_args()

    x = T.dscalar("x")
    rows = []
    for name, build in FUNCTIONS.items():
        y = build(x)
        dy = T.grad(y, x)
        rows.append((name, y, dy, theano.printing.latex(dy) if args.latex else theano.pp(dy)))
    width = max(len(theano.pp(y)) for _, y, _, _ in rows)
    print(f"{'':12}  {'f(x)':<{width}}  f'(x)")
    for name, y, _, derivative in rows:
        print(f"{name:<12}  {theano.pp(y):<{width}}  {derivative}")

    values = theano.function([x], [y for _, y, _, _ in rows])
    slopes = theano.function([x], [dy for _, _, dy, _ in rows])
    h = 1e-6
    numeric = (np.array(values(args.at + h)) - np.array(values(args.at - h))) / (2 * h)
    symbolic = np.array(slopes(args.at))
    worst = float(np.max(np.abs(numeric - symbolic) / (1 + np.abs(symbolic))))
    if worst > 1e-6:
        raise SystemExit(f"a derivative differs from central differences at x = {args.at}: relative error {worst:.1e}")
    print(f"\nall {len(rows)} derivatives match central differences at x = {args.at} (relative error <= {worst:.0e})")


if __name__ == "__main__":
    main()
