"""symgrad: Theano-style symbolic tensors compiled to fused Numba kernels, cached on disk.

    import symgrad as theano
    import symgrad.tensor as T

    x = T.dscalar('x')
    f = theano.function([x], T.grad(x ** 2, x))
    f(4)  # array(8.)

Importing symgrad is cheap: SymPy is imported when the first expression is built, Numba (and the
back end, `codegen`) only when a function is compiled; tests/test_import.py checks both.
"""

import importlib

from . import tensor
from .config import config
from .function import In, Out, function
from .grad import grad
from .mode import Mode
from .shared import SharedVariable, shared
from .version import __version__

__all__ = ["In", "Mode", "Out", "SharedVariable", "config", "function", "grad", "shared", "tensor", "__version__"]

# Printing, explain_grad, SymPy interop and the optimizers load on first use, keeping `import symgrad` cheap.
_LAZY = {"printing": ("printing", None), "pp": ("printing", "pp"), "explain_grad": ("explain", "explain_grad"),
         "from_sympy": ("interop", "from_sympy"), "to_sympy": ("interop", "to_sympy"), "optim": ("optim", None),
         "optimize": ("optimize", None), "gradient": ("gradient", None), "clone": ("replace", "clone"),
         "scan_module": ("scan_module", None), "scan": ("scan_module", "scan"),
         "scan_checkpoints": ("scan_module", "scan_checkpoints"), "map": ("scan_module", "map"),
         "reduce": ("scan_module", "reduce"), "foldl": ("scan_module", "foldl"),
         "foldr": ("scan_module", "foldr")}  # fmt: skip
__all__ += list(_LAZY)


def __dir__() -> list[str]:
    """The public names only (not the modules this one imports to do its work)."""
    return sorted(__all__)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'symgrad' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(f".{module_name}", __name__)
    return module if attribute is None else getattr(module, attribute)
