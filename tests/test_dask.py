"""Compiled functions and gradients over Dask arrays and a Dask cluster (``symgrad.distributed``).

Chunk-by-chunk results against NumPy references (unequal chunks, so a mean's weights matter), the
errors for graphs that need all rows at once, ``symgrad.optimize`` over chunked data against an
in-memory fit, and a real ``LocalCluster`` of two worker processes: the workers load the programs
from the disk cache (no compilation), and a worker killed in the middle of a fit costs a retry,
not a wrong result. The 2 GB fit is ``examples/dask_logistic_regression.py``, run by the long test.
"""

from __future__ import annotations

import os
import signal

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.optimize
from dask.callbacks import Callback
from dask.distributed import Client, LocalCluster

import symgrad as theano
import symgrad.tensor as T
from symgrad.distributed import ChunkingError, loaded_programs
from symgrad.optimize import objective

from .test_examples import run_example

CHUNKS = (1, 37, 250, 12, 200)  # unequal on purpose: a mean weighted by chunk would be wrong
FIT = dict(method="L-BFGS-B", options=dict(gtol=1e-12, ftol=0.0))


def logistic(name: str = "logistic"):
    """The mean logistic loss with a ridge penalty, as a SciPy objective of ``w`` with data ``X, y``."""
    X, y, w = T.dmatrix("X"), T.dvector("y"), T.dvector("w")
    eta = T.dot(X, w)
    cost = T.mean(T.nnet.softplus(eta) - y * eta) + 0.01 * T.sum(w**2)
    return objective(cost, w, args=(X, y), name=name)


# One objective for the module: its chunk and finish functions are compiled once (chunk layouts
# that split X and y along their rows share them), and the cluster's workers load those.
OBJ = logistic()


def data(rows: int = sum(CHUNKS), features: int = 4, seed: int = 0, scale: float = 1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    y = (rng.random(rows) < 1 / (1 + np.exp(-X @ np.linspace(-scale, scale, features)))).astype(float)
    return X, y


def numpy_logistic(w, X, y):
    """The cost and its gradient, in NumPy."""
    eta = X @ w
    p = 1 / (1 + np.exp(-eta))
    return np.mean(np.logaddexp(0, eta) - y * eta) + 0.01 * w @ w, X.T @ (p - y) / len(y) + 0.02 * w


def test_value_and_gradient_of_a_mean_over_unequal_chunks_match_numpy():
    Xn, yn = data()
    wn = np.array([0.5, -1.0, 0.25, 2.0])
    # y chunked otherwise is aligned to X's chunks; 17 chunks make a tree of two levels (SPLIT_EVERY = 8).
    for x_chunks, y_chunks in ((CHUNKS, CHUNKS), (CHUNKS, 100), (30, 30)):
        Xd, yd = da.from_array(Xn, chunks=(x_chunks, 4)), da.from_array(yn, chunks=y_chunks)
        value, grad = OBJ.fun(wn, Xd, yd)
        want_value, want_grad = numpy_logistic(wn, Xn, yn)
        np.testing.assert_allclose(value, want_value, rtol=1e-13)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-12)


