"""Smoke test of the benchmark suite: ``benchmarks/run_all.py --quick`` runs every section to the end.

The competitors that take long to import or compile (JAX, PyTensor, PyTorch, ...) are skipped with
``--skip``, as if not installed, which is also what the CI's environment looks like; what is left
(symgrad, NumPy, Numba, SciPy, SymPy) runs W1-W6 in about 20 s, so it runs with ``-m long``. No
time is asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = ["jax", "pytensor", "torch", "numexpr", "symengine", "optax", "casadi"]


@pytest.mark.long  # 20 s: the suite's quick run, end to end
def test_run_all_quick() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--skip", *SKIP],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.startswith("# symgrad benchmark suite")
    assert "machine: " in out and "load average at end" in out
    for title in ("## W1:", "## W2:", "## W3:", "## W4:", "## W5:", "## W6:"):
        assert title in out, f"{title} missing"
    for name in SKIP:
        assert f"skipped: {name} (--skip)" in out
    # No contender failed: a failure shows as "error" in its cells and a note under the tables.
    assert "| error" not in out and "failed:" not in out, out[out.find("## Notes") :]
    # W6 measured the sizes of symgrad's forward and gradient at depth 5.
    assert re.search(r"^\| 5 \| \d+ → \d+ \(\d+\.\d+×\)", out, re.MULTILINE), out[out.find("## W6") :]
