"""theano.scan and its family: values against NumPy loops, gradients (backpropagation through
time) against central differences, the Theano tutorial's loops, and the errors users meet.

Each test compiles as few functions as it can (a value and its gradients in one): compiling a
program with a loop costs about a second.
"""

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from tests.helpers import numeric_grad, rand


def assert_gradients(f, values, wrt, rtol=1e-6, atol=1e-8):
    """``f(*values)`` returns ``[cost, d cost / d values[k] for k in wrt]``: each gradient against
    central differences of the cost."""
    results = f(*values)
    for k, symbolic in zip(wrt, results[1:]):
        expected = numeric_grad(lambda *v: f(*v)[0], values, k)
        np.testing.assert_allclose(symbolic, expected, rtol=rtol, atol=atol, err_msg=f"gradient {k}")


def test_the_tutorials_loops():
    # "Loops" in the Theano tutorial, as written there: A**k, a polynomial, a counter, reductions.
    k, A = T.iscalar("k"), T.vector("A")
    result, updates = theano.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A), non_sequences=A, n_steps=k)
    power = theano.function([A, k], result[-1], updates=updates)
    np.testing.assert_allclose(power(np.arange(10, dtype="float32"), 3), np.arange(10.0) ** 3)

    coefficients, x = T.vector("coefficients"), T.scalar("x")
    components, _ = theano.scan(lambda c, p, x: c * x**p, sequences=[coefficients, T.arange(1000)], non_sequences=x)
    polynomial = theano.function([coefficients, x], components.sum())
    assert polynomial(np.asarray([1, 0, 2], dtype="float32"), 3) == pytest.approx(19.0)

    counter, n = theano.shared(0), T.iscalar("n")
    _, updates = theano.scan(lambda: {counter: counter + 1}, n_steps=n)
    accumulate = theano.function([n], [], updates=updates)
    accumulate(5)
    accumulate(2)
    assert counter.get_value() == 7

    v = T.dvector("v")
    zero = T.constant(0.0, dtype="float64")
    total, _ = theano.reduce(lambda a, acc: acc + a, v, zero)
    doubled, _ = theano.map(lambda a: 2 * a, v)
    right, _ = theano.foldr(lambda a, acc: 10 * acc + a, v, zero)
    left, _ = theano.foldl(lambda a, acc: 10 * acc + a, v, zero)
    values = theano.function([v], [total, doubled, right, left])([1.0, 2.0, 3.0])
    np.testing.assert_allclose(values[0], 6.0)
    np.testing.assert_allclose(values[1], [2.0, 4.0, 6.0])
    assert values[2] == 321.0 and values[3] == 123.0


def _rnn(dtype):
    W, U = T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype)
    b, h0, X = T.vector("b", dtype=dtype), T.vector("h0", dtype=dtype), T.matrix("X", dtype=dtype)
    hs, updates = theano.scan(lambda x, h, W, U, b: T.tanh(T.dot(W, h) + T.dot(U, x) + b),
                              sequences=X, outputs_info=h0, non_sequences=[W, U, b], name="rnn")  # fmt: skip
    assert not updates
    cost = (hs**2).sum() + hs[-1].sum()
    return [W, U, b, X, h0], hs, cost


def _rnn_values():
    return [
        rand((3, 3), low=-0.6, high=0.6),
        rand((3, 2), seed=1),
        rand(3, seed=2),
        rand((5, 2), seed=3),
        rand(3, seed=4),
    ]


def _rnn_reference(W, U, b, X, h0):
    h, rows = h0, []
    for x in X:
        h = np.tanh(W @ h + U @ x + b)
        rows.append(h)
    return np.array(rows)


def test_rnn_values_and_gradients_through_time():
    inputs, hs, cost = _rnn("float64")
    f = theano.function(inputs, [cost, *T.grad(cost, inputs)])
    values = _rnn_values()
    expected = _rnn_reference(*values)
    assert f(*values)[0] == pytest.approx((expected**2).sum() + expected[-1].sum(), rel=1e-12)
    assert_gradients(f, values, range(5))
    # Compile time: the steps' kernels have no twin on threads, and the first adjoints are np.zeros.
    assert "_parallel(" not in "\n".join(_scan_loop_lines(f.source))
    assert "= np.zeros((" in f.source


