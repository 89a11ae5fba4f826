"""Shared variables, updates, givens, theano.In and Variable.eval, with Theano's aliasing rules."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad.config import config


def test_shared_value_round_trip_and_borrow_rules():
    value = np.arange(6.0).reshape(2, 3)
    w = theano.shared(value, name="w")
    assert w.dtype == "float64" and w.ndim == 2 and w.broadcastable == (False, False)
    value[0, 0] = 100.0  # shared() copied it
    assert w.get_value()[0, 0] == 0.0
    copy = w.get_value()
    copy[0, 1] = -1.0  # get_value() returns a copy
    assert w.get_value()[0, 1] == 1.0
    assert w.get_value(borrow=True) is w.get_value(borrow=True)
    borrowed = np.ones((2, 3))
    w.set_value(borrowed, borrow=True)
    assert w.get_value(borrow=True) is borrowed
    w.set_value(borrowed)  # without borrow: a copy
    assert w.get_value(borrow=True) is not borrowed
    shared_alias = theano.shared(borrowed, borrow=True)
    assert shared_alias.get_value(borrow=True) is borrowed


def test_set_value_follows_the_casting_rules():
    w = theano.shared(np.zeros(3), name="w")
    w.set_value(np.array([1, 2, 3]))  # int64 to float64 loses nothing
    assert w.get_value().dtype == np.float64 and w.get_value().tolist() == [1.0, 2.0, 3.0]
    w.set_value(np.zeros(5))  # a shared variable may change length
    assert w.get_value().shape == (5,)
    with pytest.raises(TypeError, match=r"shared variable 'w' expects a 1-d float64 value.*got a 2-d"):
        w.set_value(np.zeros((2, 2)))
    n = theano.shared(np.zeros(3, dtype="int32"), name="n")
    with pytest.raises(TypeError, match=r"shared variable 'n' expects int32, got float64"):
        n.set_value(np.ones(3))
    with pytest.raises(TypeError, match="cannot hold a value of dtype"):
        theano.shared(np.array(["a"]))


def test_functions_read_the_current_shared_value():
    w = theano.shared(np.array([1.0, 2.0]), name="w")
    x = T.dvector("x")
    f = theano.function([x], T.dot(x, w))
    assert f([1.0, 1.0]) == 3.0
    w.set_value([10.0, 20.0])
    assert f([1.0, 1.0]) == 30.0
    with pytest.raises(TypeError, match="shared variable; shared variables are implicit inputs"):
        theano.function([w], w * 2)


@pytest.mark.parametrize("form", ["list", "tuple", "dict", "ordered", "pair"])
def test_updates_in_every_form(form):
    count = theano.shared(np.int64(0), name="count")
    step = (count, count + 1)
    updates = {"list": [step], "tuple": (step,), "dict": dict([step]), "ordered": OrderedDict([step]), "pair": step}
    f = theano.function([], count, updates=updates[form])
    assert [int(f()) for _ in range(3)] == [0, 1, 2]  # each call returns the value before its update
    assert int(count.get_value()) == 3


def test_updates_read_the_values_before_the_call():
    a = theano.shared(np.array([1.0, 2.0]), name="a")
    b = theano.shared(np.array([10.0, 20.0]), name="b")
    swap = theano.function([], [], updates=[(a, b), (b, a)])
    assert swap() == []
    assert a.get_value().tolist() == [10.0, 20.0] and b.get_value().tolist() == [1.0, 2.0]
    # b's new value reads a's old value although a is updated first.
    mix = theano.function([], updates=[(a, a + b), (b, a * 2)])
    mix()
    assert a.get_value().tolist() == [11.0, 22.0] and b.get_value().tolist() == [20.0, 40.0]


def test_elementwise_updates_are_written_in_place():
    w = theano.shared(np.ones((3, 4)), name="w")
    g = T.dmatrix("g")
    lr = T.dscalar("lr")
    step = theano.function([g, lr], [], updates=[(w, w - lr * g)])
    assert '"""w <- -g*lr + w (in place)"""' in step.source
    buffer = w.get_value(borrow=True)
    step(np.full((3, 4), 2.0), 0.25)
    step(np.full((3, 4), 2.0), 0.25)
    assert w.get_value(borrow=True) is buffer  # no copy per step
    np.testing.assert_array_equal(buffer, np.zeros((3, 4)))


def test_updates_that_read_other_elements_are_not_written_in_place():
    w = theano.shared(np.arange(9.0).reshape(3, 3), name="w")
    transpose = theano.function([], [], updates=[(w, w.T + 1)])
    transpose()
    np.testing.assert_array_equal(w.get_value(), np.arange(9.0).reshape(3, 3).T + 1)
    # The old value is also an output: the output must show it, so no in-place write either.
    v = theano.shared(np.ones(3), name="v")
    f = theano.function([], v, updates=[(v, v * 3)])
    np.testing.assert_array_equal(f(), np.ones(3))
    np.testing.assert_array_equal(v.get_value(), np.full(3, 3.0))


def test_in_place_updates_with_parallel_kernels(monkeypatch, quiet_machine):
    monkeypatch.setattr(config, "parallel_threshold", 10)
    w = theano.shared(np.zeros(1000), name="w")
    x = T.dvector("x")
    f = theano.function([x], T.sum(w * x), updates=[(w, w + x)])
    data = np.arange(1000.0)
    assert f(data) == 0.0
    assert f(data) == float(np.sum(data * data))
    np.testing.assert_array_equal(w.get_value(), 2 * data)


def test_update_errors_name_the_problem():
    w = theano.shared(np.zeros(3), name="w")
    x = T.dvector("x")
    with pytest.raises(TypeError, match="update target x is not a shared variable"):
        theano.function([x], [], updates=[(x, x + 1)])
    with pytest.raises(TypeError, match=r"the update of w must have its type.*float32"):
        theano.function([], [], updates=[(w, T.cast(w, "float32"))])
    with pytest.raises(TypeError, match="the update of w must have its type"):
        theano.function([], [], updates=[(w, T.sum(w))])
    with pytest.raises(ValueError, match="shared variable w is updated twice"):
        theano.function([], [], updates=[(w, w + 1), (w, w + 2)])
    with pytest.raises(TypeError, match="must be a dict or a list"):
        theano.function([], [], updates=42)


def test_outputs_never_alias_shared_storage_inputs_or_each_other():
    w = theano.shared(np.ones(3), name="w")
    x = T.dvector("x")
    f = theano.function([x], [w, x, x * 2, x * 2])
    data = np.zeros(3)
    out_w, out_x, twice, again = f(data)
    assert out_w is not w.get_value(borrow=True) and not np.shares_memory(out_x, data)
    assert not np.shares_memory(twice, again)
    out_w[:] = 5.0
    assert w.get_value().tolist() == [1.0, 1.0, 1.0]
    # The next call does not overwrite what the last one returned.
    first = f(np.ones(3))[2]
    f(np.full(3, 7.0))
    assert first.tolist() == [2.0, 2.0, 2.0]
    # New shared values are fresh arrays too: updating w from x must not tie w to the argument.
    g = theano.function([x], [], updates=[(w, x)])
    g(data)
    data[:] = 9.0
    assert w.get_value().tolist() == [0.0, 0.0, 0.0]


def test_scalar_results_are_0d_arrays():
    x = T.dscalar("x")
    s = theano.shared(np.float32(1.5), name="s")
    f = theano.function([x], [x * 2, s * 2, T.sum(T.exp(x))])
    for value, dtype in zip(f(3.0), ["float64", "float32", "float64"]):
        assert isinstance(value, np.ndarray) and value.shape == () and value.dtype == dtype


def test_givens_substitute_variables():
    x = T.dvector("x")
    y = T.dvector("y")
    data = theano.shared(np.array([1.0, 2.0, 3.0]), name="data")
    f = theano.function([], T.sum(x**2), givens=[(x, data)])
    assert f() == 14.0
    g = theano.function([y], T.sum(x * y), givens={x: y * 2})
    assert g(np.array([1.0, 2.0])) == 10.0
    with pytest.raises(TypeError, match=r"givens replaces x \(.*float64.*\) with a value of type"):
        theano.function([y], x, givens={x: T.fvector("z")})
    with pytest.raises(TypeError, match="givens can only replace free variables"):
        theano.function([y], x * 2, givens={x * 2: y})


def test_in_default_values_and_keyword_names():
    x, y, w = T.dscalars("x", "y", "w")
    z = (x + y) * w
    f = theano.function([x, theano.In(y, value=1), theano.In(w, value=2, name="w_by_name")], z)
    assert f(33) == 68.0
    assert f(33, 2) == 70.0
    assert f(33, 0, 1) == 33.0
    assert f(33, w_by_name=1) == 34.0
    assert f(33, w_by_name=1, y=0) == 33.0
    with pytest.raises(TypeError, match="unexpected keyword|unknown keyword"):
        f(33, w=1)
    with pytest.raises(ValueError, match="inputs with defaults .* must come last"):
        theano.function([theano.In(x, value=1.0), y], x + y)
    with pytest.raises(TypeError, match="default value of input 'y' expects float64, got bool"):
        theano.function([x, theano.In(y, value=True)], x + y)


def test_eval_compiles_once_per_set_of_inputs():
    x = T.dvector("x")
    y = T.sum(x**2)
    assert y.eval({x: np.array([1.0, 2.0])}) == 5.0
    assert y.eval({x: [3.0]}) == 9.0
    w = theano.shared(np.array([1.0, 2.0]))
    assert (w * 3).eval().tolist() == [3.0, 6.0]
    from symgrad.tensor.variable import _eval_cache

    assert len(_eval_cache[y]) == 1


def test_logistic_regression_trains_with_shared_parameters():
    rng = np.random.default_rng(0)
    n, d = 200, 5
    data = rng.normal(size=(n, d))
    labels = (data @ rng.normal(size=d) > 0).astype(np.float64)
    x, y = T.dmatrix("x"), T.dvector("y")
    w = theano.shared(np.zeros(d), name="w")
    b = theano.shared(0.0, name="b")
    p = T.nnet.sigmoid(T.dot(x, w) + b)
    cost = -T.mean(y * T.log(p) + (1 - y) * T.log(1 - p))
    gw, gb = T.grad(cost, [w, b])
    train = theano.function([x, y], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)])
    costs = [float(train(data, labels)) for _ in range(100)]
    # The same gradient descent in NumPy.
    w_ref, b_ref, expected = np.zeros(d), 0.0, []
    for _ in range(100):
        p_ref = 1 / (1 + np.exp(-(data @ w_ref + b_ref)))
        expected.append(-np.mean(labels * np.log(p_ref) + (1 - labels) * np.log(1 - p_ref)))
        w_ref, b_ref = w_ref - 0.5 * data.T @ (p_ref - labels) / n, b_ref - 0.5 * np.mean(p_ref - labels)
    np.testing.assert_allclose(costs, expected, rtol=1e-10)
    np.testing.assert_allclose(w.get_value(), w_ref, rtol=1e-10)
    assert costs[-1] < 0.25 * costs[0]
    accuracy = np.mean((data @ w.get_value() + b.get_value() > 0) == labels)
    assert accuracy > 0.95
