"""``T.nlinalg``, ``T.slinalg`` and ``T.linalg``: values against NumPy and SciPy, gradients and
``T.Rop`` against central differences of the NumPy/SciPy reference.

Numba compiles LAPACK calls slowly, so every op is checked by one compiled function per dtype:
its outputs are all the values, all the gradients and all the Jacobian-vector products at once.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import symgrad as theano
import symgrad.tensor as T
from symgrad.ops.loop import evaluate

from .helpers import program_text

N = 4


def _inputs(dtype: str) -> dict[str, np.ndarray]:
    """A well-conditioned general matrix, a positive definite one and right-hand sides."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal((N, N)) + N * np.eye(N)
    s = rng.standard_normal((N, N))
    values = {"G": g, "P": s @ s.T + N * np.eye(N), "B": rng.standard_normal((N, 2)), "v": rng.standard_normal(N)}
    return {k: v.astype(dtype) for k, v in values.items()}


def _logdet(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return np.log(sign) + logabsdet


# name: (symgrad function, NumPy/SciPy reference) of the inputs G, P, B and v
CASES = {
    "cholesky": (lambda G, P, B, v: T.slinalg.cholesky(P), lambda G, P, B, v: np.linalg.cholesky(P)),
    "cholesky_upper": (
        lambda G, P, B, v: T.slinalg.cholesky(P, lower=False),
        lambda G, P, B, v: scipy.linalg.cholesky(P, lower=False),
    ),
    "solve": (lambda G, P, B, v: T.slinalg.solve(G, B), lambda G, P, B, v: np.linalg.solve(G, B)),
    "solve_vector": (lambda G, P, B, v: T.linalg.solve(G, v), lambda G, P, B, v: np.linalg.solve(G, v)),
    "solve_pos": (
        lambda G, P, B, v: T.slinalg.solve(P, B, assume_a="pos"),
        lambda G, P, B, v: scipy.linalg.solve(P, B, assume_a="pos"),
    ),
    "solve_pos_lower": (
        lambda G, P, B, v: T.slinalg.solve(P, v, assume_a="pos", lower=True),
        lambda G, P, B, v: scipy.linalg.solve(P, v, assume_a="pos", lower=True),
    ),
    "solve_sym": (
        lambda G, P, B, v: T.slinalg.solve(G, B, assume_a="sym"),
        lambda G, P, B, v: scipy.linalg.solve(G, B, assume_a="sym"),
    ),
    "solve_lower": (
        lambda G, P, B, v: T.slinalg.solve_triangular(G, B, lower=True),
        lambda G, P, B, v: scipy.linalg.solve_triangular(G, B, lower=True),
    ),
    "solve_upper_trans": (
        lambda G, P, B, v: T.slinalg.solve_triangular(G, v, trans="T"),
        lambda G, P, B, v: scipy.linalg.solve_triangular(G, v, trans="T"),
    ),
    "solve_lower_trans_unit": (
        lambda G, P, B, v: T.slinalg.solve_triangular(G, B, trans=1, lower=True, unit_diagonal=True),
        lambda G, P, B, v: scipy.linalg.solve_triangular(G, B, trans=1, lower=True, unit_diagonal=True),
    ),
    "cho_solve": (
        lambda G, P, B, v: T.slinalg.cho_solve((T.slinalg.cholesky(P), True), B),
        lambda G, P, B, v: scipy.linalg.cho_solve((np.linalg.cholesky(P), True), B),
    ),
    "cho_solve_upper": (
        lambda G, P, B, v: T.slinalg.cho_solve((T.slinalg.cholesky(P, lower=False), False), v),
        lambda G, P, B, v: scipy.linalg.cho_solve((scipy.linalg.cholesky(P), False), v),
    ),
    "matrix_inverse": (lambda G, P, B, v: T.nlinalg.matrix_inverse(G), lambda G, P, B, v: np.linalg.inv(G)),
    "det": (lambda G, P, B, v: T.nlinalg.det(G), lambda G, P, B, v: np.linalg.det(G)),
    "slogdet": (lambda G, P, B, v: T.nlinalg.slogdet(-G)[1], lambda G, P, B, v: np.linalg.slogdet(-G)[1]),
    "slogdet_sign": (lambda G, P, B, v: T.nlinalg.slogdet(-G)[0], lambda G, P, B, v: np.linalg.slogdet(-G)[0]),
    "logdet": (lambda G, P, B, v: T.nlinalg.logdet(G), lambda G, P, B, v: _logdet(G)),
    "logdet_psd": (
        lambda G, P, B, v: T.nlinalg.logdet(P, psd=True),
        lambda G, P, B, v: _logdet(np.tril(P) + np.tril(P, -1).T),  # the Cholesky reads the lower triangle
    ),
    "eigvalsh": (lambda G, P, B, v: T.slinalg.eigvalsh(P), lambda G, P, B, v: np.linalg.eigvalsh(P)),
    "eigh_vectors": (lambda G, P, B, v: T.nlinalg.eigh(P)[1], lambda G, P, B, v: np.linalg.eigh(P)[1]),
    "eigh_upper": (  # each eigenvector's sign is LAPACK's choice: compare squares
        lambda G, P, B, v: T.nlinalg.eigh(P, UPLO="U")[0] + T.nlinalg.eigh(P, UPLO="U")[1][1] ** 2,
        lambda G, P, B, v: np.linalg.eigh(P, UPLO="U")[0] + np.linalg.eigh(P, UPLO="U")[1][1] ** 2,
    ),
    "qr_q": (lambda G, P, B, v: T.nlinalg.qr(B)[0], lambda G, P, B, v: np.linalg.qr(B)[0]),
    "qr_r": (lambda G, P, B, v: T.nlinalg.qr(G, mode="r"), lambda G, P, B, v: np.linalg.qr(G, mode="r")),
    "norm": (lambda G, P, B, v: T.nlinalg.norm(G), lambda G, P, B, v: np.linalg.norm(G)),
    "norm_1": (lambda G, P, B, v: T.nlinalg.norm(B, 1), lambda G, P, B, v: np.linalg.norm(B, 1)),
    "norm_inf": (lambda G, P, B, v: T.nlinalg.norm(B, -np.inf), lambda G, P, B, v: np.linalg.norm(B, -np.inf)),
    "norm_3_axis": (lambda G, P, B, v: T.nlinalg.norm(B, 3, axis=0), lambda G, P, B, v: np.linalg.norm(B, 3, axis=0)),
    "norm_vector_inf": (lambda G, P, B, v: T.nlinalg.norm(v, np.inf), lambda G, P, B, v: np.linalg.norm(v, np.inf)),
    "svd_s": (lambda G, P, B, v: T.nlinalg.svd(B, compute_uv=False), lambda G, P, B, v: np.linalg.svd(B)[1]),
    "svd_u": (  # each singular vector's sign is LAPACK's choice: compare squares
        lambda G, P, B, v: T.nlinalg.svd(B)[0] ** 2,
        lambda G, P, B, v: np.linalg.svd(B, full_matrices=False)[0] ** 2,
    ),
    "svd_vt": (
        lambda G, P, B, v: T.nlinalg.svd(G.T[:2])[2] ** 2,
        lambda G, P, B, v: np.linalg.svd(G.T[:2], full_matrices=False)[2] ** 2,
    ),
    "pinv": (lambda G, P, B, v: T.nlinalg.pinv(B), lambda G, P, B, v: np.linalg.pinv(B)),
    "lstsq": (lambda G, P, B, v: T.nlinalg.lstsq(B, G)[0], lambda G, P, B, v: np.linalg.lstsq(B, G)[0]),
    "lstsq_vector": (  # x and the residuals
        lambda G, P, B, v: T.nlinalg.lstsq(B, v)[0] + T.nlinalg.lstsq(B, v)[1],
        lambda G, P, B, v: np.linalg.lstsq(B, v)[0] + np.linalg.lstsq(B, v)[1],
    ),
    "norm_2": (lambda G, P, B, v: T.nlinalg.norm(G, 2), lambda G, P, B, v: np.linalg.norm(G, 2)),
    "norm_nuc": (lambda G, P, B, v: T.nlinalg.norm(B, "nuc"), lambda G, P, B, v: np.linalg.norm(B, "nuc")),
    "expm": (lambda G, P, B, v: T.slinalg.expm(0.3 * G), lambda G, P, B, v: scipy.linalg.expm(0.3 * G)),
    "lu_l": (lambda G, P, B, v: T.slinalg.lu(G)[1], lambda G, P, B, v: scipy.linalg.lu(G)[1]),
    "lu_pu": (  # rows reversed: the pivots permute them
        lambda G, P, B, v: T.slinalg.lu(G[::-1])[0] + T.slinalg.lu(G[::-1])[2],
        lambda G, P, B, v: scipy.linalg.lu(G[::-1])[0] + scipy.linalg.lu(G[::-1])[2],
    ),
    "lu_permute_l": (
        lambda G, P, B, v: T.slinalg.lu(P, permute_l=True)[0],
        lambda G, P, B, v: scipy.linalg.lu(P, permute_l=True)[0],
    ),
    "lu_tall_l": (lambda G, P, B, v: T.slinalg.lu(B)[1], lambda G, P, B, v: scipy.linalg.lu(B)[1]),
    "lu_tall_u": (lambda G, P, B, v: T.slinalg.lu(B)[2], lambda G, P, B, v: scipy.linalg.lu(B)[2]),
    "lu_wide_u": (lambda G, P, B, v: T.slinalg.lu(B.T)[2], lambda G, P, B, v: scipy.linalg.lu(B.T)[2]),
    "lu_wide_permute_l": (
        lambda G, P, B, v: T.slinalg.lu(B.T, permute_l=True)[0],
        lambda G, P, B, v: scipy.linalg.lu(B.T, permute_l=True)[0],
    ),
    "kron": (lambda G, P, B, v: T.slinalg.kron(G, B), lambda G, P, B, v: np.kron(G, B)),
    "kron_vector": (lambda G, P, B, v: T.slinalg.kron(v, v[:2]), lambda G, P, B, v: np.kron(v, v[:2])),
    "trace": (lambda G, P, B, v: T.nlinalg.trace(G[:, :3]), lambda G, P, B, v: np.trace(G[:, :3])),
}
NAMES = ("G", "P", "B", "v")


def _weights(shape, k: int) -> np.ndarray:
    return np.random.default_rng(100 + k).uniform(0.5, 1.5, size=shape)


def _central(cost, values: list[np.ndarray], i: int | None, direction: list[np.ndarray] | None = None, eps=1e-6):
    """Central differences of ``cost`` at float64 ``values``: the gradient with respect to
    ``values[i]``, or (``i=None``) the derivative along ``direction``, one array per value."""

    def at(deltas):
        return np.asarray(cost(*[v + d for v, d in zip(values, deltas)]))

    if i is None:
        return (at([eps * d for d in direction]) - at([-eps * d for d in direction])) / (2 * eps)
    grad = np.zeros_like(values[i])
    for j in np.ndindex(values[i].shape):
        step = [np.zeros_like(v) for v in values]
        step[i][j] = eps
        grad[j] = (at(step) - at([-d for d in step])) / (2 * eps)
    return grad


_GRAPHS: dict[str, tuple] = {}


def _graphs(dtype: str) -> tuple[list, list, list]:
    """The inputs, their directions and, for every case, its value, the gradients of
    ``sum(w * value)`` with respect to each input and ``T.Rop`` of the value along the directions."""
    if dtype not in _GRAPHS:
        variables = [T.tensor(dtype, (None,) * nd, name=n) for n, nd in zip(NAMES, (2, 2, 2, 1))]
        directions = [T.tensor(dtype, (None,) * v.ndim, name="d" + v.name) for v in variables]
        values = _inputs("float64")
        outputs, rops = [], []
        for k, (build, reference) in enumerate(CASES.values()):
            out = build(*variables)
            w = T.constant(_weights(np.shape(reference(*values.values())), k).astype(dtype))
            outputs += [out, *T.grad(T.sum(out * w), variables, disconnected_inputs="ignore")]
            rops.append(out)
        rops = T.Rop(rops, variables, directions, disconnected_outputs="ignore")
        _GRAPHS[dtype] = (variables, directions, outputs + rops)
    return _GRAPHS[dtype]


def _directions() -> list[np.ndarray]:
    return [np.random.default_rng(7 + k).standard_normal(v.shape) for k, v in enumerate(_inputs("float64").values())]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_gradients_and_rop(dtype):
    """Each case: its value against the reference in ``dtype``; its gradients and T.Rop against
    central differences of the float64 reference (float32 within its precision). The graphs are
    evaluated node by node with each op's ``perform`` (compiling them all would take minutes of
    Numba's time); the ``test_compiled_*`` tests run the ops' lowering."""
    variables, directions, outputs = _graphs(dtype)
    values64, directions64 = list(_inputs("float64").values()), _directions()
    givens = {id(v): x.astype(dtype) for v, x in zip(variables + directions, values64 + directions64)}
    results = evaluate(outputs, givens)
    per_case = 1 + len(NAMES)
    rtol, atol = (1e-6, 1e-8) if dtype == "float64" else (2e-3, 2e-4)
    for k, (name, (_, reference)) in enumerate(CASES.items()):
        value, *grads = results[per_case * k : per_case * (k + 1)]
        expected = reference(*values64)
        assert np.asarray(value).dtype == dtype, name
        np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol, err_msg=f"{name}: value")
        weights = _weights(np.shape(expected), k)

        def cost(*vs, reference=reference, weights=weights):
            return np.sum(reference(*vs) * weights)

        for i, g in enumerate(grads):
            np.testing.assert_allclose(
                g, _central(cost, values64, i), rtol=rtol, atol=atol, err_msg=f"{name}: gradient {NAMES[i]}"
            )
        rop = results[per_case * len(CASES) + k]
        np.testing.assert_allclose(
            rop, _central(reference, values64, None, directions64), rtol=rtol, atol=atol, err_msg=f"{name}: Rop"
        )


