"""Array operations that CPU programs call, compiled once per machine rather than once per function.

Numba compiles NumPy's functions afresh inside every function that calls them: ``np.dot`` costs
0.3-0.5 s of compile time per combination of operand layouts, in every program that multiplies
matrices. Called through these ``cache=True`` functions instead, each is compiled the first time
any program needs it, and later programs (in this process or any other) load its machine code from
Numba's disk cache, in ``codegen/__pycache__``.
"""

import llvmlite.binding
import numba
import numpy as np
from numba.extending import get_cython_function_address

from .memory import advise_huge_pages
from .runtime import random_pair

__all__ = [
    "linalg_cholesky", "linalg_det", "linalg_eigh", "linalg_eigh_packed", "linalg_expm", "linalg_inv", "linalg_lu",
    "linalg_qr", "linalg_slogdet", "linalg_solve", "linalg_solve_triangular", "linalg_svd", "linalg_svd_full",
    "linalg_svd_packed", "linalg_triangle", "linalg_triangular_product", "linalg_triangular_transposed",
    "batched_matrix_product", "matrix_product", "random_fill", "random_fill_parallel",
]  # fmt: skip

_cached = numba.njit(cache=True, error_model="numpy")


@_cached
def matrix_product(a, b):
    """``np.dot(a, b)`` (BLAS; a transposed operand is passed as a view, not copied, except below)."""
    if a.ndim == 2 and b.ndim == 2 and a.flags.c_contiguous and b.flags.f_contiguous and not b.flags.c_contiguous:
        # Numba's product of a C-ordered matrix and an F-ordered one (g @ W.T, in a backward pass)
        # measured 10-20x slower than either C @ C or F @ F: a copy of b in C order costs far less.
        return np.dot(a, np.ascontiguousarray(b))
    return np.dot(a, b)


@_cached
def batched_matrix_product(a, b):
    """``np.matmul`` of 3-d stacks: one BLAS product per matrix, written in place; a stack of length
    1 is broadcast (the caller has checked the lengths)."""
    count = b.shape[0] if a.shape[0] == 1 else a.shape[0]
    out = np.empty((count, a.shape[1], b.shape[2]), dtype=a.dtype)
    for i in range(count):
        np.dot(a[i if a.shape[0] > 1 else 0], b[i if b.shape[0] > 1 else 0], out[i])
    return out


# Linear algebra: Numba's np.linalg calls LAPACK (through SciPy's cython_lapack), compiling each
# function for 1-3 s; called through these, a program pays it once per machine. Numba's wrappers
# raise "Array must not contain infs or NaNs" where NumPy's return NaN (a mean over an empty axis
# feeding a determinant): det, slogdet, inv, solve and expm return NumPy's NaN instead, so that a
# NaN spreads through a compiled program as it does through NumPy. The factorizations (eigh, qr,
# svd) still raise: NumPy's results there are LAPACK's accident (part NaN, part not, or its own
# "did not converge"), and their ops' reference raises too.


@_cached
def _finite(a):
    """Whether every element of ``a`` is finite."""
    return np.isfinite(a).all()


@_cached
def _nan(a):
    """NaN in ``a``'s dtype."""
    return np.full(1, np.nan, dtype=a.dtype)[0]


@_cached
def linalg_cholesky(a):
    """``np.linalg.cholesky(a)``: the lower factor, read from the lower triangle."""
    return np.linalg.cholesky(a)


@_cached
def linalg_solve(a, b):
    """``np.linalg.solve(a, b)`` (LAPACK's gesv); as NumPy's, NaN where ``a`` is not finite, and in
    the columns of ``b`` that are not."""
    if not _finite(a):
        return np.full(b.shape, _nan(b))
    if _finite(b):
        return np.linalg.solve(a, b)
    columns = np.ascontiguousarray(b).reshape(b.shape[0], -1).copy()
    finite = np.empty(columns.shape[1], dtype=np.bool_)
    for j in range(columns.shape[1]):
        finite[j] = _finite(columns[:, j])
        if not finite[j]:
            columns[:, j] = 0
    x = np.linalg.solve(a, columns)
    for j in range(columns.shape[1]):
        if not finite[j]:
            x[:, j] = np.nan
    return x.reshape(b.shape)


# Higham (2005): the degree-13 Padé approximant's coefficients, and the 1-norm up to which it is
# accurate to double precision without scaling.
_PADE13 = (
    64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
    10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0,
)  # fmt: skip
_THETA13 = 5.371920351148152


