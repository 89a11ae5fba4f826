"""Random graphs (``tests/fuzz.py``) compiled for the GPU give the CPU's results, gradients included:
a handful of small graphs and loops by default (the simulator runs every thread as Python), 2000
graphs and 500 loops under ``pytest -m long``. Under the simulator a function outside its domain
(``sqrt`` or ``log`` of a negative, ``arcsin`` of 2) raises Python's "math domain error" where a GPU
gives nan; such graphs are counted apart, not compared."""

from __future__ import annotations

import collections

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import check_on_device, graphs, run_long
from tests.fuzz_scan import scan_graphs

checked: collections.Counter = collections.Counter()


@settings(max_examples=6, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(graphs(max_depth=2), st.integers(0, 2**32 - 1))
def test_random_graphs_on_the_gpu_give_the_cpu_results(example, seed):
    checked[check_on_device("cuda", *example, seed=seed)] += 1


@settings(max_examples=2, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(scan_graphs(), st.integers(0, 2**32 - 1))
def test_random_loops_on_the_gpu_give_the_cpu_results(example, seed):
    checked[check_on_device("cuda", *example, seed=seed)] += 1


@pytest.mark.long
@pytest.mark.parametrize("kind, total", [("cuda", 2000), ("cuda scan", 500)])
def test_long_run_on_the_gpu(kind, total):
    counts, failures = run_long(kind, total)
    print(f"\nfuzz, {kind}: {sum(counts.values())} checked: {dict(counts)}, {len(failures)} failures")
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module", autouse=True)
def summary():
    checked.clear()
    yield
    print(f"\nfuzz on the GPU: {sum(checked.values())} graphs checked: {dict(checked)}")
