"""symgrad: Theano-style symbolic tensors compiled to fused Numba kernels, cached on disk.

    import symgrad as theano
    import symgrad.tensor as T

    x = T.dscalar('x')
    f = theano.function([x], T.grad(x ** 2, x))
    f(4)  # array(8.)

Importing symgrad is cheap: Numba is imported only when a function is compiled.
"""

from . import tensor
from .config import config
from .function import In, function
from .grad import grad
from .shared import SharedVariable, shared

__version__ = "0.1.0"
__all__ = ["In", "SharedVariable", "config", "function", "grad", "shared", "tensor", "__version__"]