@_cached
def linalg_expm(a):
    """The matrix exponential by scaling and squaring with the degree-13 Padé approximant
    (Higham 2005, as ``scipy.linalg.expm`` for large norms; used here at every norm), computed in
    float64 whatever ``a``'s dtype."""
    n = a.shape[0]
    if not _finite(a):
        return np.full(a.shape, _nan(a))
    norm = np.abs(a).sum(axis=0).max() if n else 0.0
    s = max(0, int(np.ceil(np.log2(norm / _THETA13)))) if norm > 0 else 0
    x = np.ascontiguousarray(a).astype(np.float64) / 2.0**s
    b = _PADE13
    ident = np.eye(n)
    x2 = x @ x
    x4 = x2 @ x2
    x6 = x4 @ x2
    u = x @ (x6 @ (b[13] * x6 + b[11] * x4 + b[9] * x2) + b[7] * x6 + b[5] * x4 + b[3] * x2 + b[1] * ident)
    v = x6 @ (b[12] * x6 + b[10] * x4 + b[8] * x2) + b[6] * x6 + b[4] * x4 + b[2] * x2 + b[0] * ident
    r = np.ascontiguousarray(np.linalg.solve(v - u, v + u))  # as the squarings' products are
    for _ in range(s):
        r = r @ r
    return r.astype(a.dtype)


@_cached
def linalg_inv(a):
    """``np.linalg.inv(a)``."""
    if not _finite(a):
        return np.full(a.shape, _nan(a))
    return np.linalg.inv(a)


@_cached
def linalg_det(a):
    """``np.linalg.det(a)``."""
    if not _finite(a):
        return _nan(a)
    return np.linalg.det(a)


@_cached
def linalg_slogdet(a):
    """``np.linalg.slogdet(a)``: the sign and the log of the absolute value of the determinant."""
    if not _finite(a):
        return _nan(a), _nan(a)
    return np.linalg.slogdet(a)


# BLAS's triangular solve (trsm) and product (trmm), through SciPy's Cython entry points: Numba has
# neither, and a loop of substitutions runs 10-40 times slower than the blocked BLAS kernel at
# n = 2000. The functions are linked by name (as Numba links its own LAPACK calls), so that the
# machine code of the programs calling them stays cacheable; a ctypes pointer would not be.
for _name in ("dtrsm", "strsm", "dtrmm", "strmm"):
    llvmlite.binding.add_symbol(f"symgrad_{_name}", get_cython_function_address("scipy.linalg.cython_blas", _name))
_BLAS3 = numba.types.void(*[numba.types.voidptr] * 11)  # trsm and trmm take the same arguments
_dtrsm, _strsm, _dtrmm, _strmm = (
    numba.types.ExternalFunction(f"symgrad_{name}", _BLAS3) for name in ("dtrsm", "strsm", "dtrmm", "strmm")
)


@_cached
def _triangular_blas(m, x, upper, trans, unit_diagonal, solve, left):
    """In place, ``x = m^{-1} x`` (``solve``) or ``x = m x`` (``m^T`` when ``trans``) for C-ordered
    ``m`` (n, n) and ``x`` (n, k): column-major, ``x`` is ``x^T`` and ``m`` is ``m^T``, so BLAS
    works from the right on ``x^T``. ``upper`` names the triangle of the column-major ``m^T``.
    With ``left``, ``x`` is (k, n) and holds the transpose of the operand: column-major it is the
    operand itself, and BLAS works from the left on it (``m^T`` transposed back, so ``trans`` flips)."""
    n, k = (x.shape[1], x.shape[0]) if left else x.shape
    flags = np.array([ord("L") if left else ord("R"), ord("U") if upper else ord("L"),
                      ord("T") if trans != left else ord("N"), ord("U") if unit_diagonal else ord("N")],
                     dtype=np.uint8)  # fmt: skip
    dims = np.array([n, k, n, n] if left else [k, n, n, k], dtype=np.int32)  # m, n, lda, ldb of the column-major call
    alpha = np.ones(1, dtype=x.dtype)
    args = (flags[0:].ctypes, flags[1:].ctypes, flags[2:].ctypes, flags[3:].ctypes, dims[0:].ctypes,
            dims[1:].ctypes, alpha.ctypes, m.ctypes, dims[2:].ctypes, x.ctypes, dims[3:].ctypes)  # fmt: skip
    if solve:
        if x.itemsize == 8:
            _dtrsm(*args)
        else:
            _strsm(*args)
    elif x.itemsize == 8:
        _dtrmm(*args)
    else:
        _strmm(*args)


