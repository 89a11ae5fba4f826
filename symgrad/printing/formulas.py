"""Infix math for people: ``pp`` (plain text, NumPy's function names) and ``latex``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy
from sympy.printing.latex import LatexPrinter as _SympyLatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from ..graph import Variable, graph_inputs, toposort
from .translate import DOT_OPERAND, NUMPY_NAMES, OpaqueBase, SympyTranslator, outputs_of, shared_parts, simplified


class MathTextPrinter(StrPrinter):
    """SymPy's ``str`` printer, with symgrad's structural ops and NumPy's function names.

    Scalar expressions print as SymPy parses them back (``symgrad.interop.parse`` reads NumPy's
    names); matrix products print as ``X·W``, transposes as ``Wᵀ``.
    """

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))

    def _print_Function(self, expr: sympy.Function) -> str:
        name = NUMPY_NAMES.get(expr.func.__name__, expr.func.__name__)
        return f"{name}({self.stringify(expr.args, ', ')})"

    def _print_Abs(self, expr) -> str:
        return self._print_Function(expr)

    def _print_polygamma(self, expr) -> str:
        order, x = expr.args
        return f"psi({self._print(x)})" if order == 0 else f"polygamma({self._print(order)}, {self._print(x)})"

    def _print_floor_div(self, expr) -> str:
        return " // ".join(self.parenthesize(a, PRECEDENCE["Mul"] + 1) for a in expr.args)

    def _print_mod(self, expr) -> str:
        return " % ".join(self.parenthesize(a, PRECEDENCE["Mul"] + 1) for a in expr.args)

    def _print_Relational(self, expr) -> str:
        # x == y rather than SymPy's Eq(x, y): comparisons read as in NumPy.
        lhs, rhs = (self.parenthesize(a, PRECEDENCE["Relational"] + 1) for a in expr.args)
        return f"{lhs} {expr.rel_op} {rhs}"

    def _print_Piecewise(self, expr) -> str:
        *branches, (last, _) = expr.args
        if len(branches) == 1 and branches[0].expr == 1 and last == 0:  # a comparison used as 0/1
            return f"({self._print(branches[0].cond)})"
        text = self._print(last)
        for value, cond in reversed(branches):
            text = f"switch({self._print(cond)}, {self._print(value)}, {text})"
        return text

    def _print_OpaqueBase(self, expr: OpaqueBase) -> str:
        special = getattr(self, f"_print_op_{expr.op_name}", None)
        if special is not None:
            return special(expr)
        args = [self._print(a) for a in expr.args]
        if expr.postfix:
            first = self.parenthesize(expr.args[0], PRECEDENCE["Func"], strict=True)
            return f"{first}{expr.postfix}" if len(args) == 1 else f"{expr.op_name}({first}{expr.postfix}, {args[1]})"
        return f"{expr.op_name}({', '.join(args + ([expr.keywords] if expr.keywords else []))})"

    def _print_op_dimshuffle(self, expr: OpaqueBase) -> str:
        return f"{self.parenthesize(expr.args[0], PRECEDENCE['Func'], strict=True)}.dimshuffle({expr.keywords})"

    def _print_Mul(self, expr: sympy.Mul) -> str:
        # -(X·W) reads as -X·W: negation commutes with the product.
        if len(expr.args) == 2 and expr.args[0] == -1 and isinstance(expr.args[1], OpaqueBase):
            return "-" + self._print(expr.args[1])
        return super()._print_Mul(expr)

    def _print_op_dot(self, expr: OpaqueBase) -> str:
        a, b = expr.args
        left = self._print(a) if isinstance(a, OpaqueBase) and a.op_name == "dot" else self.parenthesize(a, DOT_OPERAND)
        return f"{left}·{self.parenthesize(b, DOT_OPERAND)}"

    def _print_op_transpose(self, expr: OpaqueBase) -> str:
        return f"{self.parenthesize(expr.args[0], PRECEDENCE['Func'], strict=True)}ᵀ"

    def _print_op_index(self, expr: OpaqueBase) -> str:
        x = self.parenthesize(expr.args[0], PRECEDENCE["Func"], strict=True)
        return f"{x}[{', '.join(_index_entries(self, expr))}]"

    def _print_op_concatenate(self, expr: OpaqueBase) -> str:
        return f"concatenate([{self.stringify(expr.args, ', ')}]{_keywords(expr)})"

    def _print_op_split(self, expr: OpaqueBase) -> str:
        g, *tensors = expr.args
        return f"split({self._print(g)}, [{self.stringify(tensors, ', ')}]{_keywords(expr)}){expr.postfix}"

    def _print_op_map(self, expr: OpaqueBase) -> str:
        row, index, n = (self._print(a) for a in expr.args)
        return f"stack([{row} for {index} in range({n})])"


def _keywords(expr: OpaqueBase) -> str:
    """``, axis=1`` after the operands, or nothing."""
    return f", {expr.keywords}" if expr.keywords else ""


def _index_entries(printer, expr: OpaqueBase) -> list[str]:
    """The entries of an integer-array index: each index array printed, ``:`` for a full slice."""
    arrays = iter(expr.args[1:])
    return [printer._print(next(arrays)) if p == "*" else ":" for p in expr.keywords]


class PPrinter:
    """``pp``: a variable as readable infix math, its elementwise algebra simplified by SymPy.

    ``simplify=False`` prints the expression as built. Expressions too big to simplify quickly
    are printed as they are, and very big ones with their repeated parts named first, one line
    each (``t0 = ...``; see :func:`~symgrad.printing.translate.shared_parts`).
    """

    def __init__(self, simplify: bool = True) -> None:
        self.simplify = simplify

    def expressions(self, var: Variable) -> tuple[list[tuple[sympy.Symbol, sympy.Expr]], sympy.Expr]:
        """The named parts of ``var``'s expression, each with its expression, and the rest."""
        shared = shared_parts(var)
        translator = SympyTranslator()
        if shared:
            taken = {v.name for v in graph_inputs([var])} | {n.output.name for n in toposort([var])}
            names = (f"t{i}" for i in range(len(taken) + len(shared)) if f"t{i}" not in taken)
            translator.names.update(zip(shared, names))
        parts = [(translator.symbol(v), translator.translate(v)) for v in shared]
        body = translator.translate(var)
        return parts, simplified(body) if self.simplify and not parts else body

    def doprint(self, var: Variable) -> str:
        parts, body = self.expressions(var)
        p = MathTextPrinter().doprint
        return "\n".join([f"{p(name)} = {p(e)}" for name, e in parts] + [p(body)])