# Compiled: one case per op and lowering rule (each flag of a triangular solve is an argument of one loop).
COMPILED_CASES = ("cholesky", "solve", "solve_vector", "solve_lower", "solve_upper_trans", "solve_lower_trans_unit",
                  "matrix_inverse", "det", "slogdet", "slogdet_sign", "eigh_vectors", "eigvalsh", "qr_q", "qr_r",
                  "pinv", "expm", "lu_pu", "trace")  # fmt: skip


def _check_compiled(dtype: str, outputs: list, variables: list, names: list[str]):
    """The compiled program's results against the same graphs evaluated with ``perform``; returns
    the compiled function."""
    values = [v.astype(dtype) for v in _inputs("float64").values()]
    f = theano.function(variables, outputs, on_unused_input="ignore")
    compiled = f(*values)
    expected = evaluate(outputs, {id(v): x for v, x in zip(variables, values)})
    rtol = 1e-10 if dtype == "float64" else 1e-4
    for name, got, want in zip(names, compiled, expected):
        assert np.asarray(got).dtype == dtype, name
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=name)
    return f


@pytest.mark.parametrize("dtype", ["float64", pytest.param("float32", marks=pytest.mark.long)])
def test_compiled_values(dtype):
    variables = [T.tensor(dtype, (None,) * nd, name=n) for n, nd in zip(NAMES, (2, 2, 2, 1))]
    f = _check_compiled(dtype, [CASES[name][0](*variables) for name in COMPILED_CASES], variables, list(COMPILED_CASES))
    text = program_text(f)
    # eigh's two results (of P) and pinv's three of svd (of B): one LAPACK call each
    assert text.count("linalg_eigh_packed(") == 1 and text.count("linalg_svd_packed(") == 1, text


