"""Scalar helper functions for generated CPU kernels.

The scalar printer writes calls such as ``digamma(x)`` or ``sigmoid(z)`` for functions that
neither ``math`` nor Numba provide (or provide only in an unstable form), and the generated
module imports them by bare name: ``from codegen.runtime import digamma, sigmoid``.

Every function here is a ``numba.njit`` scalar function. ``cache=True`` keeps their machine
code in Numba's on-disk cache (codegen/__pycache__ by default), so a warm process does not
recompile them; ``error_model='numpy'`` makes division by zero give inf or nan, as in NumPy,
instead of raising inside a kernel. digamma, trigamma and polygamma work in float64 whatever
the argument type; sigmoid, softplus and gammaln work in the argument's precision (float32 stays
float32: their constants take the argument's type, see ``_one``). Special
values (poles, zeros, inf, nan) follow ``scipy.special``, which the tests use as the
reference along with mpmath.
"""

import math

import numba
import numpy as np
from numba.extending import overload
from numba.np.numpy_support import as_dtype

__all__ = ["digamma", "erfcinv", "erfinv", "exp2", "gammaln", "polygamma", "sigmoid", "softplus", "trigamma"]

# fastmath set (to FMA contraction only), so that a kernel's reassoc and arcp are not inherited: they
# would undo sigmoid's correction of 1 + e.
_jit = numba.njit(cache=True, error_model="numpy", fastmath={"contract"})


def _exact(signature: str):
    """Compile now, for ``signature`` only, without fastmath.

    A compilation that does not set ``fastmath`` itself inherits the flags of the compilation it
    happens inside, and 'reassoc' turns the double-double step ``(x - root_hi) - root_lo`` into
    ``x - root_hi``, losing digamma's relative accuracy near its root (and the cache keeps that
    version for every later caller). This module is imported lazily, by ``vecmath``'s overloads,
    while a kernel is being typed, so even compiling at import can happen inside a kernel's
    compilation: ``fastmath=False``, set explicitly, is what rules the inheritance out.
    """
    return numba.njit(signature, cache=True, error_model="numpy", fastmath=False)


# Bernoulli numbers B_2, B_4, ..., B_24.
_BERNOULLI = (
    1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
    43867 / 798, -174611 / 330, 854513 / 138, -236364091 / 2730,
)  # fmt: skip

# B_2k / (2k) for k = 7 down to 1: the coefficients of 1/x^2k in the asymptotic series of
# digamma, highest first for Horner's rule. For x >= 10 the first omitted term is below 5e-17.
_DIGAMMA_ASYMPTOTIC = tuple(_BERNOULLI[k - 1] / (2 * k) for k in range(7, 0, -1))

# B_2j / (2j)! for j = 1..12: the Euler-Maclaurin coefficients of the Hurwitz zeta tail.
_EULER_MACLAURIN = tuple(b / math.factorial(2 * j) for j, b in enumerate(_BERNOULLI, start=1))

_EPSILON = np.finfo(np.float64).eps


# The zero of digamma on the positive axis, as a double plus the rest, so that x - root keeps
# full relative precision, and the Taylor coefficients of psi there, psi^(k)(root) / k! =
# (-1)^(k+1) zeta(k+1, root) for k = 1..20 (computed with mpmath at 50 digits; the tests check
# them). Within 0.2 of the root, 20 terms are exact to double precision.
_ROOT_HI = 1.4616321449683622
_ROOT_LO = 9.549995429965697e-17
_ROOT_TAYLOR = (
    0.9676722454476212, -0.4427631689835921, 0.258499760955651, -0.16394270544240652,
    0.10782405069126237, -0.07219956125645471, 0.04880428816414311, -0.03316112647484736,
    0.022597648232218104, -0.01542476590494896, 0.010538791616612175, -0.007204534386356869,
    0.004926781395729853, -0.003369801655439328, 0.002305126326734928, -0.0015769367714301972,
    0.0010788252019162967, -0.0007380709389960052, 0.000504953265834602, -0.0003454680251063077,
)  # fmt: skip


@_exact("float64(float64)")
def _digamma_near_root(dx):
    """psi(root + dx) for |dx| < 0.2, from its Taylor series about the positive root."""
    series = 0.0
    for coeff in _ROOT_TAYLOR[::-1]:  # Horner's rule in dx
        series = series * dx + coeff
    return series * dx


