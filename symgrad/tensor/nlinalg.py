"""``T.nlinalg``: NumPy's linear algebra (Theano's ``theano.tensor.nlinalg``), with gradients.

``matrix_inverse`` (``inv``), ``eigh``, ``qr``, ``norm``, ``det``, ``slogdet``, ``logdet``, ``trace``
and ``extract_diag``. Matrices are 2-d.
"""

from __future__ import annotations

import numpy as np

from ..graph import Variable, apply
from ..ops.elemwise import elemwise
from ..ops.linalg import QR, Det, Eigh, MatrixInverse, SLogDet, check_matrix, float_operands, on_diagonal, transpose
from ..ops.reduce import reduce

__all__ = ["det", "eigh", "extract_diag", "inv", "logdet", "matrix_inverse", "norm", "qr", "slogdet", "trace"]


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


def qr(a, mode: str = "reduced"):
    """``np.linalg.qr``: ``(q, r)`` for ``mode="reduced"``, ``r`` alone for ``mode="r"``. Its
    gradient needs ``m >= n`` (see ``QR``)."""
    if mode not in ("reduced", "r"):
        raise ValueError(f"qr: mode must be 'reduced' or 'r' ('complete' and 'raw' are not supported), got {mode!r}")
    (a,) = float_operands(a)
    r = apply(QR("r"), a)
    return r if mode == "r" else (apply(QR("q"), a), r)


def norm(x, ord=None, axis=None) -> Variable:
    """``np.linalg.norm`` of a vector (``ord`` None or 2, 1, inf, -inf, 0 or any p) or of a
    matrix (``ord`` None or ``"fro"``, 1, -1, inf, -inf), over all of a vector or matrix or over
    one ``axis``; the spectral and nuclear norms (2, -2, ``"nuc"``) need the SVD: not yet."""
    from .basic import as_tensor_variable

    x = as_tensor_variable(x)
    if axis is None and x.ndim not in (1, 2):
        raise ValueError(f"norm: {x!r} is {x.ndim}-d; give an axis, or pass a vector or a matrix")
    matrix = axis is None and x.ndim == 2 or isinstance(axis, tuple) and len(axis) == 2
    axes = tuple(range(x.ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    if ord is None or (matrix and ord == "fro") or (not matrix and ord == 2):
        return elemwise("sqrt", reduce("sum", elemwise("sqr", x), axes))
    size = elemwise("abs", x)
    if matrix:
        if ord not in (1, -1, np.inf, -np.inf):
            raise NotImplementedError(f"norm: ord={ord!r} of a matrix needs the SVD, not supported yet")
        summed, kept = (axes[0], axes[1]) if ord in (1, -1) else (axes[1], axes[0])  # columns or rows
        sums = reduce("sum", size, summed)
        return reduce("max" if ord > 0 else "min", sums, kept - (kept > summed))
    if ord in (np.inf, -np.inf):
        return reduce("max" if ord > 0 else "min", size, axes)
    if ord == 0:
        return reduce("sum", elemwise("neq", x, 0), axes, dtype=x.dtype)
    if ord == 1:
        return reduce("sum", size, axes)
    return elemwise("pow", reduce("sum", elemwise("pow", size, float(ord)), axes), 1.0 / ord)