def test_compiled_gradient():
    """A Gaussian process's cost (a log-determinant by the Cholesky, a quadratic form by cho_solve)
    and a solve: the gradients' triangular solves, triangles and solves against the identity,
    compiled. The Cholesky's adjoint is what its diagonal and the solves give: ``L^T Ḡ`` by
    products with vectors, no trmm of a matrix; the solves of ``0.5 v`` are those of ``v``, scaled."""
    G, P, B, v = variables = [T.tensor("float64", (None,) * nd, name=n) for n, nd in zip(NAMES, (2, 2, 2, 1))]
    quadratic = 0.5 * T.dot(v, T.slinalg.solve(P, v, assume_a="pos", lower=True))
    cost = T.nlinalg.logdet(P, psd=True) + quadratic + T.sum(T.slinalg.solve(G, B) * B)
    f = _check_compiled("float64", T.grad(cost, [G, P, B, v]), variables, list(NAMES))
    products = [line for line in program_text(f).splitlines() if "linalg_triangular_product(" in line]
    assert products and all("[:, None]" in line for line in products), products
    # cho_solve's two, and L^{-T} P of the Cholesky's gradient (P L^{-1} is from the left, transposed)
    assert "scale_out_of_solve" in f.rewrites and program_text(f).count("linalg_solve_triangular(") == 3


