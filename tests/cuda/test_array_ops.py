"""The elementwise functions of issue 16 on the GPU (the CPU suite's tests, compiled for
``device='cuda'``), and the array ops without a CUDA kernel refusing with a way out."""

from __future__ import annotations

import pytest

import symgrad as theano
import symgrad.tensor as T
from codegen.scalar_printer import NotSupportedOnDevice
from tests.test_array_ops import (  # noqa: F401 - pytest collects the imported tests
    test_bitwise_functions_on_integers_and_booleans,
    test_power_gradient_in_the_exponent_is_zero_at_a_zero_base,
    test_special_values_tests_rounding_and_nan_handling,
)


@pytest.mark.parametrize("build", [T.cumsum, T.cumprod, T.sort, T.unique, T.flatnonzero])
def test_array_ops_without_a_device_kernel_say_so(build):
    x = T.dvector("x")
    with pytest.raises(NotSupportedOnDevice, match="device='cpu'"):
        theano.function([x], build(x))
