"""SymPy interop: from_sympy, to_sympy (round trips, numbers, errors) and the formula parser."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as theano
import symgrad.tensor as T
from symgrad.interop import ParseError, parse
from symgrad.ops.elemwise import Elemwise, sigmoid

x, y = sympy.symbols("x y")

ROUND_TRIPS = [
    x**2 + 3 * x - 1,
    sympy.exp(-(x**2)) * sympy.sin(x),
    sympy.log(1 + sympy.exp(x)) / (1 + y**2),
    sympy.atan2(y, x) + sympy.sqrt(x**2 + y**2),
    sigmoid(x * y) * sympy.tanh(y),
    sympy.Piecewise((x, x > y), (y**2, True)),
    sympy.erf(x) - sympy.cos(y) ** 3,
]


@pytest.mark.parametrize("expr", ROUND_TRIPS)
def test_from_sympy_then_to_sympy_round_trips(expr):
    X, Y = T.dscalars("X", "Y")
    var = theano.from_sympy(expr, {x: X, y: Y})
    assert isinstance(var.owner.op, Elemwise)
    back = theano.to_sympy(var, {X: x, Y: y})
    assert sympy.simplify(back - expr) == 0


def test_to_sympy_then_from_sympy_round_trips_and_computes_the_same():
    a, b = T.dvectors("a", "b")
    var = T.exp(-(a**2)) * T.sin(b) + T.nnet.softplus(a * b) / (1 + b**2)
    expr = theano.to_sympy(var)
    assert {s.name for s in expr.free_symbols} == {"a", "b"}
    rebuilt = theano.from_sympy(expr, {"a": a, "b": b})
    f = theano.function([a, b], [var, rebuilt])
    values = np.linspace(-2, 2, 7), np.linspace(1, 3, 7)
    first, second = f(*values)
    np.testing.assert_allclose(first, second, rtol=1e-12)
    reference = sympy.lambdify(sorted(expr.free_symbols, key=lambda s: s.name), expr.rewrite(sympy.exp))
    np.testing.assert_allclose(first, reference(*values), rtol=1e-12)


def test_to_sympy_of_a_gradient_is_its_derivative():
    v = T.dscalar("v")
    expr = theano.to_sympy(T.grad(T.exp(-(v**2)) * T.sin(v), v))
    s = sympy.Symbol("v", real=True)
    assert sympy.simplify(expr - sympy.diff(sympy.exp(-(s**2)) * sympy.sin(s), s)) == 0


def test_to_sympy_expands_named_intermediates_and_keeps_functions_definitions():
    v = T.dscalar("v")
    h = T.nnet.relu(v)
    h.name = "h"
    s = sympy.Symbol("v", real=True)
    assert theano.to_sympy(h * 2) == 2 * sympy.Piecewise((s, s > 0), (0, True))


def test_to_sympy_rejects_graphs_without_a_scalar_meaning():
    X, W = T.dmatrices("X", "W")
    with pytest.raises(TypeError, match="computed by Dot, which has no scalar meaning"):
        theano.to_sympy(T.exp(X @ W))
    with pytest.raises(TypeError, match="sum"):
        theano.to_sympy(T.sum(X))
    assert theano.to_sympy(X + T.dvector("b")) == sympy.Symbol("X", real=True) + sympy.Symbol("b", real=True)


def test_from_sympy_dtypes_numbers_and_broadcasting():
    i = T.ivector("i")
    assert theano.from_sympy(x**2 + 1, {x: i}).dtype == "int32"
    assert theano.from_sympy(x / 2, {x: i}).dtype == "float64"
    assert theano.from_sympy(sympy.exp(x), {x: T.fscalar("f")}).dtype == "float32"
    assert theano.from_sympy(x * y, {x: T.fvector("f"), y: 2.5}).dtype == "float32"  # numbers are weak
    m, v = T.dmatrix("m"), T.dvector("v")
    out = theano.from_sympy(x * y, {x: m, y: v})
    assert out.ndim == 2
    assert theano.from_sympy(x * y, {x: m, y: 2.0}).owner.op.expr == 2 * sympy.Symbol("a0", real=True)
    assert float(theano.from_sympy(sympy.pi * 2, {}).data) == pytest.approx(2 * np.pi)
    assert theano.from_sympy("2*x + sigmoid(x)", {"x": v}).ndim == 1


def test_from_sympy_translates_sympy_functions_with_numpy_counterparts():
    v = T.dvector("v")
    f = theano.function([v], theano.from_sympy(sympy.Max(x, 0) + sympy.floor(x) + sympy.sign(x), {x: v}))
    values = np.array([-1.5, 0.0, 2.5])
    np.testing.assert_allclose(f(values), np.maximum(values, 0) + np.floor(values) + np.sign(values))


def test_from_sympy_errors():
    v = T.dscalar("v")
    with pytest.raises(ValueError, match="no variable given for symbol.*y"):
        theano.from_sympy(x + y, {x: v})
    with pytest.raises(TypeError, match="no elementwise op for besselj"):
        theano.from_sympy(sympy.besselj(0, x), {x: v})
    with pytest.raises(TypeError, match="no elementwise op for Integral"):
        theano.from_sympy(sympy.Integral(x, x), {x: v})
    with pytest.raises(ValueError, match="not real-valued"):
        theano.from_sympy(sympy.I * x, {x: v})


def test_parse_reads_numpy_names_and_reports_mistakes():
    s = sympy.Symbol("s")
    assert parse("arctan(s) + gammaln(s) + psi(s) + abs(s)") == (
        sympy.atan(s) + sympy.loggamma(s) + sympy.polygamma(0, s) + sympy.Abs(s)
    )
    assert parse("relu(s)") == sympy.Piecewise((s, s > 0), (0, True))
    with pytest.raises(ParseError, match="a parenthesis is not closed"):
        parse("exp(-s**2")
    with pytest.raises(ParseError, match="invalid syntax"):
        parse("2s")
    with pytest.raises(ParseError, match="unknown function.*foo"):
        parse("foo(s)")
    with pytest.raises(ParseError, match="not a number-valued formula"):
        parse("s < 2")
