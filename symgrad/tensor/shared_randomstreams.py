"""Random streams: Theano's ``RandomStreams`` and PyTensor's ``RandomStream``.

Each draw a stream makes (``srng.uniform((2, 2))``) gets a state of its own, a shared variable
holding the uint64 vector ``[key, counter]`` whose ``default_update`` adds one to the counter, so
every call of a function using the draw writes the next state and draws new numbers; the numbers
themselves are drawn inside the compiled kernels by ``symgrad.ops.random.RandomDraw`` (Philox: the
same numbers on any thread count and on the GPU). The keys of a stream's draws are derived from its
seed and the draw's number, so a stream built again with the same seed draws the same numbers.

Every distribution is a graph over uniform or standard normal draws (``low + (high - low) * u``,
``u < p`` for a binomial), so it fuses with what uses it and its parameters get gradients. As in
Theano, the draw's result has ``rv.rng`` (its state) and ``rv.update`` (the state's update pair),
and the stream's ``state_updates`` lists those pairs, which is how Theano's tutorial copies the
random state of one graph into another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..config import config
from ..graph import Variable, constant
from ..ops.random import random_draw
from ..shared import SharedVariable
from ..types import TensorType

__all__ = ["PhiloxState", "RandomStateSharedVariable", "RandomStream", "RandomStreams"]

_STATE_TYPE = TensorType("uint64", (2,))


def _key(*entropy: int) -> np.uint64:
    """A 64-bit Philox key derived from ``entropy`` (NumPy's SeedSequence: nearby seeds, far keys)."""
    return np.random.SeedSequence(list(entropy)).generate_state(1, np.uint64)[0]


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"a random seed must be a non-negative integer, got {seed!r}")
    return int(seed)


class PhiloxState(np.ndarray):
    """The value of a random state, ``[key, counter]`` (uint64), as ``rng.get_value()`` returns it;
    ``seed(n)`` reseeds it in place, as Theano's tutorial does with a NumPy ``RandomState``."""

    def seed(self, seed: int) -> None:
        self[0], self[1] = _key(_check_seed(seed)), 0


class RandomStateSharedVariable(SharedVariable):
    """The state of one random draw: a shared uint64 vector ``[key, counter]`` whose default update
    moves the counter on by one."""

    __slots__ = ()

    def __init__(self, type: TensorType, value: np.ndarray, name: str | None) -> None:
        super().__init__(type, value, name)
        self.default_update = self + constant(np.array([0, 1], dtype=np.uint64))

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> Any:
        value = super().get_value(borrow, return_internal_type)
        return value.view(PhiloxState) if isinstance(value, np.ndarray) else value

    def seed(self, seed: int) -> None:
        """Start this draw afresh from ``seed``: the numbers a new stream seeded so would draw first."""
        self.set_value(np.array([_key(_check_seed(seed)), 0], dtype=np.uint64))


def _T():
    from .. import tensor

    return tensor


