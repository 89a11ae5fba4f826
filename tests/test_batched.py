"""Stacks of matrices: ``@``/``matmul``/``batched_dot`` and two-operand ``einsum`` as one BLAS product
per matrix (``BatchedDot``), by NumPy's matmul rules; the linear algebra batched over leading axes
as NumPy's is. Values against NumPy and SciPy, gradients against central differences."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import symgrad as theano
import symgrad.tensor as T
from symgrad.graph import graph_inputs
from symgrad.ops.loop import evaluate

from .helpers import numeric_grad, program_text

# (shape of a, shape of b, static shape of a, static shape of b): NumPy's matmul rules, broadcast
# stacks (a length known to be 1), more than one batch axis, vectors on either side, empty stacks.
MATMUL_CASES = [
    ((2, 3, 4), (2, 4, 5), None, None),
    ((1, 3, 4), (2, 4, 5), (1, None, None), None),
    ((2, 2, 3, 4), (2, 4, 5), None, None),
    ((2, 1, 3, 4), (1, 3, 4, 5), (None, 1, None, None), (1, None, None, None)),
    ((2, 3, 4), (4,), None, None),
    ((4,), (2, 4, 5), None, None),
    ((3, 4), (2, 4, 5), None, None),
    ((0, 3, 4), (0, 4, 2), None, None),
    ((2, 3, 0), (2, 0, 2), None, None),
]

EINSUM_CASES = ["bij,bjk->bik", "bij,bkj->bki", "ijk,kl->ijl", "ijx,jk->k", "abcd,cbe->dae", "ij,ij", "i,j->ij"]
EINSUM_SHAPES = {
    "bij,bjk->bik": ((2, 3, 4), (2, 4, 5)),
    "bij,bkj->bki": ((2, 3, 4), (2, 5, 4)),
    "ijk,kl->ijl": ((2, 3, 4), (4, 5)),
    "ijx,jk->k": ((2, 3, 4), (3, 5)),
    "abcd,cbe->dae": ((2, 3, 4, 5), (4, 3, 6)),
    "ij,ij": ((3, 4), (3, 4)),
    "i,j->ij": ((3,), (4,)),
}


def _variables(shapes, static, dtype="float64"):
    return [
        T.tensor(dtype, given or (None,) * len(shape), name=name) for name, shape, given in zip("ab", shapes, static)
    ]


def _cases(dtype):
    """Per case: the two variables, their values, the symbolic result and NumPy's."""
    rng = np.random.default_rng(0)
    for sa, sb, ta, tb in MATMUL_CASES:
        a, b = _variables((sa, sb), (ta, tb), dtype)
        values = [rng.standard_normal(s).astype(dtype) for s in (sa, sb)]
        yield a, b, values, a @ b, values[0] @ values[1], lambda x, y: x @ y
    for subscripts in EINSUM_CASES:
        shapes = EINSUM_SHAPES[subscripts]
        a, b = _variables(shapes, (None, None), dtype)
        values = [rng.standard_normal(s).astype(dtype) for s in shapes]
        yield (
            a,
            b,
            values,
            T.einsum(subscripts, a, b),
            np.einsum(subscripts, *values),
            (lambda x, y, s=subscripts: np.einsum(s, x, y)),
        )


def test_values_and_gradients_against_numpy_and_central_differences():
    """By the reference evaluator (no compiling): each result, and the gradient of a weighted sum
    of it with respect to both operands."""
    for a, b, values, out, expected, reference in _cases("float64"):
        weights = np.random.default_rng(1).uniform(0.5, 1.5, np.shape(expected))
        cost = T.sum(out * weights)
        got, ga, gb = evaluate([out, *T.grad(cost, [a, b])], {id(a): values[0], id(b): values[1]})
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        for i, g in enumerate((ga, gb)):
            fd = numeric_grad(lambda x, y, f=reference, w=weights: np.sum(f(x, y) * w), values, i)
            np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.long  # 30-45 s of compiling per dtype on a busy machine
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiled_stacks_are_one_blas_product_per_matrix(dtype):
    """Compiled: every case in one function, its results and gradients equal to the reference
    evaluator's; the stacked products run as ``batched_matrix_product``, never a broadcast sum."""
    inputs, outputs, given = [], [], []
    for a, b, values, out, _, _ in _cases(dtype):
        inputs += [a, b]
        given += values
        outputs += [out, *T.grad(T.sum(out * out), [a, b])]
    f = theano.function(inputs, outputs)
    expected = evaluate(outputs, {id(v): x for v, x in zip(inputs, given)})
    tolerance = 1e-4 if dtype == "float32" else 1e-10
    for got, want in zip(f(*given), expected):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
    program = program_text(f)
    assert program.count("= batched_matrix_product(") >= 3 * 9, program  # the products and both gradients


