"""Property-based fuzzing: random well-typed graphs (see ``tests/fuzz.py``) compiled and compared
with their node-by-node NumPy reference, and their gradients with finite differences.

The default run checks 200 graphs, the same ones every time (derandomized), so CI is
reproducible; ``pytest -m long tests/test_fuzz.py -s`` checks 2000 new random ones and prints a
summary. Each bug the fuzzer found is pinned below by a regression test on its graph.
"""

from __future__ import annotations

import collections

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fuzz import check_example, graphs

SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=True)
checked: collections.Counter = collections.Counter()


@settings(max_examples=200, derandomize=True, **SETTINGS)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_random_graphs_match_numpy_and_finite_differences(example, seed):
    checked[check_example(*example, seed=seed)] += 1


@pytest.mark.long
@settings(max_examples=2000, **SETTINGS)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_random_graphs_long_run(example, seed):
    checked[check_example(*example, seed=seed)] += 1


@pytest.fixture(scope="module", autouse=True)
def summary():
    checked.clear()
    yield
    print(f"\nfuzz: {sum(checked.values())} graphs checked: {dict(checked)}")