def _scan_loop_lines(source: str) -> list[str]:
    """The lines inside the generated module's scan loops (``for t... in range(...)``)."""
    lines, inside = source.splitlines(), []
    for k, line in enumerate(lines):
        if line.lstrip().startswith("for t"):
            indent = len(line) - len(line.lstrip())
            for body in lines[k + 1 :]:
                if len(body) - len(body.lstrip()) <= indent:
                    break
                inside.append(body)
    return inside


@pytest.mark.long  # two more RNN gradients to compile: ~5 s on 2 free cores
def test_float32_rnn_computes_in_float32():
    inputs, hs, cost = _rnn("float32")
    f = theano.function(inputs, [hs, T.grad(cost, inputs[0])])
    values = [rand(s, "float32", -0.5, 0.5, seed=k) for k, s in enumerate([(4, 4), (4, 3), 4, (6, 3), 4])]
    states, gW = f(*values)
    assert states.dtype == np.float32 and gW.dtype == np.float32
    np.testing.assert_allclose(states, _rnn_reference(*[v.astype("float64") for v in values]), rtol=1e-5, atol=1e-6)
    f64_inputs, _, f64_cost = _rnn("float64")
    g64 = theano.function(f64_inputs, T.grad(f64_cost, f64_inputs[0]))(*[v.astype("float64") for v in values])
    np.testing.assert_allclose(gW, g64, rtol=1e-4, atol=1e-5)


def test_taps_several_outputs_and_their_gradients():
    # A state read 1 and 3 steps back, a sequence read one row before and after, and an output
    # that is not fed back; every result enters the cost.
    x, s0, a = T.dvector("x"), T.dvector("s0"), T.dscalar("a")

    def step(x_prev, x_next, s3, s1, a):
        s = a * s1 - 0.5 * T.sin(s3) + x_prev * x_next
        return s, s * s1

    (s, y), updates = theano.scan(step, sequences=dict(input=x, taps=[-1, 1]),
                                  outputs_info=[dict(initial=s0, taps=[-3, -1]), None], non_sequences=a)  # fmt: skip
    cost = (s * T.arange(1, s.shape[0] + 1)).sum() + y.sum()
    inputs = [x, s0, a]
    f = theano.function(inputs, [cost, *T.grad(cost, inputs), s, y])
    values = [rand(7, seed=5), rand(4, seed=6), np.float64(0.7)]
    xv, s0v, av = values
    buffer, rows = list(s0v[:3]), []
    for t in range(5):
        buffer.append(av * buffer[-1] - 0.5 * np.sin(buffer[-3]) + xv[t] * xv[t + 2])
        rows.append(buffer[-1] * buffer[-2])
    result = f(*values)
    np.testing.assert_allclose(result[4], buffer[3:])
    np.testing.assert_allclose(result[5], rows)
    assert_gradients(lambda *v: f(*v)[:4], values, range(3))


def _truncated_gradients(xv, s0v, av, k):
    """``sum(s)``, ``s_t = a s_{t-1} + sin(s_{t-2}) x_t``, and its gradients wrt ``x``, ``s0`` and
    ``a`` with Theano's ``truncate_gradient=k``, by a NumPy loop: back from the last step through
    the last ``k`` steps only. The rows of ``x`` before them get no gradient, and each initial row
    only what those steps read of it."""
    rows, n = list(s0v), len(xv)
    for t in range(n):
        rows.append(av * rows[-1] + np.sin(rows[-2]) * xv[t])
    owed, gx, ga = np.zeros(n + 2), np.zeros(n), 0.0
    owed[2:] = 1.0  # d sum(s) / d s_t, before what the later steps send back
    for t in range(n - 1, max(n - k, 0) - 1, -1):  # step t reads rows t + 1 and t, writes row t + 2
        d = owed[t + 2]
        gx[t], ga = d * np.sin(rows[t]), ga + d * rows[t + 1]
        owed[t + 1] += d * av
        owed[t] += d * np.cos(rows[t]) * xv[t]
    return [sum(rows[2:]), gx, owed[:2], ga]


