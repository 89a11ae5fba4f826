"""The CPU tests of Jacobians and Hessians (tests/test_higher.py) run on the GPU, unchanged: the ``Map``
loop over the rows runs on the host, each row's kernels on the device. (The CPU's test of third
derivatives differentiates numerically through a nested loop: too slow for the simulator, so here the
same functions are checked against the NumPy reference.)"""

from __future__ import annotations

import numpy as np

import symgrad as theano
import symgrad.tensor as T
from tests.helpers import rand
from tests.test_higher import (  # noqa: F401 - pytest collects the imported tests
    loop_depths,
    test_hessian_of_a_quadratic_form_is_exactly_a_plus_a_transposed,
    test_hessian_of_chebyquad,
    test_hessian_of_rosenbrock,
    test_hessian_of_the_logistic_loss,
    test_hessian_sizes_one_and_zero_and_a_linear_cost,
    test_hessian_times_v_is_the_hessian_vector_product,
    test_hessian_when_rewrites_bind_two_loop_inputs_to_one_value,
    test_hessian_when_rewrites_make_a_loop_input_a_constant_the_body_reads,
    test_hessian_with_respect_to_a_matrix_and_a_list,
    test_jacobian_and_hessian_errors_name_the_inputs,
    test_jacobian_float32,
    test_jacobian_matches_finite_differences,
    test_jacobian_of_a_list_of_wrt_and_of_a_scalar,
    test_jacobian_size_one_and_size_zero,
    test_jacobian_with_a_static_length_and_consider_constant,
    test_reference_evaluation_of_the_loop_matches_the_compiled_function,
    third_derivatives,
)

from .helpers import evaluate


def test_third_derivatives_and_nested_loops_match_the_reference():
    x, m = T.dvector("x"), T.dmatrix("m")
    wanted = third_derivatives(x, m)
    f = theano.function([x, m], wanted)
    xv, mv = rand(3, seed=1), rand((3, 3), seed=2)
    for got, want in zip(f(xv, mv), evaluate(wanted, {x: xv, m: mv})):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert len(loop_depths(f.source)) == 2  # the nested loop, on the host
    assert "rt.assign(rt.subtensor(" in f.source  # each row copied into its place on the device
