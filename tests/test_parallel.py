"""Parallel loops: the threshold by estimated work, the thread count, deterministic reductions."""

from __future__ import annotations

import os

import numba
import numpy as np
import pytest

import codegen.function
import symgrad as theano
import symgrad.tensor as T
from symgrad.config import config


@pytest.fixture
def threads():
    yield
    config.num_threads = None


def test_costly_loops_go_parallel_sooner_than_cheap_ones():
    x, y = T.dvectors("x", "y")
    cheap = theano.function([x, y], x + y).source
    costly = theano.function([x, y], T.exp(-(x**2) / 2) * T.sin(3 * x) + T.log1p(y**2) * T.tanh(x * y)).source

    def above(source: str) -> int:
        line = next(line for line in source.splitlines() if "_PARALLEL_ABOVE = " in line)
        return max(1, config.parallel_threshold // int(line.split("//")[1].split(")")[0]))

    assert above(cheap) == config.parallel_threshold
    assert above(costly) < config.parallel_threshold // 20


def test_parallel_reductions_give_the_same_bits_on_any_thread_count(monkeypatch, threads, quiet_machine):
    monkeypatch.setattr(config, "parallel_threshold", 1)
    x, y = T.dvectors("x", "y")
    f = theano.function([x, y], [T.sum(x * y), T.max(x), T.min(y * 2), T.prod(1 + x / 1000), x * y])
    assert "for chunk in prange(chunks):" in f.source
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=100_003), rng.normal(size=100_003)
    results = []
    for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        config.num_threads = n
        assert numba.get_num_threads() == n
        results.append(f(a, b))
    for got in results[1:]:
        for left, right in zip(results[0], got):
            assert np.array_equal(left, right)
    total, largest, smallest, product, elementwise = results[0]
    np.testing.assert_allclose(total, np.sum(a * b), rtol=1e-12)
    assert largest == a.max() and smallest == (2 * b).min()
    np.testing.assert_allclose(product, np.prod(1 + a / 1000), rtol=1e-10)
    np.testing.assert_array_equal(elementwise, a * b)
    # Fewer elements than chunks, none at all, and NaN propagation through the partial results.
    assert f(a[:3], b[:3])[0] == pytest.approx(np.sum(a[:3] * b[:3]))
    assert theano.function([x, y], T.sum(x * y))(np.zeros(0), np.zeros(0)) == 0.0
    with_nan = a.copy()
    with_nan[77_777] = np.nan
    assert np.isnan(f(with_nan, b)[1])


def test_parallel_sums_over_axis_0_give_the_same_bits_on_any_thread_count(monkeypatch, threads, quiet_machine):
    # Each chunk of rows has its own array of partial sums, added in order; with many columns the
    # chunks are fewer, so that the partial sums stay within PARTIALS_LIMIT elements.
    monkeypatch.setattr(config, "parallel_threshold", 1)
    x = T.dmatrix("x")
    f = theano.function([x], [T.sum(x, axis=0), T.max(x * 2, axis=0), T.exp(x)])
    assert "partial0 = np.empty((chunks, n1), dtype=np.float64)" in f.source
    rng = np.random.default_rng(1)
    for shape in [(1000, 13), (3, 5), (70, 40_000)]:
        a = rng.normal(size=shape)
        results = []
        for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            config.num_threads = n
            results.append(f(a))
        for got in results[1:]:
            assert all(np.array_equal(left, right) for left, right in zip(results[0], got))
        total, largest, exponential = results[0]
        np.testing.assert_allclose(total, a.sum(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(exponential, np.exp(a), rtol=1e-15)
        np.testing.assert_array_equal(largest, (2 * a).max(axis=0))
    empty = theano.function([x], T.sum(x, axis=0))(np.zeros((0, 4)))
    np.testing.assert_array_equal(empty, np.zeros(4))


def test_num_threads_is_checked(threads):
    with pytest.raises(ValueError, match="config.num_threads must be None or 1.."):
        config.num_threads = 0
    config.num_threads = 1
    assert config.num_threads == 1 and numba.get_num_threads() == 1


def test_num_threads_holds_in_every_calling_thread(monkeypatch, threads, quiet_machine):
    # numba.set_num_threads acts in the thread that calls it; a parallel kernel called from another
    # thread used every core until the compiled function set the count in the calling thread.
    import threading

    monkeypatch.setattr(config, "parallel_threshold", 1)
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) * 2)
    config.num_threads = 1
    seen = []

    def worker():
        seen.append(f(np.ones(1000))[0])
        seen.append(numba.get_num_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [pytest.approx(2 * np.e, rel=1e-15), 1]


def test_parallel_loops_use_only_the_cores_other_tasks_leave_free(monkeypatch, threads):
    """Threads of a parallel loop wait for each other at its end: with every core busy elsewhere,
    the loop runs on one thread (the same chunks in the same order: the same bits)."""
    monkeypatch.setattr(config, "parallel_threshold", 1)
    x = T.dvector("x")
    f = theano.function([x], [T.sum(T.exp(x) * 2), T.exp(x)])
    data = np.linspace(-1.0, 1.0, 10_001)
    monkeypatch.setattr(codegen.function, "_runnable_tasks", lambda: 1 + (os.cpu_count() or 1))
    assert codegen.function.threads_free(8) == 1
    loaded = f(data)
    assert numba.get_num_threads() == 1  # set for this call, in this thread
    monkeypatch.setattr(codegen.function, "_runnable_tasks", lambda: 1)  # a quiet machine
    allowed = len(os.sched_getaffinity(0))
    assert codegen.function.threads_free(8) == min(8, allowed)
    quiet = f(data)
    assert numba.get_num_threads() == min(allowed, numba.config.NUMBA_NUM_THREADS)
    assert loaded[0] == quiet[0] and np.array_equal(loaded[1], quiet[1])