def _until_loop():
    """A loop that stops on a condition (its sequence bounds it too), with an output not fed back
    and a counter the step updates (a state kept as its last value only), and a cost of both
    outputs."""
    x, a, h0 = T.dvector("x"), T.dscalar("a"), T.dscalar("h0")
    counter = theano.shared(0, name="counter")

    def step(x, h, a):
        new = a * h + T.sin(x)
        return [new, x * h], {counter: counter + 1}, theano.scan_module.until(new > 2)

    (hs, ys), updates = theano.scan(step, sequences=x, outputs_info=[h0, None], non_sequences=a)
    return [x, a, h0], [(hs**2).sum() + ys.sum() + hs[-1], hs, ys], updates, counter


def _until_reference(x, a, h0):
    """``_until_loop``'s cost, outputs and number of steps, by a NumPy loop."""
    hs, ys, h = [], [], h0
    for v in x:
        ys.append(v * h)
        h = a * h + np.sin(v)
        hs.append(h)
        if h > 2:
            break
    hs = np.array(hs)
    return [(hs**2).sum() + sum(ys) + hs[-1], hs, ys], len(hs)


@pytest.fixture(scope="module")
def truncated_and_stopped():
    """The loops of the truncate_gradient and until tests, compiled as one function (compiling
    costs more than both tests' checks), and each test's function of its own inputs: the cost and
    gradients of ``s_t = a s_{t-1} + sin(s_{t-2}) x_t`` over ``x`` backwards, with
    ``truncate_gradient=4``; the results
    and gradients of ``_until_loop``, and its counter."""
    x, s0, a = T.dvector("x"), T.dvector("s0"), T.dscalar("a")
    s, _ = theano.scan(lambda x, s2, s1, a: a * s1 + T.sin(s2) * x, sequences=x,
                       outputs_info=dict(initial=s0, taps=[-2, -1]), non_sequences=a, truncate_gradient=4,
                       go_backwards=True)  # fmt: skip
    truncated = [s.sum(), *T.grad(s.sum(), [x, s0, a])]
    inputs, outputs, updates, counter = _until_loop()
    f = theano.function([x, s0, a, *inputs], truncated + outputs + T.grad(outputs[0], inputs), updates=updates)
    return (lambda *v: f(*v, np.zeros(1), 0.0, 0.0)[:4], lambda *v: f(np.zeros(1), np.zeros(2), 0.0, *v)[4:], counter)


def test_truncated_gradients_go_back_the_last_k_steps_only(truncated_and_stopped):
    # truncate_gradient=4 on a state read 1 and 2 steps back: over 6 steps the initial rows get
    # nothing, over 5 the second one gets what step 1 read of it, over 4 or fewer the gradient is
    # the full one (against central differences too). The loop goes backwards: the last steps
    # read the first rows of x.
    f, _, _ = truncated_and_stopped
    for n in (6, 5, 3):
        values = [rand(n, seed=n), rand(2, seed=12), np.float64(0.8)]
        results = f(*values)
        cost, gx, *expected = _truncated_gradients(values[0][::-1], *values[1:], k=4)
        for got, want in zip(results, [cost, gx[::-1], *expected]):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        if n > 4:  # truncated: none of the last 4 steps reads the first initial row
            assert results[2][0] == 0 and (results[2][1] != 0) == (n == 5)
    assert_gradients(f, values, range(3))


def test_until_stops_the_loop_after_the_first_step_whose_condition_holds(truncated_and_stopped):
    _, f, counter = truncated_and_stopped
    # Stopped by the condition after 4 of 8 steps; then never stopped (all 8 steps).
    for values, steps in (([np.linspace(0.2, 1.5, 8), 1.1, 0.3], 4), ([np.full(8, 0.1), 0.5, 0.1], 8)):
        values = [np.asarray(v, dtype="float64") for v in values]
        before = counter.get_value()
        results = f(*values)
        expected, taken = _until_reference(*values)
        assert taken == steps and len(results[1]) == steps and counter.get_value() == before + steps
        for got, want in zip(results, expected):
            np.testing.assert_allclose(got, want, rtol=1e-12)
        # The gradient goes back through the steps run; the sequence's later rows get none.
        for k, symbolic in enumerate(results[len(expected) :]):
            np.testing.assert_allclose(symbolic, numeric_grad(lambda *v: f(*v)[0], values, k), rtol=1e-6, atol=1e-8)
        assert not results[len(expected)][steps:].any()


