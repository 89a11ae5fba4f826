"""Threads: one compiled function called from eight threads at once gives each its own correct
results (parallel kernels included, even on Numba's workqueue threading layer, which aborts the
process on concurrent use); calls that update shared variables run one at a time, so no update
is lost, and functions updating the same variables in different orders do not deadlock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np

import symgrad as theano
import symgrad.tensor as T

ROOT = Path(__file__).resolve().parent.parent
THREADS = 8


def run_in_threads(work, n: int = THREADS) -> list:
    """``work(i)`` in ``n`` threads started together; their results, re-raising the first error."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as err:  # handed to the main thread, which raises it
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread is stuck (deadlock?)"
    if errors:
        raise errors[0]
    return results


def test_one_function_called_from_eight_threads_at_once():
    x, m = T.dvector("x"), T.dmatrix("m")
    outputs = [T.sum(T.exp(-x) * x), T.sin(x) * 2 + 1, T.max(m, axis=1), T.dot(m, x[:3]), T.nnet.softmax(m)]
    f = theano.function([x, m], outputs)
    # Large inputs run the multi-threaded kernels, small ones the serial ones; every thread has
    # its own data, so results crossing between threads would show.
    data = [
        (np.linspace(0.0, 1.0 + i, 200_000 if i % 2 else 50), np.random.default_rng(i).normal(size=(300 * (i + 1), 3)))
        for i in range(THREADS)
    ]
    expected = [f(*args) for args in data]  # one thread; reductions give the same bits on any thread count

    def work(i: int) -> bool:
        for _ in range(10):
            for got, want in zip(f(*data[i]), expected[i]):
                np.testing.assert_array_equal(got, want)
        return True

    assert all(run_in_threads(work))


def test_first_calls_from_eight_threads_compile_once_and_agree():
    x = T.dvector("x")
    f = theano.function([x], T.tanh(x) * 3.25 - x)
    value = np.linspace(-2.0, 2.0, 101)
    results = run_in_threads(lambda i: f(value))
    for got in results:
        np.testing.assert_allclose(got, np.tanh(value) * 3.25 - value, rtol=1e-14)
    hits, misses = f.kernel_cache_stats()
    assert hits + misses == 1  # compiled (or loaded) once, under Numba's lock


def test_updates_from_eight_threads_are_never_lost():
    counter = theano.shared(0.0, name="counter")
    total = theano.shared(np.zeros(1000), name="total")
    x = T.dvector("x")
    count = theano.function([], [], updates=[(counter, counter + 1)])
    add = theano.function([x], T.sum(total), updates=[(total, total + x)])  # written in place
    assert "(in place)" in add.source
    step = np.arange(1000.0)

    def work(i: int) -> None:
        for _ in range(300):
            count()
            add(step)

    run_in_threads(work)
    assert counter.get_value() == THREADS * 300
    np.testing.assert_array_equal(total.get_value(), step * THREADS * 300)


def test_functions_updating_the_same_variables_in_opposite_orders_do_not_deadlock():
    a, b = theano.shared(0.0, name="a"), theano.shared(0.0, name="b")
    forward = theano.function([], [], updates=[(a, a + 1), (b, b + a)])
    backward = theano.function([], [], updates=[(b, b - 1), (a, a + 2)])

    def work(i: int) -> None:
        for _ in range(200):
            (forward if i % 2 else backward)()

    run_in_threads(work)
    assert a.get_value() == THREADS // 2 * 200 * 3  # each pair of calls adds 1 + 2


def test_workqueue_threading_layer_does_not_abort_under_threads(tmp_path):
    # Numba's workqueue layer (used where neither TBB nor OpenMP is installed) aborts the process
    # when two threads run parallel kernels at once; symgrad makes them take turns there.
    script = textwrap.dedent(
        """
        import threading
        import numba
        import numpy as np
        import symgrad as theano
        import symgrad.tensor as T

        x = T.dvector("x")
        f = theano.function([x], [T.sum(T.exp(-x) * x), T.sin(x) * 2])
        v = np.linspace(0.0, 1.0, 10**6)
        expected = f(v)
        assert numba.threading_layer() == "workqueue"
        bad = []

        def work():
            for _ in range(20):
                total, y = f(v)
                bad.extend([1] if total != expected[0] or not np.array_equal(y, expected[1]) else [])

        threads = [threading.Thread(target=work) for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print("mismatches", len(bad))
        """
    )
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT), NUMBA_THREADING_LAYER="workqueue")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "mismatches 0"
