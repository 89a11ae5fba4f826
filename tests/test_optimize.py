"""symgrad.optimize: the compiled objective against SciPy's own Rosenbrock, and SciPy solving with it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

import symgrad as theano
import symgrad.tensor as T
from symgrad.optimize import objective


def rosenbrock(x):
    """The extended Rosenbrock function as scipy.optimize.rosen defines it."""
    return T.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


@pytest.fixture(scope="module")
def rosen():
    x = T.dvector("x")
    return objective(rosenbrock(x), x)


def standard_start(n):
    return np.tile([-1.2, 1.0], n // 2)


@pytest.mark.parametrize("n", [2, 3, 10, 101])
def test_value_gradient_and_hessian_equal_scipys_rosenbrock(rosen, n):
    rng = np.random.default_rng(n)
    for _ in range(3):
        x0, p = rng.uniform(-2, 2, size=n), rng.standard_normal(n)
        value, grad = rosen.fun(x0)
        assert type(value) is float
        assert isinstance(grad, np.ndarray) and grad.dtype == np.float64 and grad.shape == (n,)
        np.testing.assert_allclose(value, scipy.optimize.rosen(x0), rtol=1e-12)
        np.testing.assert_allclose(grad, scipy.optimize.rosen_der(x0), rtol=1e-12, atol=0)
        hess = rosen.hess(x0)
        np.testing.assert_allclose(hess, scipy.optimize.rosen_hess(x0), rtol=1e-12, atol=0)
        np.testing.assert_allclose(rosen.hessp(x0, p), scipy.optimize.rosen_hess_prod(x0, p), rtol=1e-12)


def test_trust_ncg_with_the_compiled_hessp_solves_n_1000_from_the_standard_start(rosen):
    result = rosen.minimize(standard_start(1000), method="trust-ncg", options={"gtol": 1e-9})
    assert result.success, result.message
    assert result.nhev > 0  # the Hessian-vector product was used
    assert np.linalg.norm(scipy.optimize.rosen_der(result.x)) < 1e-8
    np.testing.assert_allclose(result.x, 1.0, atol=1e-9)


def test_the_readme_one_liners_hand_scipy_the_compiled_callables(rosen):
    x0 = np.zeros(20)  # from the standard start, some methods find the other minimum, near x[0] = -1
    with_hess = scipy.optimize.minimize(rosen.fun, x0, jac=True, hess=rosen.hess, method="trust-exact")
    with_hessp = scipy.optimize.minimize(rosen.fun, x0, jac=True, hessp=rosen.hessp, method="newton-cg",
                                         options={"xtol": 1e-10})  # fmt: skip
    quasi_newton = scipy.optimize.minimize(rosen.fun, x0, jac=True, method="L-BFGS-B",
                                           options={"gtol": 1e-10, "ftol": 1e-15})  # fmt: skip
    for result in (with_hess, with_hessp, quasi_newton):
        assert result.success, result.message
        np.testing.assert_allclose(result.x, 1.0, atol=1e-4)


def test_minimize_picks_the_second_derivative_each_method_accepts(rosen):
    x0 = standard_start(10)
    assert rosen.minimize(x0, method="trust-exact").nhev > 0  # the dense Hessian
    assert rosen.minimize(x0, method="trust-krylov").nhev > 0  # the Hessian-vector product
    bfgs = rosen.minimize(x0)  # SciPy's default method (BFGS) takes no Hessian, and none is passed
    assert bfgs.success and "nhev" not in bfgs


def test_callables_compile_on_first_use_and_are_reused():
    x = T.dvector("x")
    obj = objective(T.sum(x**4), x)
    fun = obj.fun
    assert obj.fun is fun and obj._hess is None and obj._hessp is None
    assert obj.hess is obj.hess and obj.hessp is obj.hessp


def test_data_arguments_pass_through_in_scipys_order():
    """A least-squares line fit with the data as symbolic inputs: SciPy passes their values."""
    x, t, y = T.dvectors("x", "t", "y")
    cost = T.sum((x[0] + x[1] * t - y) ** 2)
    fit = objective(cost, x, args=(t, y))  # the Hessian does not read y: still accepted
    t_data = np.linspace(0, 1, 30)
    y_data = 1.5 - 2.0 * t_data
    value, grad = fit.fun(np.zeros(2), t_data, y_data)
    assert value == pytest.approx(np.sum(y_data**2))
    np.testing.assert_allclose(grad, [-2 * np.sum(y_data), -2 * np.sum(t_data * y_data)])
    np.testing.assert_allclose(fit.hess(np.zeros(2), t_data, y_data), 2 * np.array([[30, t_data.sum()],
                               [t_data.sum(), np.sum(t_data**2)]]))  # fmt: skip
    np.testing.assert_allclose(fit.hessp(np.zeros(2), np.array([1.0, 0.0]), t_data, y_data), [60, 2 * t_data.sum()])
    for method in ("trust-ncg", "trust-exact", "L-BFGS-B"):
        result = fit.minimize(np.zeros(2), method=method, args=(t_data, y_data))
        np.testing.assert_allclose(result.x, [1.5, -2.0], atol=1e-5)
    result = scipy.optimize.minimize(fit.fun, np.zeros(2), args=(t_data, y_data), jac=True, hessp=fit.hessp,
                                     method="trust-krylov")  # fmt: skip
    np.testing.assert_allclose(result.x, [1.5, -2.0], atol=1e-6)


def test_a_matrix_parameter_is_a_reshaped_slice_of_x_and_one_data_input_needs_no_tuple():
    x, A = T.dvector("x"), T.dmatrix("A")
    W = x[:6].reshape((2, 3))
    obj = objective(T.sum((A @ W - A @ T.ones((2, 3))) ** 2), x, args=A)
    data = np.random.default_rng(0).normal(size=(5, 2))
    result = obj.minimize(np.zeros(6), method="trust-ncg", args=(data,), options={"gtol": 1e-10})
    np.testing.assert_allclose(result.x, 1.0, atol=1e-8)


def test_shared_variables_are_read_at_each_call():
    x = T.dvector("x")
    target = theano.shared(np.zeros(3), name="target")
    obj = objective(T.sum((x - target) ** 2), x)
    target.set_value(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(obj.minimize(np.zeros(3), method="trust-ncg").x, [1, 2, 3])


def test_a_user_given_hessian_is_kept(rosen):
    calls = []

    def hessp(x, p):
        calls.append(1)
        return scipy.optimize.rosen_hess_prod(x, p)

    result = rosen.minimize(standard_start(4), method="trust-ncg", hessp=hessp)
    assert result.success and calls


def test_mistakes_are_reported_in_the_users_terms():
    x, y = T.dvector("x"), T.dmatrix("y")
    with pytest.raises(TypeError, match="x must be a float64 vector"):
        objective(T.sum(y**2), y)
    with pytest.raises(TypeError, match="x must be a float64 vector"):
        objective(T.sum(T.fvector("f") ** 2), T.fvector("f"))
    with pytest.raises(TypeError, match="the cost must be a scalar"):
        objective(x**2, x)
    with pytest.raises(TypeError, match="x must be a free symbolic variable"):
        objective(T.sum(x**2), x * 2)
    with pytest.raises(TypeError, match=r"args\[0\] must be a free symbolic variable"):
        objective(T.sum(x**2), x, args=(np.ones(3),))
    obj = objective(T.sum(x**2), x)
    with pytest.raises(TypeError, match="input 'x'"):
        obj.fun(np.ones((2, 2)))
