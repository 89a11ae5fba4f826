"""``T.slinalg``: SciPy's linear algebra (Theano's ``theano.tensor.slinalg``), with gradients.

``cholesky``, ``eigvalsh``, ``expm``, ``kron``, ``lu``, ``solve`` (``assume_a`` = ``"gen"``, ``"sym"`` or ``"pos"``),
``solve_triangular``, ``cho_solve`` and Theano's ``solve_lower_triangular``, ``solve_upper_triangular`` and
``solve_symmetric``. As in SciPy, a matrix assumed symmetric is read from one triangle (``lower``),
and its gradient lies in that triangle (see ``symgrad/ops/linalg.py``). All but ``kron`` also take
stacks of matrices (the last two axes), as SciPy's functions do; the right-hand side of a solve is a vector
or a matrix, or for a stack a stack of matrices.
"""

from __future__ import annotations

from ..graph import Variable, apply
from ..ops.linalg import (
    LU,
    Cholesky,
    Eigh,
    Expm,
    Solve,
    SolveTriangular,
    float_operands,
    matmul,
    transpose,
    triangle,
)

__all__ = [
    "cho_solve", "cholesky", "eigvalsh", "expm", "kron", "lu", "solve", "solve_lower_triangular", "solve_symmetric",
    "solve_triangular", "solve_upper_triangular",
]  # fmt: skip

_TRANS = {0: False, "N": False, 1: True, "T": True}


def cholesky(a, lower: bool = True) -> Variable:
    """The Cholesky factor of a positive definite matrix: lower ``L`` with ``a = L L^T`` read from the
    lower triangle, or (``lower=False``) upper ``U`` with ``a = U^T U`` read from the upper one."""
    (a,) = float_operands(a)
    if lower:
        return apply(Cholesky(), a)
    return transpose(apply(Cholesky(), transpose(a)))


def solve_triangular(a, b, trans=0, lower: bool = False, unit_diagonal: bool = False) -> Variable:
    """SciPy's ``solve_triangular``: ``x`` with ``a x = b`` (``trans=1`` or ``"T"``: ``a^T x = b``),
    reading only ``a``'s lower or upper triangle (and not its diagonal if ``unit_diagonal``)."""
    if trans not in _TRANS:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 'N' or 'T' (real matrices), got {trans!r}")
    a, b = float_operands(a, b)
    return apply(SolveTriangular(lower, _TRANS[trans], unit_diagonal), a, b)


def solve_lower_triangular(a, b) -> Variable:
    """Theano's name: ``solve_triangular(a, b, lower=True)``."""
    return solve_triangular(a, b, lower=True)


def solve_upper_triangular(a, b) -> Variable:
    """Theano's name: ``solve_triangular(a, b, lower=False)``."""
    return solve_triangular(a, b, lower=False)


def cho_solve(c_and_lower, b) -> Variable:
    """SciPy's ``cho_solve((c, lower), b)``: ``x`` with ``A x = b`` given ``A``'s Cholesky factor ``c``
    (lower: ``A = c c^T``; upper: ``A = c^T c``), by two triangular solves."""
    c, lower = c_and_lower
    c, b = float_operands(c, b)
    first, second = (False, True) if lower else (True, False)  # the values of trans
    return apply(SolveTriangular(lower, second), c, apply(SolveTriangular(lower, first), c, b))


def solve(a, b, assume_a: str = "gen", lower: bool = False) -> Variable:
    """SciPy's ``solve``: ``x`` with ``a x = b``. ``assume_a="gen"``: any square ``a`` (LU);
    ``"sym"``: symmetric, read from its ``lower`` or upper triangle; ``"pos"``: symmetric positive
    definite, read likewise, solved by its Cholesky factor."""
    a, b = float_operands(a, b)
    if assume_a == "gen":
        return apply(Solve(), a, b)
    if assume_a == "sym":
        below = -1 if lower else 1
        full = triangle(a, lower) + transpose(triangle(a, lower, below))
        return apply(Solve(), full, b)
    if assume_a == "pos":
        return cho_solve((cholesky(a if lower else transpose(a)), True), b)
    raise ValueError(f"solve: assume_a must be 'gen', 'sym' or 'pos', got {assume_a!r}")


def solve_symmetric(a, b) -> Variable:
    """Theano's name: ``solve(a, b, assume_a="sym")``."""
    return solve(a, b, assume_a="sym")


def eigvalsh(a, b=None) -> Variable:
    """The eigenvalues of a symmetric matrix, ascending, read from its lower triangle (the generalized
    problem with ``b`` is not supported yet)."""
    if b is not None:
        raise NotImplementedError("eigvalsh(a, b): the generalized eigenproblem is not supported yet; pass b=None")
    (a,) = float_operands(a)
    return apply(Eigh("w"), a)


def kron(a, b) -> Variable:
    """The Kronecker product of two vectors or two matrices (``np.kron``), as a broadcast product
    reshaped: its gradient is the elementwise one."""
    from .basic import as_tensor_variable

    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim != b.ndim or a.ndim not in (1, 2):
        raise ValueError(f"kron: takes two vectors or two matrices, got {a!r} ({a.type}) and {b!r} ({b.type})")
    if a.ndim == 1:
        return (a.dimshuffle(0, "x") * b.dimshuffle("x", 0)).flatten()
    product = a.dimshuffle(0, "x", 1, "x") * b.dimshuffle("x", 0, "x", 1)
    return product.reshape((a.shape[0] * b.shape[0], a.shape[1] * b.shape[1]))


def expm(a) -> Variable:
    """The matrix exponential, by scaling and squaring with a Padé approximant (``scipy.linalg.expm``)."""
    (a,) = float_operands(a)
    return apply(Expm(), a)


def lu(a, permute_l: bool = False):
    """SciPy's ``lu`` of an ``(m, n)`` matrix (or a stack of them), ``k = min(m, n)``:
    ``(p, l, u)`` with ``a = p @ l @ u``, ``p`` ``(m, m)``, ``l`` ``(m, k)`` unit lower trapezoidal,
    ``u`` ``(k, n)`` upper trapezoidal; or (``permute_l``) ``(p @ l, u)``. Partial pivoting, as
    LAPACK's getrf."""
    (a,) = float_operands(a)
    p, lower, upper = (apply(LU(part), a) for part in ("p", "l", "u"))
    return (matmul(p, lower), upper) if permute_l else (p, lower, upper)