@_cached
def _triangular(a, b, lower, trans, unit_diagonal, solve, left):
    """``a^{-1} b`` (``solve``) or ``a b`` for ``a`` triangular (only the triangle ``lower`` names
    is read; ``a^T`` when ``trans``), ``b`` a matrix of ``a``'s dtype, into ``x``: ``b``'s copy, or
    with ``left`` ``b^T``'s (then the result is ``x^T``). A C-ordered ``a`` is, column-major,
    ``a^T``: its lower triangle is the upper one there, and a transposed view of a C-ordered
    matrix is passed as that matrix with the flags flipped, never copied."""
    x = np.empty((b.shape[1], b.shape[0]) if left else b.shape, dtype=b.dtype)
    if left:
        x[:] = b.T
    else:
        x[:] = b
    if x.size == 0:
        return x
    if not a.flags.c_contiguous and a.T.flags.c_contiguous:  # column-major, a.T is a itself
        _triangular_blas(a.T, x, not lower, not trans, unit_diagonal, solve, left)
    else:
        _triangular_blas(np.ascontiguousarray(a), x, lower, trans, unit_diagonal, solve, left)
    return x


@_cached
def linalg_triangular_transposed(a, b, lower, trans, unit_diagonal, solve):
    """What ``linalg_solve_triangular`` (``solve``) or ``linalg_triangular_product`` give, for
    ``b`` the transposed view of a C-ordered matrix (``S^T`` between the two solves of the
    Cholesky's gradient): its copy is ``b^T``'s, contiguous, not a copy across rows, and the
    result is the transpose of a C-ordered matrix (the view a reader of ``S`` wants)."""
    return _triangular(a, b, lower, trans, unit_diagonal, solve, True).T


@_cached
def linalg_solve_triangular(a, b, lower, trans, unit_diagonal):
    """``x`` with ``a x = b`` (``a.T x = b`` when ``trans``), ``a`` triangular: BLAS's trsm."""
    return _triangular(a, b, lower, trans, unit_diagonal, True, False)


@_cached
def linalg_triangular_product(a, b, lower, trans):
    """``tril(a) @ b`` (``triu`` unless ``lower``; transposed when ``trans``): BLAS's trmm, half
    the work of a general product."""
    return _triangular(a, b, lower, trans, False, False, False)


@_cached
def linalg_eigh(a):
    """``np.linalg.eigh(a)``: eigenvalues (ascending) and eigenvectors, read from the lower triangle."""
    return np.linalg.eigh(a)


@_cached
def linalg_lu(a):
    """``scipy.linalg.lu(a)`` for ``a`` (m, n), ``k = min(m, n)``: ``P`` (m, m), ``L`` (m, k), unit
    lower, and ``U`` (k, n) with ``a = P L U``, by Gaussian elimination with partial pivoting (the
    first largest entry of each column, as LAPACK's getrf chooses)."""
    m, n = a.shape
    k = min(m, n)
    u = np.ascontiguousarray(a).copy()
    lower = np.eye(m, dtype=a.dtype)
    order = np.arange(m)
    for c in range(k):
        pivot = c + np.argmax(np.abs(u[c:, c]))
        if pivot != c:
            for j in range(n):
                u[c, j], u[pivot, j] = u[pivot, j], u[c, j]
            for j in range(c):
                lower[c, j], lower[pivot, j] = lower[pivot, j], lower[c, j]
            order[c], order[pivot] = order[pivot], order[c]
        for i in range(c + 1, m):
            factor = u[i, c] / u[c, c] if u[c, c] != 0 else 0.0
            lower[i, c] = factor
            for j in range(c, n):
                u[i, j] -= factor * u[c, j]
    permutation = np.zeros((m, m), dtype=a.dtype)
    for i in range(m):
        permutation[order[i], i] = 1
    return permutation, np.ascontiguousarray(lower[:, :k]), np.triu(u[:k])


@_cached
def linalg_eigh_packed(a):
    """``np.linalg.eigh(a)`` in one array (``symgrad.ops.linalg.Factorization``): the eigenvalues
    in row 0, the eigenvectors below."""
    w, v = np.linalg.eigh(a)
    out = np.empty((a.shape[0] + 1, a.shape[0]), dtype=a.dtype)
    out[0] = w
    out[1:] = v
    return out


@_cached
def linalg_svd_packed(a):
    """``np.linalg.svd(a, full_matrices=False)`` in one array (``Factorization``): ``u`` in the
    first ``k`` columns of the first ``m`` rows, ``s`` in the next row, ``vt`` below."""
    u, s, vt = linalg_svd(a)
    m, k = u.shape
    out = np.zeros((m + 1 + k, a.shape[1]), dtype=a.dtype)
    out[:m, :k] = u
    out[m, :k] = s
    out[m + 1 :] = vt
    return out


@_cached
def linalg_qr(a):
    """``np.linalg.qr(a)``: the reduced Q and R (empty for an empty ``a``, where Numba's raises)."""
    if a.size == 0:
        k = min(a.shape[0], a.shape[1])
        return np.zeros((a.shape[0], k), a.dtype), np.zeros((k, a.shape[1]), a.dtype)
    return np.linalg.qr(a)


