"""``theano.function(..., device=...)`` where no GPU is needed: argument checks, the clear error when
``device='cuda'`` finds no GPU, and that CPU-only use never loads Numba's CUDA target. The CUDA
backend itself is tested by tests/cuda, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import symgrad as theano
import symgrad.tensor as T


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=environment, capture_output=True, text=True, timeout=300
    )


def test_cuda_without_a_gpu_says_so_and_how_to_use_the_simulator():
    # CUDA_VISIBLE_DEVICES hides any GPU, so this holds on GPU machines too.
    done = _run(
        """
        import symgrad as theano, symgrad.tensor as T
        x = T.dvector('x')
        try:
            theano.function([x], x * 2, device='cuda')
        except RuntimeError as error:
            print(error)
        """,
        CUDA_VISIBLE_DEVICES="",
    )
    assert done.returncode == 0, done.stderr
    assert "no CUDA GPU is available" in done.stdout and "NUMBA_ENABLE_CUDASIM=1" in done.stdout


def test_cpu_functions_never_load_the_cuda_target():
    done = _run(
        """
        import sys
        import numpy as np
        import symgrad as theano, symgrad.tensor as T
        s = theano.shared(np.ones(3), name='s')
        x = T.dvector('x')
        f = theano.function([x], T.sum(x * s), updates=[(s, s * 2)])
        f(np.ones(3))
        print(sorted(m for m in sys.modules if m.startswith(('numba.cuda', 'numba_cuda', 'codegen.cuda'))))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_device_options_are_checked():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="device must be one of 'cpu', 'cuda'"):
        theano.function([x], x, device="gpu")
    with pytest.raises(ValueError, match="return_device_arrays=True needs device='cuda'"):
        theano.function([x], x, return_device_arrays=True)
    with pytest.raises(ValueError, match="config.device must be 'cpu' or 'cuda'"):
        theano.config.device = "tpu"
    assert theano.config.device == "cpu"


def test_cuda_without_numba_cuda_gives_the_install_command_for_a_release_and_a_clone(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "numba_cuda" else find_spec(name, *a)
    )
    x = T.dvector("x")
    with pytest.raises(
        RuntimeError, match=r"pip install 'symgrad\[cuda\]', or from a clone .* pip install -e '\.\[cuda\]'"
    ):
        theano.function([x], x * 2, device="cuda")
