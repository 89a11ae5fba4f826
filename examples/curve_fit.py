"""A nonlinear least-squares curve fit, solved by SciPy through ``symgrad.optimize``.

    python examples/curve_fit.py
    python examples/curve_fit.py --points 2000 --noise 0.2

Noisy samples of a damped oscillation ``y = a * exp(-k t) * cos(w t + phi) + c`` are fitted by
minimizing half the mean squared residual over the five parameters (the mean, not the sum, keeps
the gradient's scale, and so SciPy's ``gtol``, independent of the number of points). The cost is
written once, symbolically, with the data ``t`` and ``y`` as inputs; ``objective(cost, params,
args=(t, y))`` compiles the value and gradient (one function) and the exact Hessian, and SciPy's
``trust-exact`` method uses both, the data passing through ``args=``. The Hessian at the optimum
also gives the parameters' standard errors: the covariance is ``s² H⁻¹ / n`` for ``n`` points with
residual variance ``s²``. ``scipy.optimize.curve_fit`` (Levenberg-Marquardt, finite-difference
Jacobian) solves the same problem as a check.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.optimize

import symgrad.tensor as T
from symgrad.optimize import objective

NAMES = ("a", "k", "w", "phi", "c")
TRUE = np.array([2.0, 0.3, 2.5, 0.4, 0.5])


def model(t, a, k, w, phi, c):
    """The curve, in NumPy (for the data and for curve_fit)."""
    return a * np.exp(-k * t) * np.cos(w * t + phi) + c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.05, help="standard deviation of the noise")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    t_data = np.linspace(0.0, 10.0, args.points)
    y_data = model(t_data, *TRUE) + args.noise * rng.standard_normal(args.points)

    params, t, y = T.dvectors("params", "t", "y")
    a, k, w, phi, c = (params[i] for i in range(5))
    residuals = a * T.exp(-k * t) * T.cos(w * t + phi) + c - y
    fit = objective(T.mean(residuals**2) / 2, params, args=(t, y))

    start = np.array([1.0, 0.1, 2.3, 0.0, 0.0])
    result = fit.minimize(start, method="trust-exact", args=(t_data, y_data), options={"gtol": 1e-9})
    value, gradient = fit.fun(result.x, t_data, y_data)
    variance = 2 * value * args.points / (args.points - len(start))
    errors = np.sqrt(np.diag(variance * np.linalg.inv(fit.hess(result.x, t_data, y_data)) / args.points))
    print(f"trust-exact: {result.message} after {result.nit} iterations, {result.nfev} value+gradient "
          f"and {result.nhev} Hessian evaluations")  # fmt: skip
    print(f"root mean squared residual {np.sqrt(2 * value):.4f}, |gradient| {np.linalg.norm(gradient):.1e}")
    print("parameter   true    fitted   std. error")
    for name, true, fitted, error in zip(NAMES, TRUE, result.x, errors):
        print(f"{name:>9} {true:7.3f} {fitted:9.4f} {error:10.4f}")

    reference, _ = scipy.optimize.curve_fit(model, t_data, y_data, p0=start)
    print(f"largest difference from scipy.optimize.curve_fit: {np.max(np.abs(result.x - reference)):.1e}")


if __name__ == "__main__":
    main()
