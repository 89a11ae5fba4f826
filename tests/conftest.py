"""Test setup: every run compiles into its own fresh cache directory, never the user's."""

import os
import tempfile

# Set before symgrad is imported anywhere, so no test reads or writes the real cache.
os.environ["SYMGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="symgrad-test-cache-")