def test_not_finite_input_gives_nan_as_numpy():
    """A NaN in a matrix spreads through the compiled program as through NumPy (whose LAPACK
    wrappers return NaN where Numba's raise); a right-hand side's NaN column stays its own. The
    fuzzer's case: a log-determinant of a mean over an empty axis."""
    G, P, B = variables = [T.dmatrix(n) for n in "GPB"]
    x0 = T.dtensor3("x0")
    m = T.mean(x0, axis=0)
    outputs = [T.nlinalg.det(G), T.nlinalg.slogdet(G)[0], T.nlinalg.slogdet(G)[1], T.nlinalg.inv(G),
               T.slinalg.solve(P, B), T.slinalg.solve(G, B), T.slinalg.expm(G),
               T.slinalg.solve_triangular(T.slinalg.cholesky(T.dot(G, G.T)), B, lower=True),
               T.log(T.nlinalg.det(T.dot(m, m.T) + 2))]  # fmt: skip
    values = [v.copy() for v in _inputs("float64").values()][:3]
    values[0][1, 2] = np.nan
    values[2][0, 1] = np.inf
    values.append(np.zeros((0, 1, 1)))
    f = theano.function([*variables, x0], outputs)
    expected = evaluate(outputs, {id(v): x for v, x in zip([*variables, x0], values)})
    for k, (got, want) in enumerate(zip(f(*values), expected)):
        assert np.isnan(got).any(), k
        np.testing.assert_allclose(got, want, rtol=1e-10, err_msg=f"output {k}: {theano.pp(outputs[k])}")
    assert np.isfinite(f(*values)[4][:, 0]).all()  # solve(P, B): only B's second column is not finite
    for factorization in (T.nlinalg.eigh(G)[0], T.nlinalg.qr(G)[1], T.nlinalg.svd(G, compute_uv=False)):
        with pytest.raises(np.linalg.LinAlgError):  # as the reference does (see ops.linalg._finite)
            evaluate([factorization], {id(G): values[0]})
        with pytest.raises(np.linalg.LinAlgError):
            theano.function([G], factorization)(values[0])


