"""``T.nlinalg``: NumPy's linear algebra (Theano's ``theano.tensor.nlinalg``), with gradients.

``matrix_inverse`` (``inv``), ``eigh``, ``det``, ``slogdet``, ``logdet``, ``trace`` and ``extract_diag``.
Matrices are 2-d.
"""

from __future__ import annotations

from ..graph import Variable, apply
from ..ops.elemwise import elemwise
from ..ops.linalg import Det, Eigh, MatrixInverse, SLogDet, check_matrix, float_operands, on_diagonal, transpose
from ..ops.reduce import reduce

__all__ = ["det", "eigh", "extract_diag", "inv", "logdet", "matrix_inverse", "slogdet", "trace"]


def matrix_inverse(a) -> Variable:
    """``a^{-1}`` (to solve ``a x = b``, ``T.slinalg.solve`` is cheaper and more accurate)."""
    (a,) = float_operands(a)
    return apply(MatrixInverse(), a)


inv = matrix_inverse


def det(a) -> Variable:
    """The determinant (for its logarithm, ``slogdet`` neither overflows nor underflows)."""
    (a,) = float_operands(a)
    return apply(Det(), a)


def slogdet(a) -> tuple[Variable, Variable]:
    """``(sign, log|det a|)``, as ``np.linalg.slogdet``; the gradient flows through the second."""
    (a,) = float_operands(a)
    return apply(SLogDet("sign"), a), apply(SLogDet("logabsdet"), a)


def logdet(a, psd: bool | None = None) -> Variable:
    """``log(det a)``: nan where the determinant is negative, -inf where it is zero. For a matrix
    known positive definite (``psd=True``, or ``a.tag.psd = True``) it is twice the sum of the logs
    of its Cholesky factor's diagonal, which costs a third of an LU factorization."""
    (a,) = float_operands(a)
    if psd is None:
        psd = bool(getattr(a.tag, "psd", False))
    if psd:
        from .slinalg import cholesky

        return elemwise("mul", 2.0, reduce("sum", elemwise("log", extract_diag(cholesky(a)))))
    sign, logabsdet = slogdet(a)
    return elemwise("add", elemwise("log", sign), logabsdet)  # log(-1) is nan, log(0) is -inf


def extract_diag(x) -> Variable:
    """The diagonal of a matrix, as a vector (``np.diag(x)`` for 2-d ``x``)."""
    from .basic import arange, as_tensor_variable, minimum, shape

    x = as_tensor_variable(x)
    check_matrix("extract_diag", x, square=False)
    k = arange(minimum(shape(x)[0], shape(x)[1]))
    return x[k, k]


def trace(x) -> Variable:
    """The sum of the diagonal of a matrix (``np.trace``), as one fused kernel."""
    from .basic import as_tensor_variable

    x = as_tensor_variable(x)
    check_matrix("trace", x, square=False)
    return reduce("sum", on_diagonal(x))


def eigh(a, UPLO: str = "L") -> tuple[Variable, Variable]:
    """``(w, v)``: the eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, read
    from its lower (``UPLO="L"``) or upper triangle, as ``np.linalg.eigh``. See ``Eigh.vjp`` for the
    gradient where eigenvalues repeat."""
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    (a,) = float_operands(a)
    if UPLO == "U":
        a = transpose(a)
    return apply(Eigh("w"), a), apply(Eigh("v"), a)
