"""Accuracy of the scalar helpers in codegen.runtime against scipy.special and mpmath."""

import math
import os
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import scipy.special as sc

from codegen import runtime
from codegen.runtime import digamma, exp2, gammaln, polygamma, sigmoid, softplus, trigamma

EPS = np.finfo(np.float64).eps
ROOT = 1.4616321449683623  # the positive zero of digamma
FIRST_NEGATIVE_ROOT = -0.5040830082644554


@pytest.fixture(autouse=True)
def high_precision():
    """References at 40 digits, without changing mpmath's global precision for other tests."""
    with mpmath.workdps(40):
        yield


def apply(f, xs, *leading):
    """f applied to each element of xs (the helpers are scalar functions)."""
    return np.array([f(*leading, x) for x in xs])


def log_uniform(rng, low, high, size):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def positive_points(rng, low, high, size):
    """Half uniform (mostly large values), half log-uniform (every scale)."""
    return np.concatenate([rng.uniform(low, high, size // 2), log_uniform(rng, low, high, size // 2)])


def negative_points(rng, high, size):
    """Non-integers in (-high, -0.01), log-uniform in magnitude."""
    xs = -log_uniform(rng, 0.01, high, size)
    return xs[xs != np.floor(xs)]


def mp_polygamma(n, x):
    return float(mpmath.polygamma(n, mpmath.mpf(x)))


def assert_reflection_accuracy(n, xs, ours, rtol):
    """For x < 0 the reflection formula subtracts two terms whose sizes are bounded by
    |psi^(n)(x)| + |psi^(n)(1 - x)|; near a zero of psi^(n) they cancel, so the achievable
    error is relative to that sum, not to the result."""
    truth = np.array([mp_polygamma(n, x) for x in xs])
    scale = np.abs(truth) + np.abs([mp_polygamma(n, 1 - mpmath.mpf(x)) for x in xs])
    error = np.abs(ours - truth)
    assert np.all(error <= rtol * scale), (xs[np.argmax(error / scale)], np.max(error / scale))


# digamma


def test_digamma_positive_matches_scipy():
    rng = np.random.default_rng(0)
    xs = positive_points(rng, 0.01, 1e6, 20000)
    np.testing.assert_allclose(apply(digamma, xs), sc.psi(xs), rtol=1e-13, atol=0)


def test_digamma_near_positive_root():
    # Within 0.2 of the root a Taylor series about it keeps relative accuracy even where
    # psi(x) ~ 1e-17; just outside, the recurrence's absolute error of ~1e-15 is still small
    # relative to |psi(x)| > 0.19.
    rng = np.random.default_rng(1)
    xs = ROOT + np.concatenate([rng.uniform(-0.3, 0.3, 2000), rng.uniform(-1e-6, 1e-6, 500)])
    ours = apply(digamma, xs)
    np.testing.assert_allclose(ours, sc.psi(xs), rtol=1e-13, atol=0)
    taylor = np.abs(xs - ROOT) < 0.2
    np.testing.assert_allclose(ours[taylor], sc.psi(xs[taylor]), rtol=0, atol=1e-16)
    truth = float(mpmath.digamma(mpmath.mpf(ROOT)))
    assert abs(digamma(ROOT) - truth) <= 1e-13 * abs(truth)


def test_digamma_root_constants():
    root = mpmath.findroot(mpmath.digamma, 1.46)
    assert runtime._ROOT_HI == float(root)
    assert runtime._ROOT_LO == float(root - runtime._ROOT_HI)
    for k, coeff in enumerate(runtime._ROOT_TAYLOR, start=1):
        assert coeff == float((-1) ** (k + 1) * mpmath.zeta(k + 1, root))


def test_digamma_negative():
    rng = np.random.default_rng(2)
    xs = negative_points(rng, 1e6, 3000)
    ours = apply(digamma, xs)
    assert_reflection_accuracy(0, xs, ours, rtol=1e-14)
    # scipy cancels the same way, so compare with it on the same terms. Its tan(pi x) also
    # loses digits next to negative integers (errors up to 1.2e-13 here, against mpmath), so
    # the tolerance is scipy's error, not ours.
    scale = np.abs(sc.psi(xs)) + np.abs(sc.psi(1 - xs))
    assert np.all(np.abs(ours - sc.psi(xs)) <= 1e-12 * scale)


def test_digamma_near_first_negative_root():
    # Here 1 - x is near the positive root; psi(1 - x) must not lose the low bits of x.
    rng = np.random.default_rng(3)
    xs = FIRST_NEGATIVE_ROOT + rng.uniform(-0.3, 0.3, 1000)
    ours = apply(digamma, xs)
    assert_reflection_accuracy(0, xs, ours, rtol=1e-15)
    np.testing.assert_allclose(ours, sc.psi(xs), rtol=1e-13, atol=1e-17)


@pytest.mark.parametrize("x", [0.0, -0.0, -1.0, -2.0, -1e20, -(2.0**53), math.inf, -math.inf, math.nan, 5e-324, 1e-320])
def test_digamma_special_values(x):
    ours = digamma(x)
    expected = sc.psi(x)
    assert ours == expected or (math.isnan(ours) and math.isnan(expected))


@pytest.mark.parametrize("x", [1e-300, 1e-100, 1e-10, 1.0, 2.0, 10.0, 1e17, 1e300, 1.7e308, -1e15 + 0.5])
def test_digamma_extreme_arguments(x):
    truth = float(mpmath.digamma(mpmath.mpf(x)))
    assert digamma(x) == pytest.approx(truth, rel=1e-15, abs=0)


def test_digamma_argument_types():
    x32 = np.float32(0.3)
    assert digamma(x32) == digamma(float(x32))
    assert digamma(3) == digamma(3.0)
    assert math.isnan(digamma(np.int32(-2)))


# polygamma


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_polygamma_positive_matches_scipy(n):
    rng = np.random.default_rng(10 + n)
    xs = positive_points(rng, 0.01, 1e4, 10000)
    np.testing.assert_allclose(apply(polygamma, xs, n), sc.polygamma(n, xs), rtol=1e-12, atol=0)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_polygamma_negative(n):
    rng = np.random.default_rng(20 + n)
    xs = negative_points(rng, 1e3, 500)
    ours = apply(polygamma, xs, n)
    assert_reflection_accuracy(n, xs, ours, rtol=1e-14)
    scale = np.abs(sc.polygamma(n, xs)) + np.abs(sc.polygamma(n, 1 - xs))
    assert np.all(np.abs(ours - sc.polygamma(n, xs)) <= 1e-12 * scale)


@pytest.mark.parametrize("n", [5, 10, 20, 40])
@pytest.mark.parametrize("x", [1e-3, 0.5, 3.3, 50.0, 1e4, -0.2, -3.7])
def test_polygamma_high_order(n, x):
    assert polygamma(n, x) == pytest.approx(mp_polygamma(n, x), rel=1e-14, abs=0)


def test_polygamma_far_negative():
    # scipy sums 1e4 terms of alternating sign here and is wrong by a factor of 80 for n = 4;
    # the reflection formula is not.
    x = -1e4 + 0.5
    for n in range(1, 5):
        assert polygamma(n, x) == pytest.approx(mp_polygamma(n, x), rel=1e-14, abs=0)


@pytest.mark.parametrize(
    "x", [0.0, -0.0, -1.0, -3.0, -(2.0**53), -math.inf, math.inf, math.nan, 1e-300, -1e-300, 1e300, 5e-324]
)
def test_polygamma_special_values(x):
    for n in range(5):
        ours, expected = polygamma(n, x), float(sc.polygamma(n, x))
        np.testing.assert_allclose(ours, expected, rtol=1e-15, atol=0)
        assert math.copysign(1, ours) == math.copysign(1, expected)  # signed zeros and infinities


def test_polygamma_order_argument():
    assert polygamma(0, 2.5) == digamma(2.5)
    assert polygamma(2.0, 2.5) == polygamma(2, 2.5) == polygamma(np.int64(2), 2.5)
    assert trigamma(2.5) == polygamma(1, 2.5)
    assert polygamma(1, np.float32(2.5)) == polygamma(1, 2.5)
    with np.errstate(invalid="ignore"):  # scipy warns on its way to nan
        for n in [-1, 1.5, math.nan]:
            assert math.isnan(polygamma(n, 2.0)) and math.isnan(sc.polygamma(n, 2.0))


# sigmoid and softplus

STABILITY_POINTS = [
    -math.inf, -1000.0, -745.0, -700.0, -40.0, -1.0, -1e-300, -0.0, 0.0, 1e-300, 1.0, 40.0, 700.0, 1000.0,
    math.inf,
]  # fmt: skip


def mp_sigmoid(x):
    return float(1 / (1 + mpmath.exp(-mpmath.mpf(x))))


def mp_softplus(x):
    return float(mpmath.log1p(mpmath.exp(mpmath.mpf(x))))


@pytest.mark.parametrize("x", STABILITY_POINTS)
def test_sigmoid_extremes(x):
    assert sigmoid(x) == pytest.approx(mp_sigmoid(x), rel=2 * EPS, abs=0)


@pytest.mark.parametrize("x", STABILITY_POINTS)
def test_softplus_extremes(x):
    assert softplus(x) == pytest.approx(mp_softplus(x), rel=2 * EPS, abs=0)


def test_sigmoid_softplus_random():
    rng = np.random.default_rng(30)
    xs = rng.uniform(-800, 800, 2000)
    np.testing.assert_allclose(apply(sigmoid, xs), [mp_sigmoid(x) for x in xs], rtol=4 * EPS, atol=0)
    np.testing.assert_allclose(apply(softplus, xs), [mp_softplus(x) for x in xs], rtol=4 * EPS, atol=0)


def test_sigmoid_softplus_nan_and_float32():
    assert math.isnan(sigmoid(math.nan)) and math.isnan(softplus(math.nan))
    for x in [-30.0, -1.0, 0.5, 30.0]:
        assert sigmoid(np.float32(x)) == pytest.approx(mp_sigmoid(x), rel=1e-6)
        assert softplus(np.float32(x)) == pytest.approx(mp_softplus(x), rel=1e-6)


# gammaln and exp2


def test_gammaln_matches_scipy():
    rng = np.random.default_rng(40)
    xs = positive_points(rng, 1e-300, 1e300, 4000)
    xs = xs[(np.abs(xs - 1) > 0.1) & (np.abs(xs - 2) > 0.1)]  # ln Gamma is 0 at 1 and 2
    np.testing.assert_allclose(apply(gammaln, xs), sc.gammaln(xs), rtol=1e-13, atol=0)
    for x in [0.0, -1.0, -2.0, math.inf]:
        assert gammaln(x) == sc.gammaln(x) == math.inf
    assert math.isnan(gammaln(math.nan))
    assert gammaln(np.float32(0.5)) == pytest.approx(sc.gammaln(0.5), rel=1e-6)


def test_exp2():
    rng = np.random.default_rng(50)
    xs = rng.uniform(-1070, 1020, 2000)
    np.testing.assert_allclose(apply(exp2, xs), np.exp2(xs), rtol=2 * EPS, atol=0)
    assert exp2(3) == 8.0 and exp2(-2000) == 0.0 and exp2(math.inf) == math.inf
    assert exp2(-math.inf) == 0.0 and math.isnan(exp2(math.nan))


@pytest.mark.parametrize("first", ["T.psi(x)", "T.nnet.sigmoid(x)"])
def test_digamma_stays_exact_when_a_kernel_compiles_it_first(tmp_path, first):
    # A compilation inside a fastmath kernel's inherits its flags unless it sets fastmath itself:
    # digamma lost its accuracy near its root (for every later caller too, through Numba's cache)
    # when a kernel compiled it first (psi), or when this module was first imported while a kernel
    # was typed (vecmath's sigmoid imports it lazily), which compiled every function in it there.
    script = (
        "import numpy as np, symgrad as theano, symgrad.tensor as T\n"
        "x = T.dvector('x')\n"
        f"theano.function([x], {first})(np.array([1.4616321449683622]))\n"
        "from codegen import runtime\n"
        "kernel = theano.function([x], T.psi(x))(np.array([runtime._ROOT_HI + 1e-9]))[0]\n"
        "print(repr(float(kernel)), repr(runtime.digamma(runtime._ROOT_HI + 1e-9)))\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), SYMGRAD_CACHE_DIR=str(tmp_path / "symgrad"))
    for _ in range(2):  # the second process loads what the first cached
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        kernel, direct = map(float, done.stdout.split())
        truth = float(mpmath.digamma(mpmath.mpf(runtime._ROOT_HI + 1e-9)))
        assert abs(kernel - truth) <= 1e-13 * abs(truth) and abs(direct - truth) <= 1e-13 * abs(truth)
