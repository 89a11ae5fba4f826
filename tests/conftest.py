"""Test setup: every run works in a fresh folder of its own (the compile cache, never the user's, and
the tests' tmp_path folders) and removes it at the end; tests/cuda only where CUDA code can run."""

import os
import shutil
import tempfile

import pytest

RUN_DIR = tempfile.mkdtemp(prefix="symgrad-test-")
# Set before symgrad is imported anywhere, so no test reads or writes the real cache.
os.environ["SYMGRAD_CACHE_DIR"] = os.path.join(RUN_DIR, "cache")

# tests/cuda needs a GPU or Numba's simulator, which must be enabled before Numba is imported: it
# runs in a pytest process of its own (see the README), and other runs leave it out.
if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and os.environ.get("SYMGRAD_TEST_CUDA") != "1":
    collect_ignore = ["cuda"]


def pytest_configure(config):
    # tmp_path folders (the caches of the subprocess tests) go in the run's folder, unless the user
    # chose a --basetemp: pytest's own would keep the last three runs' folders.
    if config.option.basetemp is None:
        config.option.basetemp = os.path.join(RUN_DIR, "tmp")


def pytest_unconfigure(config):
    shutil.rmtree(RUN_DIR, ignore_errors=True)


@pytest.fixture
def quiet_machine(monkeypatch):
    """As if no other task were running: programs on threads use the thread count asked for (on a
    busy machine they run serially, see ``codegen.function.threads_free``), so a test of them does."""
    import codegen.function

    monkeypatch.setattr(codegen.function, "_runnable_tasks", lambda: 1)