@_exact("float64(float64)")
def _digamma_positive(x):
    """psi(x) for x > 0.

    Near the root: its Taylor series. Elsewhere: shift x up to x >= 10 with
    psi(x) = psi(x + 1) - 1/x, then sum the asymptotic series ln x - 1/(2x) - sum B_2k / (2k x^2k).
    The shifted sum carries intermediate values near ln 10, so its absolute error is a few
    1e-16; that is a large relative error only where psi(x) is near 0, which the Taylor series
    covers.
    """
    dx = (x - _ROOT_HI) - _ROOT_LO
    if abs(dx) < 0.2:
        return _digamma_near_root(dx)
    result = 0.0
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    z = 1.0 / (x * x)  # 0 once x * x overflows, which is the right limit
    series = 0.0
    for coeff in _DIGAMMA_ASYMPTOTIC:  # Horner's rule in z
        series = series * z + coeff
    return result + math.log(x) - 0.5 / x - series * z


@_exact("float64(float64)")
def _cot_pi(x):
    """cot(pi x) for a non-integer x, to a few ulp.

    Computing pi * x first would round away the fractional part of a large x, and tan of an
    argument near pi/2 magnifies that rounding, so reduce x exactly to r in [-1/2, 1/2] (cot(pi x)
    has period 1) and near r = +-1/2 use cot(t) = -tan(t -+ pi/2), whose argument is small.
    """
    r = x - math.trunc(x)  # exact, in (-1, 1)
    if r > 0.5:
        r -= 1.0  # exact (Sterbenz)
    elif r < -0.5:
        r += 1.0
    if r > 0.25:
        return -math.tan(math.pi * (r - 0.5))
    if r < -0.25:
        return -math.tan(math.pi * (r + 0.5))
    return 1.0 / math.tan(math.pi * r)


@_exact("float64(float64)")
def digamma(x):
    """The digamma function psi(x) = d/dx ln Gamma(x), in float64.

    Positive x: upward recurrence to x >= 10, then the asymptotic series. Negative x: the
    reflection formula psi(x) = psi(1 - x) - pi / tan(pi x). Within 0.2 of the positive zero
    x = 1.4616..., a Taylor series about it. Relative error a few 1e-15 for x > 0. For x < 0
    the two reflection terms cancel near the zero of psi in each interval between negative
    integers, so there the error is a few 1e-16 times |pi / tan(pi x)| in absolute terms
    (scipy.special.psi has the same limitation, except near its first negative zero).
    psi(+0) = -inf, psi(-0) = +inf; negative integers, -inf and nan give nan; psi(inf) = inf.
    """
    x = float(x)
    if math.isnan(x) or x == math.inf:
        return x
    if x == 0.0:
        return math.copysign(math.inf, -x)  # the sign of zero says which side of the pole
    if x < 0.0:
        # A pole: a negative integer or -inf. Every float beyond 2**52 is an integer, and Numba's
        # math.floor gives an int64, which cannot hold -inf or -1e300 (on a GPU too).
        if x < -(2.0**52) or x == math.floor(x):
            return math.nan
        # psi(1 - x). Near the root, 1 - x would round away the low bits that x - root needs,
        # so take the distance from x itself: 1 - x - root = -x - (root - 1), exactly.
        dx = (-x - (_ROOT_HI - 1.0)) - _ROOT_LO
        reflected = _digamma_near_root(dx) if abs(dx) < 0.2 else _digamma_positive(1.0 - x)
        return reflected - math.pi * _cot_pi(x)
    return _digamma_positive(x)


