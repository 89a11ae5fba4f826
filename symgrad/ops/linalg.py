"""Linear algebra ops on matrices: Cholesky, solves, inverse, determinants, eigh, QR, SVD, LU, expm.

Each op takes matrices of one float dtype (a right-hand side may be a vector); all but ``LU`` and
``Expm`` also take stacks of them, batched over the leading axes as NumPy's own functions are
(a right-hand side then a stack of matrices with the same leading lengths). Its gradient is the
standard matrix-calculus result (Giles 2008, "Collected matrix derivative results"; Murray 2016 for
the Cholesky), built from the other ops so that it is written stably: the Cholesky's by triangular
solves, never an explicit inverse; the log-determinant's by a solve. ``T.Rop`` follows from these
(symgrad builds it from two reverse sweeps).

An op that LAPACK computes from one triangle of a symmetric matrix (the Cholesky reads the lower
one, ``eigh`` the lower one) is a function of that triangle alone, and its gradient says so: it is
zero on the other side and counts each off-diagonal entry once for both of its places. So central
differences over every entry of the input agree with it, whatever the other triangle holds.

Ops with several results (``slogdet``, ``eigh``, ``qr``, ``svd``, ``lu``) are one op per result,
told apart by a prop; the functions building them (``symgrad/tensor/nlinalg.py``, ``slinalg.py``)
return the tuple.
"""

from __future__ import annotations

import numpy as np

from ..graph import Op, Variable, apply
from ..types import TensorType, describe_shape
from .elemwise import cast, elemwise, result_dtype
from .shape import dimshuffle


def check_matrix(what: str, x: Variable, square: bool = True, batched: bool = True) -> None:
    """Raise, naming ``x``, unless it is a (square) matrix, or a stack of them where ``batched``."""
    if x.ndim < 2 or x.ndim > 2 and not batched:
        stack = " or a stack of matrices (the last two axes)" if batched else " (batches are not supported yet)"
        raise ValueError(f"{what}: {x!r} must be a matrix (2-d){stack}, got a {x.ndim}-d {x.type}")
    n, m = x.type.shape[-2:]
    if square and n is not None and m is not None and n != m:
        raise ValueError(f"{what}: {x!r} must be a square matrix, got shape {describe_shape(x.type.shape)}")


def float_operands(*xs) -> list[Variable]:
    """The operands as tensors of one float dtype (ints become floatX, as NumPy's linalg makes them floats)."""
    from ..tensor.basic import as_tensor_variable

    xs = [as_tensor_variable(x) for x in xs]
    dtype = result_dtype("float", xs)
    return [cast(x, dtype) for x in xs]


def _check_rhs(what: str, a: Variable, b: Variable) -> None:
    """``b`` is a vector or matrix with as many rows as ``a`` (for a stack ``a``, a stack of
    matrices of the same leading lengths)."""
    if a.ndim == 2 and b.ndim not in (1, 2):
        raise ValueError(f"{what}: the right-hand side {b!r} must be a vector or a matrix, got a {b.ndim}-d {b.type}")
    if a.ndim > 2 and b.ndim != a.ndim:
        raise ValueError(
            f"{what}: for the {a.ndim}-d stack {a!r}, the right-hand side {b!r} must be a {a.ndim}-d stack of "
            f"matrices, got a {b.ndim}-d {b.type}"
        )
    lengths = list(zip(a.type.shape[:-2], b.type.shape[:-2])) + [(a.type.shape[-2], b.type.shape[a.ndim - 2])]
    if any(n is not None and m is not None and n != m for n, m in lengths):
        raise ValueError(
            f"{what}: {a!r} of shape {describe_shape(a.type.shape)} and {b!r} of shape "
            f"{describe_shape(b.type.shape)} do not fit"
        )


# --- graph helpers used by the gradients ----------------------------------------------------------------


def transpose(x: Variable) -> Variable:
    """Each matrix transposed (the last two axes swapped)."""
    return dimshuffle(x, (*range(x.ndim - 2), x.ndim - 1, x.ndim - 2))