def test_compiled_product_and_gradients():
    """One stack product and both its gradients compiled: three BLAS products per matrix."""
    a, b = T.dtensor3("a"), T.dtensor3("b")
    out = a @ b
    f = theano.function([a, b], [out, *T.grad(T.sum(out * out), [a, b])])
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 3, 4)), rng.standard_normal((5, 4, 2))
    got, ga, gb = f(x, y)
    np.testing.assert_allclose(got, x @ y, rtol=1e-12)
    np.testing.assert_allclose(ga, 2 * (x @ y) @ y.transpose(0, 2, 1), rtol=1e-12)
    np.testing.assert_allclose(gb, 2 * x.transpose(0, 2, 1) @ (x @ y), rtol=1e-12)
    assert program_text(f).count("= batched_matrix_product(") == 3


def test_shape_errors():
    """Stacks that do not broadcast or matrices that do not fit: at build time when the types say
    so, else before BLAS runs, naming the operands."""
    with pytest.raises(ValueError, match=r"do not broadcast \(2 != 3\)"):
        T.tensor("float64", (2, None, None), name="a") @ T.tensor("float64", (3, None, None), name="b")
    a, b = T.dtensor3("a"), T.dtensor3("b")
    f = theano.function([a, b], a @ b)
    with pytest.raises(ValueError, match=r"matmul.*a has shape \(2, 3, 4\).*b has shape \(3, 4, 5\)"):
        f(np.ones((2, 3, 4)), np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match=r"matmul.*a has shape \(2, 3, 4\).*b has shape \(2, 3, 5\)"):
        f(np.ones((2, 3, 4)), np.ones((2, 3, 5)))
    np.testing.assert_allclose(f(np.ones((2, 3, 4)), np.ones((2, 4, 5))), np.full((2, 3, 5), 4.0))


def _solve_triangular(a, b, **options):
    """SciPy's ``solve_triangular`` on each matrix of a stack."""
    x = np.empty(b.shape)
    for index in np.ndindex(a.shape[:-2]):
        x[index] = scipy.linalg.solve_triangular(a[index], b[index], **options)
    return x


def _symmetric(p):
    """The symmetric matrices that an op reading the lower triangle sees."""
    return np.tril(p) + np.swapaxes(np.tril(p, -1), -1, -2)


# name: (symgrad function, NumPy/SciPy reference) of G (general), P (positive definite), R
# (right-hand sides) and Q (tall), each a (2, 3) stack. Eigenvectors and singular vectors up to sign.
LINALG_CASES = {
    "cholesky": (lambda G, P, R, Q: T.slinalg.cholesky(P), lambda G, P, R, Q: np.linalg.cholesky(P)),
    "solve": (lambda G, P, R, Q: T.slinalg.solve(G, R), lambda G, P, R, Q: np.linalg.solve(G, R)),
    "solve_pos": (
        lambda G, P, R, Q: T.slinalg.solve(P, R, assume_a="pos", lower=True),
        lambda G, P, R, Q: np.linalg.solve(_symmetric(P), R),
    ),
    "solve_triangular": (
        lambda G, P, R, Q: T.slinalg.solve_triangular(G, R, lower=True, trans=1),
        lambda G, P, R, Q: _solve_triangular(G, R, lower=True, trans=1),
    ),
    "inv": (lambda G, P, R, Q: T.nlinalg.inv(G), lambda G, P, R, Q: np.linalg.inv(G)),
    "det": (lambda G, P, R, Q: T.nlinalg.det(G), lambda G, P, R, Q: np.linalg.det(G)),
    "slogdet": (lambda G, P, R, Q: T.nlinalg.slogdet(G)[1], lambda G, P, R, Q: np.linalg.slogdet(G)[1]),
    "logdet_psd": (
        lambda G, P, R, Q: T.nlinalg.logdet(P, psd=True),
        lambda G, P, R, Q: np.linalg.slogdet(_symmetric(P))[1],
    ),
    "eigvalsh": (lambda G, P, R, Q: T.nlinalg.eigh(P)[0], lambda G, P, R, Q: np.linalg.eigh(P)[0]),
    "eigh_vectors": (lambda G, P, R, Q: abs(T.nlinalg.eigh(P)[1]), lambda G, P, R, Q: abs(np.linalg.eigh(P)[1])),
    "qr_q": (lambda G, P, R, Q: T.nlinalg.qr(Q)[0], lambda G, P, R, Q: np.linalg.qr(Q)[0]),
    "qr_r": (lambda G, P, R, Q: T.nlinalg.qr(Q)[1], lambda G, P, R, Q: np.linalg.qr(Q)[1]),
    "svd_s": (
        lambda G, P, R, Q: T.nlinalg.svd(Q, compute_uv=False),
        lambda G, P, R, Q: np.linalg.svd(Q, compute_uv=False),
    ),
    "svd_u": (
        lambda G, P, R, Q: abs(T.nlinalg.svd(Q)[0]),
        lambda G, P, R, Q: abs(np.linalg.svd(Q, full_matrices=False)[0]),
    ),
    "pinv": (lambda G, P, R, Q: T.nlinalg.pinv(Q), lambda G, P, R, Q: np.linalg.pinv(Q)),
    "lu_l": (lambda G, P, R, Q: T.slinalg.lu(Q)[1], lambda G, P, R, Q: scipy.linalg.lu(Q)[1]),
    "lu_wide_u": (
        lambda G, P, R, Q: T.slinalg.lu(Q.dimshuffle(0, 1, 3, 2))[2],
        lambda G, P, R, Q: scipy.linalg.lu(np.swapaxes(Q, -1, -2))[2],
    ),
}