@_exact("float64(float64, float64)")
def _hurwitz_zeta(s, q):
    """zeta(s, q) = sum over k >= 0 of 1 / (q + k)^s, for an integer-valued float s >= 2 and
    0 < q < inf. (With an integer s, Numba's math.pow takes an integer-power path that raises
    ZeroDivisionError when q^s underflows, whatever the error model.)

    Sums terms until q >= s + 10, then adds the Euler-Maclaurin tail
    q^(1-s) / (s-1) + q^-s / 2 + sum_j B_2j / (2j)! * s (s+1) ... (s+2j-2) * q^(1-s-2j).
    Each tail term is roughly ((s + 2j) / (2 pi q))^2 times the one before, so starting the
    tail at q >= s + 10 makes twelve terms converge to double precision for every s.
    """
    total = 0.0
    while q < s + 10.0:
        total += math.pow(q, -s)
        q += 1.0
    power = math.pow(q, -s)
    # q^(1-s) by itself, not q * power: for huge q, power underflows while q^(1-s) does not.
    tail = math.pow(q, 1.0 - s) / (s - 1.0) + 0.5 * power
    factor = s * power / q  # s (s+1) ... (s+2j-2) * q^(1-s-2j) for j = 1
    for j, coeff in enumerate(_EULER_MACLAURIN):
        term = coeff * factor
        tail += term
        if abs(term) <= _EPSILON * tail:
            break
        factor *= (s + 2 * j + 1) * (s + 2 * j + 2) / (q * q)
    return total + tail


@_exact("float64(int64, float64)")
def _cot_derivative(n, c):
    """P_n(c), where d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x)).

    P_0(c) = c and P_{k+1}(c) = -(1 + c^2) P_k'(c), since d/dx cot(pi x) = -pi (1 + cot^2).
    All coefficients of P_n share one sign and P_n has only odd or only even powers, so the
    Horner evaluation has no cancellation. (It allocates two small arrays per call, so it is
    CPU-only; only polygamma at negative x uses it.)
    """
    coeffs = np.zeros(n + 3)  # P_k has degree k + 1; one spare slot for the c^2 shift
    coeffs[1] = 1.0
    for _ in range(n):
        new = np.zeros(n + 3)
        for i in range(n + 1):
            d = (i + 1) * coeffs[i + 1]  # coefficient of c^i in P_k'(c)
            new[i] -= d
            new[i + 2] -= d
        coeffs = new
    result = 0.0
    for i in range(n + 1, -1, -1):
        result = result * c + coeffs[i]
    return result


@_exact("float64(int64, float64)")
def _polygamma_positive(n, x):
    """psi^(n)(x) = (-1)^(n+1) n! zeta(n+1, x) for an integer n >= 1 and 0 < x < inf."""
    sign = 1.0 if n % 2 == 1 else -1.0
    return sign * math.gamma(n + 1.0) * _hurwitz_zeta(n + 1.0, x)


@_exact("float64(float64, float64)")
def polygamma(n, x):
    """The polygamma function psi^(n)(x), the n-th derivative of digamma, in float64.

    n = 0 is digamma. For n >= 1 and x > 0, psi^(n)(x) = (-1)^(n+1) n! zeta(n+1, x) with the
    Hurwitz zeta summed directly up to x >= n + 11 and finished with an Euler-Maclaurin tail:
    agrees with scipy.special.polygamma to a few 1e-16 relative. For x < 0, the reflection
    formula psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) P_n(cot(pi x)) (the n-th derivative
    of psi(1 - x) - psi(x) = pi cot(pi x)); it costs O(n^2) whatever |x|, and loses relative
    accuracy only near the zeros of psi^(n). Poles (x = 0, negative integers, -inf) give
    (-1)^(n+1) inf, and psi^(n)(inf) = 0, both as scipy does. A negative or non-integer n
    gives nan.
    """
    if not (n >= 0 and n == math.floor(n)):  # also rejects a nan n
        return math.nan
    if n == 0:
        return digamma(x)
    order = int(n)
    x = float(x)
    sign = 1.0 if order % 2 == 1 else -1.0  # (-1)^(n+1)
    if math.isnan(x):
        return x
    if x == math.inf:
        return sign * 0.0
    # A pole: 0, a negative integer or -inf (every float beyond 2**52 is an integer, and on a GPU,
    # where this code runs too, math.floor gives an int64)
    if x <= 0.0 and (x < -(2.0**52) or x == math.floor(x)):
        return sign * math.inf
    if x > 0.0:
        return _polygamma_positive(order, x)
    cot = _cot_pi(x)
    reflected = -sign * _polygamma_positive(order, 1.0 - x)  # (-1)^n psi^(n)(1 - x)
    return reflected - math.pow(math.pi, order + 1.0) * _cot_derivative(order, cot)


@_exact("float64(float64)")
def trigamma(x):
    """The trigamma function psi'(x) = polygamma(1, x); same method and accuracy."""
    return polygamma(1, x)


