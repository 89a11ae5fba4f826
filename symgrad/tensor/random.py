"""``T.random``, PyTensor's name for random streams: ``T.random.RandomStream(seed).normal(0, 1, size=3)``.

See ``symgrad.tensor.shared_randomstreams`` (Theano's ``RandomStreams``, ``size`` first).
"""

from .shared_randomstreams import PhiloxState, RandomStateSharedVariable, RandomStream, RandomStreams

__all__ = ["PhiloxState", "RandomStateSharedVariable", "RandomStream", "RandomStreams"]
