"""Linear algebra ops on matrices: Cholesky, solves, inverse, determinants, eigh, QR, SVD, LU, expm.

Each op takes matrices of one float dtype (a right-hand side may be a vector), or stacks of them,
batched over the leading axes as NumPy's and SciPy's own functions are (a right-hand side then a
stack of matrices with the same leading lengths). Its gradient is the
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
from .elemwise import Elemwise, cast, elemwise, make_elemwise, result_dtype, sym
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


def check_rhs(what: str, a: Variable, b: Variable) -> None:
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


def triangle(x: Variable, lower: bool, k: int = 0, diagonal: float = 1.0) -> Variable:
    """``np.tril(x, k)`` (``lower``) or ``np.triu(x, k)``: the other entries are zero; the diagonal
    (``k = 0``) scaled by ``diagonal``."""
    return apply(Triangle(lower, k, diagonal), x)


def on_diagonal(x: Variable) -> Variable:
    """``x`` with its off-diagonal entries zero (``np.diag(np.diag(x))``)."""
    return triangle(triangle(x, lower=True), lower=False)


def symmetric_part_gradient(g: Variable, lower: bool) -> Variable:
    """The gradient with respect to the triangle an op reads, given ``g``, the gradient with respect
    to the full symmetric matrix it stands for: each off-diagonal entry counts for both of its places
    (the triangle of ``g + g^T``, whose diagonal counts ``g``'s twice: halved)."""
    return apply(Triangle(lower, diagonal=0.5, plus_transpose=True), g)


def _minus_outer(u: Variable, v: Variable) -> Variable:
    """``-u v^T`` for vectors (an elementwise outer product) or matrices (one column per right-hand side)."""
    from .blas import outer

    return elemwise("neg", outer(u, v) if u.ndim == 1 else matmul(u, transpose(v)))


# --- ops ------------------------------------------------------------------------------------------------


class Triangle(Op):
    """``np.tril(x, k)`` (``lower``) or ``np.triu(x, k)``, the diagonal scaled by ``diagonal`` where
    ``k = 0`` (Murray's ``Φ``, the lower triangle with the diagonal halved, is one pass); with
    ``plus_transpose``, that of ``x + x^T`` (the gradient with respect to the triangle a symmetric
    matrix is read from, in one pass). (As an elementwise ``switch`` on row and column numbers it
    would fuse, but the nested conditions it leaves in a gradient make SymPy's printing of the
    function's formulas take minutes.)"""

    props = ("lower", "k", "diagonal", "plus_transpose")

    def __init__(self, lower: bool, k: int = 0, diagonal: float = 1.0, plus_transpose: bool = False) -> None:
        self.lower, self.k, self.diagonal, self.plus_transpose = (
            bool(lower),
            int(k),
            float(diagonal),
            bool(plus_transpose),
        )
        if self.k and self.diagonal != 1.0:
            raise ValueError(f"Triangle: the diagonal is scaled only for k = 0, got k = {self.k}")
        self.square = self.plus_transpose  # the CPU rule's run-time check

    def __str__(self) -> str:
        name = "tril" if self.lower else "triu"
        options = [str(self.k)] * bool(self.k) + ["plus_transpose"] * self.plus_transpose
        options += [f"diagonal={self.diagonal:g}"] * (self.diagonal != 1.0)
        return f"{name}{{{', '.join(options)}}}" if options else name

    def make_type(self, x: Variable) -> TensorType:
        check_matrix(str(self), x, square=self.plus_transpose)
        return x.type

    def perform(self, x: np.ndarray) -> np.ndarray:
        x = x + np.swapaxes(x, -1, -2) if self.plus_transpose else x
        out = (np.tril if self.lower else np.triu)(x, self.k)
        on = np.arange(min(x.shape[-2:]))
        out[..., on, on] *= self.diagonal
        return out

    def vjp(self, inputs, output, g):
        back = apply(Triangle(self.lower, self.k, self.diagonal), g)
        return [elemwise("add", back, transpose(back)) if self.plus_transpose else back]


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
        ``S = L^{-T} P L^{-1}`` by two triangular solves, and the gradient ``Φ``-symmetrized.
        ``L^T Ḡ`` is taken term by term of ``Ḡ`` (see :func:`_lower_product`): the terms that
        solves with ``L`` and its diagonal give cost ``O(n²)`` each, not a triangular product's ``O(n³)``."""
        L = output
        P = triangle(_lower_product(L, g), lower=True, diagonal=0.5)  # Φ(L^T Ḡ)
        left = apply(SolveTriangular(lower=True, trans=True), L, P)  # L^{-T} P
        S = transpose(apply(SolveTriangular(lower=True, trans=True), L, transpose(left)))  # (L^{-T} P) L^{-1}
        return [symmetric_part_gradient(S, lower=True)]  # that of S's symmetric part: the same


def _lower_product(L: Variable, g: Variable) -> Variable:
    """A matrix whose lower triangle is that of ``L^T g``, for ``L`` lower triangular, taken term by
    term of the sum ``g`` (an adjoint adds up what each reader of ``L`` gives). Two kinds of term
    cost ``O(n²)`` instead of a triangular product's ``O(n³)``:

    - ``tril(±U V^T)`` (what a solve with ``L`` gives, ``U`` and ``V`` vectors or thin matrices):
      the lower triangle of ``L^T tril(M)`` is that of ``L^T M`` (entry ``(i, j)``, ``i ≥ j``, reads
      ``M`` at rows ``k ≥ i ≥ j`` only), so this is ``±(L^T U) V^T``, a product with ``U``;
    - a diagonal matrix ``D`` (the gradient of ``L``'s diagonal, as a log-determinant reads it):
      the lower triangle of ``L^T D`` is its diagonal, ``L ∘ D``.

    The other terms, summed, are multiplied by ``L^T`` with BLAS's trmm."""
    from .blas import outer

    fast, rest = [], []
    for term in _terms(g) if L.ndim == 2 else [g]:
        factors = _low_rank_factors(term)
        if factors is not None:
            sign, u, v = factors
            lu = apply(TriangularProduct(lower=True, trans=True), L, u)
            product = outer(lu, v) if u.ndim == 1 else matmul(lu, transpose(v))
            fast.append(product if sign > 0 else elemwise("neg", product))
        elif _is_diagonal(term):
            fast.append(elemwise("mul", L, term))
        else:
            rest.append(term)
    if rest:
        fast.append(apply(TriangularProduct(lower=True, trans=True), L, _sum(rest)))
    return _sum(fast)


def _sum(terms: list[Variable]) -> Variable:
    """The sum of ``terms`` (of one type), one elementwise node."""
    return terms[0] if len(terms) == 1 else make_elemwise(sum(sym(i) for i in range(len(terms))), terms, terms[0].dtype)


def _terms(x: Variable) -> list[Variable]:
    """The terms of ``x`` if it is a sum of same-shaped terms (as the reverse sweep adds up an
    adjoint), else ``[x]``."""
    node = x.owner
    if node is None or not isinstance(node.op, Elemwise) or len(node.inputs) < 2:
        return [x]
    if node.op.expr != sum(sym(i) for i in range(len(node.inputs))) or any(t.type != x.type for t in node.inputs):
        return [x]
    return list(node.inputs)


def _low_rank_factors(term: Variable) -> tuple[int, Variable, Variable] | None:
    """``(sign, U, V)`` where ``term`` is ``tril(sign · U V^T)`` (vectors: an outer product), else None."""
    from .blas import Dot
    from .shape import DimShuffle

    node = term.owner
    if node is None or node.op != Triangle(lower=True):
        return None
    x, sign = node.inputs[0], 1
    while x.owner is not None and isinstance(x.owner.op, Elemwise) and x.owner.op.expr == -sym(0):
        x, sign = x.owner.inputs[0], -sign
    node = x.owner
    if node is None:
        return None
    shuffled = [v.owner.op.new_order if v.owner and isinstance(v.owner.op, DimShuffle) else None for v in node.inputs]
    if isinstance(node.op, Elemwise) and node.op.expr == sym(0) * sym(1) and shuffled == [(0, "x"), ("x", 0)]:
        return sign, node.inputs[0].owner.inputs[0], node.inputs[1].owner.inputs[0]
    if isinstance(node.op, Dot) and node.inputs[0].ndim == 2 and shuffled[1] == (1, 0):
        return sign, node.inputs[0], node.inputs[1].owner.inputs[0]
    return None


def _is_diagonal(term: Variable) -> bool:
    """Whether ``term`` is a square matrix that is zero off its diagonal: ``zeros[i, i] += d``."""
    from .indexing import AdvancedSubtensorGrad

    node = term.owner
    return (
        node is not None
        and isinstance(node.op, AdvancedSubtensorGrad)
        and node.op.pattern == (True, True)
        and node.inputs[2] is node.inputs[3]
    )


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
        check_rhs("solve_triangular", a, b)
        return _solution_type(a, b)

    def perform(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import scipy.linalg

        x = np.empty(b.shape, dtype=b.dtype)
        for index in np.ndindex(a.shape[:-2]):  # SciPy's solve_triangular takes one matrix
            x[index] = scipy.linalg.solve_triangular(  # a NaN spreads, as through the other solves
                a[index], b[index], int(self.trans), self.lower, self.unit_diagonal, check_finite=False
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
        check_rhs("triangular_product", a, b)
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
        check_rhs("solve", a, b)
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


def _finite(name: str, a: np.ndarray) -> np.ndarray:
    """``a``, or LinAlgError if it holds an inf or a NaN: the factorizations refuse them, as the
    compiled programs (Numba's LAPACK wrappers) do, rather than give LAPACK's part-NaN results."""
    if not np.isfinite(a).all():
        raise np.linalg.LinAlgError(f"{name}: the matrix must not contain infs or NaNs")
    return a


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
        sign = np.where(np.isfinite(a).all(axis=(-2, -1)), sign, np.nan)  # NumPy's is ±1 for a NaN matrix
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
        return np.linalg.eigh(_finite("eigh", a))[0 if self.part == "w" else 1]

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
        return [symmetric_part_gradient(full, lower=True)]  # that of full's symmetric part: the same


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
        return np.linalg.qr(_finite("qr", a))[0 if self.part == "q" else 1]

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
        return np.linalg.svd(_finite("svd", a), full_matrices=self.full)[("u", "s", "vt").index(self.part)]

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
        check_matrix("expm", a)
        return a.type

    def perform(self, a: np.ndarray) -> np.ndarray:
        import scipy.linalg

        return np.asarray(scipy.linalg.expm(a), dtype=a.dtype)

    def vjp(self, inputs, output, g):
        """Najfeld and Havel (1995): the gradient is the upper right block of
        ``expm([[A^T, Ḡ], [0, A^T]])``, one exponential of twice the size (per matrix of a stack)."""
        from ..tensor.basic import concatenate, shape, zeros_like

        (a,) = inputs
        at = transpose(a)
        top, bottom = concatenate([at, g], axis=-1), concatenate([zeros_like(a), at], axis=-1)
        n = shape(a)[-1]
        return [
            apply(Expm(), concatenate([top, bottom], axis=-2))[
                (slice(None),) * (a.ndim - 2) + (slice(None, n), slice(n, None))
            ]
        ]


class LU(Op):
    """One result of ``scipy.linalg.lu(a)``, ``a = P L U`` by partial pivoting, for ``a`` of shape
    ``(m, n)`` (or a stack of them), ``k = min(m, n)``: ``part`` is ``"p"`` (the ``(m, m)``
    permutation matrix), ``"l"`` (``(m, k)``, unit lower trapezoidal) or ``"u"`` (``(k, n)``,
    upper trapezoidal)."""

    props = ("part",)
    square = False

    def __init__(self, part: str) -> None:
        if part not in ("p", "l", "u"):
            raise ValueError(f"LU: part must be 'p', 'l' or 'u', got {part!r}")
        self.part = part

    def __str__(self) -> str:
        return f"lu_{self.part}"

    def make_type(self, a: Variable) -> TensorType:
        check_matrix("lu", a, square=False)
        m, n = a.type.shape[-2:]
        k = None if m is None or n is None else min(m, n)
        return TensorType(a.dtype, a.type.shape[:-2] + {"p": (m, m), "l": (m, k), "u": (k, n)}[self.part])

    def perform(self, a: np.ndarray) -> np.ndarray:
        import scipy.linalg

        return np.asarray(scipy.linalg.lu(a)[("p", "l", "u").index(self.part)], dtype=a.dtype)

    def vjp(self, inputs, output, g):
        """The permutation is piecewise constant (no gradient). With ``A = P [L₁; L₂] [U₁ | U₂]``,
        ``L₁`` and ``U₁`` square (``k × k``; ``L₂`` is empty unless ``A`` is tall, ``U₂`` unless it
        is wide): ``P^T Ā = [[L₁^{-T} M U₁^{-T}, L₁^{-T} Ū₂], [L̄₂ U₁^{-T}, 0]]`` with
        ``M = tril(L₁^T L̄₁ - Ū₂ U₂^T, -1) + triu(Ū₁ U₁^T - L₂^T L̄₂)``, by triangular solves (the
        square case, ``Ā = P L^{-T} (tril(L^T L̄, -1) + triu(Ū U^T)) U^{-T}``, with the rows below
        ``L₁`` and the columns right of ``U₁`` eliminated as in QR's rule). Each part's rule is this
        with the other's gradient zero."""
        if self.part == "p":
            return [None]
        (a,) = inputs
        p, lower, upper = (apply(LU(part), a) for part in ("p", "l", "u"))
        return [
            matmul(p, _lu_gradient(a, lower, upper, g if self.part == "l" else None, g if self.part == "u" else None))
        ]


def _lu_gradient(a: Variable, lower: Variable, upper: Variable, gl: Variable | None, gu: Variable | None) -> Variable:
    """``P^T Ā`` of :meth:`LU.vjp`; a gradient that is None counts as zero. The blocks that the
    static shape says are empty (``L₂`` of a wide or square ``a``, ``U₂`` of a tall one) are left out."""
    from ..tensor.basic import concatenate, minimum

    m, n = a.type.shape[-2:]
    has_l2 = not (m is not None and n is not None and m <= n)
    has_u2 = not (m is not None and n is not None and m >= n)
    k = min(m, n) if m is not None and n is not None else minimum(a.shape[-2], a.shape[-1])
    lead = (slice(None),) * (a.ndim - 2)

    def block(x: Variable | None, rows: slice, columns: slice) -> Variable | None:
        return None if x is None else x[lead + (rows, columns)]

    top, bottom, left, right, every = slice(None, k), slice(k, None), slice(None, k), slice(k, None), slice(None)
    l1, u1 = (block(lower, top, every), block(upper, every, left)) if has_l2 or has_u2 else (lower, upper)
    gl1, gu1 = (block(gl, top, every), block(gu, every, left)) if has_l2 or has_u2 else (gl, gu)
    below, above = [], []  # the terms of M's strictly lower triangle and of its upper one
    if gl is not None:
        below.append(matmul(transpose(l1), gl1))
        if has_l2:
            above.append(elemwise("neg", matmul(transpose(block(lower, bottom, every)), block(gl, bottom, every))))
    if gu is not None:
        above.append(matmul(gu1, transpose(u1)))
        if has_u2:
            below.append(elemwise("neg", matmul(block(gu, every, right), transpose(block(upper, every, right)))))
    parts = [triangle(_sum(below), lower=True, k=-1)] if below else []
    parts += [triangle(_sum(above), lower=False)] if above else []
    middle = _sum(parts)
    unit_lower = SolveTriangular(lower=True, trans=True, unit_diagonal=True)
    left_solved = apply(unit_lower, l1, middle)  # L₁^{-T} M
    corner = transpose(apply(SolveTriangular(lower=False), u1, transpose(left_solved)))  # ... U₁^{-T}
    if not has_l2 and not has_u2:
        return corner
    zero = elemwise("mul", 0.0, a[lead + (bottom, right)])  # empty: one of its lengths is 0
    if has_u2:
        upper_right = (
            apply(unit_lower, l1, block(gu, every, right))
            if gu is not None
            else elemwise("mul", 0.0, block(upper, every, right))
        )
        corner = concatenate([corner, upper_right], axis=-1)
    if has_l2:
        lower_left = (
            transpose(apply(SolveTriangular(lower=False), u1, transpose(block(gl, bottom, every))))
            if gl is not None
            else elemwise("mul", 0.0, block(lower, bottom, every))
        )
        corner = concatenate([corner, concatenate([lower_left, zero], axis=-1) if has_u2 else lower_left], axis=-2)
    return corner


class Factorization(Op):
    """Every result of one factorization of ``a`` in one array, so that one LAPACK call serves all
    the results a graph reads (a graph node has one output, so each result is a node of its own,
    and each would call LAPACK again): ``kind`` is ``"eigh"`` or ``"svd"`` (reduced). The
    specialize phase puts :class:`FactorPart` views of it in place of the ``Eigh`` and ``SVD``
    nodes, once their gradients are built; the packing costs one copy of the results, the other
    calls' ``O(n³)`` is saved. Layout per matrix, ``(m, n)``, ``k = min(m, n)``: see :func:`part_index`."""

    props = ("kind",)

    def __init__(self, kind: str) -> None:
        if kind not in ("eigh", "svd"):
            raise ValueError(f"Factorization: kind must be 'eigh' or 'svd', got {kind!r}")
        self.kind = kind
        self.square = kind == "eigh"  # the CPU rule's run-time check

    def __str__(self) -> str:
        return self.kind

    def packed_shape(self, m, n, k) -> tuple:
        """The packed array's last two lengths for an ``(m, n)`` matrix (ints, or SymPy symbols)."""
        return (n + 1, n) if self.kind == "eigh" else (m + 1 + k, n)

    def make_type(self, a: Variable) -> TensorType:
        check_matrix(self.kind, a, square=self.square)
        m, n = a.type.shape[-2:]
        n = m if n is None and self.kind == "eigh" else n  # square
        if n is not None and (m is not None or self.kind == "eigh"):
            shape = self.packed_shape(m, n, n if m is None else min(m, n))
        else:
            shape = (None, n)
        return TensorType(a.dtype, a.type.shape[:-2] + shape)

    def perform(self, a: np.ndarray) -> np.ndarray:
        m, n = a.shape[-2:]
        out = np.zeros(a.shape[:-2] + self.packed_shape(m, n, min(m, n)), dtype=a.dtype)
        a = _finite(self.kind, a)
        results = np.linalg.eigh(a) if self.kind == "eigh" else np.linalg.svd(a, full_matrices=False)
        for part, value in zip(("w", "v") if self.kind == "eigh" else ("u", "s", "vt"), results):
            out[(Ellipsis, *part_index(part, m, min(m, n)))] = value
        return out

    def vjp(self, inputs, output, g):
        raise NotImplementedError(
            "the packed factorization has no gradient: its parts' (FactorPart) go to the matrix directly"
        )


def part_index(part: str, m, k) -> tuple:
    """Where result ``part`` of a factorization lies in its packed array (the index of the last two
    axes), for an ``(m, n)`` matrix, ``k = min(m, n)`` (ints, or SymPy symbols for printing):
    ``eigh``'s eigenvalues in row 0, the eigenvectors below; ``svd``'s ``u`` in the first ``k``
    columns of the first ``m`` rows, ``s`` in the next row, ``vt`` below."""
    rows, every = {"w": 0, "v": slice(1, None), "u": slice(None, m), "s": m, "vt": slice(m + 1, None)}, slice(None)
    return rows[part], slice(None, k) if part in ("u", "s") else every


class FactorPart(Op):
    """Result ``op.part`` of ``op`` (an ``Eigh`` or ``SVD`` node's op) of ``a``, read from
    ``packed``, the :class:`Factorization` of ``a`` (``a`` lends its shape): a view."""

    props = ("op",)

    def __init__(self, op: Op) -> None:
        self.op = op

    def __str__(self) -> str:
        return str(self.op)

    def make_type(self, packed: Variable, a: Variable) -> TensorType:
        return self.op.make_type(a)

    def perform(self, packed: np.ndarray, a: np.ndarray) -> np.ndarray:
        m, n = a.shape[-2:]
        return packed[(Ellipsis, *part_index(self.op.part, m, min(m, n)))]

    def vjp(self, inputs, output, g):
        """The part's own gradient, with respect to ``a`` (the packed array stands for ``a``'s results)."""
        return [None, *self.op.vjp(inputs[1:], output, g)]
