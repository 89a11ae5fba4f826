"""The disk cache, proven with real processes: a second process loads the machine code instead of
compiling, racing writers leave one valid entry, and a damaged entry is rebuilt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import symgrad as theano
    import symgrad.tensor as T

    x, w = T.dmatrix('x'), T.dvector('w')
    loss = T.sum(T.tanh(T.dot(x, w)) ** 2) + T.mean(w ** 2)
    f = theano.function([x, w], [loss, T.grad(loss, w)])
    value, grad = f(np.arange(12.0).reshape(4, 3) / 10, np.array([0.1, -0.2, 0.3]))
    hits, misses = f.kernel_cache_stats()
    print(json.dumps({"value": float(value), "grad": grad.tolist(), "hits": hits, "misses": misses,
                      "file": f._module.__file__}))
    """
)


def run_script(cache_dir: Path) -> dict:
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_loads_without_compiling(tmp_path):
    first = run_script(tmp_path)
    second = run_script(tmp_path)
    assert first["misses"] > 0 and first["hits"] == 0, first
    assert second["misses"] == 0 and second["hits"] == first["misses"], second
    assert second["value"] == first["value"] and second["grad"] == first["grad"]
    modules = list(tmp_path.glob("symgrad_*.py"))
    assert len(modules) == 1 and not list(tmp_path.glob(".tmp-*"))


def test_racing_processes_leave_one_valid_entry(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert len({(r["value"], tuple(r["grad"])) for r in results}) == 1
    assert len(list(tmp_path.glob("symgrad_*.py"))) == 1
    assert not list(tmp_path.glob(".tmp-*"))
    assert run_script(tmp_path)["misses"] == 0


@pytest.mark.parametrize("damage", ["truncate", "garbage", "edit"])
def test_damaged_module_is_rebuilt(tmp_path, damage):
    reference = run_script(tmp_path)
    module = Path(reference["file"])
    text = module.read_text()
    module.write_text(
        {
            "truncate": text[: len(text) // 2],
            "garbage": "\x00\x01 not python",
            "edit": text.replace("def make_entry", "def make_entry_"),
        }[damage]
    )
    again = run_script(tmp_path)
    assert again["value"] == reference["value"] and again["grad"] == reference["grad"]
    assert "def make_entry(" in module.read_text()