def _one(x):
    """1 in the float type of ``x`` (1.0 for other types). In compiled code a literal ``1.0`` is a
    double, and ``1.0 + x`` would compute a float32 ``x`` in double precision."""
    return type(x)(1) if isinstance(x, (float, np.floating)) else 1.0


@overload(_one)
def _one_typed(x):
    one = as_dtype(x).type(1) if isinstance(x, numba.types.Float) else 1.0
    return lambda x: one


def sigmoid_with(exp):
    """The logistic function 1 / (1 + exp(-x)) computed with ``exp`` (``math.exp`` here, the
    vectorizable one in codegen.vecmath), correct to a few ulp everywhere.

    exp is only ever called on -|x| <= 0, so it cannot overflow: for x < 0 the equivalent form
    exp(x) / (1 + exp(x)) is used. No branch, so that a loop calling it can vectorize.
    """

    def sigmoid(x):
        one = _one(x)
        e = exp(-abs(x))  # nan stays nan
        d = one + e
        q = (one if x >= 0 else e) / d
        return q - q * (((one - d) + e) / d)  # corrected for the rounding error of 1 + e

    return sigmoid


def softplus_with(exp, log1p):
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)), with the given ``exp`` and ``log1p``;
    correct to a few ulp everywhere.

    The naive form overflows for x > 709 and rounds to 0 for x < -37 where the true value is
    exp(x); this form has neither problem.
    """

    def softplus(x):
        zero = _one(x) - _one(x)
        positive_part = x if x > 0 else zero  # not max(): a nan x must reach log1p and stay nan
        return positive_part + log1p(exp(-abs(x)))

    return softplus


sigmoid = _jit(sigmoid_with(math.exp))
softplus = _jit(softplus_with(math.exp, math.log1p))


@_jit
def gammaln(x):
    """ln |Gamma(x)|: math.lgamma, under the name that generated code and scipy use.

    Poles (0 and negative integers) give inf. Unlike scipy.special.gammaln, -inf gives +inf.
    """
    return math.lgamma(x)


@_jit
def exp2(x):
    """2 ** x, in float64. math.exp2 only exists from Python 3.11, and symgrad supports 3.10."""
    return math.pow(2.0, x)


# Giles' single-precision approximation of erfinv ("Approximating the erfinv function", GPU
# Computing Gems, 2011), in w = -log((1 - y)(1 + y)): the starting point that Halley's method
# refines to double precision. Highest coefficient first, for Horner's rule.
_GILES_CENTRAL = (
    2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
    -0.00417768164, 0.246640727, 1.50140941,
)  # fmt: skip
_GILES_TAIL = (
    -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
    0.00943887047, 1.00167406, 2.83297682,
)  # fmt: skip
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@_exact("float64(float64, float64)")
def _erfinv_guess(y, one_minus_y_squared):
    """Giles' approximation of erfinv(y), given (1 - y)(1 + y) computed without cancellation. Beyond
    its range (1 - |y| < 1e-7), the tail's leading asymptotics, erfc(x) ~ exp(-x^2) / (x sqrt(pi))."""
    w = -math.log(one_minus_y_squared)
    p = 0.0
    if w > 16.0:
        x = math.sqrt(w - 0.5 * math.log(math.pi * w))
        return x if y > 0 else -x
    if w < 5.0:
        w -= 2.5
        for c in _GILES_CENTRAL:
            p = p * w + c
    else:
        w = math.sqrt(w) - 3.0
        for c in _GILES_TAIL:
            p = p * w + c
    return p * y


@_exact("float64(float64, float64)")
def _solve_erf(x, y):
    """Solve erf(x) = y from x by Halley's method (f''/f' = -2x: the step is dx / (1 + x dx), with
    dx the Newton step)."""
    for _ in range(8):
        dx = (math.erf(x) - y) / (_TWO_OVER_SQRT_PI * math.exp(-x * x))
        step = dx / (1.0 + x * dx)
        x -= step
        if abs(step) <= 1e-16 * abs(x):
            break
    return x


@_exact("float64(float64, float64)")
def _solve_erfc(x, z):
    """Solve erfc(x) = z (z <= 1/2) from x by Newton's method on log(erfc(x)) = log(z), which stays
    well conditioned in the far tail, where z is tiny."""
    log_z = math.log(z)
    for _ in range(12):
        tail = math.erfc(x)
        step = (math.log(tail) - log_z) * tail / (_TWO_OVER_SQRT_PI * math.exp(-x * x))
        x += step
        if abs(step) <= 1e-16 * abs(x):
            break
    return x


