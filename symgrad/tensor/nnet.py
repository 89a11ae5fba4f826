"""``T.nnet``: neural-network activations."""

from ..ops.elemwise import elemwise


def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)), computed without overflow."""
    return elemwise("sigmoid", x)


def softplus(x):
    """log(1 + exp(x)), computed without overflow."""
    return elemwise("softplus", x)


def relu(x):
    """max(x, 0); its derivative at 0 is 0, as in Theano and PyTorch."""
    return elemwise("relu", x)
