"""Readable generated code: f.source is the whole module, with a header listing the inputs, the
outputs (and their math), the updates and the rewrites applied, and the user's names."""

from __future__ import annotations

import numpy as np

import symgrad as theano
import symgrad.tensor as T


def header(f) -> list[str]:
    return [line for line in f.source.splitlines() if line.startswith("# ")]


def test_source_is_the_whole_module_with_a_header():
    x = T.dscalar("x")
    f = theano.function([x], T.grad(T.exp(-(x**2)) * T.sin(x), x))
    assert f.source.startswith('"""A function compiled by symgrad\n')
    compile(f.source, "generated", "exec")
    assert header(f)[:3] == [
        "# Inputs:           x: float64",
        "# Outputs:          t0: float64 = -2*x*exp(-x**2)*sin(x) + exp(-x**2)*cos(x)",
        "# Rewrites applied: none",
    ]


def test_header_lists_shared_variables_updates_and_the_rewrites_that_changed_the_graph():
    w = theano.shared(np.zeros(3), name="w")
    v = T.dvector("v")
    h = T.exp(v * w)
    h.name = "h"
    step = theano.function([v], [T.sum(h), T.sum(h * h)], updates=[(w, w - 0.1 * T.grad(T.sum(h), w))])
    assert header(step)[1:] == [
        "# Shared:           w: float64[?]",
        "# Outputs:          t0: float64 = sum(h)",
        "#                   t1: float64 = sum(h**2)",
        "# Updates:          w <- -0.1*h*v + w (in place)",
        "# Rewrites applied: fill_numbers",
    ]
    assert "        h = exp(v[i0]*w[i0])" in step.source  # the user's name for the intermediate
    swap = theano.shared(np.arange(3.0), name="swap")
    reverse = theano.function([], [], updates=[(swap, swap[::-1])])
    assert header(reverse)[-2:] == ["# Updates:          swap <- swap[::-1] (from t0)", "# Rewrites applied: none"]


def test_long_formulas_are_cut_to_one_line():
    x = T.dvector("x")
    y = x
    for k in range(30):
        y = T.sin(y + k)
    f = theano.function([x], y)
    (outputs,) = [line for line in header(f) if line.startswith("# Outputs:")]
    assert outputs.endswith("...") and len(outputs.partition(" = ")[2]) == 100


def test_kernel_docstrings_read_like_pp():
    X = T.dmatrix("X")
    f = theano.function([X], T.nnet.relu(X) * 2)
    assert '"""2*switch(X > 0, X, 0)"""' in f.source