@_exact("float64(float64)")
def erfcinv(z):
    """The inverse of erfc on [0, 2]: inf at 0, -inf at 2, nan outside. For z < 1/2 it solves
    erfc(x) = z itself, so tiny z (far tails) keep full relative precision; up to 1 it solves
    erf(x) = 1 - z (exact there); z > 1 by symmetry, erfcinv(z) = -erfcinv(2 - z) (no recursion:
    the device version is compiled from this source)."""
    if not 0.0 < z < 2.0:
        return math.inf if z == 0.0 else (-math.inf if z == 2.0 else math.nan)
    sign = 1.0
    if z > 1.0:
        z, sign = 2.0 - z, -1.0  # exact: 2 - z, for z in [1, 2]
    guess = _erfinv_guess(1.0 - z, z * (2.0 - z))
    return sign * (_solve_erfc(guess, z) if z < 0.5 else _solve_erf(guess, 1.0 - z))


@_exact("float64(float64)")
def erfinv(y):
    """The inverse of erf on [-1, 1]: ±inf at ±1, nan outside. Near 0 it solves erf(x) = y; for
    |y| >= 1/2, erfcinv(1 - |y|), whose argument is exact there."""
    if abs(y) >= 0.5:
        x = erfcinv(1.0 - abs(y))
        return x if y > 0 else -x
    if y != y:
        return y
    return _solve_erf(_erfinv_guess(y, (1.0 - y) * (1.0 + y)), y)


# ------------------------------------------------------------------------------------------------
# Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
# 1, 2, 3", SC 2011), the generator of cuRAND and JAX. Element pair ``block`` of a draw is a pure
# function of (key, counter, block), so the numbers do not depend on how the elements are shared
# among threads, and the device version, compiled from this source, draws the same bits. All the
# arithmetic is on uint64 holding 32-bit words: the 32 x 32-bit products fit, so nothing wraps
# (the CUDA simulator runs this as NumPy scalars, which warn on overflow). No fastmath: the normals
# must round the same in every build (contracting a multiply-add would change their last bit).

_PHILOX_M0 = np.uint64(0xD2511F53)
_PHILOX_M1 = np.uint64(0xCD9E8D57)
_PHILOX_W0 = np.uint64(0x9E3779B9)
_PHILOX_W1 = np.uint64(0xBB67AE85)
_LOW32 = np.uint64(0xFFFFFFFF)
_U32 = np.uint64(32)
_U11 = np.uint64(11)
_U40 = np.uint64(40)
_TWO_M53 = 2.0**-53
_TWO_M24 = 2.0**-24


#: The transformations ``random_pair`` applies to a block's two 64-bit words (``RandomDraw``'s
#: distribution and dtype, in ``codegen`` terms).
RANDOM_KINDS = {
    ("uniform", "float64"): 0,
    ("uniform", "float32"): 1,
    ("normal", "float64"): 2,
    ("normal", "float32"): 2,
}

# inline='always': called through a function boundary, the fill loop neither vectorizes nor hoists
# the key and counter, and runs ten times slower.
_random_jit = numba.njit(cache=True, error_model="numpy", fastmath=False, inline="always")


@_random_jit
def philox_words(key, counter, block):
    """Philox4x32-10 of the counter (block, counter) under ``key`` (all uint64), as two uint64
    words: output words 0 and 1, then 2 and 3, the first of each pair in the low half."""
    c0, c1 = block & _LOW32, block >> _U32
    c2, c3 = counter & _LOW32, counter >> _U32
    k0, k1 = key & _LOW32, key >> _U32
    for _ in range(10):
        p0 = _PHILOX_M0 * c0
        p1 = _PHILOX_M1 * c2
        c0, c1, c2, c3 = (p1 >> _U32) ^ c1 ^ k0, p1 & _LOW32, (p0 >> _U32) ^ c3 ^ k1, p0 & _LOW32
        k0 = (k0 + _PHILOX_W0) & _LOW32  # the key schedule (unused after the last round)
        k1 = (k1 + _PHILOX_W1) & _LOW32
    return c0 | (c1 << _U32), c2 | (c3 << _U32)