def test_empty_matrices_factorize_as_in_numpy():
    """QR and SVD of matrices with no rows or no columns: NumPy's empty factors (the full SVD's
    identities), where Numba's wrappers raise "Arrays cannot be empty". The fuzzer's case: the
    singular values of ``m mᵀ`` for ``m`` a sum over axis 0 of an empty stack."""
    x, stack = T.dmatrix("x"), T.dtensor3("stack")
    m = T.sum(stack, axis=0)
    u, s, vt = T.nlinalg.svd(x)
    full = T.nlinalg.svd(x, full_matrices=True)
    outputs = [*T.nlinalg.qr(x), u, s, vt, full[0], full[2], T.nlinalg.svd(T.dot(m, m.T), compute_uv=False)[::-1]]
    f = theano.function([x, stack], outputs)
    for shape in [(0, 0), (0, 3), (3, 0)]:
        got = f(np.zeros(shape), np.zeros((2, 0, 3)))
        want = [*np.linalg.qr(np.zeros(shape)), *np.linalg.svd(np.zeros(shape), full_matrices=False),
                np.linalg.svd(np.zeros(shape))[0], np.linalg.svd(np.zeros(shape))[2], np.zeros(0)]  # fmt: skip
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.shape == w.shape and g.dtype == w.dtype, (shape, k, g.shape, w.shape)
            np.testing.assert_array_equal(g, w)


