"""Elementwise math that LLVM can vectorize: exp, expm1, log, log1p, sin, cos, tanh, sigmoid, softplus.

Why. A generated kernel is a loop calling scalar functions. ``math.exp`` and friends compile to
calls into the C library, one element at a time, and a loop with a call in it does not vectorize:
the same loop in NumPy (or XLA) runs SIMD implementations several times faster. The functions
here are plain arithmetic (polynomials, range reductions, integer bit manipulation, selects in
place of branches) that LLVM inlines into the kernel's loop and vectorizes like any other
arithmetic (AVX2, AVX-512). Generated modules import them under the ``math`` names (``from
codegen.vecmath import exp, sin``) unless ``config.vector_math`` is False; CUDA kernels never use
them (``libdevice`` is vectorized already).

How. Each public function is a plain Python function (calling ``math``, for use outside Numba)
with a Numba ``overload`` that picks, when the kernel is typed, a float32 or a float64
implementation: the same generic code built from the constants of that format (:class:`_Format`).
Float32 stays float32 (and so gets twice the lanes). Integer arguments are converted to float64,
as ``math`` does. The implementations are compiled with their own floating-point flags, only
``contract`` (FMA), so the kernel's ``reassoc``/``nsz``/``arcp`` never reach them: reassociation
would undo the exact range reductions and compensated sums below.

Algorithms (p is the precision, 53 or 24 bits):

- exp: x = k ln2 + r with |r| <= ln2/2 (k rounded by adding 1.5 * 2^(p-1); ln 2 in two parts, the
  first short enough that k times it is exact), exp(r) = 1 + r + r^2 Q(r), and 2^k applied as two
  factors built from bits, so that results near overflow and subnormal results come out right.
- expm1: the same reduction; 2^k (1 + r + r^2 Q) - 1 is summed as 2 * ((h - 1/2) + h r + h r^2 Q)
  with h = 2^(k-1), whose first sum is exact where it cancels.
- log, log1p: x = 2^k m with m in [sqrt(1/2), sqrt(2)) from the bits (subnormals scaled first),
  f = m - 1, and log(1 + f) = f - f^2/2 + s (f^2/2 + z P(z)) with s = f / (2 + f), z = s^2 (the
  fdlibm scheme). log1p adds the rounding error of u = 1 + x back as (x - (u - 1)) / u.
- sin, cos: a Payne-Hanek reduction for every argument: |x| = 2^e a with a in [1, 2), a times
  four chunks of (2^e * 2/pi mod 2^(p+1)) from a table row per exponent, each product exact
  (FMA), accumulated in double-word arithmetic with the integer part dropped after each step
  (Shibata's modified Payne-Hanek, IEEE TPDS 2019); the quadrant is the sum of the dropped
  integers mod 4. The remainder r, |r| <= pi/4, is a double-word; sin r = r + r^3 S(r^2),
  cos r = 1 - r^2/2 + r^4 C(r^2), each with the low word's first-order term. Both are computed
  and the quadrant selects. One reduction for all sizes costs a table gather per chunk, but keeps
  the bound for every finite argument with no branch (a branch to a slower path, or to the C
  library, for large arguments would stop the loop from vectorizing).
- tanh: |x| < 0.55: x + x^3 T(x^2); else t / (t + 2) with t = expm1(2|x|), as 1 - 2 / (t + 2)
  from |x| = 1, with |x| capped where tanh rounds to 1; the sign copied from x.
- sigmoid, softplus: codegen.runtime's formulas on these exp and log1p.

Q, P, S, C and T are Chebyshev fits (mpmath.chebyfit) whose own error is far below half an ulp.
Special values follow the C library: nan gives nan, exp(-inf) = 0, exp(inf) = inf, exp(x) is
inf from x > 709.78 (float32: 88.72) and 0 below -745.13 (-103.97), with subnormal results in
between; log(0) = -inf, log(x < 0) = nan, log1p(-1) = -inf; sin, cos of inf are nan; the sign of
zero is kept (sin(-0) = expm1(-0) = log1p(-0) = tanh(-0) = -0); subnormal arguments are handled.

Accuracy: within 4 ulp in float64 and 2 ulp in float32 for every argument. tests/test_vecmath.py
measures it against long double (80-bit) over 1.3 million arguments per function and format (all
magnitudes, both signs, the ranges where each function varies, the special values), and, with
``pytest -m long``, for float32 over all 2^32 arguments against the float64 implementation. The
largest errors measured are below 1.5 ulp for the seven math functions (expm1 and tanh; the others
below 1.1) and below 2 for sigmoid and softplus, in both formats. The bounds assume an FMA unit
(every AVX2 CPU has one): without it ``llvm.fma`` becomes a correct but slow library call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["cos", "exp", "expm1", "log", "log1p", "sigmoid", "sin", "softplus", "tanh"]

#: The functions of ``math`` that generated code takes from here when ``config.vector_math`` is on.
MATH_FUNCTIONS = ("cos", "exp", "expm1", "log", "log1p", "sin", "tanh")
#: The codegen.runtime helpers that have a version here.
RUNTIME_FUNCTIONS = ("sigmoid", "softplus")

# Only FMA contraction: the kernels' reassoc, nsz and arcp must not reach this code (a caller's
# flags are inherited by a callee that sets none). error_model='numpy': division by zero gives
# inf or nan without a branch. forceinline: LLVM inlines only small functions by itself, and a
# loop that still calls one does not vectorize.
_OPTIONS = {"fastmath": {"contract"}, "error_model": "numpy", "forceinline": True}


# --- LLVM operations Numba does not offer on scalars ------------------------------------------


def _float_type(bitwidth: int) -> ir.Type:
    return ir.FloatType() if bitwidth == 32 else ir.DoubleType()


@intrinsic
def _bits(typingctx, x):
    """The bits of a float as an int64 (a float32's sign-extended), by an LLVM bitcast."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        bits = builder.bitcast(args[0], ir.IntType(x.bitwidth))
        return builder.sext(bits, ir.IntType(64)) if x.bitwidth == 32 else bits

    return types.int64(x), codegen


@intrinsic
def _from_bits(typingctx, like, bits):
    """The float of ``like``'s type whose bits are the low bits of the integer ``bits``."""
    if not isinstance(like, types.Float) or not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[1], bits, types.int64)
        if like.bitwidth == 32:
            value = builder.trunc(value, ir.IntType(32))
        return builder.bitcast(value, _float_type(like.bitwidth))

    return like(like, bits), codegen


