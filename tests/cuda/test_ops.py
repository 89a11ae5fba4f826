"""The CPU op and gradient tests of tests/test_ops.py (and the fuzzer's nan-constant comparisons), run on
the GPU: the same test functions and cases (the conftest compiles every function for ``device='cuda'``)."""

from __future__ import annotations

from tests.test_fuzz import test_a_comparison_with_a_nan_constant_is_false_as_in_numpy  # noqa: F401
from tests.test_ops import (  # noqa: F401 - pytest collects the imported tests
    test_binary_gradient_with_broadcasting,
    test_binary_matches_numpy_with_broadcasting,
    test_dot_every_combination,
    test_dot_gradients,
    test_dot_shape_mismatch_names_operands,
    test_flatten_of_an_empty_array_keeps_the_product_of_the_trailing_lengths,
    test_max_propagates_nan,
    test_negative_integer_powers_overflow_to_inf_as_in_numpy,
    test_piecewise_constant_ops_have_zero_gradient,
    test_reduction_gradients,
    test_reductions_match_numpy,
    test_reductions_of_empty_arrays,
    test_shape_op_gradients,
    test_shape_ops_match_numpy,
    test_switch_where_and_clip,
    test_unary_gradient,
    test_unary_matches_numpy,
)
