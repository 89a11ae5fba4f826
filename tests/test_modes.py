"""Compilation modes (``mode=``, ``theano.config.mode``, ``theano.Mode``) and ``profile=True``."""

import dataclasses
import pickle

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad.mode import BadThunkOutput, DebugMode, InvalidValueError, Mode


def _net():
    """A small cost and its gradient, with an update: what every mode must compute alike."""
    x, w = T.dvector("x"), T.dmatrix("w")
    b = theano.shared(np.array([0.5, -0.25, 1.0]), name="b")
    cost = T.sum(T.tanh(T.dot(w, x) + b) ** 2) + T.sum(x**2)
    gx, gw = T.grad(cost, [x, w])
    return [x, w], [cost, gx, gw], b, [(b, b - 0.1 * T.sum(gw, axis=1))]


ARGS = (np.linspace(-1, 1, 4), np.arange(12.0).reshape(3, 4) / 10)


def _numpy_net(x, w, b):
    """The same numbers by NumPy."""
    t = np.tanh(w @ x + b)
    d = 2 * t * (1 - t**2)
    return np.sum(t**2) + np.sum(x**2), w.T @ d + 2 * x, np.outer(d, x)


@pytest.mark.parametrize(
    "mode", ["FAST_RUN", "FAST_COMPILE", "DebugMode", Mode(optimizer=None), Mode("py", "fast_run")], ids=str
)
def test_each_mode_gives_the_numbers_and_updates_of_fast_run(mode):
    inputs, outputs, b, updates = _net()
    f = theano.function(inputs, outputs, updates=updates, mode=mode)
    for _ in range(2):  # the update is applied: the second call sees the new b
        b_before = b.get_value()
        expected = _numpy_net(*ARGS, b_before)
        got = f(*ARGS)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(b.get_value(), b_before - 0.1 * expected[2].sum(axis=1), rtol=1e-12)


def test_config_mode_is_the_default_and_is_checked(monkeypatch):
    x = T.dvector("x")
    monkeypatch.setattr(theano.config, "mode", "FAST_COMPILE")
    f = theano.function([x], T.exp(x) * 2)
    assert "'py' linker" in f.source  # no Numba program was built
    np.testing.assert_allclose(f([0.0, 1.0]), [2.0, 2 * np.e])
    with pytest.raises(ValueError, match="unknown mode 'FAST'; the known modes are 'FAST_RUN', 'FAST_COMPILE'"):
        theano.config.mode = "FAST"


def test_an_unknown_mode_names_the_known_ones():
    x = T.dvector("x")
    with pytest.raises(ValueError) as error:
        theano.function([x], x + 1, mode="FAST_RUNN")
    assert "unknown mode 'FAST_RUNN'" in str(error.value)
    assert all(name in str(error.value) for name in ("'FAST_RUN'", "'FAST_COMPILE'", "'DebugMode'", "theano.Mode"))
    with pytest.raises(ValueError, match="unknown linker 'cc'; the linkers are 'numba', 'cvm'"):
        Mode(linker="cc")
    with pytest.raises(ValueError, match="unknown optimizer 'fastest'; the optimizers are 'fast_run'"):
        Mode(optimizer="fastest")
    with pytest.raises(ValueError, match="unknown rewrite 'log2p' to include; the phases are canonicalize"):
        Mode().including("log2p")


def test_including_and_excluding_choose_the_rewrites():
    x = T.dvector("x")
    y = T.log(1 + T.exp(x)) + T.log(1 + x)
    assert {"softplus", "log1p"} <= set(theano.function([x], y, mode=Mode("py")).rewrites)
    without = theano.function([x], y, mode=Mode("FAST_RUN").excluding("log1p"))
    assert "log1p" not in without.rewrites and "softplus" in without.rewrites
    assert "Mode(linker='numba', optimizer='fast_run').excluding('log1p')" == repr(Mode("FAST_RUN").excluding("log1p"))
    # fast_compile canonicalizes only; including adds a phase or a rule back
    assert "softplus" not in theano.function([x], y, mode="FAST_COMPILE").rewrites
    back = theano.function([x], y, mode=Mode("FAST_COMPILE").including("stabilize").excluding("softplus"))
    assert "log1p" in back.rewrites and "softplus" not in back.rewrites
    v = np.array([-0.5, 0.5, 3.0])
    for f in (without, back):
        np.testing.assert_allclose(f(v), np.log1p(np.exp(v)) + np.log1p(v), rtol=1e-12)


def test_debug_mode_names_the_node_that_made_a_nan():
    x = T.dvector("x")
    y = T.exp(x)
    z = T.log(x)  # this line built the node DebugMode must name
    f = theano.function([x], T.sum(y * z), mode="DebugMode")
    assert np.isclose(f([1.0, 2.0]), np.exp(2) * np.log(2))
    with pytest.raises(InvalidValueError) as error:
        f([1.0, -1.0])
    message = str(error.value)
    assert "the log node computing log(x)" in message and "nan" in message and "index (1,)" in message
    assert f"test_modes.py:{test_debug_mode_names_the_node_that_made_a_nan.__code__.co_firstlineno + 3}" in message
    assert error.value.node.op.name == "log"
    # without the check, the nan just flows out
    g = theano.function([x], T.sum(y * z), mode=DebugMode(check_isfinite=False))
    assert np.isnan(g([1.0, -1.0]))


