"""Property-based fuzzing (see ``tests/fuzz.py``): random well-typed graphs compiled and compared
with their node-by-node NumPy reference, and their gradients with finite differences; the second
derivatives of random scalar graphs (Hessian, Jacobian of the gradient, Rop, Lop, Hessian-vector
product) with central differences of the compiled gradient; random functions with several outputs
(some gradients of others) and updates of shared variables with the reference of each call;
random loops (``theano.scan``, see ``tests/fuzz_scan.py``) and their gradients through time.

The default run checks 30 first-order graphs, 3 with linear algebra and array functions, and a
few of each other kind, the same ones every time (derandomized), so CI is reproducible; ``pytest
-m long tests/test_fuzz.py -s`` checks 10,000 new random ones (and ``tests/cuda/test_fuzz.py``
2,500 more on the GPU backend), in batches of
fresh processes, and prints a summary. Each bug the fuzzer found is pinned below by a regression
test on its graph (or in the test file of what it broke).
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad as theano
import symgrad.tensor as T
from symgrad.ifelse import ifelse

from .fuzz import (
    check_example,
    check_second_order,
    check_updates,
    functions_with_updates,
    graphs,
    run_long,
    scalar_graphs,
)
from .fuzz_scan import scan_graphs

SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=True)
checked: collections.Counter = collections.Counter()


@settings(max_examples=30, derandomize=True, **SETTINGS)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_random_graphs_match_numpy_and_finite_differences(example, seed):
    checked[check_example(*example, seed=seed)] += 1


@settings(max_examples=3, derandomize=True, **SETTINGS)  # 4-5 s each: LAPACK calls compile slowly
@given(graphs(max_depth=3, arrays=True), st.integers(0, 2**32 - 1))
def test_random_graphs_with_linear_algebra_and_array_functions(example, seed):
    checked[check_example(*example, seed=seed)] += 1


@settings(max_examples=3, derandomize=True, **SETTINGS)
@given(scalar_graphs(max_depth=2), st.integers(0, 2**32 - 1))
def test_second_derivatives_of_random_scalar_graphs_match_finite_differences(example, seed):
    checked[check_second_order(*example, seed=seed)] += 1


@settings(max_examples=6, derandomize=True, **SETTINGS)
@given(functions_with_updates(max_depth=2))
def test_random_functions_with_several_outputs_and_updates_match_the_reference(example):
    checked[check_updates(example)] += 1


@settings(max_examples=3, derandomize=True, **SETTINGS)
@given(scan_graphs(), st.integers(0, 2**32 - 1))
def test_random_loops_and_their_gradients_through_time_match_the_reference(example, seed):
    checked[check_example(*example, seed=seed)] += 1


@pytest.mark.long
@pytest.mark.parametrize(
    "kind, total",
    [("first order", 3000), ("arrays", 1000), ("second order", 2500), ("updates", 2500), ("scan", 1000)],
)
def test_long_run(kind, total):
    counts, failures = run_long(kind, total)
    checked.update(counts)
    print(f"\nfuzz, {kind}: {sum(counts.values())} checked: {dict(counts)}, {len(failures)} failures")
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module", autouse=True)
def summary():
    checked.clear()
    yield
    print(f"\nfuzz: {sum(checked.values())} graphs checked: {dict(checked)}")


# ------------------------------------------------------------------------------------------------
# Bugs the fuzzer found, each pinned by its (shrunk) graph


@pytest.mark.parametrize("n", [0, 3])
def test_second_derivatives_of_a_slice_set_to_a_scalar_compile(n):
    """The long run's second-order find: the gradient of set_subtensor(x0[1:], x1), read in place,
    put a 0-d array in a branch, `t42 if i0 >= 1 else 0`, which Numba could not type."""
    x0, x1, x2, w = T.dvector("x0"), T.dscalar("x1"), T.dmatrix("x2"), T.dvector("w")
    cost = T.sum(T.dot(T.set_subtensor(x0[1:], x1), x2) * w)
    rng = np.random.default_rng(n)
    values = [rng.uniform(-3, 3, n), np.array(0.82177012), rng.uniform(-3, 3, (n, 2)), rng.uniform(0.5, 1.5, 2)]
    assert check_second_order([x0, x1, x2, w], [x0, x1, x2], cost, values, seed=0) == "second order"


def test_gradient_of_a_sum_over_one_axis_of_a_3d_input_compiles():
    # The stabilize rule softmax_max_shift took any elementwise node reading a dimshuffled sum
    # for a softmax denominator, and re-expanding a 2-d sum to the node's rank 3 raised
    # StopIteration inside T.grad's rewrites.
    x = T.tensor("float64", (None, None, 1), name="x0")
    w = T.dmatrix("w0")
    cost = T.sum(w * T.sum(x, axis=0))
    f = theano.function([x, w], [cost, T.grad(cost, x)])
    for shape in [(0, 0, 1), (2, 3, 1)]:
        values = np.random.default_rng(0).normal(size=shape), np.ones(shape[1:])
        total, grad = f(*values)
        assert total == pytest.approx(values[0].sum()) and np.array_equal(grad, np.ones(shape))


def test_gradient_of_a_negative_constant_to_a_power_is_nan_not_complex():
    # d/dx (-2.5)**x = (-2.5)**x*log(-2.5): SymPy evaluated the log to the complex log(2.5) + I*pi,
    # and the kernel failed to compile, storing a complex into a float array. NumPy's log(-2.5) is nan.
    x = T.dmatrix("x1")
    f = theano.function([x], [(-2.5) ** x, T.grad(T.sum((-2.5) ** x), x)])
    value, grad = f(np.array([[2.0, 0.5]]))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(value, (-2.5) ** np.array([[2.0, 0.5]]))
    assert np.isnan(grad).all()
    assert [a.shape for a in f(np.zeros((1, 0)))] == [(1, 0), (1, 0)]


def test_square_root_of_a_negative_constant_is_nan_not_complex():
    # sqrt(-2.5) folded by SymPy to the complex 1.58*I, and the kernel storing it failed to compile.
    x = T.fvector("x2")
    f = theano.function([x], [T.switch(x >= 1, T.sqrt(x), T.sqrt(-2.5)), T.grad(T.sum(T.sqrt(-x)), x)])
    value, grad = f(np.array([4.0, 0.0], dtype="float32"))
    assert value[0] == 2 and np.isnan(value[1])
    assert np.isnan(grad[0]) and np.isinf(grad[1])


def test_square_root_of_a_fused_negative_expression_is_nan_not_complex():
    # Fused into the switch, sqrt(clip(x, -2, -1.5)) became I*sqrt(...) in SymPy (the clip is known
    # to be negative), and the kernel storing a complex number failed to compile.
    c, x = T.tensor("float64", (1, 1, 1), name="x0"), T.tensor("float64", (None, 1, 1), name="x1")
    y = T.tensor("float64", (1,), name="x2")
    f = theano.function([c, x, y], T.switch(c < -2.5, T.sqrt(T.clip(x, -2, -1.5)), y))
    assert np.isnan(f(np.full((1, 1, 1), -3.0), np.ones((2, 1, 1)), np.array([7.0]))).all()
    np.testing.assert_array_equal(f(np.zeros((1, 1, 1)), np.ones((2, 1, 1)), np.array([7.0])), np.full((2, 1, 1), 7.0))
    assert f(np.zeros((1, 1, 1)), np.zeros((0, 1, 1)), np.array([1.0])).shape == (0, 1, 1)


def test_float32_power_with_a_sum_for_exponent_is_parenthesized():
    # The float32 printer wrote x**(y - 2) as x**-np.float32(2) + y: an exponent that is a sum
    # or a product lost its parentheses.
    x, y = T.fvectors("x", "y")
    f = theano.function([x, y], [x ** (y - 2), x ** (y * 2), x**-y])
    a, b = np.array([1.5, 2.0, -0.5], dtype="float32"), np.array([0.5, 3.0, 1.5], dtype="float32")
    with np.errstate(invalid="ignore"):
        expected = [a ** (b - 2), a ** (b * 2), a**-b]
    for got, want in zip(f(a, b), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_square_root_folded_into_a_clipped_switch_prints_and_compiles():
    # pp (the module header's formula) and the fuser built clip(sqrt(switch(c, x, -2.5))): SymPy
    # moved the sqrt into the switch's branches, made sqrt(-2.5) the complex 1.58*I, and raised
    # "Invalid comparison of non-real" comparing it with clip's bounds.
    c, x = T.dscalar("x3"), T.dmatrix("x4")
    out = T.clip(T.sqrt(T.switch(c < -2.5, x, -2.5)), -2, -1.5)
    f = theano.function([c, x], [out, T.grad(T.sum(out), x)])
    assert "switch(x3 < -2.5" in theano.pp(out)
    for value in (-3.0, 0.0):
        result, grad = f(value, np.full((2, 3), 4.0))
        expected = -1.5 if value < -2.5 else np.nan
        np.testing.assert_array_equal(result, np.full((2, 3), expected))
        assert np.isnan(grad).all() == (value >= -2.5)
    assert [a.shape for a in f(-3.0, np.zeros((0, 3)))] == [(0, 3), (0, 3)]


def test_the_gradient_of_a_min_of_a_quotient_recomputed_in_another_kernel_is_not_lost():
    # Long run, second order, batch seed 2432240041: with its Hessian and Jacobian beside it, the
    # gradient of sum(min(softmax(x0, axis=0), axis=0)) was 0 in a column at x0 - 1.38e-6 e_1. Its
    # kernel compared the min with the quotient recomputed as t2*e0, e0 = 1/t3 (cse's reciprocal),
    # while the min's kernel had divided: one bit apart, the comparison failed.
    x0, w = T.dmatrix("x0"), T.dscalar("w")
    cost = T.sum(w * T.min(T.nnet.softmax(x0, axis=0), axis=0))
    x = np.array([[0.8217701239287258, -1.3812797174167781, -2.7541588563828316],
                  [-2.9008341868288254, 1.879621435201635, 2.47653346366633]])  # fmt: skip
    assert check_second_order([x0, w], [x0], cost, [x, np.array(1.1066357757671799)], 0) == "second order"


def test_a_remainder_of_two_constants_folds_to_numpys_and_a_static_empty_axis_rolls():
    # Long run, arrays, batch seed 3501362325: T.roll along an axis of static length 0 raised
    # "Cannot convert complex to float" building the graph. Its shift, mod(-1, 1) of two constants,
    # was folded by float() of SymPy's unevaluated mod; numbers that are not plain SymPy numbers
    # now fold through NumPy.
    for a, b in [(5, 3), (-7, 2), (7, -2), (1, 1), (-7.5, 2.0)]:
        folded = T.constant(a) % T.constant(b)
        assert folded.data == np.mod(a, b) and folded.dtype == np.result_type(np.asarray(a), np.asarray(b))
    x = T.tensor("float64", (0, None), name="x")
    f = theano.function([x], [T.roll(x, -1, 0), T.roll(x, 2, 1)])
    assert [r.shape for r in f(np.zeros((0, 3)))] == [(0, 3), (0, 3)]


def test_the_gradient_of_a_max_of_a_switch_prints_with_the_max_around_the_switch():
    # Long run, first order, batch seed 2751560050: compiling max(sinc(x1)) with its gradient hung
    # in the module header's formula. The gradient compares sinc(x1) = switch(x1 == 0, 1, ...) with
    # its max; building that comparison as a Piecewise's condition, SymPy folded the switch out
    # through the max (max(switch(c, a, b)) became switch(c, max(a), max(b)), which is wrong) and
    # then spent minutes comparing the pieces.
    x1 = T.dvector("x1")
    top = T.max(T.sinc(x1), axis=0)
    text = theano.pp(T.grad(top, x1), simplify=False)
    assert "== max(switch(x1 == 0, 1, sin(pi*x1)/(pi*x1))" in text, text
    f = theano.function([x1], [top, T.grad(top, x1)])
    value, grad = f(np.array([-1.5, 0.0, 0.25]))
    assert value == 1.0 and grad.tolist() == [0.0, 0.0, 0.0]  # sinc's derivative is 0 at its top
    value, grad = f(np.array([2.5, 0.5]))
    np.testing.assert_allclose(grad, [0.0, (np.cos(np.pi / 2) / 0.5 - np.sin(np.pi / 2) / (np.pi * 0.25))])


@pytest.mark.parametrize(
    "build, reference",
    [
        (lambda x, nan: T.clip(nan, -2, -1) + x, lambda x: np.clip(np.nan, -2, -1) + x),
        (lambda x, nan: T.clip(nan * x, -2, -1), lambda x: np.clip(np.nan * x, -2, -1)),
        (lambda x, nan: T.maximum(nan, x), lambda x: np.maximum(np.nan, x)),
        (lambda x, nan: T.minimum(x, nan), lambda x: np.minimum(x, np.nan)),
        (lambda x, nan: T.switch(nan < x, x, 2 * x), lambda x: np.where(np.nan < x, x, 2 * x)),
        (lambda x, nan: T.switch(T.neq(nan, 1), x, 2 * x), lambda x: np.where(np.nan != 1, x, 2 * x)),
        (lambda x, nan: T.nnet.relu(nan) + x, lambda x: np.where(np.nan > 0, np.nan, 0) + x),
    ],
)
def test_a_comparison_with_a_nan_constant_is_false_as_in_numpy(build, reference):
    # SymPy raises "Invalid NaN comparison" where IEEE says False (and != says True); the
    # constant nan comes from folding sqrt(-2.5), as constant folding of any op may give one.
    x = T.dvector("x")
    out = build(x, T.sqrt(T.as_tensor_variable(-2.5)))
    f = theano.function([x], [out, T.grad(T.sum(out), x)])
    values = np.array([-1.0, 0.5, 3.0])
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(f(values)[0], reference(values))


@pytest.mark.parametrize(
    "build, reference",
    [
        (lambda x: T.cos(T.arccos(x)), lambda x: np.cos(np.arccos(x))),
        (lambda x: T.sin(T.arcsin(x)), lambda x: np.sin(np.arcsin(x))),
        (lambda x: T.tanh(T.arctanh(x)), lambda x: np.tanh(np.arctanh(x))),
        (lambda x: T.cosh(T.arccosh(x)), lambda x: np.cosh(np.arccosh(x))),
        (lambda x: T.exp(T.log(x)), lambda x: np.exp(np.log(x))),
        (lambda x: T.sqrt(x) ** 2, lambda x: np.sqrt(x) ** 2),
        (lambda x: T.sqrt(x) * T.sqrt(x) + x, lambda x: np.sqrt(x) * np.sqrt(x) + x),
        (lambda x: T.exp(T.log1p(x)), lambda x: np.exp(np.log1p(x))),
    ],
)
def test_an_identity_true_only_on_a_domain_keeps_numpys_nan_outside_it(build, reference):
    # SymPy simplifies cos(acos(x)) to x when the fuser substitutes one into the other; NumPy's
    # arccos(2) is nan, and so must the compiled function's be.
    x = T.dvector("x")
    f = theano.function([x], build(x))
    values = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(f(values), reference(values), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("exponent", [-2.5, -2.0, -3.0, -1.0])
def test_a_clipped_zero_to_a_negative_power_is_inf_as_in_numpy(exponent):
    # SymPy raised each piece of the clip to the power: 0**-2.5 is SymPy's complex infinity zoo,
    # which the printer wrote as nan. NumPy's 0.0**-2.5 is inf, and so is log(0) -inf.
    x = T.dscalar("x0")
    f = theano.function([x], [T.clip(x, -0.5, 0) ** exponent, -1 / T.clip(x, 0, 0.5), T.log(T.clip(x, 0, 1))])
    for value in (0.8217701239287258, -2.0, -0.25):
        with np.errstate(all="ignore"):
            expected = [np.clip(value, -0.5, 0) ** exponent, -1 / np.clip(value, 0, 0.5), np.log(np.clip(value, 0, 1))]
        np.testing.assert_allclose(f(value), expected, rtol=1e-15)


def test_the_gradient_through_an_ifelse_does_not_compute_the_branch_not_taken():
    # The forward pass skipped max(x2) when the condition chose x1, but the gradient with respect
    # to x2 (switch(x2 == max(x2), g, 0)) sat outside any branch and computed the max, which raises
    # for an empty axis. The backward pass of a branch is now gated by the same condition.
    c, x1, x2 = T.dscalar("x0"), T.dmatrix("x1"), T.dtensor3("x2")
    out = ifelse(c < -1, x1, T.max(x2, axis=0))[1:]
    f = theano.function([c, x1, x2], [out, *T.grad(T.sum(out * out), [x1, x2])])
    value, g1, g2 = f(-1.43, np.ones((3, 2)), np.zeros((0, 3, 2)))
    np.testing.assert_array_equal(value, np.ones((2, 2)))
    np.testing.assert_array_equal(g1, [[0, 0], [2, 2], [2, 2]])
    assert g2.shape == (0, 3, 2)
    data = np.arange(12.0).reshape(2, 3, 2)
    value, g1, g2 = f(0.0, np.ones((3, 2)), data)
    np.testing.assert_array_equal(value, data.max(axis=0)[1:])
    np.testing.assert_array_equal(g1, np.zeros((3, 2)))
    np.testing.assert_array_equal(
        g2, np.concatenate([np.zeros((1, 3, 2)), [[[0, 0], [2 * 8, 2 * 9], [2 * 10, 2 * 11]]]])
    )
    with pytest.raises(ValueError, match="axes it reduces are empty"):
        f(0.0, np.ones((3, 2)), np.zeros((0, 3, 2)))


def test_the_gradient_of_an_ifelse_with_one_value_in_both_branches_is_that_value_s():
    # The lazy sweep through an ifelse skipped a branch read twice, and (x0 + ifelse(c, x2, x2))[0]
    # had a zero gradient with respect to x2.
    x0, c, x2 = T.dvector("x0"), T.dscalar("x1"), T.dvector("x2")
    out = (x0 + ifelse(c < -2.5, x2, x2))[0]
    f = theano.function([x0, c, x2], T.grad(out, [x0, x2]))
    for condition in (-3.0, -1.38):
        g0, g2 = f(np.array([0.82]), condition, np.array([-2.75]))
        assert g0 == 1 and g2 == 1


@pytest.mark.parametrize(
    "build, reference",
    [
        (lambda x, inf: T.sin(1 / T.clip(x, 0, 1)), lambda x: np.sin(1 / np.clip(x, 0, 1))),
        (lambda x, inf: T.cos(inf) + x, lambda x: np.cos(np.inf) + x),
        (lambda x, inf: T.arctan2(inf, inf) + x, lambda x: np.arctan2(np.inf, np.inf) + x),
        (lambda x, inf: T.as_tensor_variable(1.0) ** inf + x, lambda x: 1.0**np.inf + x),
        (lambda x, inf: x**inf, lambda x: x**np.inf),
    ],
)
def test_functions_of_an_infinite_constant_take_numpys_value_not_sympys_limit(build, reference):
    # Building sin(1/clip(x, 0, 1)) folded sin(1/0) = sin(oo) into SymPy's AccumBounds(-1, 1),
    # which no printer can print; SymPy's atan2(oo, oo) is 0 and its 1**oo nan, where NumPy's are
    # pi/4 and 1.
    x = T.dvector("x")
    f = theano.function([x], build(x, T.as_tensor_variable(np.inf)))
    values = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(f(values), reference(values), rtol=1e-15)


def test_constant_folding_keeps_a_static_length_of_zero():
    # T.eye(0) folds to a constant: its static length 0 was taken for unknown (`n or 1`) and the
    # folded (0, 0) value broadcast to (1, 1), which raised (found by the "arrays" kind)
    x = T.dmatrix("x")
    assert T.eye(0).type.shape == (0, 0)
    f = theano.function([x], T.dot(x, x.T) + T.eye(0))
    assert f(np.zeros((0, 2))).shape == (0, 0)


def test_gradient_through_a_dimshuffle_that_drops_every_dim_and_adds_new_ones_compiles():
    # The gradient of x1 (length 1, broadcast) summed every dim away, then added new ones: the CPU
    # rule indexed a number (t[0][None]), which Numba refuses (found by the "arrays" kind)
    x0, x1 = T.tensor("float64", (1, 1), name="x0"), T.tensor("float64", (1,), name="x1")
    x3, w = T.tensor("float64", (None, 1, None), name="x3"), T.dtensor3("w")
    out = (x1.dimshuffle("x", 0) + x0 - 2.5).dimshuffle("x", 0, 1) + x3
    cost = T.sum(w * out)
    f = theano.function([x0, x1, x3, w], T.grad(cost, [x0, x1]))
    w_value = np.arange(6.0).reshape(2, 1, 3)
    g0, g1 = f(np.array([[0.5]]), np.array([1.0]), np.zeros((2, 1, 3)), w_value)
    np.testing.assert_allclose(g0, [[15.0]])
    np.testing.assert_allclose(g1, [15.0])
    assert f(np.array([[0.5]]), np.array([1.0]), np.zeros((0, 1, 0)), np.zeros((0, 1, 0)))[1].shape == (1,)


@pytest.mark.long  # 12 s; test_ifelse.py checks both bugs it found on small graphs
def test_second_derivatives_through_an_ifelse_of_a_number_and_a_reshaped_gradient_compile():
    # The Jacobian of the gradient set one value in both branches of an ifelse: a scalar input on
    # one side, a 0-d reshape of a row of the gradient on the other, and Numba could not unify a
    # float64 with a 0-d array; once it compiled, its Rop was 0 (long run, second order, batch
    # seed 1938256553).
    x0, x1, x2, x3, w = T.dtensor4("x0"), T.dscalar("x1"), T.dscalar("x2"), T.dvector("x3"), T.dtensor3("w")
    r = T.reshape(x0, (x0.shape[0], x0.shape[1], x0.shape[2] * x0.shape[3]))
    cost = T.sum(w * T.sum(T.clip(x3, -2, -1)) * T.inc_subtensor(r[::2], ifelse(x1 > 2, x1, x2)) ** -1)
    rng = np.random.default_rng(0)
    values = [rng.uniform(-3, 3, (2, 3, 1, 2)), np.array(-2.0), np.array(0.53), rng.uniform(-3, 3, 4)]
    values.append(rng.uniform(0.5, 1.5, (2, 3, 2)))
    assert check_second_order([x0, x1, x2, x3, w], [x1, x2], cost, values, seed=0) == "second order"


@pytest.mark.long  # 16 s; test_rewrites.py checks the rule on a small graph
def test_second_derivatives_of_a_standard_deviation_over_a_row_of_length_one_compile():
    # Found by the long run (second order, batch seed 1131469379): the rewrites of the Rop of the
    # gradient of sinh(std) over axis 1 of a (1, n) input made sum(zeros_like(r), axis=1) 0-d, and
    # a dimshuffle(0, 'x') of it raised ValueError (test_rewrites.py has the small case).
    x0, w = T.tensor("float64", (1, None), name="x0"), T.dmatrix("w")
    out = T.sinh(T.sqrt(T.mean((x0 - T.mean(x0, axis=1, keepdims=True)) ** 2, axis=1, keepdims=True)))
    values = [np.array([[0.3, -1.2, 2.0]]), np.array([[0.9]])]
    assert check_second_order([x0, w], [x0], T.sum(w * out), values, seed=0) == "second order"