def _linalg_inputs(dtype="float64"):
    rng = np.random.default_rng(0)
    n, batch = 4, (2, 3)
    s = rng.standard_normal((*batch, n, n))
    values = [
        rng.standard_normal((*batch, n, n)) + n * np.eye(n),
        s @ np.swapaxes(s, -1, -2) + n * np.eye(n),
        rng.standard_normal((*batch, n, 2)),
        rng.standard_normal((*batch, 5, 3)),
    ]
    return [T.tensor(dtype, (None,) * 4, name=name) for name in "GPRQ"], [v.astype(dtype) for v in values]


@pytest.mark.parametrize("name", list(LINALG_CASES))
def test_batched_linalg_values_and_gradients(name):
    """By the reference evaluator: each op on a (2, 3) stack against NumPy's batched function (or
    SciPy's per matrix), and its gradient against central differences of that reference."""
    build, reference = LINALG_CASES[name]
    variables, values = _linalg_inputs()
    out = build(*variables)
    expected = reference(*values)
    weights = np.random.default_rng(1).uniform(0.5, 1.5, np.shape(expected))
    cost = T.sum(out * weights)
    given = {id(v): x for v, x in zip(variables, values)}
    np.testing.assert_allclose(evaluate([out], given)[0], expected, rtol=1e-10, atol=1e-12)
    read = [i for i, v in enumerate(variables) if any(v is u for u in graph_inputs([out]))]
    for i, g in zip(read, evaluate(T.grad(cost, [variables[i] for i in read]), given)):
        fd = numeric_grad(lambda *xs: np.sum(reference(*xs) * weights), values, i)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6, err_msg=f"gradient {name} wrt {variables[i]}")


def test_batched_expm_is_per_matrix():
    """``expm`` of a stack: SciPy's values, and the gradient of each matrix that of the 2-d op
    (checked against central differences in test_linalg.py); central differences of a stack of
    exponentials would take seconds."""
    rng = np.random.default_rng(2)
    values, weights = 0.3 * rng.standard_normal((3, 4, 4)), rng.uniform(0.5, 1.5, (3, 4, 4))
    a, m = T.dtensor3("a"), T.dmatrix("m")
    out = T.slinalg.expm(a)
    got, grad = evaluate([out, T.grad(T.sum(out * weights), a)], {id(a): values})
    np.testing.assert_allclose(got, scipy.linalg.expm(values), rtol=1e-12)
    for k in range(3):
        (expected,) = evaluate([T.grad(T.sum(T.slinalg.expm(m) * weights[k]), m)], {id(m): values[k]})
        np.testing.assert_allclose(grad[k], expected, rtol=1e-12, atol=1e-14)


@pytest.mark.long  # two minutes of compiling LAPACK loops on a busy machine
def test_batched_linalg_compiled():
    """Every batched op and the gradient of one cost reading them all, compiled: each LAPACK call
    a loop over the stack; equal to the reference evaluator's."""
    variables, values = _linalg_inputs()
    outs = [build(*variables) for build, _ in LINALG_CASES.values()]
    grads = T.grad(sum(T.sum(out * (k + 1.0)) for k, out in enumerate(outs)), variables)
    f = theano.function(variables, outs + grads)
    expected = evaluate(outs + grads, {id(v): x for v, x in zip(variables, values)})
    for got, want in zip(f(*values), expected):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)
    assert "for matrix0 in np.ndindex(" in program_text(f)
    with pytest.raises(ValueError, match=r"cholesky .*P has shape \(2, 3, 4, 5\)"):
        f(values[0], np.ones((2, 3, 4, 5)), *values[2:])
