"""Numerical stability: formulas written naively, as users write them, give finite and correct
values and gradients at extreme inputs (±1000, ±1e-300).

The stabilize rewrites replace the naive forms before a function is compiled, and ``T.grad`` runs
them on the cost before differentiating, so the gradient is that of the stable form. The
references are SciPy's stable implementations; derivatives are worked out by hand.
"""

from __future__ import annotations

import numpy
import numpy as np
import pytest
import scipy.special as sc

import symgrad as theano
import symgrad.tensor as T

EXTREMES = np.array([-1000.0, -40.0, -1.0, -1e-300, 0.0, 1e-300, 1.0, 40.0, 1000.0])
POSITIVE = np.array([1e-300, 1e-20, 1e-8, 1.0, 1000.0, 1e300])


def sigmoid_naive(x):
    return 1 / (1 + T.exp(-x))


def log_one_minus_expit(v):
    return sc.log_expit(-v)


def minus_expit(v):
    return -sc.expit(v)


def expit_slope(v):
    return sc.expit(v) * sc.expit(-v)


# (naive form, inputs, reference value, reference derivative)
ELEMENTWISE = {
    "sigmoid": (sigmoid_naive, EXTREMES, sc.expit, expit_slope),
    "log sigmoid": (lambda x: T.log(sigmoid_naive(x)), EXTREMES, sc.log_expit, lambda v: sc.expit(-v)),
    "log(1 - sigmoid)": (lambda x: T.log(1 - sigmoid_naive(x)), EXTREMES, log_one_minus_expit, minus_expit),
    "log nnet.sigmoid": (lambda x: T.log(T.nnet.sigmoid(x)), EXTREMES, sc.log_expit, lambda v: sc.expit(-v)),
    "log(1 - nnet.sigmoid)": (lambda x: T.log(1 - T.nnet.sigmoid(x)), EXTREMES, log_one_minus_expit, minus_expit),
    "1 - sigmoid": (lambda x: 1 - T.nnet.sigmoid(x), EXTREMES, lambda v: sc.expit(-v), lambda v: -expit_slope(v)),
    "softplus": (lambda x: T.log(1 + T.exp(x)), EXTREMES, lambda v: np.logaddexp(0, v), sc.expit),
    "log1p": (lambda x: T.log(1 + x), POSITIVE, np.log1p, lambda v: 1 / (1 + v)),
    "expm1": (lambda x: T.exp(x) - 1, np.array([-1000.0, -1e-300, 0.0, 1e-300, 1e-20, 1.0, 700.0]), np.expm1, np.exp),
}  # fmt: skip


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_naive_elementwise_forms_and_their_gradients_are_finite_and_correct_at_extremes(name):
    build, values, value, derivative = ELEMENTWISE[name]
    x = T.dvector("x")
    out = build(x)
    f = theano.function([x], [out, T.grad(T.sum(out), x)])
    got, grad = f(values)
    assert np.all(np.isfinite(got)) and np.all(np.isfinite(grad)), (got, grad)
    np.testing.assert_allclose(got, value(values), rtol=1e-13, atol=0)
    np.testing.assert_allclose(grad, derivative(values), rtol=1e-13, atol=0)


def test_without_the_rewrites_the_naive_forms_do_overflow():
    """What the rewrites prevent (and a check that T.grad honours config.excluded_rewrites)."""
    x = T.dvector("x")
    out = T.log(sigmoid_naive(x))
    theano.config.excluded_rewrites.add("stabilize")
    try:
        naive = theano.function([x], [out, T.grad(T.sum(out), x)])
    finally:
        theano.config.excluded_rewrites.discard("stabilize")
    with np.errstate(all="ignore"):
        value, grad = naive(np.array([-1000.0, 1e-300]))
    assert value[0] == -np.inf and np.isnan(grad[0])
    assert np.log1p(1e-300) != 0 and theano.function([x], T.log(1 + x), exclude=["log1p"])(np.array([1e-300]))[0] == 0


BINARY = (np.array([-1000.0, -1000.0, -1.0, 0.0, 1e-300, 2.0, 1000.0, 1000.0]), np.array([0, 1, 0.3, 1, 0, 1, 0, 1.0]))


@pytest.mark.parametrize(
    "build",
    [
        lambda z, t: T.nnet.binary_crossentropy(T.nnet.sigmoid(z), t),
        lambda z, t: T.nnet.binary_crossentropy(sigmoid_naive(z), t),
        lambda z, t: -t * T.log(sigmoid_naive(z)) - (1 - t) * T.log(1 - sigmoid_naive(z)),
    ],
    ids=["nnet.sigmoid", "naive sigmoid", "tutorial form"],
)
def test_binary_crossentropy_of_a_sigmoid_is_finite_and_correct(build):
    z, t = T.dvectors("z", "t")
    loss = build(z, t)
    f = theano.function([z, t], [loss, T.grad(T.sum(loss), z)])
    zv, tv = BINARY
    value, grad = f(zv, tv)
    np.testing.assert_allclose(value, tv * np.logaddexp(0, -zv) + (1 - tv) * np.logaddexp(0, zv), rtol=1e-13)
    np.testing.assert_allclose(grad, sc.expit(zv) - tv, rtol=1e-13, atol=1e-300)


ROWS = np.array([[-1000.0, 0.0, 1000.0], [1000.0, 1000.0, -1000.0], [1e-300, 0.0, -1e-300], [-1000.0, -1000.0, -999.0]])
WEIGHTS = np.array([[0.5, -1.0, 2.0], [1.0, 3.0, -0.5], [2.0, 0.25, 1.0], [-1.0, 0.5, 1.5]])


