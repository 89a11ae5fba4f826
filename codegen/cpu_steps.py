"""Array operations that CPU programs call, compiled once per machine rather than once per function.

Numba compiles NumPy's functions afresh inside every function that calls them: ``np.dot`` costs
0.3-0.5 s of compile time per combination of operand layouts, in every program that multiplies
matrices. Called through these ``cache=True`` functions instead, each is compiled the first time
any program needs it, and later programs (in this process or any other) load its machine code from
Numba's disk cache, in ``codegen/__pycache__``.
"""

import numba
import numpy as np

__all__ = ["matrix_product"]

_cached = numba.njit(cache=True, error_model="numpy")


@_cached
def matrix_product(a, b):
    """``np.dot(a, b)`` (BLAS; a transposed operand is passed as a view, not copied)."""
    return np.dot(a, b)