def test_jacobian_and_hessian_written_with_scan_equal_the_builtins():
    x = T.dvector("x")
    y = T.exp(x) * T.sin(x[::-1])
    J, _ = theano.scan(lambda i, y, x: T.grad(y[i], x), sequences=T.arange(y.shape[0]), non_sequences=[y, x])
    cost = T.sum(x**3 * T.cos(x))
    gy = T.grad(cost, x)
    H, _ = theano.scan(lambda i, gy, x: T.grad(gy[i], x), sequences=T.arange(gy.shape[0]), non_sequences=[gy, x])
    f = theano.function([x], [J, T.jacobian(y, x), H, T.hessian(cost, x)])
    J_scan, J_builtin, H_scan, H_builtin = f(rand(4, seed=8))
    np.testing.assert_allclose(J_scan, J_builtin, rtol=1e-14)
    np.testing.assert_allclose(H_scan, H_builtin, rtol=1e-14)


@pytest.mark.long  # a Hessian through nested loops: ~15 s of compiling
def test_scan_inside_scan_and_second_order():
    # The inner loop computes x_t ** k by repeated products; the outer one sums over t.
    x, k = T.dvector("x"), T.iscalar("k")

    def power(x_t, k):
        powers, _ = theano.scan(lambda p, x_t: p * x_t, outputs_info=T.ones_like(x_t), non_sequences=x_t, n_steps=k)
        return powers[-1]

    rows, _ = theano.scan(power, sequences=x, non_sequences=k)
    total, _ = theano.reduce(lambda r, acc: acc + T.sin(r), rows, T.constant(0.0, dtype="float64"))
    f = theano.function([x, k], [total, T.grad(total, x), T.hessian(total, x)])
    xv = rand(3, seed=9)
    value, gradient, hessian = f(xv, 3)
    assert value == pytest.approx(np.sin(xv**3).sum(), rel=1e-12)
    np.testing.assert_allclose(gradient, np.cos(xv**3) * 3 * xv**2, rtol=1e-10)
    np.testing.assert_allclose(hessian, np.diag(-np.sin(xv**3) * 9 * xv**4 + np.cos(xv**3) * 6 * xv), rtol=1e-9)