def _call_llvm(name: str, *args: types.Type):
    """The signature and code generator of a call to LLVM's intrinsic ``name`` (llvm.fma, ...) on
    floats of one type, or None (no match) for other arguments."""
    if not isinstance(args[0], types.Float) or any(a != args[0] for a in args):
        return None

    def codegen(context, builder, signature, llvm_args):
        float_type = _float_type(args[0].bitwidth)
        function_type = ir.FunctionType(float_type, [float_type] * len(args))
        return builder.call(builder.module.declare_intrinsic(name, [float_type], function_type), llvm_args)

    return args[0](*args), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c, rounded once."""
    return _call_llvm("llvm.fma", a, b, c)


@intrinsic
def _rint(typingctx, x):
    """x rounded to an integer, ties to even."""
    return _call_llvm("llvm.rint", x)


@intrinsic
def _floor(typingctx, x):
    return _call_llvm("llvm.floor", x)


# --- the constants of one float format ---------------------------------------------------------

# Chebyshev fits (mpmath.chebyfit at 60 digits), highest degree first, with the interval each was
# fitted on; rounded to the format they are used in. Their own relative error is below 2^-57
# (float64) or 2^-28 (float32), and it is scaled down further by the terms they multiply.
# exp: (e^r - 1 - r) / r^2 for |r| <= 1.01 ln2/2.
_EXP = {
    64: (2.0915442297780116e-09, 2.5106274733573296e-08, 2.75572718102198e-07, 2.755725283351691e-06,
         2.4801587327007187e-05, 0.00019841269876864356, 0.0013888888888883327, 0.008333333333325544,
         0.04166666666666667, 0.1666666666666667, 0.5),
    32: (0.00019891980628017336, 0.0013934541493654251, 0.00833331048488617, 0.04166645556688309,
         0.1666666716337204, 0.5),
}  # fmt: skip
# log: (2 atanh(s) / s - 2) / s^2 as a function of z = s^2 <= 1.01 (3 - 2 sqrt 2)^2.
_LOG = {
    64: (0.1463003136412286, 0.15330617306743305, 0.18182922513515942, 0.22222210674238516,
         0.28571428628810996, 0.3999999999989322, 0.666666666666667),
    32: (0.23341943323612213, 0.28550398349761963, 0.40000125765800476, 0.6666666865348816),
}  # fmt: skip
# sin: (sin r - r) / r^3 and cos: (cos r - 1 + r^2/2) / r^4, as functions of z = r^2 <= 1.02 (pi/4)^2.
_SIN = {
    64: (1.59153232122714e-10, -2.5051092507061385e-08, 2.755731591191116e-06, -0.00019841269836387345,
         0.0083333333333307, -0.16666666666666666),
    32: (2.7243811473454116e-06, -0.00019840039021801203, 0.008333331905305386, -0.1666666716337204),
}  # fmt: skip
_COS = {
    64: (-1.1380876948169717e-11, 2.087612165887116e-09, -2.755731715246704e-07, 2.4801587298533456e-05,
         -0.0013888888888887241, 0.041666666666666664),
    32: (-2.729585730776307e-07, 2.48005599132739e-05, -0.00138888880610466, 0.0416666679084301),
}  # fmt: skip
# tanh: (tanh x - x) / x^3 as a function of z = x^2 <= 0.55^2.
_TANH = {
    64: (-2.060276537636634e-05, 8.511313685577671e-05, -0.0002346347410887237, 0.0005889360520074057,
         -0.001455661830100716, 0.003592110378689024, -0.008863234397814355, 0.021869488493666944,
         -0.053968253967434016, 0.13333333333332714, -0.3333333333333333),
    32: (0.0025263905990868807, -0.008526332676410675, 0.02181844972074032, -0.05396470054984093,
         0.1333332359790802, -0.3333333432674408),
}  # fmt: skip

_TANH_SMALL = 0.55  # below it the polynomial; above, t / (t + 2) with t >= 2 damps t's error


@dataclass(frozen=True)
class _Format:
    """Everything the generic implementations need to know about float32 or float64.

    Floats are NumPy scalars of the format (Numba types them as such, so float32 code stays
    float32); integers describe the bit layout.
    """

    float: type  # np.float32 or np.float64
    bitwidth: int
    p: int  # significand bits, counting the implicit one
    bias: int
    sign_bit: int  # as a (signed) int64 mask of the bits returned by _bits
    exp_coeffs: tuple
    log_coeffs: tuple
    sin_coeffs: tuple
    cos_coeffs: tuple
    tanh_coeffs: tuple
    ln2_hi: np.floating  # ln 2 = ln2_hi + ln2_lo, ln2_hi short enough that k * ln2_hi is exact
    ln2_lo: np.floating
    pio2_hi: np.floating  # pi/2 = pio2_hi + pio2_lo
    pio2_lo: np.floating
    exp_max: np.floating  # exp's argument is clamped to [exp_min, exp_max]: beyond, inf or 0
    exp_min: np.floating
    expm1_min: np.floating  # below it expm1 rounds to -1
    tanh_max: np.floating  # above it tanh rounds to 1
    tiny: np.floating  # below it expm1(x) and log1p(x) round to x
    min_normal: np.floating

    @property
    def mantissa_mask(self) -> int:
        return (1 << (self.p - 1)) - 1


def _rounded(value, bits: int) -> float:
    """An mpmath number rounded to ``bits`` significant bits (exactly representable as a float)."""
    import mpmath

    with mpmath.workprec(bits):
        return float(+value)


def _nearest(n: int, bits: int) -> int:
    """The integer ``n`` rounded to ``bits`` significant bits, to nearest, ties to even."""
    shift = abs(n).bit_length() - bits
    if shift <= 0:
        return n
    q, r = divmod(n, 1 << shift)  # n = q 2^shift + r, 0 <= r < 2^shift
    half = 1 << (shift - 1)
    return (q + (r > half or (r == half and q % 2 == 1))) << shift


@functools.cache
def _two_pi_table(bitwidth: int) -> np.ndarray:
    """Row e + 1 (e from -1 up): four chunks whose sum is 2^e * 2/pi mod 2^(p+1), to ~4p bits.

    A float of exponent e is 2^e a with a in [1, 2) a multiple of 2^(1-p), so a * 2^(p+1) * n is a
    multiple of 4 for every integer n: leaving out the multiples of 2^(p+1) changes the reduced
    argument by whole turns. Each chunk is the rest rounded to p - 1 bits (one bit short, as in
    Shibata's table, so that products and their sums keep a spare bit); four chunks reach about
    4p bits below the first, enough for arguments whose remainder is as close to a multiple of
    pi/2 as any float's can be. Computed in integers, in units of 2^-unit.
    """
    import mpmath

    ftype = np.float32 if bitwidth == 32 else np.float64
    info = np.finfo(ftype)
    p, max_exponent = info.nmant + 1, info.maxexp - 1
    unit = max_exponent + 8 * p
    with mpmath.workprec(unit + 64):
        two_over_pi = int(mpmath.floor(mpmath.ldexp(2 / mpmath.pi, unit)))
    rows = []
    for e in range(-1, max_exponent + 1):
        rest = ((two_over_pi << (e + 1)) >> 1) % (1 << (p + 1 + unit))
        row = []
        for _ in range(4):
            chunk = _nearest(rest, p - 1)
            row.append(float(Fraction(chunk, 1 << unit)))  # exact: p - 1 bits, well inside the range
            rest -= chunk
        rows.append(row)
    return np.array(rows, dtype=ftype)


@functools.cache
def _format(bitwidth: int) -> _Format:
    """The constants of float32 (``bitwidth`` 32) or float64 (64), computed when first needed."""
    import mpmath

    ftype = np.float32 if bitwidth == 32 else np.float64
    info = np.finfo(ftype)
    p = info.nmant + 1
    bias = info.maxexp - 1
    with mpmath.workprec(256):
        ln2, pio2 = mpmath.log(2), mpmath.pi / 2
        # k * ln2_hi must be exact for every k the reduction meets, |k| < 2^(exponent bits).
        ln2_hi = _rounded(ln2, p - info.nexp - 2)
        ln2_lo = _rounded(ln2 - ln2_hi, p)
        pio2_hi = _rounded(pio2, p)
        pio2_lo = _rounded(pio2 - pio2_hi, p)
        log_max = mpmath.log(mpmath.mpf(float(info.max)))
        # exp_min: below the log of half the smallest subnormal exp rounds to 0.
        log_min = mpmath.log(mpmath.mpf(float(info.smallest_subnormal)) / 2)
        # expm1(x) = -1 + e^x rounds to -1 once e^x is below a quarter ulp of 1; tanh(x) =
        # 1 - 2 / (e^2x + 1) rounds to 1 once 2 e^-2x is below a quarter ulp of 1.
        expm1_min = mpmath.log(mpmath.mpf(2) ** -(p + 1))
        tanh_max = mpmath.log(mpmath.mpf(2) ** (p + 2)) / 2
    return _Format(
        float=ftype,
        bitwidth=bitwidth,
        p=p,
        bias=bias,
        sign_bit=1 << (bitwidth - 1) if bitwidth == 32 else -(1 << 63),
        exp_coeffs=tuple(ftype(c) for c in _EXP[bitwidth]),
        log_coeffs=tuple(ftype(c) for c in _LOG[bitwidth]),
        sin_coeffs=tuple(ftype(c) for c in _SIN[bitwidth]),
        cos_coeffs=tuple(ftype(c) for c in _COS[bitwidth]),
        tanh_coeffs=tuple(ftype(c) for c in _TANH[bitwidth]),
        ln2_hi=ftype(ln2_hi),
        ln2_lo=ftype(ln2_lo),
        pio2_hi=ftype(pio2_hi),
        pio2_lo=ftype(pio2_lo),
        exp_max=ftype(math.ceil(float(log_max))),
        exp_min=ftype(math.floor(float(log_min))),
        expm1_min=ftype(math.floor(float(expm1_min))),
        tanh_max=ftype(math.ceil(float(tanh_max))),
        tiny=ftype(2.0**-p),
        min_normal=ftype(info.smallest_normal),
    )


# --- generic implementations ---------------------------------------------------------------------
#
# A factory takes a _Format and returns a plain Python function whose constants are that format's
# (Numba freezes them, so float32 code stays float32). The public functions' factories are
# registered as Numba overloads (_implement); the steps they share are compiled on their own
# (_compiled). Both get _OPTIONS, and LLVM inlines everything into the calling kernel.


@functools.cache
def _compiled(factory: Callable[[_Format], Callable], bitwidth: int):
    """``factory``'s function for float32 or float64, compiled by Numba with _OPTIONS."""
    import numba

    return numba.njit(**_OPTIONS)(factory(_format(bitwidth)))


@functools.cache
def _polynomial(coeffs: tuple):
    """A compiled function evaluating the polynomial with ``coeffs`` (highest degree first)."""
    import numba

    first, rest = coeffs[0], coeffs[1:]

    def evaluate(z):
        q = first
        for c in rest:  # Horner's rule; LLVM unrolls it
            q = q * z + c
        return q

    return numba.njit(**_OPTIONS)(evaluate)


def _implement(function: Callable, factory: Callable[[_Format], Callable]) -> None:
    """Make ``factory``'s implementations what Numba compiles for calls of ``function``: float32
    and float64 arguments get their format's, integers and booleans are converted to float64."""

    @overload(function, jit_options=_OPTIONS)
    def typed(x):
        if isinstance(x, types.Float) and x.bitwidth in (32, 64):
            return _built(factory, x.bitwidth)
        if isinstance(x, (types.Integer, types.Boolean)):
            return lambda x: function(np.float64(x))
        return None


@functools.cache
def _built(factory: Callable[[_Format], Callable], bitwidth: int) -> Callable:
    return factory(_format(bitwidth))


def _int_bits(value: np.floating) -> int:
    return int(np.array(value).view(np.int32 if value.dtype == np.float32 else np.int64))


def _exp_reduce(f: _Format):
    """x -> (k, r) with x = k ln2 + r, |r| <= ln2/2 and k an int64, for |x| below ~2^(p-2).

    Adding 1.5 * 2^(p-1) rounds x / ln2 to an integer, which then sits in the sum's low bits.
    """
    shift = f.float(1.5 * 2.0 ** (f.p - 1))
    shift_bits, inv_ln2, ln2_hi, ln2_lo = _int_bits(shift), f.float(1 / math.log(2)), f.ln2_hi, f.ln2_lo

    def reduce(x):
        t = x * inv_ln2 + shift
        k = t - shift
        return _bits(t) - shift_bits, (x - k * ln2_hi) - k * ln2_lo

    return reduce


def _pow2(f: _Format):
    """k (an int64 in the normal exponent range) -> 2^k, built from bits."""
    one, bias, shift = f.float(1), f.bias, f.p - 1

    def pow2(k):
        return _from_bits(one, (k + bias) << shift)

    return pow2


def _exp(f: _Format):
    lo, hi, one = f.exp_min, f.exp_max, f.float(1)
    reduce, pow2, q = _compiled(_exp_reduce, f.bitwidth), _compiled(_pow2, f.bitwidth), _polynomial(f.exp_coeffs)

    def exp(x):
        x = lo if x < lo else (hi if x > hi else x)  # beyond, the result is 0 or inf anyway; keeps nan
        k, r = reduce(x)
        y = one + (r + r * r * q(r))
        half = k >> 1  # 2^k as two factors: neither overflows, and a subnormal result is rounded once
        return (y * pow2(half)) * pow2(k - half)

    return exp


def _expm1_core(f: _Format):
    """expm1 for expm1_min <= x <= exp_max: 2 ((h - 1/2) + h r + h r^2 Q(r)) with h = 2^(k-1).

    Where 2^k (1 + r + ...) - 1 cancels (k = 1, r near -ln2/2), the first sum is exact.
    """
    half, two = f.float(0.5), f.float(2)
    reduce, pow2, q = _compiled(_exp_reduce, f.bitwidth), _compiled(_pow2, f.bitwidth), _polynomial(f.exp_coeffs)

    def expm1_core(x):
        k, r = reduce(x)
        h = pow2(k - 1)
        return two * (((h - half) + h * r) + h * (r * r * q(r)))

    return expm1_core


def _expm1(f: _Format):
    lo, hi, tiny = f.expm1_min, f.exp_max, f.tiny
    core = _compiled(_expm1_core, f.bitwidth)

    def expm1(x):
        y = core(lo if x < lo else (hi if x > hi else x))  # beyond, -1 or inf anyway; keeps nan
        return x if abs(x) < tiny else y  # x itself: also keeps -0, and subnormals exact

    return expm1


def _log_split(f: _Format):
    """A positive normal x -> (k, g) with x = 2^k (1 + g), 1 + g in [sqrt(1/2), sqrt(2)), k an int64."""
    sqrt_half_bits, shift, one = _int_bits(f.float(math.sqrt(0.5))), f.p - 1, f.float(1)

    def split(x):
        bits = _bits(x)
        k = (bits - sqrt_half_bits) >> shift
        return k, _from_bits(x, bits - (k << shift)) - one

    return split


def _log_core(f: _Format):
    """(k, g, c) -> log(2^k (1 + g)) + c for |g| <= sqrt(2) - 1 and a small correction c."""
    ln2_hi, ln2_lo, half, two, float_ = f.ln2_hi, f.ln2_lo, f.float(0.5), f.float(2), f.float
    poly = _polynomial(f.log_coeffs)

    def log_core(k, g, c):
        kf = float_(k)
        s = g / (two + g)
        z = s * s
        hfsq = half * g * g
        return kf * ln2_hi - ((hfsq - (s * (hfsq + z * poly(z)) + (kf * ln2_lo + c))) - g)

    return log_core


def _log(f: _Format):
    min_normal, scale, p = f.min_normal, f.float(2.0**f.p), f.p
    zero, inf, nan = f.float(0), f.float(np.inf), f.float(np.nan)
    split, core = _compiled(_log_split, f.bitwidth), _compiled(_log_core, f.bitwidth)

    def log(x):
        subnormal = x < min_normal
        k, g = split(x * scale if subnormal else x)
        y = core(k - p if subnormal else k, g, zero)
        if x == zero:
            return -inf
        if x < zero:
            return nan
        return y if x < inf else x  # inf and nan stay

    return log


def _log1p(f: _Format):
    one, inf, nan, tiny = f.float(1), f.float(np.inf), f.float(np.nan), f.tiny
    split, core = _compiled(_log_split, f.bitwidth), _compiled(_log_core, f.bitwidth)

    def log1p(x):
        u = one + x
        k, g = split(u)
        y = core(k, g, (x - (u - one)) / u)  # adds back the rounding error of 1 + x
        if abs(x) < tiny:  # x itself: also keeps -0, and subnormals exact
            return x
        if x == -one:
            return -inf
        if x < -one:
            return nan
        return y if x < inf else x  # inf and nan stay

    return log1p


def _sincos(f: _Format):
    """x -> (sin r, cos r, q) with |x| = r + q pi/2 + a multiple of 2 pi, q in {0, 1, 2, 3} (as a float)."""
    table = _two_pi_table(f.bitwidth)
    rows = table.shape[0]
    shift, bias, mask, one_bits = f.p - 1, f.bias, f.mantissa_mask, f.bias << (f.p - 1)
    zero, quarter, half, one, four = f.float(0), f.float(0.25), f.float(0.5), f.float(1), f.float(4)
    pio2_hi, pio2_lo, pio4 = f.pio2_hi, f.pio2_lo, f.float(math.pi / 4)
    sin_poly, cos_poly = _polynomial(f.sin_coeffs), _polynomial(f.cos_coeffs)

    def sincos(x):
        a = abs(x)
        bits = _bits(a)
        row = min(max((bits >> shift) - bias + 1, 0), rows - 1)  # the exponent, plus one
        m = _from_bits(a, (bits & mask) | one_bits)  # a = 2^e m, m in [1, 2)
        # (hi, lo): the fraction of a * 2/pi as a double-word; q: the whole quarter turns mod 4.
        product = m * table[row, 0]  # up to 2^(p+2)
        n = _rint(product)
        q = n - four * _floor(n * quarter)  # n mod 4, exactly
        hi = product - n
        lo = _fma(m, table[row, 0], -product)  # m * chunk = product + lo, exactly
        for i in range(1, 4):
            total = hi + lo  # renormalize
            lo = (hi - total) + lo
            hi = total
            chunk = table[row, i]
            product = m * chunk  # below 4: the integers dropped from here on are small
            error = _fma(m, chunk, -product)
            total = hi + product  # (hi, lo) += (product, error)
            v = total - hi
            lo = ((hi - (total - v)) + (product - v)) + (lo + error)
            n = _rint(total)
            q += n
            hi = total - n
        total = hi + lo
        lo = (hi - total) + lo
        hi = total
        q -= four * _floor(q * quarter)
        r_hi = hi * pio2_hi  # (hi + lo) pi/2
        r_lo = _fma(hi, pio2_hi, -r_hi) + (hi * pio2_lo + lo * pio2_hi)
        if a <= pio4:  # already reduced: exact
            r_hi, r_lo, q = a, zero, zero
        z = r_hi * r_hi
        s = r_hi + (r_hi * z * sin_poly(z) + r_lo * (one - half * z))
        hz = half * z
        w = one - hz
        c = w + (((one - w) - hz) + (z * z * cos_poly(z) - r_hi * r_lo))
        return s, c, q

    return sincos


def _flip_sign(f: _Format):
    """(y, x) -> y with its sign flipped where x's sign bit is set (so -0 too)."""
    sign_bit = f.sign_bit

    def flip_sign(y, x):
        return _from_bits(y, _bits(y) ^ (_bits(x) & sign_bit))

    return flip_sign


def _sin(f: _Format):
    one, two, three, inf = f.float(1), f.float(2), f.float(3), f.float(np.inf)
    sincos, flip_sign = _compiled(_sincos, f.bitwidth), _compiled(_flip_sign, f.bitwidth)

    def sin(x):
        s, c, q = sincos(x)
        y = c if q == one or q == three else s
        y = flip_sign(-y if q >= two else y, x)  # sin is odd
        return y if abs(x) < inf else x - x  # inf and nan give nan

    return sin


def _cos(f: _Format):
    one, two, three, inf = f.float(1), f.float(2), f.float(3), f.float(np.inf)
    sincos = _compiled(_sincos, f.bitwidth)

    def cos(x):
        s, c, q = sincos(x)
        y = s if q == one or q == three else c
        y = -y if q == one or q == two else y
        return y if abs(x) < inf else x - x  # inf and nan give nan

    return cos


def _tanh(f: _Format):
    small, cap, one, two = f.float(_TANH_SMALL), f.tanh_max, f.float(1), f.float(2)
    poly, expm1_core, flip_sign = (
        _polynomial(f.tanh_coeffs), _compiled(_expm1_core, f.bitwidth), _compiled(_flip_sign, f.bitwidth)
    )  # fmt: skip

    def tanh(x):
        a = abs(x)
        a = cap if a > cap else a  # beyond, tanh rounds to 1; keeps nan
        z = a * a
        t = expm1_core(two * a)
        # t / (t + 2) = 1 - 2 / (t + 2): the second form once 2 / (t + 2) is small next to 1
        closer = a < one
        y = (t if closer else two) / (t + two)
        y = y if closer else one - y
        return flip_sign(a + a * z * poly(z) if a < small else y, x)

    return tanh


# --- the public functions -------------------------------------------------------------------------


def exp(x: float) -> float:
    """e^x; in Numba-compiled code, the vectorizable implementation (see the module docstring)."""
    return math.exp(x)


def expm1(x: float) -> float:
    """e^x - 1, accurate near 0."""
    return math.expm1(x)


def log(x: float) -> float:
    """The natural logarithm."""
    return math.log(x)


def log1p(x: float) -> float:
    """log(1 + x), accurate near 0."""
    return math.log1p(x)


def sin(x: float) -> float:
    """The sine (radians)."""
    return math.sin(x)


def cos(x: float) -> float:
    """The cosine (radians)."""
    return math.cos(x)


def tanh(x: float) -> float:
    """The hyperbolic tangent."""
    return math.tanh(x)


def sigmoid(x: float) -> float:
    """The logistic function 1 / (1 + e^-x) (codegen.runtime's formula on this module's exp)."""
    from . import runtime

    return runtime.sigmoid(x)


def softplus(x: float) -> float:
    """log(1 + e^x) (codegen.runtime's formula on this module's exp and log1p)."""
    from . import runtime

    return runtime.softplus(x)


def _sigmoid(f: _Format):
    from . import runtime

    return runtime.sigmoid_with(exp)


def _softplus(f: _Format):
    from . import runtime

    return runtime.softplus_with(exp, log1p)


for _function, _factory in ((exp, _exp), (expm1, _expm1), (log, _log), (log1p, _log1p), (sin, _sin),
                            (cos, _cos), (tanh, _tanh), (sigmoid, _sigmoid), (softplus, _softplus)):  # fmt: skip
    _implement(_function, _factory)