class _Streams:
    """What Theano's and PyTensor's streams share: the states, seeding, and each distribution as a
    graph over uniform and normal draws (``size`` is a tuple of ints or integer scalars, a symbolic
    vector of known length, or ``None``: the parameters' broadcast shape)."""

    def __init__(self, seed: int | None = None) -> None:
        self.default_instance_seed = seed
        self._entropy = np.random.SeedSequence().entropy if seed is None else _check_seed(seed)
        #: (state, new state) of every draw, in the order they were made (Theano's name).
        self.state_updates: list[tuple[RandomStateSharedVariable, Variable]] = []

    def seed(self, seed: int | None = None) -> None:
        """Reseed every draw made so far (and those to come) from ``seed``; ``None``: the stream's own."""
        if seed is not None:
            self._entropy = _check_seed(seed)
        for j, (state, _) in enumerate(self.state_updates):
            state.set_value(np.array([_key(self._entropy, j), 0], dtype=np.uint64))

    def updates(self) -> list[tuple[RandomStateSharedVariable, Variable]]:
        """The update pairs of every draw (Theano's ``RandomStreams.updates()``)."""
        return list(self.state_updates)

    # --- the building blocks ------------------------------------------------------------------------
    def _state(self) -> RandomStateSharedVariable:
        j = len(self.state_updates)
        state = RandomStateSharedVariable(_STATE_TYPE, np.array([_key(self._entropy, j), 0], dtype=np.uint64),
                                          f"random_state_{j}")  # fmt: skip
        self.state_updates.append((state, state.default_update))
        return state

    @staticmethod
    def _shape(size: Any, params: Sequence[Variable], ndim: int | None) -> tuple:
        """``size`` as a tuple of entries; ``None`` or ``()``: the shape the parameters broadcast to."""
        if size is None or (isinstance(size, (tuple, list)) and not size):
            nonscalar = [p for p in params if p.ndim]
            if not nonscalar:
                shape: tuple = ()
            else:
                total = nonscalar[0]
                for p in nonscalar[1:]:
                    total = total + p
                shape = tuple(total.shape)
        elif isinstance(size, Variable):
            shape = tuple(size) if size.ndim == 1 else (size,)
        else:
            shape = tuple(size) if isinstance(size, (tuple, list)) else (size,)
        if ndim is not None and ndim != len(shape):
            raise ValueError(f"random draw: ndim={ndim} does not match the size {size!r}")
        return shape

    def _draw(self, distribution: str, shape: tuple, dtype: str, result_of=None) -> Variable:
        """A ``distribution`` draw of ``shape``, passed through ``result_of``; the result has ``rng``
        and ``update`` in its tag."""
        state = self._state()
        result = random_draw(distribution, state, shape, dtype)
        if result_of is not None:
            result = result_of(result)
        result.tag.rng = state
        return result

    # --- the distributions, in keywords ---------------------------------------------------------------
    def _uniform(self, size, low, high, ndim, dtype) -> Variable:
        T = _T()
        low, high = T.as_tensor_variable(low), T.as_tensor_variable(high)
        dtype = dtype or config.floatX
        shape = self._shape(size, [low, high], ndim)
        return self._draw("uniform", shape, dtype, lambda u: T.cast(low + (high - low) * u, dtype))

    def _normal(self, size, loc, scale, ndim, dtype) -> Variable:
        T = _T()
        loc, scale = T.as_tensor_variable(loc), T.as_tensor_variable(scale)
        dtype = dtype or config.floatX
        shape = self._shape(size, [loc, scale], ndim)
        return self._draw("normal", shape, dtype, lambda z: T.cast(loc + scale * z, dtype))

    def _integers(self, size, low, high, ndim, dtype) -> Variable:
        """Integers in [low, high), each with equal probability."""
        T = _T()
        low, high = T.as_tensor_variable(low), T.as_tensor_variable(high)
        shape = self._shape(size, [low, high], ndim)
        return self._draw("uniform", shape, "float64", lambda u: T.cast(low + T.floor(u * (high - low)), dtype))

    def _binomial(self, size, n, p, ndim, dtype) -> Variable:
        """The number of successes in ``n`` trials (an int) of probability ``p``."""
        T = _T()
        p = T.as_tensor_variable(p)
        n = _count(n, "binomial")
        shape = self._shape(size, [p], ndim)
        if n == 1:
            return self._draw("uniform", shape, "float64", lambda u: T.cast(T.lt(u, p), dtype))
        return self._draw("uniform", (n, *shape), "float64", lambda u: T.cast(T.sum(T.lt(u, p), axis=0), dtype))

    def _categorical(self, u: Variable, p: Variable) -> Variable:
        """The category of each uniform number in ``u`` under the probabilities ``p`` (a vector,
        normalized here): how many of the cumulative probabilities before the last it reaches."""
        T = _T()
        cdf = T.cumsum(p) / T.sum(p)
        return T.sum(T.ge(u.dimshuffle(*range(u.ndim), "x"), cdf[:-1]), axis=-1)

    def _choice(self, size, a, replace, p, ndim, dtype) -> Variable:
        T = _T()
        population = T.as_tensor_variable(a)
        count = population if population.ndim == 0 else population.shape[0]
        shape = self._shape(size, [], ndim)

        def pick(indices: Variable) -> Variable:
            return T.cast(indices, dtype) if population.ndim == 0 else population[indices]

        if not replace:
            if p is not None:
                raise NotImplementedError("choice(replace=False, p=...) is not supported; draw with replace=True")
            drawn = 1
            for n in shape:
                drawn = drawn * n
            return self._draw("uniform", (count,), "float64",
                              lambda u: pick(T.reshape(T.argsort(u)[:drawn], shape)))  # fmt: skip
        if p is None:
            return self._draw("uniform", shape, "float64", lambda u: pick(T.cast(T.floor(u * count), "int64")))
        p = T.as_tensor_variable(p)
        return self._draw("uniform", shape, "float64", lambda u: pick(self._categorical(u, p)))

    def _permutation(self, size, n, ndim, dtype) -> Variable:
        """Permutations of ``arange(n)`` (or of a vector's entries) along a last axis of length n."""
        T = _T()
        x = T.as_tensor_variable(n)
        length = x if x.ndim == 0 else x.shape[0]
        shape = self._shape(size, [], ndim)

        def permuted(u: Variable) -> Variable:
            order = T.argsort(u, axis=-1)
            return T.cast(order, dtype) if x.ndim == 0 else x[order]

        return self._draw("uniform", (*shape, length), "float64", permuted)

    def _multinomial(self, size, n, pvals, ndim, dtype) -> Variable:
        """Counts of ``n`` (an int) categorical draws under ``pvals`` (a vector), along a last axis."""
        T = _T()
        pvals = T.as_tensor_variable(pvals)
        if pvals.ndim != 1:
            raise ValueError(f"multinomial: pvals must be a vector of probabilities, got {pvals.type}")
        n = _count(n, "multinomial")
        shape = self._shape(size, [], ndim)
        k = pvals.shape[0]

        def counts(u: Variable) -> Variable:
            categories = self._categorical(u, pvals)  # shape + (n,)
            hits = T.eq(categories.dimshuffle(*range(categories.ndim), "x"), T.arange(k))
            return T.cast(T.sum(hits, axis=-2), dtype)

        return self._draw("uniform", (*shape, n), "float64", counts)


