"""The examples run, in fresh processes, and do what they claim."""

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name, *args, cache_dir):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache_dir))
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
