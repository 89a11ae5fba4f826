"""SymPy scalar expressions printed as Numba-compilable Python.

One printer class per target: :class:`NumbaPrinter` for the CPU, :class:`CudaPrinter` for
``numba.cuda`` kernels. Functions print under their bare names (``exp(x)``, not ``math.exp(x)``) and
the printer records which names it used, so the module header imports exactly those. Helpers that
neither ``math`` nor NumPy provide come from ``codegen.runtime`` (CPU) or ``codegen.cuda_runtime``
(CUDA device functions).
"""

from __future__ import annotations

import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

#: Functions implemented in codegen/runtime.py, by the name generated code calls.
RUNTIME_FUNCTIONS = ("sigmoid", "softplus", "digamma", "trigamma", "polygamma")
#: Device functions of codegen/cuda_runtime.py (keep in step with its DEVICE_FUNCTIONS), plus the
#: NumPy functions that numba.cuda lacks and cuda_runtime provides.
CUDA_FUNCTIONS = ("sigmoid", "softplus", "digamma", "trigamma", "sign", "floor", "ceil")


class NotSupportedOnDevice(NotImplementedError):
    """A graph holds an op, or a scalar function, that the chosen device cannot run."""


class NumbaPrinter(PythonCodePrinter):
    """Prints scalar expressions for ``numba.njit`` kernels."""

    printmethod = "_numbacode"

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": False, "standard": "python3"})
        self.runtime_imports: set[str] = set()

    # --- numbers: exact, and short where exact allows -------------------------------------------
    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return f"({expr.p}/{expr.q})"

    def _print_Half(self, expr: sympy.Rational) -> str:
        return "0.5"

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        # Numba computes x**-n as 1/(x**n) but raises ZeroDivisionError when x**n underflows to 0,
        # even under error_model='numpy'. Written as a division it gives inf, as NumPy does.
        base, exponent = expr.args
        if exponent.is_Integer and exponent < -1:
            return f"1/{self.parenthesize(base**-exponent, PRECEDENCE['Mul'] + 1)}"
        return super()._print_Pow(expr, rational=rational)

    # --- functions SymPy knows under another name or prints unhelpfully -------------------------
    def _runtime(self, name: str, *args: sympy.Basic) -> str:
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

    def _print_floor(self, expr) -> str:
        return self._numpy_call("floor", expr)

    def _print_ceil(self, expr) -> str:
        return self._numpy_call("ceil", expr)

    def _print_exp2(self, expr) -> str:
        return f"(2.0**{self.parenthesize(expr.args[0], 100)})"

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
    ``numba.cuda`` does not type) become device functions too, and functions with no device
    implementation (polygamma of order 2 and up: third derivatives of ``gammaln``) raise
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
