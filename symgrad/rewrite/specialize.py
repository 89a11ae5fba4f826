"""The specialize phase: forms that are cheaper for this back end, once the graph is canonical and stable.

Matrix products run as one BLAS call (NumPy's ``np.dot``), which takes a transposed operand as a
flag when it is handed a transposed view. These rules arrange for operands to be such views, and
results to come out in the layout that is wanted, instead of copies made by a kernel.
"""

from __future__ import annotations

from ..graph import Apply, Variable, apply
from ..ops.blas import Dot
from ..ops.elemwise import Elemwise, make_elemwise, sym
from ..ops.linalg import SVD, Eigh, Factorization, FactorPart, SolveTriangular, TriangularProduct
from ..ops.shape import DimShuffle, transpose
from .core import Context, node_rewrite


def _is_transpose(var: Variable, ctx: Context) -> bool:
    """Whether ``var`` is a transposed view of a matrix (a permutation of two lengths, not 1)."""
    node = ctx.owner(var)
    return (
        node is not None
        and isinstance(node.op, DimShuffle)
        and node.op.new_order == (1, 0)
        and not any(node.inputs[0].broadcastable)
    )


@node_rewrite("specialize", DimShuffle)
def transpose_of_dot(node: Apply, ctx: Context) -> Variable | None:
    """dot(a, b).T → dot(b.T, a.T)

    BLAS writes the transposed product directly, taking the transposed operands as flags, where
    the transposed view of the product would be copied (as an output) or read across its rows.
    """
    product = ctx.owner(node.inputs[0])
    if node.op.new_order != (1, 0) or product is None or not isinstance(product.op, Dot):
        return None
    a, b = product.inputs
    if a.ndim != 2 or b.ndim != 2 or ctx.clients(node.inputs[0]) != 1:
        return None  # a product also used untransposed would be computed twice
    return apply(Dot(), transpose(b), transpose(a))


@node_rewrite("specialize", Dot)
def transposed_operand(node: Apply, ctx: Context) -> Variable | None:
    """dot(f(x.T), y) → dot(f(x).T, y) for elementwise f

    The kernel runs along x's rows and BLAS takes the transposed result as a flag, instead of the
    kernel reading x across its rows.
    """
    for position, operand in enumerate(node.inputs):
        owner = ctx.owner(operand)
        if owner is None or not isinstance(owner.op, Elemwise) or operand.ndim != 2 or ctx.clients(operand) != 1:
            continue
        if not any(_is_transpose(v, ctx) for v in owner.inputs):
            continue
        flipped = [transpose(v) for v in owner.inputs]
        if any(_is_transpose(v, ctx) for v in flipped):
            continue  # some input would be read transposed instead: nothing gained
        inputs = list(node.inputs)
        inputs[position] = transpose(make_elemwise(owner.op.expr, flipped, owner.op.dtype, owner.op.name))
        return apply(Dot(), *inputs)
    return None


@node_rewrite("specialize", Eigh, SVD)
def one_factorization(node: Apply, ctx: Context) -> Variable | None:
    """eigvalsh(a), eigh_vectors(a) → views of one eigh(a) (likewise svd_u, svd_s, svd_vt)

    A graph node has one output, so each result of a factorization is a node of its own, and a
    gradient reads them all: each would call LAPACK on ``a`` again. As views of one packed
    :class:`Factorization`, the nodes reading ``a`` share one call (the packing costs a copy).
    """
    if getattr(node.op, "full", False):  # svd's full_matrices=True: no gradient reads it
        return None
    a = node.inputs[0]
    return apply(FactorPart(node.op), apply(Factorization("eigh" if isinstance(node.op, Eigh) else "svd"), a), a)


@node_rewrite("specialize", SolveTriangular, TriangularProduct)
def scale_out_of_solve(node: Apply, ctx: Context) -> Variable | None:
    """solve_triangular(a, c*b) → c*solve_triangular(a, b) for a number c (likewise the product)

    Both are linear in ``b``, and the adjoint reaching a solve is often a multiple of a right-hand
    side already solved (a quadratic form's ``0.5*y``): the solve of ``b`` itself is then shared,
    and a pass over the matrix is saved.
    """
    a, b = node.inputs
    owner = ctx.owner(b)
    if owner is None or not isinstance(owner.op, Elemwise) or len(owner.inputs) != 1 or owner.inputs[0].type != b.type:
        return None
    scale = owner.op.expr / sym(0)
    if scale.free_symbols or scale == 1:
        return None
    return make_elemwise(scale * sym(0), [apply(node.op, a, owner.inputs[0])], b.dtype)
