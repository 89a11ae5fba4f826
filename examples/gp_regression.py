"""Gaussian-process regression: three kernel hyperparameters fitted by maximizing the marginal likelihood.

    python examples/gp_regression.py
    python examples/gp_regression.py --points 500

Noisy samples of a smooth function are modelled by a Gaussian process with the squared-exponential
kernel ``k(x, x') = s² exp(-(x - x')² / (2 l²))`` plus noise of variance ``σ²`` on the diagonal.
The hyperparameters ``(s, l, σ)``, as logarithms so that they stay positive, are fitted by
minimizing the negative log marginal likelihood

    -log p(y) = ½ yᵀ K⁻¹ y + ½ log det K + (n/2) log 2π,

written once, symbolically, with the Cholesky factor ``L`` of ``K``: ``K⁻¹ y`` is ``cho_solve``
(two triangular solves) and ``log det K`` is ``T.nlinalg.logdet`` of a matrix marked positive
definite, twice the sum of the logs of ``L``'s diagonal (the same Cholesky node: symgrad
hash-conses equal subexpressions). ``symgrad.optimize.objective`` compiles the value and its gradient
(through the Cholesky's and the solves' matrix-calculus rules) into one function, and SciPy's
L-BFGS-B minimizes it. scikit-learn's ``GaussianProcessRegressor``, with the same kernel, checks the
answer; the fitted process then predicts the function at new points.
"""

from __future__ import annotations

import argparse

import numpy as np

import symgrad.tensor as T
from symgrad.optimize import objective

NAMES = ("signal s", "length l", "noise σ")


def negative_log_marginal_likelihood(log_params: T.TensorVariable, x: T.TensorVariable, y: T.TensorVariable):
    """The cost, and ``K⁻¹ y`` (the weights of the posterior mean)."""
    s, length, noise = (T.exp(log_params[i]) for i in range(3))
    gaps = x.dimshuffle(0, "x") - x.dimshuffle("x", 0)
    kernel = s**2 * T.exp(-(gaps**2) / (2 * length**2)) + noise**2 * T.eye(x.shape[0])
    kernel.tag.psd = True  # logdet then takes the log-determinant from the Cholesky factor
    factor = T.slinalg.cholesky(kernel)
    alpha = T.slinalg.cho_solve((factor, True), y)
    n = T.cast(x.shape[0], "float64")
    cost = 0.5 * T.dot(y, alpha) + 0.5 * T.nlinalg.logdet(kernel) + 0.5 * n * np.log(2 * np.pi)
    return cost, alpha


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=80)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x_data = np.sort(rng.uniform(-5.0, 5.0, args.points))
    y_data = np.sin(x_data) + 0.3 * np.cos(3 * x_data) + 0.1 * rng.standard_normal(args.points)

    log_params, x, y = T.dvectors("log_params", "x", "y")
    cost, _ = negative_log_marginal_likelihood(log_params, x, y)
    fit = objective(cost, log_params, args=(x, y))
    start = np.log([1.0, 1.0, 0.5])
    # ftol: the cost's rounding error is ~1e-14 of it; a tighter ftol ends in a line search lost in that noise
    result = fit.minimize(start, method="L-BFGS-B", args=(x_data, y_data), options={"gtol": 1e-9, "ftol": 1e-13})
    value, gradient = fit.fun(result.x, x_data, y_data)
    print(f"L-BFGS-B: {result.message} after {result.nit} iterations, {result.nfev} value+gradient evaluations")
    print(f"negative log marginal likelihood {value:.6f}, |gradient| {np.linalg.norm(gradient):.1e}")
    print("hyperparameter   fitted")
    for name, fitted in zip(NAMES, np.exp(result.x)):
        print(f"{name:>14} {fitted:9.4f}")

    # The posterior mean at new points: k(x*, x) K⁻¹ y.
    fitted_s, fitted_l, _ = np.exp(result.x)
    x_new = np.linspace(-4.0, 4.0, 9)
    weights = negative_log_marginal_likelihood(log_params, x, y)[1].eval({log_params: result.x, x: x_data, y: y_data})
    cross = fitted_s**2 * np.exp(-((x_new[:, None] - x_data[None, :]) ** 2) / (2 * fitted_l**2))
    truth = np.sin(x_new) + 0.3 * np.cos(3 * x_new)
    print(f"largest error of the posterior mean at 9 new points: {np.max(np.abs(cross @ weights - truth)):.3f}")

    try:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
    except ImportError:
        print("scikit-learn is not installed: no check against GaussianProcessRegressor")
        return
    kernel = ConstantKernel(1.0, (1e-5, 1e5)) * RBF(1.0, (1e-5, 1e5)) + WhiteKernel(0.25, (1e-10, 1e5))
    reference = GaussianProcessRegressor(kernel, optimizer="fmin_l_bfgs_b", normalize_y=False).fit(
        x_data[:, None], y_data
    )
    theirs = -reference.log_marginal_likelihood_value_
    print(f"scikit-learn's GaussianProcessRegressor: {theirs:.6f}, difference {abs(value - theirs):.1e}")


if __name__ == "__main__":
    main()
