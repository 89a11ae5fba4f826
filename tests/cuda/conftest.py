"""The CUDA tests: every function compiles for ``device='cuda'``.

Tests imported from the CPU suite run unchanged, except that their ``check_grad`` compares the GPU's
gradients with the ops' NumPy references (see ``helpers.check_grad_against_reference``).

They run in a pytest process of their own, under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``,
which must be set before Numba is imported) or on a real GPU (``SYMGRAD_TEST_CUDA=1``); the same
tests run unchanged on both. ``tests/conftest.py`` leaves this directory out of other runs.
"""

import os
import sys

import pytest

import symgrad as theano

from .helpers import check_grad_against_reference


def pytest_configure(config):
    from numba import cuda

    if not cuda.is_available():
        raise pytest.UsageError(
            "tests/cuda needs a CUDA GPU or Numba's simulator: run them as "
            "NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda (or SYMGRAD_TEST_CUDA=1 on a GPU machine)"
        )


@pytest.fixture(autouse=True)
def on_the_gpu():
    """Functions compile for the GPU unless a test says otherwise (theano.config.device, as in Theano)."""
    theano.config.device = "cuda"
    yield
    theano.config.device = "cpu"


@pytest.fixture(autouse=True)
def gradients_against_the_reference(monkeypatch):
    """The imported CPU tests' check_grad compares with the gradient graph evaluated in NumPy."""
    # A copy taken in one step: listing the items makes a tuple each, which can start a collection
    # (finalizers) or let another thread run, and a module imported meanwhile once raised
    # "dictionary changed size during iteration" here.
    for name, module in sys.modules.copy().items():
        if name.startswith("tests.") and not name.startswith("tests.cuda") and hasattr(module, "check_grad"):
            monkeypatch.setattr(module, "check_grad", check_grad_against_reference)


SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
