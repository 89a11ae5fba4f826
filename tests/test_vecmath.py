"""codegen.vecmath: accuracy against long double references, special values, vectorized loops, and
the ``config.vector_math`` switch.

The functions are measured inside a kernel compiled with the generated kernels' options (fastmath
reassoc, contract, nsz, arcp), which must not reach their range reductions, over well over a
million arguments per function and format: magnitudes log-uniform from the smallest subnormal to
the largest float, both signs, plus uniform samples where each function changes fastest, plus
the special values. The reference is NumPy's long double (80-bit on x86: 11 more bits than a
double; its sin and cos reduce huge arguments exactly).
"""

from __future__ import annotations

import ast
import math
import re

import numba
import numpy as np
import pytest
import sympy
from llvmlite import binding

import symgrad as theano
import symgrad.tensor as T
from codegen import vecmath
from codegen.cpu_kernels import FASTMATH
from codegen.scalar_printer import CudaPrinter

from .helpers import kernels, llvm_of

# The documented bounds, in units in the last place of the result's format.
BOUND = {np.float64: 4.0, np.float32: 2.0}
FUNCTIONS = ("exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "sigmoid", "softplus")


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    """The function in long double."""
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            e = np.exp(-np.abs(x))
            return np.where(x >= 0, 1, e) / (1 + e)
        if name == "softplus":
            return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
        return getattr(np, name)(x)


def _kernel():
    """One kernel computing every function of ``x`` into the rows of ``out``, with the generated
    kernels' options."""
    lines = ["def all_functions(x, out):", "    for i in range(x.shape[0]):"]
    lines += [f"        out[{j}, i] = {name}(x[i])" for j, name in enumerate(FUNCTIONS)]
    namespace = {name: getattr(vecmath, name) for name in FUNCTIONS}
    exec("\n".join(lines), namespace)
    return numba.njit(error_model="numpy", fastmath=ast.literal_eval(FASTMATH))(namespace["all_functions"])


def _special_values(dtype) -> np.ndarray:
    info = np.finfo(dtype)
    tiny, sub, big = float(info.smallest_normal), float(info.smallest_subnormal), float(info.max)
    values = [0.0, sub, 2 * sub, tiny - sub, tiny, 2 * tiny, info.eps, info.epsneg, 0.5, 1.0, 2.0, 10.0, 20.0,
              30.0, 88.72, 88.73, 103.9, 104.0, 709.78, 709.79, 710.0, 745.13, 745.2, 746.0, 1e5, 1e9, 1e22,
              1e30, 1e38, 1e300, big, np.inf, math.pi / 4, math.pi / 2, math.pi, 2 * math.pi, 1e3 * math.pi,
              math.ldexp(6381956970095103, 797),  # the float64 closest to a multiple of pi/2
              7.729178919452902e28, 21999384576.0, 252.89820861816406, 42781604.0,  # float32s close to one
              1 - info.epsneg, 1 + info.eps, 0.55, 0.549, 1.0 - 2**-30]  # fmt: skip
    values = np.array(values, dtype=np.float64)
    with np.errstate(over="ignore"):
        return np.concatenate([values, -values, [np.nan]]).astype(dtype)


def _arguments(dtype, rng) -> np.ndarray:
    info = np.finfo(dtype)
    low, high = np.log2(float(info.smallest_subnormal)), np.log2(float(info.max))
    n = 1_000_000
    magnitudes = np.exp2(rng.uniform(low, high, n)).astype(dtype)
    spread = [magnitudes * rng.choice(np.array([-1, 1], dtype=dtype), n)]
    for limit in (1.0, 30.0, 110.0 if dtype == np.float32 else 750.0):  # where exp, tanh, log1p, sin change
        spread.append(rng.uniform(-limit, limit, 100_000).astype(dtype))
    return np.concatenate([*spread, _special_values(dtype)])


def _ulp_errors(got: np.ndarray, exact: np.ndarray, dtype) -> np.ndarray:
    """|got - exact| in ulp of the correctly rounded result; 0 where both are the same special
    value (nan, inf), inf where only one is special."""
    with np.errstate(all="ignore"):
        rounded = exact.astype(dtype)  # inf where it overflows, as the function must
        errors = np.abs(got.astype(np.longdouble) - exact) / np.spacing(np.abs(rounded)).astype(np.longdouble)
    same_special = (np.isnan(got) & np.isnan(rounded)) | (np.isinf(got) & (got == rounded))
    one_special = (np.isnan(got) != np.isnan(rounded)) | (np.isinf(got) != np.isinf(rounded))
    return np.where(same_special, 0.0, np.where(one_special, np.inf, errors))


@pytest.fixture(scope="module")
def results():
    """For each format: the arguments, each function's results and its long double reference."""
    kernel = _kernel()
    rng = np.random.default_rng(20240607)
    measured = {}
    for dtype in (np.float64, np.float32):
        x = _arguments(dtype, rng)
        out = np.empty((len(FUNCTIONS), x.size), dtype=dtype)
        kernel(x, out)
        wide = x.astype(np.longdouble)
        measured[dtype] = x, {name: (out[j], _reference(name, wide)) for j, name in enumerate(FUNCTIONS)}
    return measured


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_error_is_within_the_documented_bound(results, name, dtype):
    x, by_name = results[dtype]
    got, exact = by_name[name]
    errors = _ulp_errors(got, exact, dtype)
    worst = int(np.argmax(errors))
    report = (f"{name} {np.dtype(dtype).name}: max error {errors[worst]:.3f} ulp over {x.size:,} arguments, "
              f"at x = {x[worst]!r}: got {got[worst]!r}, exact {exact[worst]!r}")  # fmt: skip
    print(report)
    assert errors[worst] <= BOUND[dtype], report


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_signed_zeros_and_special_values_follow_the_c_library(results, dtype):
    x, by_name = results[dtype]
    specials = _special_values(dtype)
    chosen = np.isin(x, specials) | np.isnan(x)
    for name in ("exp", "expm1", "log", "log1p", "sin", "cos", "tanh"):
        got = by_name[name][0][chosen]
        with np.errstate(all="ignore"):
            expected = getattr(np, name)(x[chosen].astype(np.float64)).astype(dtype)  # the C library's, rounded
        assert np.array_equal(np.isnan(got), np.isnan(expected)), name
        infinite = np.isinf(expected)
        assert np.array_equal(np.isinf(got), infinite) and np.array_equal(got[infinite], expected[infinite]), name
        zeros = expected == 0
        assert np.array_equal(np.signbit(got[zeros]), np.signbit(expected[zeros])), name


def test_the_limits_of_exp_and_log():
    exp, log, log1p = vecmath.exp, vecmath.log, vecmath.log1p

    @numba.njit
    def limits():
        return (exp(709.78), exp(709.79), exp(-745.1), exp(-745.2), exp(-np.inf), log(0.0), log(-1.0), log(np.inf),
                log(5e-324), log1p(-1.0), log1p(-2.0))  # fmt: skip

    e_big, e_inf, e_sub, e_zero, e_minf, l_zero, l_neg, l_inf, l_sub, l1p, l1p_neg = limits()
    assert e_big == pytest.approx(math.exp(709.78), rel=1e-15) and e_inf == np.inf
    assert e_sub == math.exp(-745.1) == 5e-324 and e_zero == math.exp(-745.2) == 0.0 and e_minf == 0.0
    assert l_zero == -np.inf and np.isnan(l_neg) and l_inf == np.inf and l_sub == math.log(5e-324)
    assert l1p == -np.inf and np.isnan(l1p_neg)


def test_outside_numba_they_are_the_math_functions():
    assert vecmath.exp(1.0) == math.exp(1.0) and vecmath.sin(3.0) == math.sin(3.0)
    assert vecmath.sigmoid(0.0) == 0.5


def test_integer_arguments_compute_in_float64():
    exp = vecmath.exp

    @numba.njit
    def e(n):
        return exp(n)

    assert e(2) == pytest.approx(math.exp(2), rel=1e-16) and isinstance(e(2), float)


def _has_avx2() -> bool:
    return "+avx2" in binding.get_host_cpu_features().flatten()


@pytest.mark.skipif(not _has_avx2(), reason="the CPU has no AVX2 vectors")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_generated_loops_vectorize(dtype):
    x, y = T.tensor(dtype, [None], name="x"), T.tensor(dtype, [None], name="y")
    f = theano.function([x, y], T.exp(-(x**2) / 2) * T.sin(3 * x) + T.log1p(y**2) * T.tanh(x * y))
    assert "from codegen.vecmath import exp, log1p, sin, tanh" in f.source
    (kernel,) = kernels(f, np.ones(3, dtype), np.ones(3, dtype)).values()  # compiles the serial kernel
    llvm = llvm_of(kernel)
    lanes = [int(n) for n in re.findall(rf"<(\d+) x {'double' if dtype == 'float64' else 'float'}>", llvm)]
    assert lanes and max(lanes) >= (4 if dtype == "float64" else 8), "the loop is not vectorized"
    assert not re.search(r"call [^\n]*@(exp|log1p|sin|tanh)f?\(", llvm), "the loop still calls the C library"
    options = {k: v for k, v in kernel.targetoptions.items() if k not in ("cache", "nopython")}
    fresh = numba.njit(**options)(kernel.py_func)  # Numba shows no code for what it loaded from its cache
    fresh.compile(kernel.signatures[0])
    assert re.search(r"\b[yz]mm\d+", fresh.inspect_asm(fresh.signatures[0])), "no AVX registers in the assembly"


def test_vector_math_off_uses_the_c_library_and_another_cache_entry():
    x = T.dvector("x")
    expression = T.exp(x) * T.sin(x) + T.nnet.sigmoid(x)
    vectorized = theano.function([x], expression)
    theano.config.vector_math = False
    try:
        plain = theano.function([x], expression)
    finally:
        theano.config.vector_math = True
    assert "from codegen.vecmath import exp, sigmoid, sin" in vectorized.source
    assert "from math import exp, sin" in plain.source and "from codegen.runtime import sigmoid" in plain.source
    changed = set(vectorized.source.splitlines()) ^ set(plain.source.splitlines())
    assert all(" import " in line or "content key" in line for line in changed), changed
    assert vectorized._module.__name__ != plain._module.__name__  # two cache entries
    value = np.linspace(-3, 3, 101)
    np.testing.assert_allclose(vectorized(value), plain(value), rtol=1e-15, atol=1e-15)
    with pytest.raises(ValueError, match="vector_math"):
        theano.config.vector_math = 1


def _exhaustive_kernel(name: str):
    """A kernel returning the largest float32 error of ``name`` over the float32s with the given
    bit patterns, measured against the float64 implementation (29 more bits, itself checked against
    long double above), and the number of special values (nan, inf, signed zero) that differ."""
    function = getattr(vecmath, name)

    @numba.njit(error_model="numpy", fastmath=ast.literal_eval(FASTMATH))
    def worst(first, count):
        largest, wrong = 0.0, 0
        for i in range(count):
            x = np.uint32(first + i).view(np.float32)
            got, exact = function(x), function(np.float64(x))
            rounded = np.float32(exact)
            if not np.isfinite(rounded) or not np.isfinite(got):
                wrong += not (got == rounded or (np.isnan(got) and np.isnan(rounded)))
            elif got == 0 and rounded == 0:
                wrong += np.signbit(got) != np.signbit(rounded)
            else:
                largest = max(largest, abs(np.float64(got) - exact) / np.float64(np.spacing(abs(rounded))))
        return largest, wrong

    return worst


@pytest.mark.long
@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_float32_argument(name):
    worst = _exhaustive_kernel(name)
    chunk = 1 << 28
    results = [worst(first, chunk) for first in range(0, 1 << 32, chunk)]
    largest, wrong = max(r[0] for r in results), sum(r[1] for r in results)
    print(f"{name} float32: max error {largest:.3f} ulp over all 2^32 arguments; special values wrong: {wrong}")
    assert largest <= BOUND[np.float32] and wrong == 0


def test_cuda_kernels_keep_the_device_library():
    printer = CudaPrinter()
    assert printer.doprint(sympy.exp(sympy.Symbol("x"))) == "exp(x)"
    assert dict(printer.module_imports) == {"math": {"exp"}}
