"""explain_grad: the chain rule step by step, ending with exactly what T.grad computes."""

from __future__ import annotations

import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad.printing.formulas import MathTextPrinter

show = MathTextPrinter().doprint


def test_explains_exp_times_sin_step_by_step():
    x = T.dscalar("x")
    cost = T.exp(-(x**2)) * T.sin(x)
    explanation = theano.explain_grad(cost, x)
    text = str(explanation)
    assert text.splitlines()[0] == "The cost: v5 = exp(-x**2)*sin(x)"
    for line in [
        "  v1 = x**2       ∂v1/∂x = 2*x",
        "  v3 = exp(v2)    ∂v3/∂v2 = exp(v2)",
        "  v5 = v3*v4      ∂v5/∂v3 = v4,  ∂v5/∂v4 = v3",
        "  v̄5 = 1",
        "  v̄2 = v̄3·∂v3/∂v2 = v̄3*exp(v2) = exp(-x**2)*sin(x)",
        "  x̄ = v̄4·∂v4/∂x + v̄1·∂v1/∂x = 2*v̄1*x + v̄4*cos(x) = (-2*x*sin(x) + cos(x))*exp(-x**2)",
        "  ∂v5/∂x = (-2*x*sin(x) + cos(x))*exp(-x**2)",
    ]:
        assert line in text.splitlines(), line
    final = explanation.backward[-1]
    assert final.gradient is T.grad(cost, x)  # the same walk builds the same (hash-consed) graph
    assert [show(d) for d in explanation.results.values()] == [theano.pp(T.grad(cost, x))]


def test_latex_form():
    x = T.dscalar("x")
    explanation = theano.explain_grad(T.exp(-(x**2)) * T.sin(x), x)
    latex = explanation.latex()
    assert latex.startswith("\\begin{aligned}\n") and latex.endswith("\n\\end{aligned}")
    assert r"v_{1} &= x^{2} & & \frac{\partial v_{1}}{\partial x} = 2 x" in latex
    chain = r"\bar{v_{4}} \frac{\partial v_{4}}{\partial x} + \bar{v_{1}} \frac{\partial v_{1}}{\partial x}"
    assert rf"\bar{{x}} &= {chain} = 2 \bar{{v_{{1}}}} x + \bar{{v_{{4}}}} \cos{{\left(x \right)}} \\" in latex
    result = r"\left(- 2 x \sin{\left(x \right)} + \cos{\left(x \right)}\right) e^{- x^{2}}"
    assert latex.splitlines()[-2] == rf"\frac{{\partial v_{{5}}}}{{\partial x}} &= {result}"
    assert explanation._repr_latex_() == f"$$\n{latex}\n$$"


def test_sigmoid_neuron_with_named_intermediates_and_several_wrt():
    x, w, b, t = T.dscalars("x", "w", "b", "t")
    z = w * x + b
    z.name = "z"
    y = T.nnet.sigmoid(z)
    y.name = "y"
    cost = (y - t) ** 2
    explanation = theano.explain_grad(cost, [w, b])
    lines = str(explanation).splitlines()
    assert lines[0] == "The cost: v3 = (t - y)**2"
    assert "  z = b + v1        ∂z/∂v1 = 1,  ∂z/∂b = 1" in lines
    assert "  y = sigmoid(z)    ∂y/∂z = (1 - sigmoid(z))*sigmoid(z)" in lines
    assert [s.gradient for s in explanation.backward[-2:]] == T.grad(cost, [w, b])
    assert [show(d) for d in explanation.results.values()] == theano.pp(T.grad(cost, [w, b])).splitlines()


def test_vector_neuron_shows_the_vector_jacobian_rules():
    X = T.dmatrix("X")
    w, y = T.dvectors("w", "y")
    b = T.dscalar("b")
    cost = T.mean((T.nnet.sigmoid(T.dot(X, w) + b) - y) ** 2)
    explanation = theano.explain_grad(cost, [w, b])
    lines = str(explanation).splitlines()
    assert "  v1 = X·w               ∂v1/∂w: v̄1 ↦ Xᵀ·v̄1" in lines
    assert "  v2 = b  (broadcast)    ∂v2/∂b: v̄2 ↦ v̄2.dimshuffle()" in lines
    assert lines[-2].startswith("  ∂v9/∂w = Xᵀ·(")
    assert [s.gradient for s in explanation.backward[-2:]] == T.grad(cost, [w, b])
    assert r"\mapsto X^{\top} \cdot \bar{v_{1}}" in explanation.latex()


def test_gradient_with_respect_to_an_intermediate_and_without_simplification():
    x = T.dscalar("x")
    h = T.sin(x)
    cost = h**2 + h
    explanation = theano.explain_grad(cost, [h, x], simplify=False)
    assert [s.gradient for s in explanation.backward if s.gradient in T.grad(cost, [h, x])] == T.grad(cost, [h, x])
    assert str(explanation).splitlines()[-1] == "  ∂v3/∂x = (2*sin(x) + 1)*cos(x)"


def test_errors_are_those_of_T_grad():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="scalar"):
        theano.explain_grad(x**2, x)
    with pytest.raises(T.DisconnectedInputError):
        theano.explain_grad(T.sum(x), T.dscalar("u"))


def test_an_explanation_reads_as_its_text_in_a_repl():
    x = T.dscalar("x")
    explanation = theano.explain_grad(x**2, x)
    assert repr(explanation) == str(explanation) == explanation.text()
    assert repr(explanation).endswith("∂v1/∂x = 2*x")