# fdlibm's logarithm (e_log.c) and sine and cosine kernels (k_sin.c, k_cos.c), in +, -, * and /
# (and the logarithm's exponent read from the bits, as fdlibm does): the C library's functions
# differ between machines and from the GPU's, and do not vectorize.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG1, _LG2, _LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LG4, _LG5 = 2.222219843214978396e-01, 1.818357216161805012e-01
_LG6, _LG7 = 1.531383769920937332e-01, 1.479819860511658591e-01
_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11
_PIO2_HI = 1.57079632673412561417e00  # pi/2 in two parts: r * _PIO2_HI is exact for r = k / 2^51
_PIO2_LO = 6.07710050650619224932e-11
_SQRT_TWO = 1.4142135623730951
_MANTISSA = np.uint64((1 << 52) - 1)
_EXPONENT_ONE = np.uint64(1023 << 52)  # 1.0's exponent field
_U52 = np.uint64(52)
_TWO_53 = np.uint64(1 << 53)
_HALF_QUADRANT = np.uint64(1 << 50)
_U51 = np.uint64(51)
_ZERO, _ONE, _TWO = np.uint64(0), np.uint64(1), np.uint64(2)


@_random_jit
def _log_unit(m):
    """ln(m / 2^53) for an integer 1 <= m <= 2^53 (uint64), within an ulp: fdlibm's method, m / 2^53
    written as v 2^e with v in [sqrt(1/2), sqrt(2)) from its exponent's bits (and a select)."""
    bits = np.float64(float(m) * _TWO_M53).view(np.uint64)  # normal: its exponent field is not 0
    v = np.uint64((bits & _MANTISSA) | _EXPONENT_ONE).view(np.float64)  # in [1, 2)
    e = float(np.int64(bits >> _U52)) - 1023.0
    above = v >= _SQRT_TWO
    v, e = (v * 0.5, e + 1.0) if above else (v, e)
    f = v - 1.0  # exact: v is in [sqrt(1/2), sqrt(2))
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    half_f2 = 0.5 * f * f
    return e * _LN2_HI - ((half_f2 - (s * (half_f2 + r) + e * _LN2_LO)) - f)


@_random_jit
def _cos_sin_turn(k):
    """cos and sin of 2 pi k / 2^53 for an integer 0 <= k < 2^53 (uint64): the quadrant and the
    remainder come exactly from k's bits, then fdlibm's kernels on [-pi/4, pi/4]."""
    q = (k + _HALF_QUADRANT) >> _U51  # the nearest quarter turn
    r = float(np.int64(k) - np.int64(q << _U51)) * 2.0**-51  # exact, in [-1/2, 1/2)
    x = r * _PIO2_HI + r * _PIO2_LO
    z = x * x
    sin = x + z * x * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))
    half_z = 0.5 * z
    w = 1.0 - half_z
    cos = w + (((1.0 - w) - half_z) + z * z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6))))))
    # Quarter turn q rotates (cos, sin) to (-sin, cos): swap on odd q, then the signs, by selects
    # (returning from branches would stop the fill loop from vectorizing).
    odd = (q & _ONE) != _ZERO
    first, second = (sin, cos) if odd else (cos, sin)
    cos_sign = -1.0 if ((q + _ONE) & _TWO) != _ZERO else 1.0
    sin_sign = -1.0 if (q & _TWO) != _ZERO else 1.0
    return cos_sign * first, sin_sign * second


@_random_jit
def random_pair(kind, key, counter, block):
    """Elements ``2 * block`` and ``2 * block + 1`` of a draw (see ``RANDOM_KINDS``): uniform on
    [0, 1) from the top 53 bits of each word (24 for float32, so that rounding cannot reach 1), or
    two standard normals by Box-Muller, r cos t and r sin t (r = sqrt(-2 ln(1 - u0)), t = 2 pi u1)."""
    w0, w1 = philox_words(key, counter, block)
    if kind == 1:
        return float(w0 >> _U40) * _TWO_M24, float(w1 >> _U40) * _TWO_M24
    k0, k1 = w0 >> _U11, w1 >> _U11
    if kind == 0:
        return float(k0) * _TWO_M53, float(k1) * _TWO_M53
    r = math.sqrt(-2.0 * _log_unit(_TWO_53 - k0))  # 1 - u0, exactly, in (0, 1]
    cos, sin = _cos_sin_turn(k1)
    return r * cos, r * sin
