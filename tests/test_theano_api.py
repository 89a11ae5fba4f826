"""The rest of the Theano tutorial's API: types as objects, In/Out options, f.maker.fgraph,
theano.gradient, theano.clone, printing.Print, compute_test_value, shape inference, and clear
errors for what symgrad deliberately leaves out (complex dtypes, sparse)."""

import warnings

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad.config import config
from symgrad.graph import graph_inputs
from symgrad.ops.blas import Dot
from symgrad.ops.elemwise import Elemwise
from symgrad.ops.shape import Join


def test_types_are_objects_and_make_variables():
    assert isinstance(T.dscalar, theano.tensor.basic.TensorType)
    x = T.dscalar("x")
    assert x.type == T.dscalar and x.name == "x"
    assert T.fmatrix().type == T.fmatrix and T.fmatrix != T.dmatrix
    assert T.wvector("w").dtype == "int16"
    assert T.tensor5("a").ndim == 5 and T.dtensor6().ndim == 6 and T.btensor7().dtype == "int8"
    assert T.brow().static_shape == (1, None)
    a, b = T.dscalars("a", "b")
    assert (a.name, b.name, a.type) == ("a", "b", T.dscalar)
    assert T.vector("v", dtype="int32").dtype == "int32"  # the unprefixed ones stay functions of dtype
    with pytest.raises(TypeError, match="dvectors makes float64 inputs; use vectors"):
        T.dvectors("p", dtype="float32")


def test_left_out_features_say_so_and_name_an_alternative():
    with pytest.raises(AttributeError, match="complex dtypes are deliberately left out.*two real tensors"):
        T.zmatrix  # noqa: B018
    with pytest.raises(TypeError, match="complex dtypes are deliberately left out"):
        T.tensor("complex128", (None,))
    with pytest.raises(ImportError, match="no sparse tensors.*scipy.sparse"):
        import symgrad.sparse  # noqa: F401


def test_out_borrow_returns_the_programs_array_and_in_takes_borrow():
    x = T.dvector("x")
    f = theano.function([theano.In(x, borrow=True)], [theano.Out(x, borrow=True), x, theano.Out(x * 2, borrow=True)])
    a = np.arange(3.0)
    same, copied, doubled = f(a)
    assert same is a and copied is not a
    np.testing.assert_array_equal(copied, a)
    np.testing.assert_array_equal(doubled, 2 * a)
    g = theano.function([x], theano.Out(x + 1))  # a single Out is one output, as in Theano
    np.testing.assert_array_equal(g(a), a + 1)


def test_get_value_return_internal_type():
    w = theano.shared(np.ones(3))
    internal = w.get_value(borrow=True, return_internal_type=True)
    assert internal is w.get_value(borrow=True)
    assert w.get_value(return_internal_type=True) is not internal


def test_maker_fgraph_shows_the_optimized_graph():
    x = T.dvector("x")
    f = theano.function([x], T.log(1 + T.exp(x)).sum())
    fgraph = f.maker.fgraph
    ops = [str(node.op) for node in fgraph.toposort()]
    assert fgraph.inputs == [x] and len(fgraph.outputs) == 1
    assert any("softplus" in op for op in ops) and not any(op == "exp" for op in ops), ops
    assert fgraph.outputs[0].owner in fgraph.apply_nodes
    w = theano.shared(np.zeros(2), name="w")
    g = theano.function([x], [], updates=[(w, w + x.sum())])
    assert g.maker.fgraph.inputs == [x, w] and g.maker.outputs == []


def test_pprint_is_pp():
    x = T.dscalar("x")
    assert theano.printing.pprint(x * 2) == theano.pp(x * 2)


def test_leaky_relu_value_and_gradient():
    x = T.dvector("x")
    y = T.nnet.relu(x, 0.1)
    f = theano.function([x], [y, T.grad(y.sum(), x)])
    value, gradient = f(np.array([-2.0, 3.0]))
    np.testing.assert_allclose(value, [-0.2, 3.0])
    np.testing.assert_allclose(gradient, [0.1, 1.0])
    alpha = T.dscalar("alpha")
    h = theano.function([x, alpha], T.grad(T.nnet.relu(x, alpha).sum(), alpha))
    assert h(np.array([-2.0, 3.0, -1.0]), 0.5) == -3.0


def test_as_tensor_variable_checks_ndim():
    assert T.as_tensor_variable(np.ones(3), ndim=1).ndim == 1
    with pytest.raises(ValueError, match="expected a 2-d tensor"):
        T.as_tensor_variable(np.ones(3), ndim=2)


def test_gradient_module():
    x = T.dvector("x")
    gradient = theano.gradient
    assert gradient.grad is T.grad and gradient.disconnected_grad is T.nnet.disconnected_grad
    v = np.array([0.1, 1.0])
    clipped = theano.function([x], T.grad(T.sum(gradient.grad_clip(3 * x, -1, 1) ** 2), x))
    np.testing.assert_allclose(clipped(v), 3 * np.clip(2 * 3 * v, -1, 1))
    zeroed = theano.function([x], T.grad(T.sum(gradient.zero_grad(x) ** 2 + x), x))
    np.testing.assert_array_equal(zeroed(v), [1.0, 1.0])
    only_zero_grad = T.grad(T.sum(gradient.zero_grad(x)), x)  # connected: zeros, no error
    np.testing.assert_array_equal(only_zero_grad.eval({x: v}), [0.0, 0.0])
    with pytest.raises(T.DisconnectedInputError):
        T.grad(T.sum(gradient.disconnected_grad(x)), x)
    with pytest.raises(ValueError, match="lower"):
        gradient.grad_clip(x, 1, -1)


