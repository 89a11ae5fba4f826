"""Test setup: every run compiles into its own fresh cache directory, never the user's; tests/cuda only
where CUDA code can run."""

import os
import tempfile

# Set before symgrad is imported anywhere, so no test reads or writes the real cache.
os.environ["SYMGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="symgrad-test-cache-")

# tests/cuda needs a GPU or Numba's simulator, which must be enabled before Numba is imported: it
# runs in a pytest process of its own (see the README), and other runs leave it out.
if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and os.environ.get("SYMGRAD_TEST_CUDA") != "1":
    collect_ignore = ["cuda"]
