"""Logistic regression's value and gradient in one pass over chunked data on a Dask cluster:
symgrad (``symgrad.distributed``) against dask-glm-style code, and against symgrad in memory.

Run from the repository root (needs the ``dask`` extra)::

    python benchmarks/bench_dask.py                          # 1e7 x 20 float64 in 16 chunks (1.6 GB)
    python benchmarks/bench_dask.py --rows 2000000           # smaller, for a small machine

The data are generated on the cluster (``dask.array.random``) and persisted in the workers' memory,
so a pass measures the computation, not the generation. Contenders, each timed as the median of
``--repeat`` passes after one warm-up pass, on the same cluster of ``--workers`` local worker
processes (one thread each), with the same weights:

- symgrad: ``objective(cost, w, args=(X, y)).fun(w, X, y)``, the mean logistic loss and its
  gradient from one compiled call per chunk, partial sums combined in a tree;
- dask-glm style: the same loss and gradient as Dask array expressions, as dask-glm writes them
  (``Xbeta = X.dot(beta)``, ``logaddexp``, ``X.T.dot(sigmoid(Xbeta) - y)``), NumPy per chunk,
  computed together by ``dask.compute`` (one pass as well);
- symgrad in memory: the same objective on the NumPy arrays, in this one process (the cost of Dask).

Then the workers' compilations (Numba disk-cache misses, ``symgrad.distributed.loaded_programs``)
counted after the warm-up pass and after the timed passes. The peak memory of a 2 GB fit is
measured by ``examples/dask_logistic_regression.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import dask
import dask.array as da
import numpy as np
from dask.distributed import Client, LocalCluster, wait
from harness import cpu_model, load_average, markdown_table

import symgrad.tensor as T
from symgrad.distributed import loaded_programs
from symgrad.optimize import objective


def symgrad_objective():
    X, y, w = T.dmatrix("X"), T.dvector("y"), T.dvector("w")
    eta = T.dot(X, w)
    return objective(T.mean(T.nnet.softplus(eta) - y * eta) + 1e-4 * T.sum(w**2), w, args=(X, y), name="bench")


def dask_glm_style(beta: np.ndarray, X: da.Array, y: da.Array) -> tuple[float, np.ndarray]:
    """Loss and gradient as dask-glm's logistic family writes them, computed in one pass."""
    n = X.shape[0]
    Xbeta = X.dot(beta)
    loss = (da.logaddexp(0, Xbeta) - y * Xbeta).sum() / n + 1e-4 * beta @ beta
    grad = X.T.dot(1 / (1 + da.exp(-Xbeta)) - y) / n + 2e-4 * beta
    value, gradient = dask.compute(loss, grad)
    return float(value), gradient


def median_seconds(run, repeat: int) -> tuple[float, object]:
    result = run()  # warm-up: compiles, loads the workers' programs
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def compilations(client: Client) -> int:
    return sum(e["misses"] for entries in client.run(loaded_programs).values() for e in entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, memory_limit=0)  # fmt: skip
    client = Client(cluster)
    rows_per_chunk = -(-args.rows // args.chunks)
    rng = da.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features), chunks=(rows_per_chunk, args.features))
    y = (rng.uniform(size=args.rows, chunks=rows_per_chunk) < 1 / (1 + da.exp(-X[:, 0]))).astype(np.float64)
    X, y = client.persist([X, y])
    wait([X, y])
    obj = symgrad_objective()
    w = np.linspace(-0.5, 0.5, args.features)

    chunked, (value, grad) = median_seconds(lambda: obj.fun(w, X, y), args.repeat)
    after_first = compilations(client)
    glm, (glm_value, glm_grad) = median_seconds(lambda: dask_glm_style(w, X, y), args.repeat)
    after_all = compilations(client)
    Xn, yn = client.compute([X, y], sync=True)
    in_memory, (mem_value, mem_grad) = median_seconds(lambda: obj.fun(w, Xn, yn), args.repeat)
    for other_value, other_grad in ((glm_value, glm_grad), (mem_value, mem_grad)):
        assert np.isclose(value, other_value, rtol=1e-12) and np.allclose(grad, other_grad, rtol=1e-10)

    print("# Dask: logistic regression value + gradient, one pass over chunked data\n")
    print(f"machine: {cpu_model()}; {args.workers} local worker processes, 1 thread each; "
          f"data {args.rows} x {args.features} float64 ({X.nbytes / 2**30:.2f} GiB) in {args.chunks} chunks, "
          f"persisted on the workers; median of {args.repeat} passes\n")  # fmt: skip
    rows = [
        ["symgrad over Dask", f"{chunked:.3f}", "1.00×"],
        ["dask-glm style (Dask array expressions, NumPy per chunk)", f"{glm:.3f}", f"{glm / chunked:.2f}× slower"],
        ["symgrad in memory, one process", f"{in_memory:.3f}", f"{chunked / in_memory:.2f}× (Dask's cost)"],
    ]
    print(markdown_table(["contender", "seconds per pass", "vs symgrad over Dask"], rows))
    print(f"\nworker-side compilations: {after_first} in the warm-up pass, "
          f"{after_all - after_first} after it (over {2 * args.repeat + 1} more passes)")  # fmt: skip
    print(f"load average at end: {load_average()}")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
