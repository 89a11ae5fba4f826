"""``T.linalg``: PyTensor's ``pytensor.tensor.linalg``: ``T.nlinalg`` and ``T.slinalg`` in one namespace."""

from .nlinalg import *  # noqa: F403
from .nlinalg import __all__ as _numpy_names
from .slinalg import *  # noqa: F403
from .slinalg import __all__ as _scipy_names

__all__ = [*_numpy_names, *_scipy_names]
