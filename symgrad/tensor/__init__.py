"""``symgrad.tensor``: the namespace Theano users know as ``theano.tensor`` (``import ... as T``)."""

from ..grad import DisconnectedInputError, Lop, Rop, grad, hessian, hessian_vector_product, jacobian
from . import linalg, nlinalg, nnet, slinalg
from .basic import *  # noqa: F403
from .basic import TYPE_CONSTRUCTORS, as_tensor_variable, tensor
from .extra_ops import *  # noqa: F403
from .variable import TensorConstant, TensorVariable

globals().update(TYPE_CONSTRUCTORS)

__all__ = [
    "DisconnectedInputError", "Lop", "Rop", "TensorConstant", "TensorVariable", "as_tensor_variable", "grad",
    "hessian", "hessian_vector_product", "jacobian", "linalg", "nlinalg", "nnet", "slinalg", "tensor",
    *TYPE_CONSTRUCTORS,
]  # fmt: skip


def __getattr__(name: str):
    # Random streams import shared variables, which import this package: loaded on first use.
    if name in ("random", "shared_randomstreams"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    # Theano's complex constructors (cvector, zmatrix, ...) get a reason, not a bare AttributeError.
    from ..types import COMPLEX_HINT

    if name[:1] in "cz" and name[1:] in TYPE_CONSTRUCTORS:
        raise AttributeError(f"symgrad.tensor has no {name}" + COMPLEX_HINT)
    raise AttributeError(f"module 'symgrad.tensor' has no attribute {name!r}")