def matmul(a: Variable, b: Variable) -> Variable:
    """``a @ b``: ``dot`` for matrices, one product per matrix for stacks."""
    from ..tensor.extra_ops import matmul

    return matmul(a, b)


def as_row(v: Variable) -> Variable:
    """A vector (or a stack of them) as a row, ``v[..., None, :]``, to broadcast over each row."""
    return dimshuffle(v, (*range(v.ndim - 1), "x", v.ndim - 1))


def as_column(v: Variable) -> Variable:
    """``v[..., :, None]``."""
    return dimshuffle(v, (*range(v.ndim), "x"))


def _per_matrix(x: Variable) -> Variable:
    """A scalar per matrix (``x[..., None, None]``), to broadcast over each matrix of the stack."""
    return dimshuffle(x, (*range(x.ndim), "x", "x"))


def triangle(x: Variable, lower: bool, k: int = 0) -> Variable:
    """``np.tril(x, k)`` (``lower``) or ``np.triu(x, k)``: the other entries are zero."""
    return apply(Triangle(lower, k), x)


def on_diagonal(x: Variable) -> Variable:
    """``x`` with its off-diagonal entries zero (``np.diag(np.diag(x))``)."""
    return triangle(triangle(x, lower=True), lower=False)


def symmetric_part_gradient(g: Variable, lower: bool) -> Variable:
    """The gradient with respect to the triangle an op reads, given ``g``, the gradient with respect
    to the full symmetric matrix it stands for: each off-diagonal entry counts for both of its places."""
    both = elemwise("add", g, transpose(g))
    return elemwise("sub", triangle(both, lower), on_diagonal(g))


def _minus_outer(u: Variable, v: Variable) -> Variable:
    """``-u v^T`` for vectors (an elementwise outer product) or matrices (one column per right-hand side)."""
    from .blas import outer

    return elemwise("neg", outer(u, v) if u.ndim == 1 else matmul(u, transpose(v)))


# --- ops ------------------------------------------------------------------------------------------------


class Triangle(Op):
    """``np.tril(x, k)`` (``lower``) or ``np.triu(x, k)``. (As an elementwise ``switch`` on row and
    column numbers it would fuse, but the nested conditions it leaves in a gradient make SymPy's
    printing of the function's formulas take minutes.)"""

    props = ("lower", "k")

    def __init__(self, lower: bool, k: int = 0) -> None:
        self.lower, self.k = bool(lower), int(k)

    def __str__(self) -> str:
        return f"{'tril' if self.lower else 'triu'}{{{self.k}}}" if self.k else ("tril" if self.lower else "triu")

    def make_type(self, x: Variable) -> TensorType:
        check_matrix(str(self), x, square=False)
        return x.type

    def perform(self, x: np.ndarray) -> np.ndarray:
        return (np.tril if self.lower else np.triu)(x, self.k)

    def vjp(self, inputs, output, g):
        return [apply(self, g)]


class Cholesky(Op):
    """The lower Cholesky factor ``L`` of a positive definite matrix (``A = L L^T``), read from its
    lower triangle."""

    def __str__(self) -> str:
        return "cholesky"

    def make_type(self, a: Variable) -> TensorType:
        check_matrix("cholesky", a)
        return a.type

    def perform(self, a: np.ndarray) -> np.ndarray:
        return np.linalg.cholesky(a)

    def vjp(self, inputs, output, g):
        """Murray (2016), eq. 10: with ``P = Φ(L^T Ḡ)`` (the lower triangle, diagonal halved),
        ``S = L^{-T} P L^{-1}`` by two triangular solves, and the gradient ``Φ``-symmetrized."""
        L = output
        P = triangle(apply(TriangularProduct(lower=True, trans=True), L, g), lower=True)  # Φ(L^T Ḡ), by trmm
        P = elemwise("sub", P, elemwise("mul", 0.5, on_diagonal(P)))
        left = apply(SolveTriangular(lower=True, trans=True), L, P)  # L^{-T} P
        S = transpose(apply(SolveTriangular(lower=True, trans=True), L, transpose(left)))  # (L^{-T} P) L^{-1}
        return [symmetric_part_gradient(elemwise("mul", 0.5, elemwise("add", S, transpose(S))), lower=True)]


