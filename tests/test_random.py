"""Random streams: the Philox generator, each distribution's moments and fit (Kolmogorov-Smirnov
for the continuous ones, chi-square for the discrete ones), seeding, independence, default updates,
copying the state between graphs (Theano's tutorial), and gradients through a dropout mask."""

from __future__ import annotations

import math
import pickle

import mpmath
import numpy as np
import pytest
import scipy.special

import symgrad as theano
import symgrad.tensor as T
from codegen.runtime import _log_unit, philox_words
from symgrad.ops.random import RandomDraw, random_draw
from symgrad.ops.random import philox_words as reference_words
from symgrad.tensor.shared_randomstreams import RandomStream, RandomStreams

# Random123's known answers for Philox4x32-10 (counter, key -> four 32-bit words).
KNOWN_ANSWERS = [
    (0, 0, 0, (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (2**64 - 1, 2**64 - 1, 2**64 - 1, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
]


def ks_statistic(sample: np.ndarray, cdf) -> float:
    """The Kolmogorov-Smirnov distance between ``sample``'s empirical CDF and the exact ``cdf``."""
    values = cdf(np.sort(sample.astype(np.float64)))
    n = len(values)
    return max((np.arange(1, n + 1) / n - values).max(), (values - np.arange(n) / n).max())


def chi_square_p(sample: np.ndarray, probabilities) -> float:
    """The p-value of Pearson's chi-square test of the counts of ``sample``'s values 0, 1, ..."""
    expected = np.asarray(probabilities) * len(sample)
    counts = np.bincount(sample, minlength=len(expected))
    return scipy.special.chdtrc(len(expected) - 1, ((counts - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("block, counter, key, words", KNOWN_ANSWERS)
def test_philox_gives_random123s_known_answers(block, counter, key, words):
    expected = (words[0] | words[1] << 32, words[2] | words[3] << 32)
    compiled = philox_words(np.uint64(key), np.uint64(counter), np.uint64(block))
    assert tuple(int(w) for w in compiled) == expected
    reference = reference_words(np.uint64(key), np.uint64(counter), np.array([block], dtype=np.uint64))
    assert tuple(int(w[0]) for w in reference) == expected


def test_compiled_draws_are_the_reference_and_do_not_depend_on_threads():
    """Odd sizes, float32, a symbolic length, an empty draw and one large enough for threads
    (whose pairs the serial reference computes in order)."""
    n = T.lscalar("n")
    state = theano.shared(np.array([12345, 7], dtype=np.uint64), name="state")
    draws = [
        random_draw("uniform", state, (3, 5), "float64"),
        random_draw("uniform", state, (n,), "float32"),
        random_draw("normal", state, (n, 3), "float64"),
        random_draw("normal", state, (7,), "float32"),
        random_draw("uniform", state, (0, 4), "float64"),
        random_draw("normal", state, (1 << 20,), "float64"),
    ]
    values = theano.function([n], draws)(9)
    value = state.get_value()
    for draw, got in zip(draws, values):
        expected = draw.owner.op.perform(value, *(np.int64(9) for _ in draw.owner.inputs[1:]))
        assert got.dtype == expected.dtype and got.shape == expected.shape
        if draw.owner.op.distribution == "uniform":
            np.testing.assert_array_equal(got, expected)
        else:  # the reference's NumPy log, cos and sin round differently from the kernels' fdlibm ones
            np.testing.assert_allclose(got, expected, rtol=1e-6 if got.dtype == np.float32 else 1e-13, atol=1e-14)
    assert np.all(values[1] < 1) and np.all(values[0] >= 0)


def test_the_kernels_logarithm_is_within_an_ulp_at_every_exponent():
    """Box-Muller's ln(m / 2^53), m = 1 .. 2^53, scaled by its exponent's bits: powers of two, their
    neighbours and the ends of the reduced range [sqrt(1/2), sqrt(2))."""
    powers = [1 << k for k in range(54)]
    near = [p for k in powers[1:] for p in (k, int(k * 0.7071067811865476), int(k * 1.4142135623730951))]
    ms = {p + d for p in near for d in (-1, 0, 1)}
    ms = sorted(m for m in ms if 1 <= m <= 1 << 53)
    got = np.array([_log_unit(np.uint64(m)) for m in ms])
    exact = np.array([float(mpmath.log(mpmath.mpf(m) / 2**53)) for m in ms])
    assert np.all(np.abs(got - exact) <= np.spacing(np.abs(exact))), ms[np.argmax(np.abs(got - exact))]


# The distributions composed of other ops (sums, sorting, comparisons) run on the 'py' linker (each
# node's NumPy reference): compiling them costs seconds, the ops are tested compiled elsewhere, and
# test_compiled_draws_are_the_reference_and_do_not_depend_on_threads shows that compiled draws are
# the reference's.
PY = theano.Mode(linker="py")


def test_each_distribution_has_its_moments_and_passes_ks_or_chi_square():
    srng = RandomStreams(seed=2024)
    n = 20000
    pvals = np.array([0.2, 0.5, 0.3])
    draws = {
        "uniform": srng.uniform((n,), low=-1.0, high=3.0, dtype="float64"),
        "uniform32": srng.uniform((n,), dtype="float32"),
        "normal": srng.normal((n,), avg=2.0, std=3.0, dtype="float64"),
        "normal32": srng.normal((n,), dtype="float32"),
        "bernoulli": srng.binomial((n,), p=0.3),
    }
    got = dict(zip(draws, theano.function([], list(draws.values()))()))
    composed = {
        "binomial": srng.binomial((n,), n=5, p=0.4),
        "integers": srng.random_integers((n,), low=2, high=7),
        "choice": srng.choice((n,), a=3, p=pvals),
        "choice_uniform": srng.choice((n,), a=np.array([10.0, 20.0, 30.0, 40.0])),
        "multinomial": srng.multinomial((n // 10,), n=10, pvals=pvals),
        "permutation": srng.permutation((n // 10,), n=5),
    }
    got.update(zip(composed, theano.function([], list(composed.values()), mode=PY)()))

    # Kolmogorov-Smirnov: at n = 20000 the 1% critical value is 1.63 / sqrt(n) = 0.0115.
    critical = 1.63 / np.sqrt(n)
    assert ks_statistic(got["uniform"], lambda x: (x + 1) / 4) < critical
    assert ks_statistic(got["uniform32"], lambda x: x) < critical
    assert ks_statistic(got["normal"], lambda x: scipy.special.ndtr((x - 2) / 3)) < critical
    assert ks_statistic(got["normal32"], scipy.special.ndtr) < critical
    assert got["uniform32"].dtype == np.float32 and got["normal32"].dtype == np.float32
    assert abs(got["normal"].mean() - 2) < 4 * 3 / np.sqrt(n) and abs(got["normal"].std() - 3) < 0.1
    assert abs(got["uniform"].mean() - 1) < 4 * np.sqrt(16 / 12 / n)

    assert got["bernoulli"].dtype == np.int64
    assert chi_square_p(got["bernoulli"], [0.7, 0.3]) > 1e-3
    assert chi_square_p(got["binomial"], [math.comb(5, k) * 0.4**k * 0.6 ** (5 - k) for k in range(6)]) > 1e-3
    assert chi_square_p(got["integers"] - 2, np.full(6, 1 / 6)) > 1e-3
    assert chi_square_p(got["choice"], pvals) > 1e-3
    assert set(np.unique(got["choice_uniform"])) == {10.0, 20.0, 30.0, 40.0}
    counts = got["multinomial"]
    assert counts.shape == (n // 10, 3) and np.all(counts.sum(axis=1) == 10)
    np.testing.assert_allclose(counts.mean(axis=0), 10 * pvals, atol=0.1)
    perms = got["permutation"]
    assert np.all(np.sort(perms, axis=1) == np.arange(5))
    assert chi_square_p(perms[:, 0], np.full(5, 0.2)) > 1e-3  # each entry first equally often


def test_reproducible_by_seed_independent_between_draws_and_new_at_each_call():
    def draws(seed):
        srng = RandomStreams(seed=seed)
        return srng, srng.normal((4000,)), srng.normal((4000,))

    srng, a, b = draws(42)
    f = theano.function([], [a, b])
    first, second = f(), f()
    assert not np.array_equal(first[0], second[0])  # the default update moved the state on
    assert abs(np.corrcoef(first[0], first[1])[0, 1]) < 4 / np.sqrt(4000)  # two draws of one stream
    assert abs(np.corrcoef(first[0], second[0])[0, 1]) < 4 / np.sqrt(4000)  # two calls
    _, a2, b2 = draws(42)
    np.testing.assert_array_equal(theano.function([], [a2, b2])()[1], first[1])  # same seed, same numbers
    _, a3, _ = draws(43)
    assert abs(np.corrcoef(theano.function([], a3)(), first[0])[0, 1]) < 4 / np.sqrt(4000)  # another seed
    srng.seed(42)  # reseeding the stream starts every draw afresh
    np.testing.assert_array_equal(f()[0], first[0])
    a.rng.seed(7)  # and reseeding one draw restarts only it
    again = f()
    assert not np.array_equal(again[0], second[0]) and np.array_equal(again[1], second[1])


def test_theano_tutorial_using_random_numbers():
    srng = RandomStreams(seed=234)
    rv_u = srng.uniform((2, 2))
    rv_n = srng.normal((2, 2))
    f = theano.function([], rv_u)
    g = theano.function([], rv_n, no_default_updates=True)  # not updating rv_n.rng
    nearly_zeros = theano.function([], rv_u + rv_u - 2 * rv_u)
    f_val0, f_val1 = f(), f()
    assert not np.array_equal(f_val0, f_val1)
    np.testing.assert_array_equal(g(), g())
    np.testing.assert_array_equal(nearly_zeros(), np.zeros((2, 2)))
    rng_val = rv_u.rng.get_value(borrow=True)  # get the rng for rv_u
    rng_val.seed(89234)  # seeds the generator
    rv_u.rng.set_value(rng_val, borrow=True)  # assign back seeded rng
    seeded = f()
    rv_u.rng.seed(89234)
    np.testing.assert_array_equal(f(), seeded)
    # no_default_updates as a list: only the listed states stay
    h = theano.function([], [rv_u, rv_n], no_default_updates=[rv_n.rng])
    before = rv_u.rng.get_value(), rv_n.rng.get_value()
    h()
    assert rv_u.rng.get_value()[1] == before[0][1] + 1 and rv_n.rng.get_value()[1] == before[1][1]
    assert rv_u.update == (rv_u.rng, rv_u.rng.default_update)


def test_theano_tutorial_copying_random_state_between_graphs():
    class Graph:
        def __init__(self, seed=123):
            self.rng = RandomStreams(seed)
            self.y = self.rng.uniform(size=(1,))

    g1, g2 = Graph(seed=123), Graph(seed=987)
    f1, f2 = theano.function([], g1.y), theano.function([], g2.y)
    assert f1() != f2()

    def copy_random_state(g1, g2):
        for su1, su2 in zip(g1.rng.state_updates, g2.rng.state_updates):
            su2[0].set_value(su1[0].get_value())

    copy_random_state(g1, g2)
    assert f1() == f2()


def test_pytensor_names_and_signatures():
    srng = T.random.RandomStream(seed=5)
    assert T.random.RandomStream is RandomStream
    mu = T.dvector("mu")
    z = srng.normal(mu, 2.0)  # size from the parameters
    k = srng.integers(10, size=(500,))
    p = srng.permutation(np.array([1.0, 2.0, 3.0]))
    c = srng.choice(5, size=(3,), replace=False)
    zv, kv, pv, cv = theano.function([mu], [z, k, p, c], mode=PY)(np.zeros(1000))
    assert zv.shape == (1000,) and abs(zv.std() - 2) < 0.2
    assert kv.min() >= 0 and kv.max() <= 9 and len(np.unique(kv)) == 10
    assert sorted(pv) == [1.0, 2.0, 3.0]
    assert len(set(cv)) == 3 and set(cv) <= set(range(5))


def test_dropout_gradients_flow_through_the_mask_not_the_state():
    srng = RandomStreams(seed=1)
    x, w = T.dmatrix("x"), T.dvector("w")
    mask = srng.binomial(size=(4, 3), p=0.5, dtype="float64")
    cost = T.sum(T.tanh(x * mask) @ w)
    f = theano.function([x, w], [mask, T.grad(cost, w), T.grad(cost, x)], no_default_updates=True)
    xv, wv = np.random.default_rng(0).normal(size=(4, 3)), np.array([1.0, -2.0, 0.5])
    m, gw, gx = f(xv, wv)
    assert set(np.unique(m)) <= {0.0, 1.0}
    np.testing.assert_allclose(gw, np.tanh(xv * m).sum(axis=0))
    np.testing.assert_allclose(gx, (1 - np.tanh(xv * m) ** 2) * m * wv)
    with pytest.raises(Exception, match="random_state_0|not part of the computational graph|disconnected"):
        T.grad(T.sum(mask), mask.rng)


def test_random_state_and_its_default_update_pickle_and_copy_with_the_function():
    srng = RandomStreams(seed=3)
    u = srng.uniform((5,))
    f = theano.function([], u)
    f()
    g = pickle.loads(pickle.dumps(f))  # the state as it is now, and its default update
    h = f.copy()  # a state of its own, copied
    second = f()
    np.testing.assert_array_equal(g(), second)
    np.testing.assert_array_equal(h(), second)
    np.testing.assert_array_equal(h(), f())  # each moved on by its own calls only


def test_bad_arguments_are_refused():
    srng = RandomStreams(seed=0)
    with pytest.raises(ValueError, match="n must be a positive Python int"):
        srng.binomial((3,), n=T.lscalar())
    with pytest.raises(ValueError, match="non-negative integer"):
        RandomStreams(seed=-1)
    with pytest.raises(ValueError, match="ndim=1 does not match"):
        srng.uniform((2, 2), ndim=1)
    with pytest.raises(TypeError, match="uint64 vector"):
        random_draw("uniform", T.dvector(), (2,), "float64")
    with pytest.raises(TypeError, match="not a shared variable"):
        theano.function([], srng.uniform((2,)), no_default_updates=[T.dvector()])
    assert str(RandomDraw("normal", "float32", (3, ("arg", 0)))) == "random_normal{float32}(3, ?)"
