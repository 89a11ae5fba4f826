"""A linear least-squares fit by the normal equations, solved with ``T.slinalg.solve``.

    python examples/least_squares.py
    python examples/least_squares.py --points 5000 --degree 8

A polynomial of the given degree is fitted to noisy samples of a smooth curve: with the design
matrix ``X`` (columns ``1, t, t², ...``), the coefficients minimizing ``|X c - y|²`` solve the
normal equations ``(Xᵀ X + λ I) c = Xᵀ y`` (``λ`` a small ridge term that keeps them well
conditioned). The whole fit is one symbolic expression of the data, compiled once; the solve runs
on LAPACK inside the compiled program. ``assume_a="pos"`` says that the matrix is positive
definite, so it is solved by its Cholesky factor. The same function returns the fitted curve's
error on held-out points and its derivative with respect to ``λ``, through the solve (what tuning
``λ`` by gradient descent would use), checked by a central difference. NumPy's solve of the same
equations and ``np.linalg.lstsq`` (no ridge) check the coefficients.
"""

from __future__ import annotations

import argparse

import numpy as np

import symgrad as theano
import symgrad.tensor as T


def design(t, degree: int):
    """The columns ``t**0 .. t**degree`` (symbolic or NumPy, by what ``t`` is)."""
    if isinstance(t, np.ndarray):
        return np.stack([t**k for k in range(degree + 1)], axis=1)
    return T.stack([t**k for k in range(degree + 1)], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=400)
    parser.add_argument("--degree", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    t_data = rng.uniform(-1.0, 1.0, args.points)
    y_data = np.exp(t_data) * np.sin(3 * t_data) + 0.05 * rng.standard_normal(args.points)
    t_held = np.linspace(-0.9, 0.9, 50)
    y_held = np.exp(t_held) * np.sin(3 * t_held)

    t, y, t_new, y_new = T.dvectors("t", "y", "t_new", "y_new")
    ridge = T.dscalar("ridge")
    x = design(t, args.degree)
    normal = T.dot(x.T, x) + ridge * T.eye(args.degree + 1)
    coefficients = T.slinalg.solve(normal, T.dot(x.T, y), assume_a="pos")
    held_error = T.mean((T.dot(design(t_new, args.degree), coefficients) - y_new) ** 2)
    fit = theano.function([t, y, ridge, t_new, y_new], [coefficients, held_error, T.grad(held_error, ridge)])

    c, error, slope = fit(t_data, y_data, 1e-6, t_held, y_held)
    columns = design(t_data, args.degree)
    same = np.linalg.solve(columns.T @ columns + 1e-6 * np.eye(args.degree + 1), columns.T @ y_data)
    unridged = np.linalg.lstsq(columns, y_data, rcond=None)[0]
    print(f"degree {args.degree} fit to {args.points} points")
    print("coefficients " + " ".join(f"{v:+.4f}" for v in c))
    print(f"largest difference from NumPy's solve of the same equations: {np.max(np.abs(c - same)):.1e}")
    print(f"largest difference from np.linalg.lstsq (no ridge): {np.max(np.abs(c - unridged)):.1e}")
    print(f"held-out mean squared error {error:.3e}, its derivative with respect to the ridge {slope:+.3e}")
    above, below = (fit(t_data, y_data, 1e-6 + step, t_held, y_held)[1] for step in (1e-9, -1e-9))
    finite = (above - below) / 2e-9
    print(f"central difference of the held-out error: {finite:+.3e}")


if __name__ == "__main__":
    main()