def pp(var: Variable | Sequence[Variable], simplify: bool = True) -> str:
    """The math ``var`` computes, readable: ``pp(T.grad(x**2, x))`` is ``'2*x'``.

    Accepts a variable, a list of variables (one line each) or a compiled function (its
    optimized outputs).
    """
    printer = PPrinter(simplify)
    return "\n".join(printer.doprint(v) for v in outputs_of(var))


class MathLatexPrinter(_SympyLatexPrinter):
    """SymPy's LaTeX printer, with symgrad's structural ops and functions."""

    def _print_OpaqueBase(self, expr: OpaqueBase, exp: str | None = None) -> str:
        if exp is not None:  # a power of it (SymPy's _print_Pow passes the exponent along)
            return rf"\left({self._print_OpaqueBase(expr)}\right)^{{{exp}}}"
        special = getattr(self, f"_print_op_{expr.op_name}", None)
        if special is not None:
            return special(expr)
        args = [self._print(a) for a in expr.args]
        name = expr.op_name.replace("_", r"\_")
        if expr.postfix:
            first = self.parenthesize(expr.args[0], PRECEDENCE["Func"], strict=True)
            index = expr.postfix.replace(":", r"\colon ")
            return (
                f"{first}_{{{index}}}"
                if len(args) == 1
                else rf"\operatorname{{{name}}}\left({first}_{{{index}}}, {args[1]}\right)"
            )
        subscript = rf"_{{\text{{{expr.keywords.replace('_', ' ')}}}}}" if expr.keywords else ""
        return rf"\operatorname{{{name}}}{subscript}\left({', '.join(args)}\right)"

    def _print_op_dot(self, expr: OpaqueBase) -> str:
        a, b = expr.args
        left = self._print(a) if isinstance(a, OpaqueBase) and a.op_name == "dot" else self.parenthesize(a, DOT_OPERAND)
        return rf"{left} \cdot {self.parenthesize(b, DOT_OPERAND)}"

    def _print_op_transpose(self, expr: OpaqueBase) -> str:
        return rf"{self.parenthesize(expr.args[0], PRECEDENCE['Func'], strict=True)}^{{\top}}"

    # Linear algebra, as a board shows it: A^{-1}, A^{-1} B, \det A, \log|\det A|, e^{A}.
    def _print_op_matrix_inverse(self, expr: OpaqueBase) -> str:
        return rf"{self.parenthesize(expr.args[0], PRECEDENCE['Func'], strict=True)}^{{-1}}"

    def _print_op_solve(self, expr: OpaqueBase) -> str:
        a, b = expr.args
        inverse = rf"{self.parenthesize(a, PRECEDENCE['Func'], strict=True)}^{{-1}}"
        return rf"{inverse} {self.parenthesize(b, DOT_OPERAND)}"

    def _print_op_det(self, expr: OpaqueBase) -> str:
        return rf"\det\left({self._print(expr.args[0])}\right)"

    def _print_op_slogdet_logabsdet(self, expr: OpaqueBase) -> str:
        return rf"\log\left|\det\left({self._print(expr.args[0])}\right)\right|"

    def _print_op_expm(self, expr: OpaqueBase) -> str:
        return rf"e^{{{self._print(expr.args[0])}}}"

    def _print_op_cumsum(self, expr: OpaqueBase) -> str:
        return self._cumulative(r"\sum", expr)

    def _print_op_cumprod(self, expr: OpaqueBase) -> str:
        return self._cumulative(r"\prod", expr)

    def _cumulative(self, big: str, expr: OpaqueBase) -> str:
        r"""A running sum or product at index i: ``\sum_{j \le i} (x)_{j}``, along the axis named."""
        along = rf"\text{{ ({expr.keywords.replace('_', ' ')})}}" if expr.keywords else ""
        return rf"{big}_{{j \le i}} \left({self._print(expr.args[0])}\right)_{{j}}{along}"

    def _print_op_index(self, expr: OpaqueBase) -> str:
        entries = [r"\colon" if e == ":" else e for e in _index_entries(self, expr)]
        return f"{self.parenthesize(expr.args[0], PRECEDENCE['Func'], strict=True)}_{{{', '.join(entries)}}}"

    def _print_op_split(self, expr: OpaqueBase) -> str:
        subscript = rf"_{{\text{{{expr.keywords}}}}}" if expr.keywords else ""
        args = ", ".join(self._print(a) for a in expr.args)
        return rf"\operatorname{{split}}{subscript}\left({args}\right)_{{{expr.postfix[1:-1]}}}"

    def _print_op_map(self, expr: OpaqueBase) -> str:
        row, index, n = expr.args
        return rf"\left[{self._print(row)}\right]_{{{self._print(index)} = 0}}^{{{self._print(n - 1)}}}"

    # SymPy prints a power of a function by passing the exponent to the function's printer
    # (``exp=``): a call takes it on its name, as ``\sigma^{2}\left(x\right)``; other notations
    # are raised whole.
    def _call(self, name: str, expr, exp: str | None = None) -> str:
        return rf"{name}{_power(exp)}\left({', '.join(self._print(a) for a in expr.args)}\right)"

    @staticmethod
    def _raised(text: str, exp: str | None, bracketed: bool = False) -> str:
        """``text`` to the power ``exp`` (if any); in brackets when raised, or when ``bracketed``."""
        if exp is None and not bracketed:
            return text
        return rf"\left({text}\right){_power(exp)}"

    def _print_sigmoid(self, expr, exp=None) -> str:
        return self._call(r"\sigma", expr, exp)

    def _print_softplus(self, expr, exp=None) -> str:
        return self._call(r"\operatorname{softplus}", expr, exp)

    def _print_sign(self, expr, exp=None) -> str:
        return self._call(r"\operatorname{sign}", expr, exp)

    def _print_ceil(self, expr, exp=None) -> str:
        return self._raised(rf"\left\lceil {self._print(expr.args[0])} \right\rceil", exp)

    def _print_log1p(self, expr, exp=None) -> str:
        return self._raised(rf"\log\left(1 + {self._print(expr.args[0])}\right)", exp)

    def _print_expm1(self, expr, exp=None) -> str:
        return self._raised(rf"e^{{{self._print(expr.args[0])}}} - 1", exp, bracketed=True)

    def _print_exp2(self, expr, exp=None) -> str:
        return self._raised(f"2^{{{self._print(expr.args[0])}}}", exp)

    def _print_log2(self, expr, exp=None) -> str:
        return self._call(r"\log_{2}", expr, exp)

    def _print_log10(self, expr, exp=None) -> str:
        return self._call(r"\log_{10}", expr, exp)

    def _print_loggamma(self, expr, exp=None) -> str:
        return self._call(r"\ln\Gamma", expr, exp)

    def _print_polygamma(self, expr, exp=None) -> str:
        order, x = expr.args
        if order == 0:
            return rf"\psi{_power(exp)}\left({self._print(x)}\right)"
        return self._raised(rf"\psi^{{({self._print(order)})}}\left({self._print(x)}\right)", exp)

    def _print_floor_div(self, expr, exp=None) -> str:
        a, b = (self._print(x) for x in expr.args)
        return self._raised(rf"\left\lfloor \frac{{{a}}}{{{b}}} \right\rfloor", exp)

    def _print_mod(self, expr, exp=None) -> str:
        a, b = (self.parenthesize(x, PRECEDENCE["Mul"]) for x in expr.args)
        return self._raised(rf"{a} \bmod {b}", exp)

    def _print_Piecewise(self, expr) -> str:
        (first, *rest) = expr.args
        if len(rest) == 1 and first.expr == 1 and rest[0].expr == 0:  # Iverson bracket: 1 where true
            return rf"\left[{self._print(first.cond)}\right]"
        return super()._print_Piecewise(expr)


def _power(exp: str | None) -> str:
    """``^{exp}``, or nothing where there is no exponent."""
    return "" if exp is None else f"^{{{exp}}}"


class LatexPrinter(PPrinter):
    """``latex``: the same expression as ``pp``, as LaTeX math (no surrounding ``$``)."""

    def __init__(self, simplify: bool = True, symbol_names: Mapping[sympy.Symbol, str] | None = None) -> None:
        super().__init__(simplify)
        self.symbol_names = dict(symbol_names or {})

    def print_expr(self, expr: sympy.Expr) -> str:
        return MathLatexPrinter({"symbol_names": self.symbol_names}).doprint(expr)

    def doprint(self, var: Variable) -> str:
        parts, body = self.expressions(var)
        return r" \\ ".join(
            [f"{self.print_expr(name)} = {self.print_expr(e)}" for name, e in parts] + [self.print_expr(body)]
        )


def latex(var: Variable | Sequence[Variable], simplify: bool = True) -> str:
    """``var`` as LaTeX math, simplified as ``pp`` does; a list gives one line each (``\\\\``)."""
    printer = LatexPrinter(simplify)
    return r" \\ ".join(printer.doprint(v) for v in outputs_of(var))