@pytest.mark.long
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiled_gradients_of_every_op(dtype):
    """The gradient of one cost reading every op, compiled (40-60 s of Numba's time)."""
    variables = [T.tensor(dtype, (None,) * nd, name=n) for n, nd in zip(NAMES, (2, 2, 2, 1))]
    outs = [CASES[name][0](*variables) for name in COMPILED_CASES]
    cost = sum(T.sum(out * (k + 1.0)) for k, out in enumerate(outs))
    _check_compiled(dtype, T.grad(cost, variables), variables, list(NAMES))


def test_errors():
    """Wrong ndim or a non-square matrix: at graph-build time when the type says so, naming the
    input; a run-time shape that does not fit: before LAPACK runs, naming the operands."""
    x, y, b = T.dmatrix("x"), T.dvector("y"), T.dtensor3("b")
    with pytest.raises(ValueError, match=r"cholesky: y must be a matrix \(2-d\)"):
        T.slinalg.cholesky(y)
    with pytest.raises(ValueError, match="det: s must be a square matrix, got shape \\(2, 3\\)"):
        T.nlinalg.det(T.tensor("float64", (2, 3), name="s"))
    with pytest.raises(ValueError, match="right-hand side b must be a vector or a matrix"):
        T.slinalg.solve(x, b)
    with pytest.raises(ValueError, match="assume_a must be"):
        T.slinalg.solve(x, y, assume_a="banded")
    with pytest.raises(ValueError, match="lstsq: b must be a matrix \\(2-d\\), got a 3-d .*lstsq is not batched"):
        T.nlinalg.lstsq(b, x)
    f = theano.function([x, y], T.slinalg.solve_triangular(x, y, lower=True))
    with pytest.raises(ValueError, match=r"solve_triangular\{lower\}.*x has shape \(2, 3\)"):
        f(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match=r"y has shape \(3,\)"):
        f(np.eye(2), np.ones(3))
    np.testing.assert_allclose(f(2 * np.eye(2), np.ones(2)), [0.5, 0.5])


def test_namespaces():
    """Theano's module names and PyTensor's ``T.linalg`` hold the same functions."""
    assert T.linalg.solve is T.slinalg.solve and T.linalg.det is T.nlinalg.det
    assert T.nlinalg.inv is T.nlinalg.matrix_inverse
    assert set(T.linalg.__all__) == set(T.nlinalg.__all__) | set(T.slinalg.__all__)


def test_eigh_gradient_at_repeated_eigenvalues():
    """Equal eigenvalues leave their eigenvectors any basis of their space: the gradient takes the
    coupling between them as zero, so it stays finite, and for a cost that does not depend on the
    basis (here ``V V^T``, the identity) it is exact: zero."""
    a = T.dmatrix("a")
    w, v = T.nlinalg.eigh(a)
    weights = np.arange(9.0).reshape(3, 3)
    cost = T.sum(T.dot(v, v.T) * weights) + T.sum(w)
    (g,) = evaluate([T.grad(cost, a)], {id(a): np.diag([1.0, 1.0, 2.0])})
    np.testing.assert_allclose(g, np.eye(3), atol=1e-12)  # d sum(w) = d trace(a), from the lower triangle


def test_lstsq_rank_and_singular_values():
    """``lstsq``'s other results, for a matrix of rank 2, against NumPy's."""
    a, b = T.dmatrix("a"), T.dvector("b")
    value = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.1], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
    value[:, 2] = value[:, 0] + value[:, 1]
    rhs = np.arange(4.0)
    x, _, rank, s = evaluate(list(T.nlinalg.lstsq(a, b)), {id(a): value, id(b): rhs})
    expected = np.linalg.lstsq(value, rhs, rcond=None)
    np.testing.assert_allclose(x, expected[0], atol=1e-12)
    assert rank == expected[2] == 2 and rank.dtype == np.int64
    np.testing.assert_allclose(s, expected[3], atol=1e-12)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (2, 3, 5)])
