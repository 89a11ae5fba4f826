"""The examples run, in fresh processes, and do what they claim."""

import os
import re
import subprocess
import sys
from pathlib import Path

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
    out = run_example("two_layer_gradient.py", "--picture", str(picture), cache_dir=tmp_path)
    assert "  ∂loss/∂W2 = hiddenᵀ·(-2*Y + 2*(hidden·W2))" in out
    assert "relu [id E] 'hidden' <float64[?, ?]> 3" in out
    assert "# Rewrites applied: fill_numbers" in out
    assert picture.read_text().lstrip().startswith("<?xml") and "<svg" in picture.read_text()
