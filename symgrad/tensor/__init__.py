"""``symgrad.tensor``: the namespace Theano users know as ``theano.tensor`` (``import ... as T``)."""

from ..grad import DisconnectedInputError, grad
from . import nnet
from .basic import *  # noqa: F403
from .basic import TYPE_CONSTRUCTORS, as_tensor_variable, tensor
from .variable import TensorConstant, TensorVariable

globals().update(TYPE_CONSTRUCTORS)

__all__ = [
    "DisconnectedInputError", "TensorConstant", "TensorVariable", "as_tensor_variable", "grad", "nnet",
    "tensor", *TYPE_CONSTRUCTORS,
]  # fmt: skip
