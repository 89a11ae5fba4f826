"""``T.nlinalg``: NumPy's linear algebra (Theano's ``theano.tensor.nlinalg``), with gradients.

``matrix_inverse`` (``inv``), ``eigh``, ``qr``, ``svd``, ``pinv``, ``lstsq``, ``norm``, ``det``, ``slogdet``,
``logdet``, ``trace`` and ``extract_diag``. All but ``lstsq``, ``norm`` and ``trace`` also take stacks of
matrices (the last two axes), as NumPy's functions do.
"""

from __future__ import annotations

import numpy as np

from ..graph import Variable, apply
from ..ops.elemwise import cast, elemwise
from ..ops.linalg import (
    QR,
    SVD,
    Det,
    Eigh,
    MatrixInverse,
    SLogDet,
    as_row,
    check_rhs,
    float_operands,
    matmul,
    transpose,
)
from ..ops.reduce import reduce
from .extra_ops import extract_diag, trace  # Theano's nlinalg names for them

__all__ = [
    "det", "eigh", "extract_diag", "inv", "logdet", "lstsq", "matrix_inverse", "norm", "pinv", "qr", "slogdet", "svd",
    "trace",
]  # fmt: skip


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

        diagonal = extract_diag(cholesky(a), axis1=-2, axis2=-1)  # of each matrix of a stack
        return elemwise("mul", 2.0, reduce("sum", elemwise("log", diagonal), (a.ndim - 2,)))
    sign, logabsdet = slogdet(a)
    return elemwise("add", elemwise("log", sign), logabsdet)  # log(-1) is nan, log(0) is -inf


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
    """``np.linalg.qr``: ``(q, r)`` for ``mode="reduced"``, ``r`` alone for ``mode="r"``; the
    gradient holds for tall and wide matrices (see ``QR``)."""
    if mode not in ("reduced", "r"):
        raise ValueError(f"qr: mode must be 'reduced' or 'r' ('complete' and 'raw' are not supported), got {mode!r}")
    (a,) = float_operands(a)
    r = apply(QR("r"), a)
    return r if mode == "r" else (apply(QR("q"), a), r)


def norm(x, ord=None, axis=None) -> Variable:
    """``np.linalg.norm`` of a vector (``ord`` None or 2, 1, inf, -inf, 0 or any p) or of a
    matrix (``ord`` None or ``"fro"``, 1, -1, inf, -inf, and by the SVD 2, -2 and ``"nuc"``), over
    all of a vector or matrix, or over one ``axis`` of a tensor."""
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
        if ord in (2, -2, "nuc"):
            if axis is not None:
                raise NotImplementedError(f"norm: ord={ord!r} over axes {axis} of a {x.ndim}-d tensor is not supported")
            s = svd(x, compute_uv=False)
            return reduce("sum", s) if ord == "nuc" else reduce("max" if ord == 2 else "min", s)
        if ord not in (1, -1, np.inf, -np.inf):
            raise ValueError(f"norm: invalid ord={ord!r} for a matrix")
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


def svd(a, full_matrices: bool = False, compute_uv: bool = True):
    """``np.linalg.svd(a, full_matrices)``: ``(u, s, vt)`` with ``a = u @ diag(s) @ vt`` (the first
    ``k = min(m, n)`` columns of ``u`` and rows of ``vt``) and ``s`` descending, or ``s`` alone
    (``compute_uv=False``). Gradients: see ``SVD.vjp`` (none for a full ``u`` or ``vt``)."""
    (a,) = float_operands(a)
    if not compute_uv:
        return apply(SVD("s"), a)
    return apply(SVD("u", full_matrices), a), apply(SVD("s"), a), apply(SVD("vt", full_matrices), a)


def pinv(a, rcond: float = 1e-15) -> Variable:
    """The Moore-Penrose pseudo-inverse, ``V diag(1/s) U^T`` over the singular values above
    ``rcond`` times the largest (the others count as zero), as ``np.linalg.pinv``."""
    u, s, vt = svd(a)
    return matmul(elemwise("mul", transpose(vt), as_row(_kept_reciprocal(s, rcond))), transpose(u))


def _kept(s: Variable, rcond) -> Variable:
    """Whether each singular value is above ``rcond`` times the largest."""
    return elemwise("gt", s, elemwise("mul", rcond, reduce("max", s)))


def _kept_reciprocal(s: Variable, rcond) -> Variable:
    """``1/s`` for the singular values kept, 0 for the others."""
    return elemwise("switch", _kept(s, rcond), elemwise("true_div", 1.0, s), 0.0)


def lstsq(a, b, rcond=None) -> tuple[Variable, Variable, Variable, Variable]:
    """``np.linalg.lstsq(a, b, rcond)``: ``(x, residuals, rank, s)``, ``x`` minimizing ``|b - a x|``
    (the smallest such), by the SVD; ``rcond=None`` is NumPy's default, eps times ``max(m, n)``.
    One difference: ``residuals`` (the squared norm of each column of ``b - a x``) is always
    computed, where NumPy gives an empty array unless ``a`` has full column rank and ``m > n``.
    Not batched: ``a`` is one matrix and ``b`` a vector or a matrix, as for NumPy's, JAX's and
    PyTensor's ``lstsq`` (for a stack, ``solve`` the normal equations or use ``pinv``)."""
    from .basic import maximum, shape

    a, b = float_operands(a, b)
    if a.ndim != 2:
        raise ValueError(
            f"lstsq: {a!r} must be a matrix (2-d), got a {a.ndim}-d {a.type}; lstsq is not batched (as in NumPy), "
            "for a stack of matrices use pinv(a) @ b"
        )
    check_rhs("lstsq", a, b)
    if rcond is None:
        rcond = elemwise("mul", float(np.finfo(a.dtype).eps), cast(maximum(shape(a)[0], shape(a)[1]), a.dtype))
    u, s, vt = svd(a)
    scale = _kept_reciprocal(s, rcond)
    x = vt.T.dot(u.T.dot(b) * (scale.dimshuffle(0, "x") if b.ndim == 2 else scale))
    residuals = reduce("sum", elemwise("sqr", b - a.dot(x)), 0)
    rank = reduce("sum", _kept(s, rcond), None, dtype="int64")
    return x, residuals, rank, s
