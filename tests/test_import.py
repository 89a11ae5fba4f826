"""`import symgrad` loads only what it needs: Numba, SciPy and the back end (``codegen``) load when a
function is compiled, SymPy when the first expression is built, Dask only when a compiled function
is called with a Dask array (never by ``import symgrad``, ``symgrad.optimize`` or
``symgrad.distributed``). Each check runs in a fresh process,
since this one has long imported everything."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _loaded(code: str) -> list[str]:
    """The top-level packages among numba, scipy, codegen, sympy, dask and distributed loaded after ``code``."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import sys
        watched = {'numba', 'scipy', 'codegen', 'sympy', 'dask', 'distributed'}
        print(sorted({m.partition('.')[0] for m in sys.modules} & watched))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return ast.literal_eval(done.stdout.strip())


def test_import_symgrad_loads_neither_numba_nor_scipy_nor_the_back_end_nor_sympy():
    assert _loaded("import symgrad") == []


def test_declaring_inputs_and_shared_variables_loads_nothing_more():
    code = """
        import numpy as np
        import symgrad as theano, symgrad.tensor as T, symgrad.optimize, symgrad.distributed
        x, W = T.dvector('x'), theano.shared(np.ones((2, 3)), name='W')
        """
    assert _loaded(code) == []


def test_sympy_loads_with_the_first_expression_and_numba_with_the_first_function():
    assert _loaded("import symgrad.tensor as T; T.exp(T.dvector('x'))") == ["sympy"]
    loaded = _loaded("import symgrad as theano, symgrad.tensor as T; x = T.dvector('x'); theano.function([x], x * 2)")
    assert {"numba", "codegen", "sympy"} <= set(loaded) and "dask" not in loaded


def test_import_works_from_the_folder_that_holds_a_clone_named_symgrad(tmp_path):
    """``git clone ... symgrad`` leaves a folder ``symgrad/`` (the repository, no ``__init__.py``); from
    its parent, Python took it for a namespace package before an editable install's import hook ran.
    The README installs with ``editable_mode=compat`` (a path entry, not a hook), so the real package
    in that path entry wins over the namespace folder."""
    (tmp_path / "symgrad").symlink_to(ROOT, target_is_directory=True)
    code = "import symgrad as theano; print(theano.function.__module__)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "symgrad.function", done.stderr