def test_known_grads_continue_a_reverse_sweep():
    x = T.dvector("x")
    h = T.tanh(x) * 3
    cost = T.sum(T.exp(h))
    v = np.array([0.2, -0.4, 1.1])
    full = T.grad(cost, x).eval({x: v})
    chained = T.grad(None, x, known_grads={h: T.grad(cost, h)}).eval({x: v})
    np.testing.assert_allclose(chained, full, rtol=1e-14)
    both = T.grad(T.sum(x), x, known_grads={h: T.ones_like(h)}).eval({x: v})
    np.testing.assert_allclose(both, 1 + 3 * (1 - np.tanh(v) ** 2), rtol=1e-14)
    with pytest.raises(ValueError, match="gradient of 0 dimensions"):
        T.grad(None, x, known_grads={h: T.dscalar()})
    with pytest.raises(TypeError, match="no known_grads"):
        T.grad(None, x)


def test_clone_replaces_and_copies_inputs():
    x, y = T.dvectors("x", "y")
    z = T.exp(x) * 2
    moved = theano.clone(z, replace={x: y + 1})
    np.testing.assert_allclose(moved.eval({y: np.array([0.0])}), [2 * np.e])
    fresh = theano.clone([z], share_inputs=False)[0]
    (leaf,) = graph_inputs([fresh])
    assert leaf is not x and leaf.name == "x" and leaf.type == x.type
    with pytest.raises(TypeError, match="cannot be replaced"):
        theano.clone(z, replace={x: T.dmatrix()})


def test_print_prints_each_call_and_passes_the_value(capsys):
    x = T.dvector("x")
    shown = theano.printing.Print("x is", attrs=("__str__", "shape", "sum"))(x)
    f = theano.function([x], [shown * 2, T.grad(T.sum(shown**2), x)])
    value, gradient = f(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(value, [2.0, 4.0])
    np.testing.assert_array_equal(gradient, [2.0, 4.0])
    assert capsys.readouterr().out.splitlines() == ["x is __str__ = [1. 2.]", "x is shape = (2,)", "x is sum = 3.0"]
    with pytest.raises(ValueError, match="attributes of an array"):
        theano.printing.Print("bad", attrs=("no_such_thing",))


def test_compute_test_value_raises_where_the_graph_is_built(monkeypatch):
    monkeypatch.setattr(config, "_compute_test_value", "off")
    a, b = T.dmatrices("a", "b")
    a.tag.test_value = np.ones((2, 3))
    b.tag.test_value = np.ones((4, 3))
    T.dot(a, b)  # off: nothing computed
    config.compute_test_value = "raise"
    where = r"Dot fails on the test values \(a: \(2, 3\), b: \(4, 3\)\) \(built at .*test_theano_api"
    with pytest.raises(ValueError, match=where):
        T.dot(a, b)
    np.testing.assert_allclose((T.exp(a) + 1).tag.test_value, np.full((2, 3), np.e + 1))
    assert T.dot(a, b.T).tag.test_value.shape == (2, 4)
    c = T.dvector("c")
    with pytest.raises(ValueError, match="c .* has no test value"):
        c * 3
    config.compute_test_value = "warn"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c * 4
    assert "has no test value" in str(caught[0].message)
    with pytest.raises(ValueError, match="must be 'off', 'ignore', 'warn' or 'raise'"):
        config.compute_test_value = "yes"


def test_a_shape_is_computed_without_the_values():
    x, y = T.dmatrices("x", "y")
    z = T.dot(T.concatenate([T.exp(x) * 2, y], axis=0), T.tanh(y).T).sum(axis=0, keepdims=True)
    f = theano.function([x, y], z.shape)
    assert list(f(np.ones((2, 3)), np.ones((4, 3)))) == [1, 4]
    ops = {type(node.op) for node in f.maker.fgraph.toposort()}
    assert Dot not in ops
    data_work = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, (Elemwise, Join)) and n.output.ndim > 0
                 and n.output.dtype != "int64"]  # fmt: skip
    assert data_work == [], data_work


def test_rop_and_lop_as_in_the_tutorial():
    W, V = T.dmatrices("W", "V")
    x, v = T.dvectors("x", "v")
    y = T.dot(x, W)
    JV = T.Rop(y, W, V)
    f = theano.function([W, V, x], JV)
    np.testing.assert_array_equal(f([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1]), [2.0, 2.0])
    VJ = T.Lop(y, W, v)
    g = theano.function([v, x], VJ)
    np.testing.assert_array_equal(g([2, 2], [0, 1]), [[0.0, 0.0], [2.0, 2.0]])
