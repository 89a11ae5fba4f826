"""Graph rewrites: each fires where its pattern appears and keeps the values.

Every case compiles a graph, checks that the rewrite is among the compiled function's ``rewrites``
and that the optimized graph has the expected shape, and compares the function's results with the
NumPy reference of the graph *as written* (``evaluate``: each node's ``perform``). Extreme inputs
and gradients of the stabilizing rewrites are in ``test_stability.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from sympy.codegen.cfunctions import expm1, log1p

import symgrad as theano
import symgrad.tensor as T
from symgrad.graph import Constant, apply, toposort
from symgrad.ifelse import IfElse, ifelse
from symgrad.ops.blas import Dot
from symgrad.ops.elemwise import Elemwise, make_elemwise, sigmoid, softplus, sym
from symgrad.ops.gradient import DisconnectedGrad
from symgrad.ops.loop import evaluate
from symgrad.ops.reduce import Reduce
from symgrad.ops.shape import DimShuffle, Reshape, Size
from symgrad.rewrite import PHASES, REWRITES, optimize, rebuild

from .helpers import kernels, llvm_of

x, y = T.dvectors("x", "y")
X, Y = T.dmatrices("X", "Y")
XV = np.array([0.5, 1.5, 3.0])
YV = np.array([-2.0, 0.25, 4.0])
MV = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])


def compiled(name: str, inputs: list, outputs, values: list, **options):
    """The compiled function, after checking that rewrite ``name`` fired and that it returns what
    the graph as written computes."""
    f = theano.function(inputs, outputs, on_unused_input="ignore", **options)
    assert name in f.rewrites, f.rewrites
    outs = outputs if isinstance(outputs, list) else [outputs]
    givens = {id(v): np.asarray(value, dtype=v.dtype) for v, value in zip(inputs, values)}
    expected = evaluate(outs, givens)
    got = f(*values)
    for g, e in zip(got if isinstance(outputs, list) else [got], expected):
        np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-300)
    return f


def ops(outputs) -> list[type]:
    return [type(n.op) for n in toposort(outputs if isinstance(outputs, list) else [outputs])]


def expression(var) -> sympy.Expr:
    return var.owner.op.expr


# ------------------------------------------------------------------------------------------------
# The framework


def test_every_rewrite_has_a_phase_and_reads_as_pattern_to_replacement():
    assert PHASES == ("canonicalize", "stabilize", "specialize", "fuse")
    for rule in REWRITES.values():
        assert rule.phase in PHASES and "→" in rule.doc, rule
        assert (rule.node is None) != (rule.expr is None)
    assert {rule.phase for rule in REWRITES.values()} == set(PHASES)
    assert not set(REWRITES) & set(PHASES)


def test_a_rewrite_or_a_phase_is_excluded_by_name_for_one_function_or_all():
    out = T.log(1 + x)
    assert "log1p" in theano.function([x], out).rewrites
    for exclude in (["log1p"], "log1p", ["stabilize"]):
        f = theano.function([x], out, exclude=exclude)
        assert "log1p" not in f.rewrites and "log1p(" not in f.source
        np.testing.assert_allclose(f(XV), np.log1p(XV), rtol=1e-15)
    theano.config.excluded_rewrites.add("log1p")
    try:
        assert "log1p" not in theano.function([x], out).rewrites
    finally:
        theano.config.excluded_rewrites.discard("log1p")
    with pytest.raises(ValueError, match="unknown rewrite 'log1q'.*log1p"):
        theano.function([x], out, exclude=["log1q"])


def test_the_rewrites_that_fired_are_listed_in_order_and_in_the_header():
    f = theano.function([x], T.log(1 + T.neg(-x)))
    assert f.rewrites == ("neg_neg", "log1p")
    assert "# Rewrites applied: neg_neg, log1p" in f.source.splitlines()


def test_the_rewrites_t_grad_applied_are_listed_too():
    # T.grad stabilizes the cost before differentiating it: the gradient of the naive log-sigmoid
    # is built from -softplus(-x), and the function built from it says so.
    g = T.grad(T.sum(T.log(1 / (1 + T.exp(-x)))), x)
    f = theano.function([x], g)
    assert f.rewrites[:2] == ("sigmoid", "log_sigmoid")
    np.testing.assert_allclose(f(np.array([-1000.0, 0.0])), [1.0, 0.5])
    # exclude= acts on the function's own graph; the gradient was built before, under config.
    assert theano.function([x], g, exclude=["stabilize"])(np.array([-1000.0]))[0] == 1.0


def test_each_phase_runs_to_a_fixed_point():
    negated = x
    for _ in range(6):
        negated = -negated
    deep = T.log(T.exp(T.log(T.exp(negated)))) + 0 * y
    (opt,) = optimize([deep])
    assert opt is x
    fired: list[str] = []
    for out in [T.log(T.nnet.softmax(X)), T.log(1 / (1 + T.exp(-x))), T.sum(T.zeros_like(X) + y, axis=0)]:
        once = optimize([out])
        assert optimize(once, fired) == once  # nothing left to rewrite
    assert fired == []


def test_rewritten_nodes_keep_the_users_names():
    p = 1 / (1 + T.exp(-x))
    p.name = "p"
    (opt,) = optimize([p])
    assert opt.owner.op.expr.has(sigmoid) and opt.name == "p"


def test_checks_for_unused_inputs_see_the_graph_as_written():
    f = compiled("add_cancel", [x, y], (x + y) - x, [XV, YV])  # x is used, though not after the rewrite
    assert f.rewrites == ("add_cancel",)
    with pytest.raises(ValueError, match="not used"):
        theano.function([x, y], y * 2)


# ------------------------------------------------------------------------------------------------
# canonicalize


def test_integer_powers_are_multiplications_in_the_machine_code():
    """x**2 → x*x is Numba's: it lowers an integer power to multiplications (no pow call), so SymPy's
    x**2, which it would fold back from x*x anyway, stays as it is."""
    for vector in (T.dvector, T.fvector):
        v = vector("v")
        f = theano.function([v], v**2 + v**3)
        (kernel,) = kernels(f, np.ones(3, dtype=v.dtype)).values()
        llvm = llvm_of(kernel)
        assert "fmul" in llvm and "pow" not in llvm


def test_identities_within_one_node_are_applied_by_sympy_as_the_node_is_built():
    assert x * 1 is x and x + 0 is x and x**1 is x and T.neg(-x) is not x  # two nodes: see neg_neg
    assert expression(x - x) == 0  # zeros shaped like x
    assert expression(x / 4) == sympy.Rational(1, 4) * sympy.Symbol("a0", real=True)  # a multiplication


# exp(log(x)) is nan for x < 0 in NumPy, so exp_log keeps that: x where x >= 0, else nan.
X_OR_NAN_BELOW_0 = make_elemwise(sympy.Piecewise((sym(0), sym(0) >= 0), (sympy.nan, True)), [x], x.dtype)


@pytest.mark.parametrize(
    "name, build, result",
    [
        ("neg_neg", lambda: T.neg(-x), x),
        ("exp_log", lambda: T.exp(T.log(x)), X_OR_NAN_BELOW_0),
        ("log_exp", lambda: T.log(T.exp(x)), x),
        ("add_cancel", lambda: (x + y) - x, y),
        ("mul_cancel", lambda: (x * y) / x, y),
        ("fill_numbers", lambda: x * T.ones_like(y) + 0 * T.ones_like(x), x),
    ],
)
def test_identities_across_nodes(name, build, result):
    out = build()
    (opt,) = optimize([out])
    assert opt is result
    compiled(name, [x, y], out, [XV, YV])


def test_tensors_of_one_number_are_read_as_that_number():
    x3 = T.tensor("float64", (3,), name="x3")
    for out in (x3 * np.ones(3), x3 + np.zeros(3), x3 ** np.ones(3), x3 - np.zeros(3) * x3):
        assert optimize([out]) == [x3]
        compiled("fill_numbers", [x3], out, [XV])


def test_division_by_a_constant_array_becomes_multiplication():
    x3 = T.tensor("float64", (3,), name="x3")
    out = x3 / np.array([1.0, 2.0, 4.0])
    (opt,) = optimize([out])
    assert not any(p.exp.is_negative for p in expression(opt).atoms(sympy.Pow))
    (reciprocals,) = [v for v in opt.owner.inputs if isinstance(v, Constant)]
    np.testing.assert_array_equal(reciprocals.data, [1.0, 0.5, 0.25])
    compiled("div_by_constant", [x3], out, [XV])


def test_lengths_known_after_givens_fold_to_constants():
    z = T.tensor("float64", (3,), name="z")
    out = x * T.cast(x.shape[0], "float64")
    f = theano.function([z], out, givens={x: z})
    assert "static_shape" in f.rewrites and Size not in ops(optimize(rebuild([out], {x: z})))
    np.testing.assert_allclose(f(XV), XV * 3)


def test_a_length_does_not_need_the_values_computed():
    out = T.arange(T.exp(x).shape[0])
    (opt,) = optimize([out])
    assert Elemwise not in ops(opt)
    compiled("size_of_input", [x], out, [XV])


def test_transposes_of_transposes_compose():
    twice = apply(DimShuffle((1, 0)), apply(DimShuffle((1, 0)), X))  # as a rewrite may leave them
    out = T.exp(twice) + apply(DimShuffle((0, 1)), Y)
    (opt,) = optimize([out])
    assert DimShuffle not in ops(opt)
    compiled("transpose_transpose", [X, Y], out, [MV, MV])


def test_reshape_chains_are_one_reshape():
    v = T.dvector("v")
    out = v.reshape((2, 6)).reshape((3, 4)) * 2
    assert ops(optimize([out])).count(Reshape) == 1
    compiled("reshape_chain", [v], out, [np.arange(12.0)])
    m = T.tensor("float64", (3, 4), name="m")
    assert optimize([m.reshape((3, 4))]) == [m]
    g = T.grad(T.sum(v.reshape((2, 6)).reshape((3, 4)) * np.arange(12.0).reshape(3, 4)), v)
    compiled("reshape_chain", [v], g, [np.ones(12)])


def test_the_sum_of_a_broadcast_is_a_product():
    out = T.sum(T.zeros_like(X) + y, axis=0)
    (opt,) = optimize([out])
    assert Reduce not in ops(opt)
    compiled("sum_of_broadcast", [X, y], out, [MV, YV])
    fill = T.sum(T.ones_like(X) * 3)
    assert Reduce not in ops(optimize([fill]))
    compiled("sum_of_broadcast", [X], fill, [MV])


def test_the_sum_of_a_fill_over_one_axis_keeps_the_other_dims():
    # sum(zeros_like(r), axis=1) of a (1, n) r became the 0-d 0 * n: nothing the fill reads gave
    # the kept dim of length 1, and a dimshuffle(0, 'x') of the result failed (the long fuzz run:
    # the Rop of a standard deviation's gradient).
    r = T.tensor("float64", (1, None), name="r")
    total = T.sum(T.zeros_like(r), axis=1)
    f = theano.function([r], [total, T.dimshuffle(total, (0, "x")) + r])
    got = f(np.ones((1, 3)))
    np.testing.assert_array_equal(got[0], np.zeros(1))
    np.testing.assert_array_equal(got[1], np.ones((1, 3)))


def test_a_branch_that_cannot_be_taken_is_dropped():
    out = ifelse(1, T.exp(x), T.log(x))
    (opt,) = optimize([out])
    assert IfElse not in ops(opt) and opt is T.exp(x)
    compiled("dead_branch", [x], out, [XV])
    compiled("dead_branch", [x, y], ifelse(y[0] > 0, x * 2, x * 2), [XV, YV])


# ------------------------------------------------------------------------------------------------
# stabilize (extreme inputs and gradients: test_stability.py)


@pytest.mark.parametrize(
    "name, build, function",
    [
        ("sigmoid", lambda: 1 / (1 + T.exp(-x)), sigmoid),
        ("softplus", lambda: T.log(1 + T.exp(x)), softplus),
        ("log_sigmoid", lambda: T.log(T.nnet.sigmoid(x)), softplus),
        ("log1p", lambda: T.log(1 + x), log1p),
        ("expm1", lambda: T.exp(x) - 1, expm1),
        ("one_minus_sigmoid", lambda: 1 - T.nnet.sigmoid(x), sigmoid),
    ],
)
def test_elementwise_forms_are_stabilized(name, build, function):
    out = build()
    (opt,) = optimize([out])
    assert expression(opt).has(function)
    compiled(name, [x], out, [np.array([-3.0, 0.5, 2.0])])


def test_log_of_one_minus_sigmoid_and_the_binary_crossentropy_of_a_sigmoid_become_softplus():
    t = T.dvector("t")
    for out in (T.log(1 - T.nnet.sigmoid(x)), T.nnet.binary_crossentropy(T.nnet.sigmoid(x), t)):
        functions = {type(f) for n in toposort(optimize([out])) for f in n.op.expr.atoms(sympy.Function)}
        assert functions == {softplus}
        compiled("log_sigmoid", [x, t], out, [np.array([-3.0, 0.5, 2.0]), np.array([0.0, 1.0, 0.25])])


def test_softmax_is_shifted_by_its_max():
    out = T.exp(X) / T.sum(T.exp(X), axis=1, keepdims=True)
    assert DisconnectedGrad in ops(optimize([out], phases=("canonicalize", "stabilize")))
    compiled("softmax_max_shift", [X], out, [MV])
    vector = T.exp(x) / T.sum(T.exp(x))
    compiled("softmax_max_shift", [x], vector, [XV])


def test_logsumexp_is_shifted_by_its_max():
    out = T.log(T.sum(T.exp(X), axis=1))
    assert [r.reduction for r in (n.op for n in toposort(optimize([out]))) if isinstance(r, Reduce)] == ["max", "sum"]
    compiled("logsumexp_max_shift", [X], out, [MV])
    compiled("logsumexp_max_shift", [X], T.log(T.sum(T.exp(X), axis=0, keepdims=True)), [MV])


def test_log_of_a_softmax_is_a_log_softmax():
    for out in (T.log(T.nnet.softmax(X)), T.log(T.exp(X) / T.sum(T.exp(X), axis=1, keepdims=True))):
        (opt,) = optimize([out])
        assert not any(isinstance(n.op, Elemwise) and n.op.expr.has(sympy.Pow) for n in toposort([opt]))
        compiled("log_softmax", [X], out, [MV])


def test_crossentropy_of_a_softmax_indexes_its_log_softmax():
    labels = T.lvector("labels")
    out = T.nnet.categorical_crossentropy(T.nnet.softmax(X), labels)
    compiled("log_softmax_indexed", [X, labels], out, [MV, np.array([2, 0])])


# ------------------------------------------------------------------------------------------------
# specialize and fuse


def test_a_transposed_product_is_a_product_of_transposes():
    f = compiled("transpose_of_dot", [X, Y], T.dot(X, Y).T, [MV, MV.T])
    lines = [line.strip() for line in f.source.splitlines()]
    assert "t0 = Y.T" in lines and "t1 = X.T" in lines and "t2 = matrix_product(t0, t1)" in lines  # views: BLAS flags
    assert ".copy()" not in f.source  # the result comes out of BLAS in the wanted layout
    both = theano.function([X, Y], [T.dot(X, Y).T, T.dot(X, Y)])  # one product, used both ways
    assert "transpose_of_dot" not in both.rewrites


def test_a_transposed_elementwise_operand_is_passed_to_blas_as_a_transposed_view():
    out = T.dot(T.tanh(X.T), Y)
    (opt,) = optimize([out])
    operand = opt.owner.inputs[0]
    assert isinstance(opt.owner.op, Dot) and isinstance(operand.owner.op, DimShuffle)
    assert operand.owner.inputs[0].owner.inputs == (X,)  # tanh runs over X as stored
    compiled("transposed_operand", [X, Y], out, [MV, MV])


def test_gradient_stops_are_removed_before_fusion():
    out = T.nnet.softmax(X)
    assert DisconnectedGrad not in ops(optimize([out]))
    compiled("drop_gradient_stops", [X], out, [MV])