@pytest.mark.long  # a backward loop differentiated again: ~8 s of compiling
def test_rop_and_lop_through_scan():
    inputs, hs, _ = _rnn("float64")
    W = inputs[0]
    V, u = T.dmatrix("V"), T.dmatrix("u")
    jv, uj = T.Rop(hs, W, V), T.Lop(hs, W, u)
    f = theano.function([*inputs, V, u], [hs, jv, uj])
    values = _rnn_values()
    Vv, uv = rand((3, 3), seed=10), rand((5, 3), seed=11)
    _, jv_value, uj_value = f(*values, Vv, uv)
    eps = 1e-6
    plus = _rnn_reference(values[0] + eps * Vv, *values[1:])
    minus = _rnn_reference(values[0] - eps * Vv, *values[1:])
    np.testing.assert_allclose(jv_value, (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-8)
    # <u, J v> = <u J, v>: the two products agree.
    assert np.sum(uv * jv_value) == pytest.approx(np.sum(uj_value * Vv), rel=1e-10)


def test_zero_steps_give_empty_results():
    x, h0 = T.dvector("x"), T.dvector("h0")
    (hs, ys), _ = theano.scan(lambda x, h: [h + x, 2 * h], sequences=x, outputs_info=[h0, None])
    last, _ = theano.reduce(lambda x, h: h + x, x, h0)
    cost = hs.sum() + h0.sum()
    f = theano.function([x, h0], [hs, ys, T.grad(cost, h0)])
    hs_value, ys_value, g = f(np.zeros(0), np.array([1.0, 2.0]))
    assert hs_value.shape == (0, 2) and ys_value.shape[0] == 0
    np.testing.assert_allclose(g, [1.0, 1.0])
    with pytest.raises(IndexError, match="out of bounds for dimension 0 of length 0"):
        theano.function([x, h0], last)(np.zeros(0), np.array([1.0, 2.0]))  # the last of no states


def test_errors_name_what_is_wrong():
    x, h0 = T.dvector("x"), T.fvector("h0")
    with pytest.raises(TypeError, match=r"step returns float64 for a state whose initial value is float32"):
        theano.scan(lambda x, h: h + x, sequences=x, outputs_info=h0)
    with pytest.raises(ValueError, match="give n_steps, or at least one sequence"):
        theano.scan(lambda h: h, outputs_info=h0)
    W = T.dmatrix("W")
    with pytest.raises(ValueError, match=r"strict=True .* reads W"):
        theano.scan(lambda x: T.dot(W, x), sequences=T.dmatrix("X"), strict=True)
    with pytest.raises(TypeError, match="until: the condition must be a scalar"):
        theano.scan(lambda x: (2 * x, theano.scan_module.until(T.dvector() > 1)), sequences=x)
    with pytest.raises(ValueError, match="truncate_gradient must be -1 .* got -2"):
        theano.scan(lambda x: x, sequences=x, truncate_gradient=-2)
    n = T.iscalar("n")
    ys, _ = theano.scan(lambda x: 2 * x, sequences=x, n_steps=n)
    f = theano.function([x, n], ys)
    np.testing.assert_allclose(f(np.arange(4.0), 2), [0.0, 2.0])
    with pytest.raises(ValueError, match=r"shape mismatch in scan.*n_steps has shape \(6,\)"):
        f(np.arange(4.0), 6)


def test_random_draws_inside_the_step_advance_every_step_and_every_call():
    # The tutorial's binomial noise, drawn inside the loop: a new mask every step and every call,
    # and the gradient sees the very masks the forward pass drew.
    from symgrad.tensor.shared_randomstreams import RandomStreams

    srng = RandomStreams(seed=234)
    x = T.dmatrix("x")
    hs, updates = theano.scan(lambda row, h: h + row * srng.binomial(size=row.shape, n=1, p=0.5, dtype="float64"),
                              sequences=x, outputs_info=T.zeros_like(x[0]))  # fmt: skip
    assert len(updates) == 1  # the stream's state, advanced once per step
    f = theano.function([x], [hs, T.grad(hs.sum(), x)], updates=updates)
    xv = np.ones((5, 40))
    (first, gradient), (second, _) = f(xv), f(xv)
    masks = np.diff(first, axis=0, prepend=0.0)
    assert set(np.unique(masks)) == {0.0, 1.0}
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(first, second)
    np.testing.assert_array_equal(gradient, masks * np.arange(5, 0, -1)[:, None])


@pytest.mark.long  # nested loops and their gradients: ~15 s of compiling
def test_scan_checkpoints_keeps_every_nth_state_and_gives_the_same_gradient():
    W, X, h0 = T.dmatrix("W"), T.dmatrix("X"), T.dvector("h0")

    def step(x, h, W):
        return T.tanh(T.dot(W, h) + x)

    hs, _ = theano.scan(step, sequences=X, outputs_info=h0, non_sequences=W)
    ends, _ = theano.scan_checkpoints(step, sequences=X, outputs_info=h0, non_sequences=W, save_every_N=4)
    wanted = [hs, ends, *T.grad((hs[-1] ** 2).sum(), [W, X]), *T.grad((ends[-1] ** 2).sum(), [W, X])]
    states, kept, *gradients = theano.function([W, X, h0], wanted)(
        0.5 * rand((3, 3), seed=1), rand((12, 3), seed=2), np.zeros(3)
    )
    full, checkpointed = gradients[:2], gradients[2:]
    assert kept.shape == (3, 3)  # 12 steps, one state kept in 4
    np.testing.assert_allclose(kept, states[3::4], rtol=1e-15)
    for a, b in zip(full, checkpointed):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="not a multiple of save_every_N=4"):
        theano.scan_checkpoints(lambda h: 2 * h, outputs_info=h0, n_steps=10, save_every_N=4)
