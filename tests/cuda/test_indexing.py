"""The CPU tests of integer-array indexing (tests/test_indexing.py) run on the GPU, unchanged (the conftest
compiles every function for ``device='cuda'``), plus what only the GPU has: the index status that kernels
set, atomics for repeated indices, the order of repeated writes, and the kernels' source."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

import symgrad as theano
import symgrad.tensor as T
from codegen.scalar_printer import NotSupportedOnDevice
from tests.helpers import rand
from tests.test_indexing import (  # noqa: F401 - pytest collects the imported tests
    test_gather_gradients_against_finite_differences,
    test_gather_matches_numpy,
    test_inc_and_set_subtensor_at_symbolic_bounds_and_their_gradients,
    test_inc_and_set_subtensor_gradients,
    test_inc_and_set_subtensor_match_numpy,
    test_inc_subtensor_errors,
    test_negative_indices_wrap_and_repeated_indices_repeat,
    test_out_of_range_indices_raise_index_errors_naming_the_index,
    test_rosenbrock_hessian_vector_product_against_finite_differences,
    test_scatter_add_gradient_accumulates_repeated_indices_like_np_add_at,
    test_scatter_gradient_dtypes_and_empty_indices,
    test_slice_gradients_against_numpy,
    test_symbolic_scalar_index_and_its_gradient,
)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32"])
def test_repeated_indices_add_up_atomically(dtype):
    x, v = T.tensor(dtype, (None,), name="x"), T.tensor(dtype, (None,), name="v")
    m, i = T.tensor(dtype, (None, None), name="m"), T.lvector("i")
    f = theano.function([x, m, i, v], [T.inc_subtensor(x[i], v), T.inc_subtensor(m[:, i], v), T.inc_subtensor(m[i], 1)])
    xv, mv, vv = rand(4, dtype, seed=1), rand((4, 4), dtype, seed=2), rand(6, dtype, seed=3)
    iv = np.array([1, 1, -1, 3, 1, -4])  # 1 three times; 3 twice (-1); -4 is 0
    expected = [xv.copy(), mv.copy(), mv.copy()]
    np.add.at(expected[0], iv, vv)
    np.add.at(expected[1], (slice(None), iv), vv)
    np.add.at(expected[2], iv, 1)
    for got, want in zip(f(xv, mv, iv, vv), expected):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert "cuda.atomic.add(" in f.source and "np.add.at" not in f.source


def test_set_subtensor_with_repeated_indices_keeps_numpys_last_write():
    m, y, z = T.dmatrix("m"), T.dmatrix("y"), T.dvector("z")
    i, col, row = T.lvector("i"), T.tensor("int64", (None, 1), name="col"), T.tensor("int64", (1, None), name="row")
    outputs = [T.set_subtensor(m[i], y), T.set_subtensor(m[:, i], y.T), T.set_subtensor(m[col, row], z)]
    f = theano.function([m, i, y, col, row, z], outputs)
    mv, yv, zv = rand((6, 6), seed=1), rand((6, 6), seed=2), rand(3, seed=3)
    iv = np.array([2, 0, 2, -1, 0, 2])  # 2 three times, 0 twice: the last write of each wins, as in NumPy
    cv, rv = np.array([[1], [1], [-3]]), np.array([[0, 2, 0]])  # (1, 0) four times, (1, 2) twice, (3, 0) twice
    expected = [mv.copy(), mv.copy(), mv.copy()]
    expected[0][iv] = yv
    expected[1][:, iv] = yv.T
    expected[2][cv, rv] = zv
    for _ in range(2):  # the same every time: no race between the writes
        for got, want in zip(f(mv, iv, yv, cv, rv, zv), expected):
            np.testing.assert_array_equal(got, want)
    assert "winners" in f.source and "cuda.atomic.max(" in f.source


def test_index_errors_are_the_cpus_wherever_the_indices_live():
    p, labels, n, s = T.dmatrix("p"), T.lvector("labels"), T.lscalar("n"), T.lscalar("s")
    pv = np.full((3, 4), 0.25)
    cases = [  # device arrays checked by the kernels, host scalars and constants before the launch
        (
            [p, labels],
            T.grad(T.sum(p[T.arange(p.shape[0]), labels] ** 2), p),
            (pv, cuda.to_device(np.array([0, 4, 1]))),
        ),
        ([p, labels], p[labels], (pv, cuda.to_device(np.array([0, -4])))),
        ([p, n], p[T.arange(n), 0], (pv, 4)),  # an index computed on the device
        ([p, labels, s], p[s, labels], (pv, np.array([1, 2]), 5)),
        ([p], p[[0, -4]], (pv,)),  # a constant against a length known only at call time
    ]
    for inputs, out, args in cases:
        messages = []
        for device in ("cpu", "cuda"):
            values = [a.copy_to_host() if device == "cpu" and hasattr(a, "copy_to_host") else a for a in args]
            with pytest.raises(IndexError, match="is out of bounds for dimension") as error:
                theano.function(inputs, out, device=device)(*values)
            messages.append(str(error.value))
        assert messages[0] == messages[1]


def test_an_index_out_of_bounds_raises_before_a_shared_variable_is_written_in_place(monkeypatch):
    x, labels = T.dmatrix("x"), T.lvector("labels")
    b = theano.shared(np.zeros(3), name="b")
    step = theano.function([x, labels], [], updates=[(b, b + T.sum(x[labels], axis=0))])
    assert "updated in place by a kernel" in step.source
    xv = rand((4, 3), seed=1)
    with pytest.raises(IndexError, match="index 4 in labels"):
        step(xv, cuda.to_device(np.array([0, 4])))
    np.testing.assert_array_equal(b.get_value(), np.zeros(3))
    step(xv, np.array([0, -1, 0]))
    np.testing.assert_allclose(b.get_value(), xv[[0, -1, 0]].sum(axis=0), rtol=1e-12)


def test_checking_device_indices_costs_one_small_copy_per_call(monkeypatch):
    p, labels = T.dmatrix("p"), T.lvector("labels")
    f = theano.function([p, labels], T.grad(T.sum(p[labels] ** 2), p), return_device_arrays=True)
    pv, lv = cuda.to_device(rand((3, 4), seed=1)), cuda.to_device(np.array([2, 0, 2]))
    copies = []
    copy_to_host = type(pv).copy_to_host
    monkeypatch.setattr(type(pv), "copy_to_host", lambda *a, **k: copies.append(a[0].shape) or copy_to_host(*a, **k))
    out = f(pv, lv)
    assert copies == [(2,)]  # the status of the gather's and the scatter's index checks, nothing else
    monkeypatch.undo()
    expected = np.zeros((3, 4))
    np.add.at(expected, [2, 0, 2], 2 * pv.copy_to_host()[[2, 0, 2]])
    np.testing.assert_allclose(out.copy_to_host(), expected, rtol=1e-12)


def test_gathers_and_scatters_are_readable_kernels():
    p, labels = T.dmatrix("p"), T.lvector("labels")
    f = theano.function([p, labels], T.grad(T.sum(p[T.arange(p.shape[0]), labels]), p))
    source = f.source
    assert '"""t4 = p[t3, labels]"""' in source  # each kernel's docstring says what it computes
    assert '"""t6 = zeros like p, with t5 added at p[t3, labels] (repeated indices add up)"""' in source
    assert "cuda.atomic.add(t6, (i0, i1), t5[j0])" in source
    assert "status[1] = 1  # labels: out of bounds" in source


def test_adding_at_index_arrays_needs_a_dtype_with_atomics():
    x, i = T.bvector("x"), T.lvector("i")
    with pytest.raises(
        NotSupportedOnDevice, match=r"cannot add int8 values at integer-array indices .*cuda\.atomic\.add"
    ):
        theano.function([x, i], T.inc_subtensor(x[i], 1))
    f = theano.function([x, i], T.set_subtensor(x[i], 3))  # writing needs no atomics
    np.testing.assert_array_equal(f(np.zeros(3, dtype="int8"), np.array([2, 2])), [0, 0, 3])
