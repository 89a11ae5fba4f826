"""The functions of issue 16 on the GPU (the CPU suite's tests, compiled for ``device='cuda'``), and
the array ops without a CUDA kernel refusing with a way out."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from codegen.scalar_printer import NotSupportedOnDevice
from tests.helpers import rand
from tests.test_array_ops import (  # noqa: F401 - pytest collects the imported tests
    matrix_ops,
    test_bitwise_functions_on_integers_and_booleans,
    test_power_gradient_in_the_exponent_is_zero_at_a_zero_base,
    test_special_values_tests_rounding_and_nan_handling,
)


@pytest.mark.parametrize("build", [T.cumsum, T.cumprod, T.sort, T.unique, T.flatnonzero])
def test_array_ops_without_a_device_kernel_say_so(build):
    x = T.dvector("x")
    with pytest.raises(NotSupportedOnDevice, match="device='cpu'"):
        theano.function([x], build(x))


def test_array_functions_built_from_other_ops_run_on_the_device():
    # all but the ops of ops/arrays.py (no kernel yet) and tile, whose 6-d broadcast is beyond the
    # device copies' 4 dimensions
    x, v = T.dmatrix("x"), T.dvector("v")
    ops = {name: op for name, op in matrix_ops(x, v).items() if not name.startswith(("cum", "sort", "tile"))}
    f = theano.function([x, v], [out for out, _ in ops.values()])
    xv, vv = rand((3, 4), seed=1), rand(3, seed=2)
    for (name, (_, reference)), got in zip(ops.items(), f(xv, vv)):
        np.testing.assert_allclose(got, reference(xv, vv), rtol=1e-12, err_msg=name)
