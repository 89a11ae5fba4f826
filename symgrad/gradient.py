"""``theano.gradient``: Theano's module of gradient functions, under its name.

The reverse sweep itself is ``symgrad.grad``; the gradient-stop ops are ``symgrad.ops.gradient``.
"""

from .grad import DisconnectedInputError, Lop, Rop, grad, hessian, hessian_vector_product, jacobian
from .ops.gradient import disconnected_grad, grad_clip, zero_grad

__all__ = [
    "DisconnectedInputError", "Lop", "Rop", "disconnected_grad", "grad", "grad_clip", "hessian",
    "hessian_vector_product", "jacobian", "zero_grad",
]  # fmt: skip
