"""Pickling and copying compiled functions and shared variables (Theano's "Loading and Saving").

A compiled function pickles as its graph and options, never machine code: loading it compiles again,
which the disk cache turns into loading the program (shown with a real second process)."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad.graph import graph_inputs, toposort

ROOT = Path(__file__).resolve().parent.parent


def accumulator():
    """Theano's tutorial accumulator: ``state += inc``, returning the old state."""
    state = theano.shared(np.zeros(3), name="state")
    inc = T.dvector("inc")
    return state, theano.function([inc], state * 2, updates=[(state, state + inc)], name="acc")


def test_shared_variable_round_trips_with_its_value_type_and_name():
    w = theano.shared(np.arange(6.0, dtype=np.float32).reshape(2, 3), name="w")
    loaded = pickle.loads(pickle.dumps(w))
    assert loaded.name == "w" and loaded.type == w.type
    np.testing.assert_array_equal(loaded.get_value(), w.get_value())
    loaded.set_value(np.zeros((2, 3), np.float32))  # a variable of its own, with a working lock
    assert w.get_value()[1, 2] == 5.0


def test_function_round_trip_computes_the_same_and_keeps_updates():
    x = T.dmatrix("x")
    y = T.dvector("y")
    f = theano.function([x, theano.In(y, value=np.ones(2))], [T.tanh(x).sum(axis=1) * y, T.grad(T.sum(x**2), x)])
    g = pickle.loads(pickle.dumps(f))
    a = np.random.default_rng(0).normal(size=(2, 4))
    for got, want in zip(g(a), f(a)):
        np.testing.assert_allclose(got, want, rtol=1e-15)
    np.testing.assert_allclose(g(a, np.array([2.0, 3.0]))[0], f(a, np.array([2.0, 3.0]))[0])
    assert g.name == f.name and g.built_at == f.built_at

    state, acc = accumulator()
    acc(np.ones(3))
    loaded_state, loaded_acc = pickle.loads(pickle.dumps([state, acc]))
    np.testing.assert_array_equal(loaded_acc(np.ones(3)), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(loaded_state.get_value(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(state.get_value(), [1.0, 1.0, 1.0])  # the original is untouched


def test_functions_pickled_together_keep_sharing_their_shared_variables():
    state, acc = accumulator()
    peek = theano.function([], state + 0)
    loaded_acc, loaded_peek, loaded_state = pickle.loads(pickle.dumps([acc, peek, state]))
    loaded_acc(np.full(3, 5.0))
    np.testing.assert_array_equal(loaded_peek(), [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(loaded_state.get_value(), [5.0, 5.0, 5.0])


def test_givens_survive_pickling():
    x, z = T.dscalar("x"), T.dscalar("z")
    f = theano.function([x, z], x * 10, givens=[(x, z + 1)], on_unused_input="ignore")
    assert pickle.loads(pickle.dumps(f))(0.0, 2.0) == f(0.0, 2.0) == 30.0


def test_deep_graph_pickles_without_recursion():
    x = T.dscalar("x")
    e = x
    for k in range(3000):
        e = T.sin(e) * 0.5 + e * (1.0 + k * 1e-6)
    # A graph far deeper than the recursion limit, pickled as flat data.
    loaded = pickle.loads(pickle.dumps(e))
    nodes, loaded_nodes = toposort([e]), toposort([loaded])
    assert [n.op for n in loaded_nodes] == [n.op for n in nodes] and len(nodes) > 9000
    (leaf,) = graph_inputs([loaded])
    assert leaf is not x and leaf.name == "x" and leaf.type == x.type
    # Pickled together, the leaf and the graph stay connected.
    loaded_x, loaded = pickle.loads(pickle.dumps([x, e]))
    assert graph_inputs([loaded]) == [loaded_x]


def test_copy_has_shared_variables_of_its_own_unless_asked():
    state, acc = accumulator()
    acc(np.ones(3))
    own = acc.copy()
    own(np.ones(3))
    np.testing.assert_array_equal(state.get_value(), [1.0, 1.0, 1.0])  # the copy updated its own state
    np.testing.assert_array_equal(own(np.zeros(3)), [4.0, 4.0, 4.0])

    same = acc.copy(share_memory=True, name="acc2")
    same(np.ones(3))
    np.testing.assert_array_equal(state.get_value(), [2.0, 2.0, 2.0])
    assert same.name == "acc2"


def test_copy_swaps_shared_variables_and_deletes_updates():
    state, acc = accumulator()
    other = theano.shared(np.full(3, 10.0), name="other")
    swapped = acc.copy(swap={state: other})
    np.testing.assert_array_equal(swapped(np.ones(3)), [20.0, 20.0, 20.0])
    np.testing.assert_array_equal(other.get_value(), [11.0, 11.0, 11.0])
    np.testing.assert_array_equal(state.get_value(), [0.0, 0.0, 0.0])

    frozen = acc.copy(share_memory=True, delete_updates=True)
    frozen(np.ones(3))
    np.testing.assert_array_equal(state.get_value(), [0.0, 0.0, 0.0])


def test_copy_rejects_a_bad_swap():
    state, acc = accumulator()
    with pytest.raises(ValueError, match="not a shared variable this function uses"):
        acc.copy(swap={theano.shared(np.zeros(3)): state})
    with pytest.raises(TypeError, match="not a shared variable of the same type"):
        acc.copy(swap={state: theano.shared(np.zeros((3, 3)))})


LOAD = """
import pickle, sys
import numpy as np
with open(sys.argv[1], "rb") as file:
    f = pickle.load(file)
print(f(np.linspace(-1, 1, 4)).tolist())
print(*f.kernel_cache_stats())
"""


def test_a_pickled_function_loads_in_another_process_from_the_disk_cache(tmp_path):
    """Process A compiles, calls and pickles; process B unpickles and finds the program in the cache."""
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    path = tmp_path / "f.pkl"
    save = (
        "import pickle, sys\nimport symgrad as theano, symgrad.tensor as T\n"
        "x = T.dvector('x')\nf = theano.function([x], T.grad(T.sum(T.exp(x) * x), x))\n"
        "f([0.5])\npickle.dump(f, open(sys.argv[1], 'wb'))\n"
    )
    subprocess.run([sys.executable, "-c", save, str(path)], env=env, check=True, timeout=300)
    done = subprocess.run([sys.executable, "-c", LOAD, str(path)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    values, stats = done.stdout.strip().splitlines()
    v = np.linspace(-1, 1, 4)
    np.testing.assert_allclose(eval(values), np.exp(v) * (v + 1), rtol=1e-14)
    hits, misses = map(int, stats.split())
    assert (hits, misses) == (hits, 0) and hits >= 1


def test_functions_not_made_by_theano_function_say_so():
    state, acc = accumulator()
    acc.call = None
    with pytest.raises(TypeError, match="not made by theano.function"):
        pickle.dumps(acc)