def test_debug_mode_catches_a_wrong_kernel(monkeypatch):
    from codegen.cpu_rules import CPU_RULES
    from symgrad.ops.blas import Dot

    right = CPU_RULES.rules[Dot]

    def wrong(p, node, out):  # a matrix product off by one
        return [*right.emit(p, node, out), f"{out} = {out} + 1.0"]

    monkeypatch.setitem(CPU_RULES.rules, Dot, dataclasses.replace(right, emit=wrong))
    a, b = T.dmatrix("a"), T.dvector("b")
    y = T.tanh(T.dot(a, b) * 0.8125)  # (a graph no other test compiles, so the module is built now)
    av, bv = np.eye(2), np.array([0.5, 0.25])
    assert not np.allclose(theano.function([a, b], y)(av, bv), np.tanh(0.8125 * bv))  # the wrong kernel
    f = theano.function([a, b], y, mode="DebugMode")
    with pytest.raises(BadThunkOutput, match=r"the Dot node computing Dot\(a, b\) .*is wrong: .* by up to 1 "):
        f(av, bv)


def test_debug_mode_writes_updates_only_after_the_checks():
    x = T.dscalar("x")
    s = theano.shared(np.array(2.0), name="s")
    f = theano.function([x], T.log(x) + s, updates=[(s, s + 1)], mode="DebugMode")
    assert np.isclose(f(1.0), 2.0) and s.get_value() == 3.0
    with pytest.raises(InvalidValueError):
        f(-1.0)
    assert s.get_value() == 3.0


def test_python_linker_checks_arguments_as_the_compiled_entry():
    x, y = T.dvector("x"), T.dscalar("y")
    f = theano.function([x, theano.In(y, value=2.0)], x * y, mode="FAST_COMPILE")
    np.testing.assert_allclose(f([1.0, 2.0]), [2.0, 4.0])
    np.testing.assert_allclose(f(y=3.0, x=[1, 2]), [3.0, 6.0])
    with pytest.raises(TypeError, match="input 'x' expects a 1-d float64"):
        f(np.ones((2, 2)))
    with pytest.raises(TypeError, match="unknown keyword argument 'z'"):
        f([1.0], z=1)
    with pytest.raises(TypeError, match="got no value for input 'x'"):
        f()


def test_mode_survives_pickle_and_copy():
    inputs, outputs, b, updates = _net()
    f = theano.function(inputs, outputs[0], updates=updates, mode=Mode("FAST_COMPILE"))
    expected = _numpy_net(*ARGS, b.get_value())[0]
    for g in (pickle.loads(pickle.dumps(f)), f.copy()):  # each with a copy of b, as it is now
        assert "'py' linker" in g.source and g.call.options["mode"] == Mode("FAST_COMPILE")
        assert np.isclose(g(*ARGS), expected)
    debug = theano.function(inputs, outputs[0], mode="DebugMode")
    assert pickle.loads(pickle.dumps(debug)).call.options["mode"] == "DebugMode"


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_profile_times_each_step(mode, capsys):
    inputs, outputs, _, _ = _net()
    f = theano.function(inputs, outputs, mode=mode, profile=True)
    f(*ARGS)
    f.profile.reset()  # leave out the first call (Numba compiles each step's program then)
    for _ in range(3):
        f(*ARGS)
    assert len(f.profile.steps) >= 5
    assert all(calls == 3 for calls in f.profile.calls) and all(s > 0 for s in f.profile.seconds)
    table = f.profile.summary()
    assert table == capsys.readouterr().out.rstrip("\n")
    rows = table.splitlines()
    assert rows[0] == "| step | calls | total s | per call us | % |" and len(rows) == len(f.profile.steps) + 3
    assert all(step in table for step in f.profile.steps)
    assert any("Dot" in step for step in f.profile.steps)
    shares = [float(row.rsplit("|", 2)[1]) for row in rows[2:-1]]
    assert shares == sorted(shares, reverse=True) and abs(sum(shares) - 100) < 0.5
    assert theano.function(inputs, outputs, mode=mode).profile is None


def test_config_profile(monkeypatch):
    x = T.dvector("x")
    monkeypatch.setattr(theano.config, "profile", True)
    f = theano.function([x], T.sum(T.exp(x)))
    assert np.isclose(f([0.0, 1.0]), 1 + np.e) and f.profile.calls == [1] * len(f.profile.steps)


def test_debug_mode_leaves_the_branch_not_taken_alone():
    from symgrad.ifelse import ifelse

    x = T.dscalar("x")
    f = theano.function([x], ifelse(x > 0, T.log(x) * 3, x * 2), mode="DebugMode")
    assert f(-1.0) == -2.0 and np.isclose(f(np.e), 3.0)


def test_debug_mode_checks_the_fused_program_against_the_nodes():
    from symgrad.mode import debug_runner, watched_nodes

    x = T.dvector("x")
    y = T.exp(x) * 2
    nodes = watched_nodes([y])
    xv = np.array([0.0, 1.0])

    def debug_build(v):  # right, node by node
        values = [np.exp(v), 2 * np.exp(v)]
        return [values[-1], *values[: len(nodes)]]

    right = debug_runner(DebugMode(), [x], 1, [y], nodes, debug_build, lambda v: [2 * np.exp(v)])
    np.testing.assert_allclose(right([xv])[0], 2 * np.exp(xv))
    wrong = debug_runner(DebugMode(), [x], 1, [y], nodes, debug_build, lambda v: [2 * np.exp(v) + [0, 1e-3]])
    with pytest.raises(BadThunkOutput, match=r"result 0 \(the .* node computing 2\*exp\(x\).*\) of the fused program"):
        wrong([xv])


def test_a_pickled_function_keeps_the_mode_it_was_compiled_in(monkeypatch):
    x = T.dvector("x")
    monkeypatch.setattr(theano.config, "mode", "FAST_COMPILE")
    data = pickle.dumps(theano.function([x], T.exp(x)))
    monkeypatch.setattr(theano.config, "mode", "FAST_RUN")
    assert "'py' linker" in pickle.loads(data).source