@pytest.mark.parametrize("static", [False, True])
def test_qr_gradient_wide_and_tall(shape, static):
    """Both parts' gradients for a wide matrix (m < n: the square block's rule and the rest's) and a
    tall one, with the shape known or not, against central differences."""
    from tests.helpers import numeric_grad

    a = T.tensor("float64", shape if static else (None,) * len(shape), name="a")
    value = np.random.default_rng(0).standard_normal(shape)
    for index, part in enumerate(T.nlinalg.qr(a)):
        weights = np.random.default_rng(index).uniform(0.5, 1.5, np.linalg.qr(value)[index].shape)
        (got,) = evaluate([T.grad(T.sum(part * weights), a)], {id(a): value})
        expected = numeric_grad(lambda x, i=index, w=weights: np.sum(np.linalg.qr(x)[i] * w), [value], 0)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.long  # 10-30 s of compiling on a busy machine
def test_svd_full_matrices_compiled_and_without_a_gradient_for_the_completion():
    """``full_matrices=True``: square ``u`` and ``vt`` (a matrix and a stack, wide and tall), equal
    to NumPy's up to each vector's sign; their gradient is refused, ``s``'s is the reduced one's."""
    a, b = T.dmatrix("a"), T.dtensor3("b")
    outs = [*T.nlinalg.svd(a, full_matrices=True), *T.nlinalg.svd(b, full_matrices=True)]
    f = theano.function([a, b], outs)
    rng = np.random.default_rng(0)
    for shape_a, shape_b in [((3, 5), (2, 4, 3)), ((5, 3), (2, 3, 4))]:
        va, vb = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
        for got, want in zip(f(va, vb), [*np.linalg.svd(va), *np.linalg.svd(vb)]):
            assert got.shape == want.shape
            np.testing.assert_allclose(np.abs(got), np.abs(want), rtol=1e-10, atol=1e-12)
    with pytest.raises(NotImplementedError, match="full_matrices=True is not defined"):
        T.grad(T.sum(outs[0]), a)
    assert outs[1] is T.nlinalg.svd(a, compute_uv=False)


def test_triangular_product_values_gradients_and_blas():
    """``TriangularProduct`` (the Cholesky gradient's trmm): each triangle, transposed or not, by a
    matrix and a vector, against NumPy and central differences; compiled, the BLAS calls (also
    from the left, on a transposed right-hand side)."""
    from symgrad.graph import apply
    from symgrad.ops.linalg import TriangularProduct
    from tests.helpers import numeric_grad

    rng = np.random.default_rng(0)
    a_value, b_value, v_value = rng.standard_normal((4, 4)), rng.standard_normal((4, 2)), rng.standard_normal(4)
    a, b, v = T.dmatrix("a"), T.dmatrix("b"), T.dvector("v")
    for lower in (True, False):
        for trans in (False, True):
            op = TriangularProduct(lower, trans)
            for rhs, rhs_value in ((b, b_value), (v, v_value)):

                def reference(x, y, lower=lower, trans=trans):
                    t = np.tril(x) if lower else np.triu(x)
                    return (t.T if trans else t) @ y

                out = apply(op, a, rhs)
                weights = rng.uniform(0.5, 1.5, reference(a_value, rhs_value).shape)
                given = {id(a): a_value, id(rhs): rhs_value}
                got, *grads = evaluate([out, *T.grad(T.sum(out * weights), [a, rhs])], given)
                np.testing.assert_allclose(got, reference(a_value, rhs_value), rtol=1e-13)
                for i, g in enumerate(grads):
                    fd = numeric_grad(lambda x, y, w=weights, f=reference: np.sum(f(x, y) * w), [a_value, rhs_value], i)
                    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    c = T.dmatrix("c")  # a solve of a transposed view: BLAS works from the left on c, not on a copy of c^T
    f = theano.function(
        [a, b, c], [apply(TriangularProduct(True, True), a, b), T.slinalg.solve_triangular(a, c.T, trans=1)]
    )
    product, solved = f(a_value, b_value, b_value.T.copy())
    np.testing.assert_allclose(product, np.tril(a_value).T @ b_value, rtol=1e-13)
    np.testing.assert_allclose(solved, scipy.linalg.solve_triangular(a_value, b_value, trans=1), rtol=1e-13)
    assert "linalg_triangular_product(a, b, True, True)" in f.source
    assert "linalg_triangular_transposed(a, " in f.source