def naive_softmax(x):
    return T.exp(x) / T.sum(T.exp(x), axis=1, keepdims=True)


def check_rows(out, reference, weighted_grad):
    """``out`` of X = ROWS and the gradient of sum(out * WEIGHTS), against their references."""
    X, W = T.dmatrix("X"), T.dmatrix("W")
    weighted = out(X) * W if reference(ROWS).ndim == 2 else out(X) * W[:, 0]
    f = theano.function([X, W], [out(X), T.grad(T.sum(weighted), X)])
    value, grad = f(ROWS, WEIGHTS)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, reference(ROWS), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(grad, weighted_grad(ROWS, WEIGHTS), rtol=1e-12, atol=1e-300)


def test_naive_softmax_is_shifted_by_its_max():
    def grad(x, w):
        s = sc.softmax(x, axis=1)
        return s * (w - np.sum(s * w, axis=1, keepdims=True))

    check_rows(naive_softmax, lambda x: sc.softmax(x, axis=1), grad)


@pytest.mark.parametrize("softmax", [naive_softmax, T.nnet.softmax], ids=["naive", "nnet"])
def test_log_of_a_softmax_is_a_log_softmax(softmax):
    def grad(x, w):
        return w - sc.softmax(x, axis=1) * np.sum(w, axis=1, keepdims=True)

    check_rows(lambda x: T.log(softmax(x)), lambda x: sc.log_softmax(x, axis=1), grad)


def test_naive_logsumexp_is_shifted_by_its_max():
    def grad(x, w):
        return sc.softmax(x, axis=1) * w[:, :1]

    check_rows(lambda x: T.log(T.sum(T.exp(x), axis=1)), lambda x: sc.logsumexp(x, axis=1), grad)


@pytest.mark.parametrize("softmax", [naive_softmax, T.nnet.softmax], ids=["naive", "nnet"])
def test_categorical_crossentropy_of_a_softmax(softmax):
    X, labels = T.dmatrix("X"), T.lvector("labels")
    loss = T.nnet.categorical_crossentropy(softmax(X), labels)
    f = theano.function([X, labels], [loss, T.grad(T.sum(loss), X)])
    y = np.array([0, 2, 1, 0])
    value, grad = f(ROWS, y)
    np.testing.assert_allclose(value, -sc.log_softmax(ROWS, axis=1)[np.arange(4), y], rtol=1e-13)
    np.testing.assert_allclose(grad, sc.softmax(ROWS, axis=1) - np.eye(3)[y], rtol=1e-12, atol=1e-300)


def test_gradients_with_respect_to_intermediate_variables_are_kept():
    x = T.dvector("x")
    h = T.exp(x)
    cost = T.sum(T.log(1 + h))  # softplus(x) once stabilized, if h may go
    g_h, g_x = T.grad(cost, [h, x])  # h stays for its gradient; x's is that of softplus(x)
    f = theano.function([x], [g_h, g_x])
    xv = np.array([-1000.0, 0.0, 1.0, 1000.0])
    dh, dx = f(xv)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(dh, 1 / (1 + np.exp(xv)), rtol=1e-13)  # d/dh log(1 + h), at h = exp(x)
    np.testing.assert_allclose(dx, sc.expit(xv), rtol=1e-13)
    with pytest.raises(T.DisconnectedInputError):
        T.grad(T.sum(T.log(1 + T.exp(x))), T.dvector("unused"))


def test_the_theano_tutorial_logistic_regression_trains_with_finite_cost_and_gradients():
    """http://deeplearning.net/software/theano/tutorial/examples.html, as written there (fewer
    steps): with 784 random features |x·w| reaches about 100, where 1 - p_1 rounds to 0."""
    rng = numpy.random.RandomState(0)
    N = 400  # training sample size
    feats = 784  # number of input variables
    D = (rng.randn(N, feats), rng.randint(size=N, low=0, high=2))
    training_steps = 10

    x = T.dmatrix("x")
    y = T.dvector("y")
    w = theano.shared(rng.randn(feats), name="w")
    b = theano.shared(0.0, name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))  # Probability that target = 1
    prediction = p_1 > 0.5  # The prediction thresholded
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)  # Cross-entropy loss function
    cost = xent.mean() + 0.01 * (w**2).sum()  # The cost to minimize
    gw, gb = T.grad(cost, [w, b])  # Compute the gradient of the cost
    train = theano.function(inputs=[x, y], outputs=[prediction, xent], updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))
    predict = theano.function(inputs=[x], outputs=prediction)

    assert np.abs(D[0] @ w.get_value()).max() > 80
    means = []
    for _ in range(training_steps):
        u = D[0] @ w.get_value() + b.get_value()  # the outputs see the values before the update
        pred, err = train(D[0], D[1])
        assert np.all(np.isfinite(err)) and np.all(np.isfinite(w.get_value())) and np.isfinite(b.get_value())
        # atol: kernels may reassociate (fastmath), so y*softplus(-u) + (1 - y)*softplus(u) can
        # lose a loss of 1e-16 next to terms of 35; what matters is that nothing overflows.
        reference = D[1] * np.logaddexp(0, -u) + (1 - D[1]) * np.logaddexp(0, u)
        np.testing.assert_allclose(err, reference, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(pred, u > 0)
        means.append(err.mean())
    assert means[-1] < means[0]
    np.testing.assert_array_equal(predict(D[0]), D[0] @ w.get_value() + b.get_value() > 0)
