"""Memory of a long-lived process: a compiled function that is dropped lets go of its module and of
Numba's objects for it, and what Numba keeps for linking or writing a program is dropped at once.
(``benchmarks/leaks.py`` measures the memory per compiled function.)"""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np

import symgrad as theano
import symgrad.tensor as T
from codegen import cache


def test_a_dropped_function_releases_its_module_and_numba_objects():
    x = T.dvector("x")
    value = np.linspace(-1.0, 1.0, 7)
    expected = np.tanh(value) * 1.0625 + np.sum(np.exp(value))

    def build():
        return theano.function([x], T.tanh(x) * 1.0625 + T.sum(T.exp(x)))

    f = build()
    np.testing.assert_allclose(f(value), expected)
    module = f._module
    library = next(iter(module.program.overloads.values())).library
    # Kept only to link the program into other code or to write it again: neither happens.
    assert library._shared_module is None and library._compiled_object is None
    g = build()
    assert g._module is module  # a live module is shared
    name, program, alive = module.__name__, module.program, [weakref.ref(module), weakref.ref(library)]
    del f, module, library
    gc.collect()
    assert all(ref() is not None for ref in alive)  # g still uses them
    np.testing.assert_allclose(g(value), expected)
    del g
    gc.collect()
    assert [ref() for ref in alive] == [None, None]
    assert not program.overloads  # (the dispatcher itself may outlive: see machine_code.release)
    assert name not in sys.modules and name not in {m.__name__ for m in cache._loaded.values()}
    h = build()  # loaded again, from the disk cache
    np.testing.assert_allclose(h(value), expected)
    assert h._module.__name__ == name
    assert next(iter(h._module.program.overloads.values())).library._shared_module is None