@_cached
def linalg_svd(a):
    """``np.linalg.svd(a, full_matrices=False)``: U, s (descending) and V^T (empty for an empty
    ``a``, where Numba's raises)."""
    if a.size == 0:
        m, n = a.shape
        k = min(m, n)
        return np.zeros((m, k), a.dtype), np.zeros(k, a.dtype), np.zeros((k, n), a.dtype)
    return np.linalg.svd(a, full_matrices=False)


@_cached
def linalg_svd_full(a):
    """``np.linalg.svd(a, full_matrices=True)``: U (m, m), s, V^T (n, n) (for an empty ``a``, as
    NumPy's: identities and no singular value)."""
    if a.size == 0:
        m, n = a.shape
        return np.eye(m, dtype=a.dtype), np.zeros(0, a.dtype), np.eye(n, dtype=a.dtype)
    return np.linalg.svd(a, full_matrices=True)


@_cached
def _triangle_2d(x, out, lower, k, diagonal, plus_transpose):
    """``out = np.tril(x, k)`` (``np.triu`` unless ``lower``), the diagonal scaled by ``diagonal``
    (1 unless ``k = 0``), of ``x + x^T`` if ``plus_transpose``, by rows: Numba's ``np.tril``
    builds a mask and took 15 times as long."""
    m, n = x.shape
    for i in range(m):
        for j in range(n):
            inside = j <= i + k if lower else j >= i + k
            value = x[i, j] + x[j, i] if plus_transpose else x[i, j]
            out[i, j] = (value * diagonal if j == i else value) if inside else 0


@_cached
def linalg_triangle(x, lower, k, diagonal, plus_transpose):
    """A triangle of each matrix of ``x`` (see ``_triangle_2d``)."""
    out = np.empty(x.shape, dtype=x.dtype)
    if x.ndim == 2:
        _triangle_2d(x, out, lower, k, diagonal, plus_transpose)
    else:
        for index in np.ndindex(x.shape[:-2]):
            _triangle_2d(x[index], out[index], lower, k, diagonal, plus_transpose)
    return out


# Random draws (see runtime.random_pair): loops over the pairs of elements of the flat result, on
# threads for large draws, in chunks whose loops vectorize. Each pair depends only on the state and
# its position, so any split gives the same numbers. fastmath=False, set explicitly, keeps the
# calling program's flags out of them (contracting a multiply-add would change the normals' bits).
_random = numba.njit(cache=True, error_model="numpy", fastmath=False)
RANDOM_CHUNKS = 64


@numba.njit(cache=True, error_model="numpy", fastmath=False, inline="always")
def _fill_pairs(out, key, counter, kind, start, stop):
    # Indexed from 0, so LLVM knows the index is not negative (no wraparound test, which would
    # stop the loop from vectorizing).
    part = out[2 * start : 2 * stop]
    for j in range(stop - start):
        part[2 * j], part[2 * j + 1] = random_pair(kind, key, counter, np.uint64(start + j))


@_random
def _fill_range(out, key, counter, kind, start, stop):
    """Pairs ``start`` to ``stop`` of the draw; ``kind`` is a constant in each loop, so that each one
    vectorizes with only its own transformation."""
    if kind == 0:
        _fill_pairs(out, key, counter, 0, start, stop)
    elif kind == 1:
        _fill_pairs(out, key, counter, 1, start, stop)
    else:
        _fill_pairs(out, key, counter, 2, start, stop)


@_random
def _fill_last(out, key, counter, kind):
    """The last element of a draw of odd size: the first of its pair."""
    n = out.size
    if n % 2:
        out[n - 1] = random_pair(kind, key, counter, np.uint64(n // 2))[0]


@_random
def random_fill(out, state, kind):
    """Fills the flat array ``out`` with the draw of ``kind`` under ``state`` (key, counter)."""
    _fill_range(out, state[0], state[1], kind, 0, out.size // 2)
    _fill_last(out, state[0], state[1], kind)


@numba.njit(cache=True, error_model="numpy", fastmath=False, parallel=True)
def random_fill_parallel(out, state, kind):
    """``random_fill`` on threads, in RANDOM_CHUNKS chunks. ``out`` is large (the program's own
    fresh array, see RANDOM_THREADS_ABOVE in cpu_rules.py): huge pages make its first writes cheaper."""
    advise_huge_pages(out)
    pairs = out.size // 2
    chunk = (pairs + RANDOM_CHUNKS - 1) // RANDOM_CHUNKS
    for c in numba.prange(RANDOM_CHUNKS):
        _fill_range(out, state[0], state[1], kind, min(pairs, c * chunk), min(pairs, (c + 1) * chunk))
    _fill_last(out, state[0], state[1], kind)
