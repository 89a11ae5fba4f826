"""``symgrad.tensor``: the namespace Theano users know as ``theano.tensor`` (``import ... as T``)."""

from ..grad import DisconnectedInputError, Lop, Rop, grad, hessian, hessian_vector_product, jacobian
from . import nnet
from .basic import *  # noqa: F403
from .basic import TYPE_CONSTRUCTORS, as_tensor_variable, tensor
from .variable import TensorConstant, TensorVariable

globals().update(TYPE_CONSTRUCTORS)

__all__ = [
    "DisconnectedInputError", "Lop", "Rop", "TensorConstant", "TensorVariable", "as_tensor_variable", "grad",
    "hessian", "hessian_vector_product", "jacobian", "nnet", "tensor", *TYPE_CONSTRUCTORS,
]  # fmt: skip