def _count(n: Any, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{what}: n must be a positive Python int (the number of trials), got {n!r}")
    return int(n)


class RandomStreams(_Streams):
    """Theano's ``theano.tensor.shared_randomstreams.RandomStreams``: ``size`` comes first.

    >>> srng = RandomStreams(seed=234)
    >>> rv_u = srng.uniform((2, 2))      # a new draw at each call of a function using it
    """

    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None) -> Variable:
        return self._uniform(size, low, high, ndim, dtype)

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None) -> Variable:
        return self._normal(size, avg, std, ndim, dtype)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", prob=None) -> Variable:
        return self._binomial(size, n, p if prob is None else prob, ndim, dtype)

    def random_integers(self, size=None, low=0, high=1, ndim=None, dtype="int64") -> Variable:
        """Integers in [low, high], both ends included (Theano's)."""
        return self._integers(size, low, _T().as_tensor_variable(high) + 1, ndim, dtype)

    def integers(self, size=None, low=0, high=1, ndim=None, dtype="int64") -> Variable:
        """Integers in [low, high), NumPy's ``Generator.integers``."""
        return self._integers(size, low, high, ndim, dtype)

    def choice(self, size=None, a=2, replace=True, p=None, ndim=None, dtype="int64") -> Variable:
        return self._choice(size, a, replace, p, ndim, dtype)

    def permutation(self, size=None, n=1, ndim=None, dtype="int64") -> Variable:
        return self._permutation(size, n, ndim, dtype)

    def multinomial(self, size=None, n=1, pvals=(0.5, 0.5), ndim=None, dtype="int64") -> Variable:
        return self._multinomial(size, n, pvals, ndim, dtype)


class RandomStream(_Streams):
    """PyTensor's ``RandomStream``: the distribution's parameters come first, NumPy's names.

    >>> srng = RandomStream(seed=234)
    >>> z = srng.normal(0.0, 1.0, size=(3,))
    """

    def uniform(self, low=0.0, high=1.0, size=None, dtype=None) -> Variable:
        return self._uniform(size, low, high, None, dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=None) -> Variable:
        return self._normal(size, loc, scale, None, dtype)

    def integers(self, low, high=None, size=None, dtype="int64") -> Variable:
        """Integers in [low, high), or in [0, low) without ``high``, as NumPy's ``Generator.integers``."""
        low, high = (0, low) if high is None else (low, high)
        return self._integers(size, low, high, None, dtype)

    def binomial(self, n, p, size=None, dtype="int64") -> Variable:
        return self._binomial(size, n, p, None, dtype)

    def choice(self, a, size=None, replace=True, p=None, dtype="int64") -> Variable:
        return self._choice(size, a, replace, p, None, dtype)

    def permutation(self, x, dtype="int64") -> Variable:
        return self._permutation(None, x, None, dtype)

    def multinomial(self, n, p, size=None, dtype="int64") -> Variable:
        return self._multinomial(size, n, p, None, dtype)
