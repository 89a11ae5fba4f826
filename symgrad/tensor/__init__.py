"""``symgrad.tensor``: the namespace Theano users know as ``theano.tensor`` (``import ... as T``)."""

from ..grad import DisconnectedInputError, Lop, Rop, grad, hessian_vector_product
from . import nnet
from .basic import *  # noqa: F403
from .basic import TYPE_CONSTRUCTORS, as_tensor_variable, tensor
from .variable import TensorConstant, TensorVariable

globals().update(TYPE_CONSTRUCTORS)

__all__ = [
    "DisconnectedInputError", "Lop", "Rop", "TensorConstant", "TensorVariable", "as_tensor_variable", "grad",
    "hessian_vector_product", "nnet", "tensor", *TYPE_CONSTRUCTORS,
]  # fmt: skip
