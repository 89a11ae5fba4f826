"""Logistic regression on data that need not fit in memory: symgrad's compiled cost and gradient
over a Dask cluster, fitted by SciPy's L-BFGS-B.

The data are generated chunk by chunk by ``dask.array.random`` (the same values at every pass, in
whichever worker), so no process ever holds them whole: by default 12.5 million rows of 20 float64
features, 2 GB. Each iteration computes the mean loss and its gradient in one pass over the chunks
(one compiled call per chunk, partial sums combined in a tree). The workers' peak memory, sampled
during the fit, is bounded by the chunk size, not by the data.

Then the check: the same code on the first ``--check-rows`` rows, and an in-memory fit of those
rows (NumPy arrays, one process) reach the same weights within 1e-8 relative.

    python examples/dask_logistic_regression.py                      # 2 workers on this machine
    python examples/dask_logistic_regression.py --rows 1000000       # smaller
    python examples/dask_logistic_regression.py --scheduler tcp://scheduler:8786
"""

from __future__ import annotations

import argparse
import threading
import time

import dask.array as da
import numpy as np
from dask.distributed import Client, LocalCluster

import symgrad.tensor as T
from symgrad.distributed import loaded_programs
from symgrad.optimize import objective


def make_data(rows: int, features: int, chunk_rows: int, seed: int = 0) -> tuple[da.Array, da.Array]:
    """Features and 0/1 labels drawn from a logistic model, chunk by chunk."""
    rng = da.random.default_rng(seed)
    X = rng.normal(size=(rows, features), chunks=(chunk_rows, features))
    w_true = np.linspace(-1.0, 1.0, features)
    p = 1.0 / (1.0 + da.exp(-(X @ w_true)))
    y = (rng.uniform(size=rows, chunks=chunk_rows) < p).astype(np.float64)
    return X, y


def model():
    """The mean logistic loss of weights ``w`` on ``X``, ``y``, with a small ridge penalty."""
    X, y, w = T.dmatrix("X"), T.dvector("y"), T.dvector("w")
    eta = T.dot(X, w)
    cost = T.mean(T.nnet.softplus(eta) - y * eta) + 1e-4 * T.sum(w**2)
    return objective(cost, w, args=(X, y), name="logistic")


def worker_memory(client: Client) -> dict[str, int]:
    import psutil  # a dependency of distributed

    return client.run(lambda: psutil.Process().memory_info().rss)


class PeakMemory(threading.Thread):
    """Samples the workers' resident memory every half second; ``peak`` is the largest seen."""

    def __init__(self, client: Client) -> None:
        super().__init__(daemon=True)
        self.client, self.peak, self.stop = client, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                self.peak = max(self.peak, *worker_memory(self.client).values())
            except Exception:  # a worker restarting: sample again next time
                pass


def compilations(client: Client) -> tuple[int, int]:
    """Programs loaded and Numba compilations (disk-cache misses), summed over the workers."""
    reports = [entry for entries in client.run(loaded_programs).values() for entry in entries]
    return len(reports), sum(entry["misses"] for entry in reports)


def fit(obj, X, y, features: int, **options):
    return obj.minimize(np.zeros(features), method="L-BFGS-B", args=(X, y), options=dict(gtol=1e-12, ftol=0.0),
                        **options)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--rows", type=int, default=12_500_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--check-rows", type=int, default=200_000)
    parser.add_argument("--scheduler", help="a running scheduler's address; default: 2 local worker processes")
    parser.add_argument("--memory-limit", default="1GiB", help="per local worker (Dask pauses and restarts above it)")
    args = parser.parse_args()

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, memory_limit=args.memory_limit)  # fmt: skip
        client = Client(cluster)
    obj = model()
    X, y = make_data(args.rows, args.features, args.chunk_rows)
    print(f"data: {args.rows} x {args.features} float64 ({X.nbytes / 2**30:.2f} GiB) in {X.numblocks[0]} chunks "
          f"of {args.chunk_rows} rows ({args.chunk_rows * args.features * 8 / 2**20:.0f} MiB each)")  # fmt: skip

    counts: list[tuple[int, int]] = []
    idle = max(worker_memory(client).values())
    memory = PeakMemory(client)
    memory.start()
    start = time.perf_counter()
    result = fit(obj, X, y, args.features, callback=lambda w: counts.append(compilations(client)))
    seconds = time.perf_counter() - start
    memory.stop.set()
    memory.join()
    print(f"fit: {result.nit} iterations, {result.nfev} passes over the data in {seconds:.1f} s; "
          f"loss {result.fun:.6f}; weights {np.array2string(result.x[:4], precision=4)} ...")  # fmt: skip
    print(f"peak worker memory: {memory.peak / 2**20:.0f} MiB ({idle / 2**20:.0f} MiB before the fit; "
          f"data {X.nbytes / 2**20:.0f} MiB)")  # fmt: skip
    print(f"on the workers after the first iteration: {counts[0][0]} programs loaded, {counts[0][1]} compilations; "
          f"after the last: {counts[-1][0]} loaded, {counts[-1][1] - counts[0][1]} compilations since")  # fmt: skip

    n = min(args.check_rows, args.rows)
    X_part, y_part = X[:n], y[:n]
    chunked = fit(obj, X_part, y_part, args.features)
    in_memory = fit(obj, *client.compute([X_part, y_part], sync=True), args.features)
    difference = np.max(np.abs(chunked.x - in_memory.x)) / np.max(np.abs(in_memory.x))
    print(f"check on the first {n} rows: Dask fit vs in-memory fit, largest relative difference {difference:.1e}")
    client.close()


if __name__ == "__main__":
    main()