def test_rows_sums_maxima_and_functions_of_sums_over_chunks_are_lazy_and_match_numpy():
    X, w = T.dmatrix("X"), T.dvector("w")
    outputs = [T.nnet.sigmoid(T.dot(X, w)), T.nnet.softmax(X), T.max(X, axis=0), T.dot(X.T, X),
               X.shape[0] * T.mean(X), T.log(T.sum(T.exp(X)))]  # fmt: skip
    f = theano.function([X, w], outputs)
    Xn = data()[0]
    wn = np.array([0.5, -1.0, 0.25, 2.0])
    results = f(da.from_array(Xn, chunks=(CHUNKS, 4)), wn)
    assert all(isinstance(r, da.Array) for r in results)  # lazy
    assert results[0].chunks == (CHUNKS,) and results[1].chunks == (CHUNKS, (4,)) and results[3].shape == (4, 4)
    probability, softmax, maxima, gram, total, logsumexp = dask.compute(*results)
    np.testing.assert_allclose(probability, 1 / (1 + np.exp(-Xn @ wn)), rtol=1e-14)
    e = np.exp(Xn - Xn.max(axis=1, keepdims=True))
    np.testing.assert_allclose(softmax, e / e.sum(axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_array_equal(maxima, Xn.max(axis=0))
    np.testing.assert_allclose(gram, Xn.T @ Xn, rtol=1e-12)
    np.testing.assert_allclose(total, len(Xn) * Xn.mean(), rtol=1e-12)
    np.testing.assert_allclose(logsumexp, np.log(np.exp(Xn).sum()), rtol=1e-13)


def test_graphs_that_need_all_rows_at_once_name_the_input_and_the_axis_to_rechunk():
    X, w = T.dmatrix("X"), T.dvector("w")
    Xn = data()[0]
    Xd = da.from_array(Xn, chunks=(CHUNKS, 4))
    centred = theano.function([X], X - X.mean(axis=0))
    with pytest.raises(ChunkingError, match=r"two passes.*axis 0 of input 'X'.*X\.rechunk\(\{0: -1\}\)"):
        centred(Xd)
    with pytest.raises(ChunkingError, match=r"'X' is chunked along axes \[0, 1\].*X\.rechunk\(\{1: -1\}\)"):
        centred(Xd.rechunk((100, 2)))
    with pytest.raises(ChunkingError, match=r"axis 1 of input 'X'.*X\.rechunk\(\{1: -1\}\)"):
        theano.function([X, w], T.dot(X, w))(Xd.rechunk((sum(CHUNKS), 2)), np.ones(4))
    # One chunk along every axis: any graph, as one task.
    np.testing.assert_allclose(centred(Xd.rechunk(-1)).compute(), Xn - Xn.mean(axis=0), rtol=1e-14)


def test_objective_fits_chunked_data_in_one_pass_per_iteration_as_in_memory():
    # Fits stop where rounding hides the cost's decrease: about sqrt(eps) from the optimum in the
    # weights, relative to their size; a clear signal (scale 3) keeps both fits well inside 1e-8.
    Xn, yn = data(3000, scale=3.0)
    Xd, yd = da.from_array(Xn, chunks=(700, 4)), da.from_array(yn, chunks=700)
    ran = []

    class Count(Callback):
        def _pretask(self, key, dsk, state):
            ran.append(key)

    with Count():
        OBJ.fun(np.full(4, 0.1), Xd, yd)
    # One pass: each chunk went through the compiled chunk function once, for both results.
    stage = {k[0] for k in ran if str(k[0]).startswith("symgrad-logistic_chunk-") and k[1] == "finish"}
    assert sorted(k[1] for k in ran if k[0] in stage and k[1] != "finish") == list(range(5))
    chunked = OBJ.minimize(np.zeros(4), args=(Xd, yd), **FIT)
    # In memory, in NumPy (the compiled in-memory fit is examples/dask_logistic_regression.py's check).
    in_memory = scipy.optimize.minimize(numpy_logistic, np.zeros(4), args=(Xn, yn), jac=True, **FIT)
    assert chunked.success and in_memory.success
    np.testing.assert_allclose(chunked.x, in_memory.x, rtol=1e-8)


@pytest.fixture(scope="module")
def client():
    """A real scheduler and two worker processes over loopback, closed at the end of the module."""
    with dask.config.set({"distributed.comm.timeouts.connect": "30s"}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, timeout=60)  # fmt: skip
        client = Client(cluster, timeout=60)
    yield client
    client.close(timeout=30)
    cluster.close(timeout=30)


def test_a_cluster_computes_the_same_and_its_workers_load_programs_from_the_disk_cache(client):
    Xn, yn = data()
    Xd, yd = client.persist([da.from_array(Xn, chunks=(CHUNKS, 4)), da.from_array(yn, chunks=(CHUNKS,))])
    reports = []
    for wn in (np.zeros(4), np.ones(4)):  # two iterations, on the cluster (the client is active)
        value, grad = OBJ.fun(wn, Xd, yd)
        want_value, want_grad = numpy_logistic(wn, Xn, yn)
        np.testing.assert_allclose(value, want_value, rtol=1e-13)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-12)
        loaded = client.run(loaded_programs)
        reports.append({(worker, e["name"]): e for worker, entries in loaded.items() for e in entries})
    # Each worker loaded each program it ran, once, from the cache this process filled: no compilation
    # (a Numba cache miss), and what it loaded at the first iteration it did not load again.
    first, second = reports
    assert {name for _, name in first} == {"logistic_chunk", "logistic_finish"}
    assert all(e["misses"] == 0 and e["hits"] >= 1 for e in second.values())
    assert all(second[key]["load_seconds"] == entry["load_seconds"] for key, entry in first.items())


@pytest.mark.long
def test_a_worker_killed_in_the_middle_of_a_fit_costs_a_retry_not_a_wrong_result(client):
    obj = logistic("killed")
    Xn, yn = data(20_000)
    Xd, yd = da.from_array(Xn, chunks=(2000, 4)), da.from_array(yn, chunks=2000)
    expected = obj.minimize(np.zeros(4), args=(Xd, yd), **FIT)
    killed = []

    def kill_one_worker(weights):
        if not killed:
            pid = next(iter(client.run(os.getpid).values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    result = obj.minimize(np.zeros(4), args=(Xd, yd), callback=kill_one_worker, **FIT)
    assert killed and result.success
    np.testing.assert_array_equal(result.x, expected.x)  # the same sums, in the same order
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


@pytest.mark.long
def test_two_gigabytes_fit_with_bounded_worker_memory(tmp_path):
    out = run_example("dask_logistic_regression.py", "--memory-limit", "1GiB", cache_dir=tmp_path)
    assert "(1.86 GiB) in 50 chunks" in out, out
    assert "after the first iteration: " in out and "0 compilations since" in out, out
    difference = float(out.rpartition("largest relative difference ")[2])
    assert difference < 1e-8, out
