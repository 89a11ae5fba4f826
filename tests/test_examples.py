"""The examples run, in fresh processes, and do what they claim."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import has_graphviz, require_graphviz

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(name, *args, cache_dir):
    # PYTHONPATH: the examples run against this checkout, even where another one is installed.
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_spiral_demo_trains_to_95_percent_and_second_run_hits_the_cache(tmp_path):
    first = run_example("spiral.py", "--quiet", cache_dir=tmp_path)
    accuracy = float(re.search(r"training accuracy ([\d.]+)%", first).group(1))
    assert accuracy >= 95.0, first
    assert "compiled" in first
    second = run_example("spiral.py", "--quiet", cache_dir=tmp_path)
    assert "served by the disk cache" in second


def test_derivatives_table_is_printed_and_checked(tmp_path):
    out = run_example("derivatives.py", cache_dir=tmp_path)
    lines = out.splitlines()
    assert re.match(r"sigmoid +sigmoid\(x\) +\(1 - sigmoid\(x\)\)\*sigmoid\(x\)$", lines[13]), out
    assert "all 18 derivatives match central differences at x = 0.7" in out


def test_neuron_is_explained_then_trained(tmp_path):
    out = run_example("neuron.py", cache_dir=tmp_path)
    assert "  ∂v5/∂b = 2*(t - sigmoid(b + w*x))*(sigmoid(b + w*x) - 1)*sigmoid(b + w*x)" in out
    assert "∂/∂w  = Xᵀ·(" in out
    assert "accuracy 100.0%" in out


def test_two_layer_gradient_is_printed_and_drawn(tmp_path):
    picture = tmp_path / "net.svg"
    drawing = ["--picture", str(picture)] if has_graphviz() else []
    out = run_example("two_layer_gradient.py", *drawing, cache_dir=tmp_path)
    assert "  ∂loss/∂W2 = hiddenᵀ·(-2*Y + 2*(hidden·W2))" in out
    assert "relu [id E] 'hidden' <float64[?, ?]> 3" in out
    assert "# Rewrites applied: fill_numbers" in out
    require_graphviz()
    assert picture.read_text().lstrip().startswith("<?xml") and "<svg" in picture.read_text()


def test_logistic_regression_tutorial_separates_the_training_data(tmp_path):
    out = run_example("logistic_regression.py", "--steps", "500", cache_dir=tmp_path)
    assert "training accuracy 100.0%" in out, out
    assert float(re.search(r"final cross-entropy ([\d.]+)", out).group(1)) < 0.1, out


@pytest.mark.long  # 11 s; tests/test_optim.py checks Adam's steps against the published formulas
def test_spiral_with_adam_trains_to_95_percent(tmp_path):
    out = run_example("spiral_adam.py", "--steps", "300", cache_dir=tmp_path)
    accuracy = float(re.search(r"training accuracy ([\d.]+)%", out).group(1))
    assert accuracy >= 95.0, out


@pytest.mark.long  # 15 s of training
def test_digits_classifier_reaches_95_percent_test_accuracy(tmp_path):
    out = run_example("digits.py", "--epochs", "10", cache_dir=tmp_path)
    assert "1347 training and 450 test images" in out, out
    accuracy = float(re.search(r"test accuracy ([\d.]+)% +\(", out).group(1))
    assert accuracy >= 95.0, out


def test_curve_fit_through_the_scipy_bridge_converges_to_curve_fits_answer(tmp_path):
    out = run_example("curve_fit.py", cache_dir=tmp_path)
    assert "trust-exact: Optimization terminated successfully." in out, out
    assert float(re.search(r"\|gradient\| ([\d.e+-]+)", out).group(1)) < 1e-8, out
    rows = re.findall(r"^ +(a|k|w|phi|c) +(-?[\d.]+) +(-?[\d.]+) ", out, flags=re.M)
    assert len(rows) == 5, out
    for name, true, value in rows:
        assert abs(float(value) - float(true)) < 0.05, (name, out)
    assert float(re.search(r"curve_fit: ([\d.e+-]+)", out).group(1)) < 1e-6, out


@pytest.mark.long  # 10 s; tests/test_random.py checks dropout's masks and gradient on its own
def test_dropout_layer_trains_with_a_new_mask_at_each_step(tmp_path):
    out = run_example("dropout.py", "--steps", "300", cache_dir=tmp_path)
    kept = float(re.search(r"units kept: ([\d.]+)% on average", out).group(1))
    assert abs(kept - 80.0) < 0.5, out
    low, high = (float(v) for v in re.search(r"from ([\d.]+)% to ([\d.]+)%", out).groups())
    assert low < high, out  # the masks differ from step to step
    assert float(re.search(r"training accuracy ([\d.]+)%", out).group(1)) >= 95.0, out
    assert float(re.search(r"test accuracy ([\d.]+)%", out).group(1)) >= 90.0, out


@pytest.mark.long  # 17 s; tests/test_linalg.py checks the Cholesky, cho_solve and log-determinant it uses
def test_gp_regression_fits_the_hyperparameters_to_scikit_learns_optimum(tmp_path):
    out = run_example("gp_regression.py", cache_dir=tmp_path)
    assert "L-BFGS-B: CONVERGENCE" in out, out
    assert float(re.search(r"\|gradient\| ([\d.e+-]+)", out).group(1)) < 1e-5, out
    fitted = dict(re.findall(r"^ +(signal s|length l|noise σ) +([\d.]+)$", out, flags=re.M))
    assert abs(float(fitted["noise σ"]) - 0.1) < 0.03, out  # the data's noise is 0.1
    assert float(re.search(r"posterior mean at 9 new points: ([\d.]+)", out).group(1)) < 0.15, out
    assert float(re.search(r"GaussianProcessRegressor: [\d.-]+, difference ([\d.e+-]+)", out).group(1)) < 1e-6, out


def test_least_squares_fit_by_solve_matches_numpy_and_its_ridge_derivative_finite_differences(tmp_path):
    out = run_example("least_squares.py", cache_dir=tmp_path)
    assert float(re.search(r"solve of the same equations: ([\d.e+-]+)", out).group(1)) < 1e-9, out
    assert float(re.search(r"np.linalg.lstsq \(no ridge\): ([\d.e+-]+)", out).group(1)) < 1e-4, out
    slope = float(re.search(r"with respect to the ridge ([\d.e+-]+)", out).group(1))
    finite = float(re.search(r"central difference of the held-out error: ([\d.e+-]+)", out).group(1))
    assert slope > 0 and abs(slope - finite) < 1e-3 * abs(finite), out