class SolveTriangular(Op):
    """``x`` with ``A x = b`` (``A^T x = b`` when ``trans``), ``A`` triangular (only that triangle is read)."""

    props = ("lower", "trans", "unit_diagonal")

    def __init__(self, lower: bool, trans: bool = False, unit_diagonal: bool = False) -> None:
        self.lower, self.trans, self.unit_diagonal = bool(lower), bool(trans), bool(unit_diagonal)

    def __str__(self) -> str:
        options = ["lower" if self.lower else "upper", *(["trans"] * self.trans), *(["unit"] * self.unit_diagonal)]
        return f"solve_triangular{{{', '.join(options)}}}"

    def make_type(self, a: Variable, b: Variable) -> TensorType:
        check_matrix("solve_triangular", a)
        _check_rhs("solve_triangular", a, b)
        return _solution_type(a, b)

    def perform(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import scipy.linalg

        x = np.empty(b.shape, dtype=b.dtype)
        for index in np.ndindex(a.shape[:-2]):  # SciPy's solve_triangular takes one matrix
            x[index] = scipy.linalg.solve_triangular(
                a[index], b[index], trans=int(self.trans), lower=self.lower, unit_diagonal=self.unit_diagonal
            )
        return x

    def vjp(self, inputs, output, g):
        a, _ = inputs
        gb = apply(SolveTriangular(self.lower, not self.trans, self.unit_diagonal), a, g)
        ga = _minus_outer(output, gb) if self.trans else _minus_outer(gb, output)
        shift = (-1 if self.lower else 1) if self.unit_diagonal else 0  # a unit diagonal is not read
        return [triangle(ga, self.lower, shift), gb]


class TriangularProduct(Op):
    """``tril(a) @ b`` (``lower``) or ``triu(a) @ b``, the triangle transposed first when
    ``trans``: only that triangle of ``a`` is read, and BLAS's trmm does half a general product's
    work. (The Cholesky's gradient multiplies by its factor's transpose this way.)"""

    props = ("lower", "trans")

    def __init__(self, lower: bool, trans: bool = False) -> None:
        self.lower, self.trans = bool(lower), bool(trans)

    def __str__(self) -> str:
        return f"triangular_product{{{'lower' if self.lower else 'upper'}{', trans' if self.trans else ''}}}"

    def make_type(self, a: Variable, b: Variable) -> TensorType:
        check_matrix("triangular_product", a)
        _check_rhs("triangular_product", a, b)
        return _solution_type(a, b)

    def perform(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        t = (np.tril if self.lower else np.triu)(a)
        return np.matmul(np.swapaxes(t, -1, -2) if self.trans else t, b)

    def vjp(self, inputs, output, g):
        a, b = inputs
        gb = apply(TriangularProduct(self.lower, not self.trans), a, g)
        ga = _minus_outer(b, g) if self.trans else _minus_outer(g, b)
        return [triangle(elemwise("neg", ga), self.lower), gb]


def _solution_type(a: Variable, b: Variable) -> TensorType:
    """The type of ``x`` with ``a x = b``: ``b``'s, with as many rows as ``a`` has columns."""
    shape = list(b.type.shape)
    shape[a.ndim - 2] = a.type.shape[-1] if a.type.shape[-1] is not None else shape[a.ndim - 2]
    return TensorType(b.dtype, tuple(shape))


class Solve(Op):
    """``x`` with ``A x = b`` for a general square ``A`` (LU with partial pivoting)."""

    def __str__(self) -> str:
        return "solve"

    def make_type(self, a: Variable, b: Variable) -> TensorType:
        check_matrix("solve", a)
        _check_rhs("solve", a, b)
        return _solution_type(a, b)

    def perform(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.linalg.solve(a, b)

    def vjp(self, inputs, output, g):
        a, _ = inputs
        gb = apply(Solve(), transpose(a), g)
        return [_minus_outer(gb, output), gb]


class MatrixInverse(Op):
    """``A^{-1}``."""

    def __str__(self) -> str:
        return "matrix_inverse"

    def make_type(self, a: Variable) -> TensorType:
        check_matrix("matrix_inverse", a)
        return a.type

    def perform(self, a: np.ndarray) -> np.ndarray:
        return np.linalg.inv(a)

    def vjp(self, inputs, output, g):
        xt = transpose(output)
        return [elemwise("neg", matmul(matmul(xt, g), xt))]


class Det(Op):
    """The determinant, a scalar."""

    def __str__(self) -> str:
        return "det"

    def make_type(self, a: Variable) -> TensorType:
        check_matrix("det", a)
        return TensorType(a.dtype, a.type.shape[:-2])

    def perform(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(np.linalg.det(a), dtype=a.dtype)

    def vjp(self, inputs, output, g):
        (a,) = inputs
        # d det(A) = det(A) tr(A^{-1} dA): the gradient is det(A) A^{-T}.
        return [elemwise("mul", _per_matrix(elemwise("mul", g, output)), _inverse_transpose(a))]


def _inverse_transpose(a: Variable) -> Variable:
    """``A^{-T}``, as ``solve(A^T, I)`` (LU with partial pivoting, as ``inv`` itself computes it)."""
    from ..tensor.basic import ones_like

    return apply(Solve(), transpose(a), on_diagonal(ones_like(a)))


class SLogDet(Op):
    """One result of ``np.linalg.slogdet``: ``part`` is ``"sign"`` or ``"logabsdet"``."""

    props = ("part",)

    def __init__(self, part: str) -> None:
        if part not in ("sign", "logabsdet"):
            raise ValueError(f"SLogDet: part must be 'sign' or 'logabsdet', got {part!r}")
        self.part = part

    def __str__(self) -> str:
        return f"slogdet_{self.part}"

    def make_type(self, a: Variable) -> TensorType:
        check_matrix("slogdet", a)
        return TensorType(a.dtype, a.type.shape[:-2])

    def perform(self, a: np.ndarray) -> np.ndarray:
        sign, logabsdet = np.linalg.slogdet(a)
        return np.asarray(sign if self.part == "sign" else logabsdet, dtype=a.dtype)

    def vjp(self, inputs, output, g):
        if self.part == "sign":  # piecewise constant: no gradient
            return [None]
        return [elemwise("mul", _per_matrix(g), _inverse_transpose(inputs[0]))]


class Eigh(Op):
    """One result of ``np.linalg.eigh`` (read from the lower triangle): ``part`` is ``"w"``, the
    eigenvalues in ascending order, or ``"v"``, the eigenvectors as columns."""

    props = ("part",)

    def __init__(self, part: str) -> None:
        if part not in ("w", "v"):
            raise ValueError(f"Eigh: part must be 'w' or 'v', got {part!r}")
        self.part = part

    def __str__(self) -> str:
        return "eigvalsh" if self.part == "w" else "eigh_vectors"

    def make_type(self, a: Variable) -> TensorType:
        check_matrix("eigh", a)
        return a.type if self.part == "v" else TensorType(a.dtype, a.type.shape[:-1])

    def perform(self, a: np.ndarray) -> np.ndarray:
        return np.linalg.eigh(a)[0 if self.part == "w" else 1]

    def vjp(self, inputs, output, g):
        """Giles (2008), 3.1: with ``A = V diag(w) V^T``, ``Ā = V (diag(w̄) + F ∘ (V^T V̄)) V^T`` where
        ``F_ij = 1 / (w_j - w_i)`` off the diagonal, 0 where two eigenvalues are equal (see
        ``_reciprocal_gaps``): the gradient is finite, and exact for a cost that does not depend
        on the choice of eigenvectors for a repeated eigenvalue."""
        (a,) = inputs
        w, v = apply(Eigh("w"), a), apply(Eigh("v"), a)
        if self.part == "w":  # V diag(w̄) V^T
            return [symmetric_part_gradient(matmul(elemwise("mul", v, as_row(g)), transpose(v)), lower=True)]
        f = _reciprocal_gaps(w, squared=False)
        full = matmul(matmul(v, elemwise("mul", f, matmul(transpose(v), g))), transpose(v))
        return [symmetric_part_gradient(elemwise("mul", 0.5, elemwise("add", full, transpose(full))), lower=True)]


class QR(Op):
    """One result of ``np.linalg.qr(a)`` (the reduced form): ``part`` is ``"q"``, ``(m, k)`` with
    orthonormal columns, or ``"r"``, ``(k, n)`` upper triangular, ``k = min(m, n)``. The gradient
    (Walter and Lehmann 2018; Liao et al. 2019) needs the first ``k`` columns of full rank."""

    props = ("part",)
    square = False

    def __init__(self, part: str) -> None:
        if part not in ("q", "r"):
            raise ValueError(f"QR: part must be 'q' or 'r', got {part!r}")
        self.part = part

    def __str__(self) -> str:
        return f"qr_{self.part}"

    def make_type(self, a: Variable) -> TensorType:
        check_matrix("qr", a, square=False)
        m, n = a.type.shape[-2:]
        k = None if m is None or n is None else min(m, n)
        return TensorType(a.dtype, a.type.shape[:-2] + ((m, k) if self.part == "q" else (k, n)))

    def perform(self, a: np.ndarray) -> np.ndarray:
        return np.linalg.qr(a)[0 if self.part == "q" else 1]

    def vjp(self, inputs, output, g):
        """For ``m >= n``: ``M = R R̄^T - Q̄^T Q``, ``Ā = (Q̄ + Q copyltu(M)) R^{-T}`` with
        ``copyltu(M)`` the symmetric matrix of ``M``'s lower triangle, ``R^{-T}`` by a triangular
        solve. For ``m < n`` (Liao et al. 2019, sec. 3.3), ``A = [X | Y]`` with ``X = Q R₁`` square:
        ``Ȳ = Q R̄₂`` and ``X̄`` is the rule above for ``X``'s factors with ``Q̄ + Y R̄₂^T``. Where the
        shape is not known, that form covers both (``Y`` and ``R₂`` are then empty for ``m >= n``).
        Each part's rule is this with the other's gradient zero, and the two add up."""
        from ..tensor.basic import concatenate, minimum

        (a,) = inputs
        m, n = a.type.shape[-2:]
        q, r = apply(QR("q"), a), apply(QR("r"), a)
        if m is not None and n is not None and m >= n:
            return [_qr_tall_gradient(q, r, g if self.part == "q" else None, g if self.part == "r" else None)]
        k = min(m, n) if m is not None and n is not None else minimum(a.shape[-2], a.shape[-1])
        rows = (slice(None),) * (a.ndim - 1)
        left, right = rows + (slice(None, k),), rows + (slice(k, None),)
        if self.part == "q":
            return [concatenate([_qr_tall_gradient(q, r[left], g, None), elemwise("mul", 0.0, a[right])], axis=-1)]
        g_left, g_right = g[left], g[right]
        from_y = matmul(a[right], transpose(g_right))  # Y R̄₂^T, the part of Q̄ that Y gives
        return [concatenate([_qr_tall_gradient(q, r[left], from_y, g_left), matmul(q, g_right)], axis=-1)]


def _qr_tall_gradient(q: Variable, r: Variable, gq: Variable | None, gr: Variable | None) -> Variable:
    """``Ā = (Q̄ + Q copyltu(M)) R^{-T}``, ``M = R R̄^T - Q̄^T Q``, for ``A = Q R`` with ``R`` square
    (``A`` of full column rank); a gradient that is None counts as zero."""
    terms = ([matmul(r, transpose(gr))] if gr is not None else []) + (
        [elemwise("neg", matmul(transpose(gq), q))] if gq is not None else []
    )
    mid = terms[0] if len(terms) == 1 else elemwise("add", *terms)
    copy = elemwise("add", triangle(mid, lower=True), transpose(triangle(mid, lower=True, k=-1)))
    b = matmul(q, copy) if gq is None else elemwise("add", gq, matmul(q, copy))
    return transpose(apply(SolveTriangular(lower=False), r, transpose(b)))


def _reciprocal_gaps(values: Variable, squared: bool) -> Variable:
    """``F_ij = 1 / (x_j - x_i)`` off the diagonal (``x`` the values, or their squares), and 0 where
    two are equal within ``k · eps · max|x|``: there the vectors are any basis of their space, and
    the gradient of a cost that does not depend on that choice is exact with the coupling zero."""
    from .reduce import reduce
    from .shape import size

    x = elemwise("sqr", values) if squared else values
    gap = elemwise("sub", as_row(x), as_column(x))  # x_j - x_i
    scale = elemwise("mul", float(np.finfo(x.dtype).eps), reduce("max", elemwise("abs", x)))  # over the stack
    tol = elemwise("mul", scale, cast(size(x, (x.ndim - 1,)), x.dtype))
    return elemwise("switch", elemwise("gt", elemwise("abs", gap), tol), elemwise("true_div", 1.0, gap), 0.0)


class SVD(Op):
    """One result of ``np.linalg.svd(a, full_matrices=full)``: ``part`` is ``"u"`` (m, k), ``"s"``
    (k,), descending, or ``"vt"`` (k, n), ``k = min(m, n)``; with ``full``, ``u`` is (m, m) and
    ``vt`` (n, n)."""

    props = ("part", "full")
    square = False

    def __init__(self, part: str, full: bool = False) -> None:
        if part not in ("u", "s", "vt"):
            raise ValueError(f"SVD: part must be 'u', 's' or 'vt', got {part!r}")
        self.part, self.full = part, bool(full)

    def __str__(self) -> str:
        return f"svd_{self.part}" + ("{full}" if self.full else "")

    def make_type(self, a: Variable) -> TensorType:
        check_matrix("svd", a, square=False)
        m, n = a.type.shape[-2:]
        k = None if m is None or n is None else min(m, n)
        u, vt = ((m, m), (n, n)) if self.full else ((m, k), (k, n))
        return TensorType(a.dtype, a.type.shape[:-2] + {"u": u, "s": (k,), "vt": vt}[self.part])

    def perform(self, a: np.ndarray) -> np.ndarray:
        return np.linalg.svd(a, full_matrices=self.full)[("u", "s", "vt").index(self.part)]

    def vjp(self, inputs, output, g):
        """Townsend (2016), with ``A = U S V^T``: ``Ā = U [(F ∘ (U^T Ū - Ū^T U)) S + diag(S̄) +
        S (F ∘ (V^T V̄ - V̄^T V))] V^T + (I - U U^T) Ū S^{-1} V^T + U S^{-1} V̄^T (I - V V^T)``,
        ``F_ij = 1 / (s_j² - s_i²)`` (0 where singular values repeat, see ``_reciprocal_gaps``);
        each part's rule is this with the others' gradients zero. ``S^{-1}`` is taken as 0 where
        a singular value is 0 (a rank-deficient matrix: the gradient stays finite). The extra
        columns of a full ``u`` or ``vt`` are any orthonormal completion: no gradient (as in JAX)."""
        if self.full:
            raise NotImplementedError(
                f"the gradient of svd's {self.part} with full_matrices=True is not defined (its extra columns are "
                "any orthonormal completion); use full_matrices=False"
            )
        (a,) = inputs
        u, s, vt = (apply(SVD(p), a) for p in ("u", "s", "vt"))
        if self.part == "s":  # U diag(s̄) V^T
            return [matmul(elemwise("mul", u, as_row(g)), vt)]
        f = _reciprocal_gaps(s, squared=True)
        inverse = elemwise("switch", elemwise("gt", s, 0.0), elemwise("true_div", 1.0, s), 0.0)
        if self.part == "u":  # Ū = g
            ut_g = matmul(transpose(u), g)
            skew = elemwise("mul", f, elemwise("sub", ut_g, transpose(ut_g)))
            core = matmul(u, elemwise("mul", skew, as_row(s)))  # U (F ∘ ...) S
            rest = elemwise("sub", g, matmul(u, ut_g))  # (I - U U^T) Ū
            return [matmul(elemwise("add", core, elemwise("mul", rest, as_row(inverse))), vt)]
        vbar = transpose(g)  # V̄ = (V^T)̄^T
        vt_vbar = matmul(vt, vbar)
        skew = elemwise("mul", f, elemwise("sub", vt_vbar, transpose(vt_vbar)))
        core = matmul(elemwise("mul", as_column(s), skew), vt)  # S (F ∘ ...) V^T
        rest = elemwise("sub", g, matmul(transpose(vt_vbar), vt))  # V̄^T (I - V V^T)
        return [matmul(u, elemwise("add", core, elemwise("mul", as_column(inverse), rest)))]


class Expm(Op):
    """The matrix exponential (``scipy.linalg.expm``)."""

    def __str__(self) -> str:
        return "expm"

    def make_type(self, a: Variable) -> TensorType:
        check_matrix("expm", a, batched=False)
        return a.type

    def perform(self, a: np.ndarray) -> np.ndarray:
        import scipy.linalg

        return np.asarray(scipy.linalg.expm(a), dtype=a.dtype)

    def vjp(self, inputs, output, g):
        """Najfeld and Havel (1995): the gradient is the upper right block of
        ``expm([[A^T, Ḡ], [0, A^T]])``, one exponential of twice the size."""
        from ..tensor.basic import concatenate, shape, zeros_like

        (a,) = inputs
        at = transpose(a)
        block = concatenate([concatenate([at, g], axis=1), concatenate([zeros_like(a), at], axis=1)], axis=0)
        n = shape(a)[0]
        return [apply(Expm(), block)[:n, n:]]


class LU(Op):
    """One result of ``scipy.linalg.lu(a)`` for a square ``a = P L U`` (partial pivoting):
    ``part`` is ``"p"`` (the permutation matrix), ``"l"`` (unit lower triangular) or ``"u"``."""

    props = ("part",)

    def __init__(self, part: str) -> None:
        if part not in ("p", "l", "u"):
            raise ValueError(f"LU: part must be 'p', 'l' or 'u', got {part!r}")
        self.part = part

    def __str__(self) -> str:
        return f"lu_{self.part}"

    def make_type(self, a: Variable) -> TensorType:
        check_matrix("lu", a, batched=False)
        return a.type

    def perform(self, a: np.ndarray) -> np.ndarray:
        import scipy.linalg

        return np.asarray(scipy.linalg.lu(a)[("p", "l", "u").index(self.part)], dtype=a.dtype)

    def vjp(self, inputs, output, g):
        """``Ā = P L^{-T} (tril(L^T L̄, -1) + triu(Ū U^T)) U^{-T}``, by triangular solves; the
        permutation is piecewise constant (no gradient)."""
        if self.part == "p":
            return [None]
        (a,) = inputs
        p, lower, upper = (apply(LU(part), a) for part in ("p", "l", "u"))
        if self.part == "l":
            middle = triangle(matmul(transpose(lower), g), lower=True, k=-1)
        else:
            middle = triangle(matmul(g, transpose(upper)), lower=False)
        left = apply(SolveTriangular(lower=True, trans=True, unit_diagonal=True), lower, middle)  # L^{-T} M
        right = transpose(apply(SolveTriangular(lower=False), upper, transpose(left)))  # ... U^{-T}
        return [matmul(p, right)]
