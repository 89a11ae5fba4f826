"""The command line: python -m symgrad grad FORMULA [--wrt x] [--at ...] [--latex] [--source]."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from symgrad.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_grad_prints_the_simplified_derivative_and_its_value(capsys):
    status, out, err = run(capsys, "grad", "exp(-x**2)*sin(x)", "--wrt", "x", "--at", "1.5")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "f(x) = exp(-x**2)*sin(x)",
        "df/dx = (-2*x*sin(x) + cos(x))*exp(-x**2)",
        "at x = 1.5: f = 0.105135198092, df/dx = -0.307949948074",
    ]


def test_grad_with_several_variables_latex_and_source(capsys):
    status, out, _ = run(capsys, "grad", "sigmoid(w*x + b)", "--wrt", "w", "--wrt", "b", "--at", "w=0.5,x=2,b=-1",
                         "--latex", "--source")  # fmt: skip
    lines = out.splitlines()
    assert status == 0
    assert lines[:6] == [
        "f(b, w, x) = sigmoid(b + w*x)",
        "df/dw = x*(1 - sigmoid(b + w*x))*sigmoid(b + w*x)",
        "df/db = (1 - sigmoid(b + w*x))*sigmoid(b + w*x)",
        r"\frac{\partial f}{\partial w} = x \left(1 - \sigma\left(b + w x\right)\right) \sigma\left(b + w x\right)",
        r"\frac{\partial f}{\partial b} = \left(1 - \sigma\left(b + w x\right)\right) \sigma\left(b + w x\right)",
        "at b = -1, w = 0.5, x = 2: f = 0.5, df/dw = 0.5, df/db = 0.25",
    ]
    assert '"""A function compiled by symgrad' in out and "def make_entry(" in out


def test_one_variable_needs_no_wrt(capsys):
    assert run(capsys, "grad", "x**3")[1] == "f(x) = x**3\ndf/dx = 3*x**2\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["grad", "exp(-x**2"], "cannot parse 'exp(-x**2' as a formula: a parenthesis is not closed"),
        (["grad", "2x"], "cannot parse '2x' as a formula: invalid syntax"),
        (["grad", "foo(x)"], "unknown function(s) foo in 'foo(x)'"),
        (["grad", "x < 1"], "is not a number-valued formula"),
        (["grad", "3"], "'3' has no variables to differentiate with respect to"),
        (["grad", "x*y"], "the formula has variables x, y; say which with --wrt"),
        (["grad", "x*y", "--wrt", "z"], "--wrt z: not a variable of the formula (its variables: x, y)"),
        (["grad", "x*y", "--wrt", "x", "--at", "1"], "give x=...,y=... pairs"),
        (["grad", "x*y", "--wrt", "x", "--at", "x=1"], "--at: no value for y"),
        (["grad", "x", "--at", "x=one"], "--at: 'one' is not a number"),
        (["grad", "x", "--at", "y=1"], "--at: 'y' is not a variable of the formula"),
    ],
)
def test_clear_errors(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert err.startswith("python -m symgrad grad: error: ") and message in err, err


def test_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "symgrad", "grad", "log(x)"], cwd=ROOT, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "f(x) = log(x)\ndf/dx = 1/x\n")
    done = subprocess.run([sys.executable, "-m", "symgrad"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "grad" in done.stderr
