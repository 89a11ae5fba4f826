"""The CPU tests of ``ifelse`` (tests/test_ifelse.py) run on the GPU, unchanged: the condition is read on
the host and only the taken branch's kernels run."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

import symgrad as theano
import symgrad.tensor as T
from symgrad.ifelse import ifelse
from tests.test_ifelse import (  # noqa: F401 - pytest collects the imported tests
    test_gradient_flows_into_the_branch_taken,
    test_ifelse_errors,
    test_ifelse_picks_a_branch_and_matches_switch,
    test_lists_nesting_and_python_numbers,
    test_only_the_branch_taken_runs,
    test_work_shared_by_both_branches_runs_once_before_the_if,
)


def test_a_condition_computed_on_the_device_is_read_back_and_the_other_branch_never_runs():
    x, idx = T.dvector("x"), T.lvector("idx")
    # The then branch gathers with idx: when it is not taken, its out-of-bounds index raises nothing.
    f = theano.function([x, idx], ifelse(T.sum(x) > 0, T.sum(x[idx]), T.max(x) * 2))
    assert "if rt.to_host(" in f.source  # the condition is one scalar copied back
    bad = cuda.to_device(np.array([0, 7]))
    np.testing.assert_allclose(f(np.array([-1.0, -2.0]), bad), -2.0)
    with pytest.raises(IndexError, match="index 7 in idx is out of bounds"):
        f(np.array([1.0, 2.0]), bad)
    np.testing.assert_allclose(f(np.array([1.0, 2.0]), np.array([1, 1, -2])), 5.0)


def test_branches_of_host_and_device_values():
    a, b = T.dscalars("a", "b")
    x = T.dvector("x")
    f = theano.function([a, b, x], [ifelse(T.lt(a, b), a, T.sum(x)), ifelse(a, b, a)])
    np.testing.assert_allclose(f(1.0, 2.0, np.ones(3)), [1.0, 2.0])
    np.testing.assert_allclose(f(3.0, 2.0, np.ones(3)), [3.0, 2.0])
    np.testing.assert_allclose(f(0.0, 2.0, np.ones(3)), [0.0, 0.0])
