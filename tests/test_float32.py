"""float32 stays float32 inside kernels: numbers are typed, wider leaves are read as float32, and
the math functions used keep their float32 arguments in float32.

Numba types a Python number as a double (an int as int64), so ``x * 0.5`` or ``x + 1`` with a
float32 ``x`` would silently compute in double. The tests compile each elementwise kernel of a
float32 function again, without the disk cache (Numba does not show the code of cached
functions), and check that its LLVM IR has no arithmetic in double precision. Sums and products
of float32 accumulate in float64 by design (more accurate, as fast); that is checked too.
"""

from __future__ import annotations

import re

import numba
import numpy as np
import scipy.special as sc

import symgrad as theano
import symgrad.tensor as T
from codegen.runtime import sigmoid, softplus

from .helpers import double_arithmetic, kernels, llvm_of


def test_elementwise_kernels_of_float32_graphs_compute_in_float32_only():
    x, y = T.fvectors("x", "y")
    n = T.lscalar("n")  # an int64 scalar in float32 arithmetic, as the length a mean divides by
    d = T.dvector("d")  # float64 data cast to float32
    outputs = [
        T.nnet.sigmoid(x) * 0.5 + 1,
        T.log1p(x**2) / 3 + T.sqrt(abs(x)) ** 3 + x**-2 + abs(x) ** 1.5,
        T.switch(x > 0.5, x, 0) + T.nnet.softplus(-x) * y + T.exp2(x),
        T.tanh(x) / y + T.erf(x) + T.arctan2(x, y) + x // 2 + x % 3 + T.sign(x) * np.pi,
        x * T.cast(n, "float32") + T.cast(d, "float32") * 2,
        T.log(1 + T.exp(x)) + 1 / (1 + T.exp(-y)),  # stabilized: softplus and sigmoid
        x > y,
    ]
    f = theano.function([x, y, n, d], outputs)
    xv = np.array([0.25, 1.5, -2.0], dtype=np.float32)
    yv = np.array([1.0, -0.5, 3.0], dtype=np.float32)
    dv = np.array([0.1, 0.2, 0.3])
    got = f(xv, yv, 3, dv)
    assert [v.dtype for v in got] == [np.float32] * 6 + [np.bool_]
    a, b = xv.astype(np.float64), yv.astype(np.float64)
    expected = [
        0.5 * sc.expit(a) + 1,
        np.log1p(a**2) / 3 + np.sqrt(abs(a)) ** 3 + a**-2 + abs(a) ** 1.5,
        np.where(a > 0.5, a, 0) + np.logaddexp(0, -a) * b + 2**a,
        np.tanh(a) / b + sc.erf(a) + np.arctan2(a, b) + a // 2 + a % 3 + np.sign(a) * np.pi,
        a * 3 + dv.astype(np.float32) * 2,
        np.logaddexp(0, a) + sc.expit(b),
        a > b,
    ]
    for value, reference in zip(got, expected):
        np.testing.assert_allclose(value, reference, rtol=2e-6)
    assert "np.float32(0.5)" in f.source and "np.float32(n)" in f.source and "np.float32(d[i0])" in f.source
    found = kernels(f, xv, yv, 3, dv)
    assert found
    for name, kernel in found.items():
        assert double_arithmetic(llvm_of(kernel)) == [], name


def test_float32_sums_accumulate_in_float64_by_design():
    x = T.fvector("x")
    f = theano.function([x], [T.sum(x), T.max(x * 2)])
    xv = np.array([2.0**24, 1, 1, 1, 1], dtype=np.float32)  # adding 1 to 2**24 in float32 gives 2**24
    total, top = f(xv)
    assert total.dtype == np.float32 and total == 2.0**24 + 4
    assert top.dtype == np.float32 and top == 2.0**25
    (kernel,) = kernels(f, xv).values()
    doubles = double_arithmetic(llvm_of(kernel))  # the sum's accumulator; the max stays float32
    assert doubles and all(re.search(r"fpext float|fadd [a-z ]*double|phi double", d) for d in doubles), doubles


def test_runtime_sigmoid_and_softplus_keep_float32():
    assert sigmoid(np.float32(2.0)) == np.float32(1 / (1 + np.exp(-2.0)))  # correctly rounded
    for function in (sigmoid, softplus):
        assert double_arithmetic(llvm_of(function, (numba.float32,))) == []
