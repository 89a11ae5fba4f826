"""SymPy scalar expressions printed as Numba-compilable Python.

One printer class per target: :class:`NumbaPrinter` for the CPU, :class:`CudaPrinter` for
``numba.cuda`` kernels. Functions print under their bare names (``exp(x)``, not ``math.exp(x)``) and
the printer records which names it used, so the module header imports exactly those. Helpers that
neither ``math`` nor NumPy provide come from ``codegen.runtime`` (CPU) or ``codegen.cuda_runtime``
(CUDA device functions).

In a float32 kernel (``float32`` set) every number is printed as ``np.float32(...)``: Numba types a
Python number as float64 (an int as int64), and ``x * 0.5`` or ``x + 1`` with a float32 ``x`` would
compute in double. Integer powers stay integers (Numba multiplies: ``x**2`` is ``x*x`` in float32),
other exponents are typed too, and ``math`` functions keep float32 arguments in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

from . import vecmath

#: Functions implemented in codegen/runtime.py, by the name generated code calls.
RUNTIME_FUNCTIONS = ("sigmoid", "softplus", "digamma", "trigamma", "polygamma", "erfinv", "erfcinv")
#: Device functions of codegen/cuda_runtime.py (keep in step with its DEVICE_FUNCTIONS), plus the
#: NumPy functions that numba.cuda lacks and cuda_runtime provides.
CUDA_FUNCTIONS = (
    "sigmoid", "softplus", "digamma", "trigamma", "polygamma", "erfinv", "erfcinv", "sign", "floor", "ceil", "rint",
)  # fmt: skip
#: The highest order of polygamma that cuda_runtime's device version computes (it keeps a polynomial
#: of degree order + 1 in a fixed-size local array); higher orders raise NotSupportedOnDevice.
CUDA_POLYGAMMA_MAX_ORDER = 40


class NotSupportedOnDevice(NotImplementedError):
    """A graph holds an op, or a scalar function, that the chosen device cannot run."""


def _on_loop_indices(expr: sympy.Basic) -> bool:
    """Whether ``expr`` reads only integer symbols: the loop indices and lengths of a kernel."""
    symbols = expr.free_symbols
    return bool(symbols) and all(s.is_integer for s in symbols)


class NumbaPrinter(PythonCodePrinter):
    """Prints scalar expressions for ``numba.njit`` kernels.

    With ``vector_math``, the functions that ``codegen.vecmath`` implements (exp, log1p, sin,
    sigmoid, ...) are imported from there instead of ``math`` or ``codegen.runtime``: the calls read
    the same, and the kernel's loop vectorizes.
    """

    printmethod = "_numbacode"

    def __init__(self, vector_math: bool = False) -> None:
        super().__init__({"fully_qualified_modules": False, "standard": "python3"})
        self.runtime_imports: set[str] = set()
        self.vector_math = vector_math
        #: Whether numbers are printed as float32 (set for the kernels of float32 results).
        self.float32 = False

    def _module_format(self, fqn: str, register: bool = True) -> str:
        module, _, name = fqn.rpartition(".")
        if self.vector_math and module == "math" and name in vecmath.MATH_FUNCTIONS:
            fqn = f"codegen.vecmath.{name}"
        return super()._module_format(fqn, register)

    # --- numbers: exact, and short where exact allows; typed in float32 kernels ----------------
    def doprint(self, expr: sympy.Basic, assign_to: object = None) -> str:
        if self.float32 and _on_loop_indices(expr):
            return self._exactly(lambda: super(NumbaPrinter, self).doprint(expr, assign_to))
        if self.float32:  # pi, E, ...: as numbers, which print typed (math.pi is a double)
            expr = expr.xreplace({c: sympy.Float(c.evalf(20)) for c in expr.atoms(sympy.NumberSymbol)})
        return super().doprint(expr, assign_to)

    def _exactly(self, text: Callable[[], str]) -> str:
        """``text()`` printed with untyped numbers: arithmetic on loop indices and lengths (a
        guarded read's ``i0 < n0 - 1``) is exact integer arithmetic, never float32's."""
        self.float32 = False
        try:
            return text()
        finally:
            self.float32 = True

    def _print_Relational(self, expr) -> str:
        if self.float32 and _on_loop_indices(expr):
            return self._exactly(lambda: super(NumbaPrinter, self)._print_Relational(expr))
        return super()._print_Relational(expr)

    def _number(self, text: str) -> str:
        if not self.float32:
            return text
        # A leading minus stays outside, so sums print as ``x - np.float32(1)``.
        return f"-np.float32({text[1:]})" if text.startswith("-") else f"np.float32({text})"

    def _print_Float(self, expr: sympy.Float) -> str:
        return self._number(repr(float(expr)))

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return self._number(repr(float(expr))) if self.float32 else f"({expr.p}/{expr.q})"

    def _print_Half(self, expr: sympy.Rational) -> str:
        return self._number("0.5")

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return self._number(str(expr.p))

    def _print_Zero(self, expr: sympy.Integer) -> str:
        return self._number("0")

    def _print_Infinity(self, expr) -> str:
        return self._number("np.inf")

    def _print_NegativeInfinity(self, expr) -> str:
        return f"-{self._number('np.inf')}"

    def _print_NaN(self, expr) -> str:
        return self._number("np.nan")

    def _print_ImaginaryUnit(self, expr) -> str:
        # Fusion substitutes one node's expression into another's, and SymPy may then evaluate
        # the square root of an expression it knows is negative (sqrt(clip(x, -2, -1.5))) to an
        # imaginary one. In real arithmetic, as NumPy computes it, that is nan.
        return self._print_NaN(expr)

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, exponent = expr.args
        if exponent.is_Integer and exponent < 0:
            # Numba computes x**-n as 1/(x**n) but raises ZeroDivisionError when x**n underflows to
            # 0, even under error_model='numpy'. Written as a division it gives inf, as NumPy does.
            one = self._print(sympy.Integer(1))
            return f"{one}/{self.parenthesize(base**-exponent, PRECEDENCE['Mul'] + 1)}"
        if self.float32:  # an integer power stays an int (Numba multiplies); x**(3/2) would be double
            if exponent == sympy.S.Half:
                return f"{self._module_format('math.sqrt')}({self._print(base)})"
            power = (
                str(exponent.p) if exponent.is_Integer else self.parenthesize(exponent, PRECEDENCE["Pow"], strict=True)
            )
            return f"{self.parenthesize(base, PRECEDENCE['Pow'], strict=True)}**{power}"
        return super()._print_Pow(expr, rational=rational)

    # --- functions SymPy knows under another name or prints unhelpfully -------------------------
    def _runtime(self, name: str, *args: sympy.Basic) -> str:
        if self.vector_math and name in vecmath.RUNTIME_FUNCTIONS:
            self.module_imports["codegen.vecmath"].add(name)
        else:
            self.runtime_imports.add(name)
        return f"{name}({', '.join(self._print(a) for a in args)})"

    def _print_sigmoid(self, expr) -> str:
        return self._runtime("sigmoid", *expr.args)

    def _print_softplus(self, expr) -> str:
        return self._runtime("softplus", *expr.args)

    def _print_polygamma(self, expr) -> str:
        order, x = expr.args
        if order == 0:
            return self._runtime("digamma", x)
        if order == 1:
            return self._runtime("trigamma", x)
        return self._runtime("polygamma", order, x)

    def _print_loggamma(self, expr) -> str:
        return f"{self._module_format('math.lgamma')}({self._print(expr.args[0])})"

    def _print_floor_div(self, expr) -> str:
        a, b = expr.args
        return f"({self._print(a)} // {self._print(b)})"

    def _print_mod(self, expr) -> str:
        a, b = expr.args
        return f"({self._print(a)} % {self._print(b)})"

    def _numpy_call(self, name: str, expr) -> str:
        return f"np.{name}({self._print(expr.args[0])})"

    def _print_sign(self, expr) -> str:
        return self._numpy_call("sign", expr)

    def _print_maximum(self, expr) -> str:
        return f"np.maximum({self._print(expr.args[0])}, {self._print(expr.args[1])})"  # nan wins, as in NumPy

    def _print_minimum(self, expr) -> str:
        return f"np.minimum({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_floor(self, expr) -> str:
        return self._numpy_call("floor", expr)

    def _print_ceil(self, expr) -> str:
        return self._numpy_call("ceil", expr)

    def _print_rint(self, expr) -> str:
        return self._numpy_call("rint", expr)

    def _math_call(self, name: str, expr) -> str:
        return f"{self._module_format('math.' + name)}({', '.join(self._print(a) for a in expr.args)})"

    def _print_isnan(self, expr) -> str:
        return self._math_call("isnan", expr)

    def _print_isinf(self, expr) -> str:
        return self._math_call("isinf", expr)

    def _print_isfinite(self, expr) -> str:
        return self._math_call("isfinite", expr)

    def _print_hypot(self, expr) -> str:
        return self._math_call("hypot", expr)

    def _print_gamma(self, expr) -> str:
        return self._math_call("gamma", expr)

    def _print_erfinv(self, expr) -> str:
        return self._runtime("erfinv", *expr.args)

    def _print_erfcinv(self, expr) -> str:
        return self._runtime("erfcinv", *expr.args)

    def _print_logaddexp(self, expr) -> str:
        return self._print(expr.stable_form())

    def _print_beta(self, expr) -> str:
        # exp(betaln) where both arguments are positive (no overflow); elsewhere the gamma ratio
        a, b = expr.args
        positive = sympy.exp(sympy.loggamma(a) + sympy.loggamma(b) - sympy.loggamma(a + b))
        ratio = sympy.gamma(a) * sympy.gamma(b) / sympy.gamma(a + b)
        return self._print(sympy.Piecewise((positive, (a > 0) & (b > 0)), (ratio, True)))

    def _binary_operator(self, symbol: str, expr) -> str:
        a, b = expr.args
        return f"({self._print(a)} {symbol} {self._print(b)})"

    def _print_bitwise_and(self, expr) -> str:
        return self._binary_operator("&", expr)

    def _print_bitwise_or(self, expr) -> str:
        return self._binary_operator("|", expr)

    def _print_bitwise_xor(self, expr) -> str:
        return self._binary_operator("^", expr)

    def _print_bitwise_not(self, expr) -> str:
        return f"(~{self.parenthesize(expr.args[0], PRECEDENCE['Atom'])})"

    def _print_exp2(self, expr) -> str:
        return f"({self._number('2.0')}**{self.parenthesize(expr.args[0], 100)})"

    def _print_Piecewise(self, expr) -> str:
        # a if c else (b if d else e): the innermost else is the final True branch.
        *branches, (last, _) = expr.args
        text = self._print(last)
        for value, cond in reversed(branches):
            text = f"({self._print(value)} if {self._print(cond)} else {text})"
        return text


class CudaPrinter(NumbaPrinter):
    """Prints scalar expressions for ``numba.cuda`` kernels.

    The same text as for the CPU, except where ``numba.cuda`` differs: the runtime helpers come from
    ``codegen.cuda_runtime`` as device functions, NumPy's ``sign``, ``floor`` and ``ceil`` (which
    ``numba.cuda`` does not type) become device functions too, and a function with no device
    implementation (polygamma beyond :data:`CUDA_POLYGAMMA_MAX_ORDER`) raises
    :class:`NotSupportedOnDevice` while the module is being generated, naming the function.
    """

    printmethod = "_cudacode"

    def _runtime(self, name: str, *args: sympy.Basic) -> str:
        if name not in CUDA_FUNCTIONS:
            raise NotSupportedOnDevice(
                f"{name} has no CUDA implementation in symgrad (on the GPU: {', '.join(CUDA_FUNCTIONS)} and "
                f"the math module's functions); compile this function with device='cpu'"
            )
        return super()._runtime(name, *args)

    def _numpy_call(self, name: str, expr) -> str:
        return self._runtime(name, *expr.args)

    def _print_polygamma(self, expr) -> str:
        order = expr.args[0]
        if not (order.is_Integer and 0 <= order <= CUDA_POLYGAMMA_MAX_ORDER):
            raise NotSupportedOnDevice(
                f"polygamma of order {order} has no CUDA implementation in symgrad (orders 0 to "
                f"{CUDA_POLYGAMMA_MAX_ORDER} do); compile this function with device='cpu'"
            )
        return super()._print_polygamma(expr)
