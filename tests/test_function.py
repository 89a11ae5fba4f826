"""theano.function: calling conventions, memory layouts, casting and the errors users see."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from codegen.memory import HUGE_PAGES_FROM, advise_huge_pages

from .helpers import rand


def test_seed_example():
    x = T.dscalar("x")
    f = theano.function([x], T.grad(x**2, x))
    result = f(4)
    assert isinstance(result, np.ndarray) and result.shape == () and result.dtype == np.float64
    assert result == 8.0


def test_outputs_single_list_and_keywords():
    x, y = T.dvector("x"), T.dvector("y")
    single = theano.function([x, y], x + y)
    listed = theano.function([x, y], [x + y])
    both = theano.function([x, y], [x * y, x - y])
    a, b = np.arange(3.0), np.ones(3)
    np.testing.assert_array_equal(single(a, b), a + b)
    assert isinstance(listed(a, b), list) and len(listed(a, b)) == 1
    np.testing.assert_array_equal(both(y=b, x=a)[1], a - b)
    np.testing.assert_array_equal(single(a, y=b), a + b)


@pytest.mark.parametrize(
    "layout",
    ["C", "F", "strided", "negative", "transposed"],
)
def test_any_memory_layout(layout):
    x = T.dmatrix("x")
    f = theano.function([x], T.exp(x) * 2 + x.T.sum(axis=0).dimshuffle(0, "x"))
    base = rand((6, 6), seed=1)
    value = {
        "C": base,
        "F": np.asfortranarray(base),
        "strided": np.ascontiguousarray(rand((12, 12), seed=2))[::2, ::2],
        "negative": base[::-1, ::-1],
        "transposed": base.T,
    }[layout]
    expected = np.exp(value) * 2 + value.T.sum(axis=0)[:, None]
    np.testing.assert_allclose(f(value), expected, rtol=1e-13)


def test_python_scalars_and_nested_lists():
    x, m = T.dscalar("x"), T.dmatrix("m")
    f = theano.function([x, m], x * m)
    np.testing.assert_array_equal(f(2, [[1, 2], [3, 4]]), np.array([[2.0, 4.0], [6.0, 8.0]]))
    np.testing.assert_array_equal(f(np.float32(0.5), [[2.0]]), [[1.0]])


def test_float32_stays_float32_with_python_scalars():
    x = T.fvector("x")
    out = x * 2.0 + 1 - x / 3
    assert out.dtype == "float32"
    f = theano.function([x], out)
    assert f(np.ones(3, dtype="float32")).dtype == np.float32


def test_int_division_gives_floatX():
    i, j = T.ivector("i"), T.ivector("j")
    assert (i / j).dtype == theano.config.floatX
    assert (i // j).dtype == "int32"
    f = theano.function([i, j], [i / j, i // j, i % j])
    a, b = np.array([7, -7, 3], dtype="int32"), np.array([2, 2, -2], dtype="int32")
    q, fq, r = f(a, b)
    np.testing.assert_array_equal(q, a / b)
    np.testing.assert_array_equal(fq, a // b)
    np.testing.assert_array_equal(r, a % b)


def test_safe_casts_accepted_unsafe_rejected():
    x = T.fvector("x")
    f = theano.function([x], x * 2)
    assert f(np.array([1, 2], dtype="int8")).dtype == np.float32  # int8 -> float32 is exact
    with pytest.raises(TypeError, match=r"input 'x' expects float32, got float64.*allow_input_downcast"):
        f(np.array([1.0, 2.0]))
    g = theano.function([x], x * 2, allow_input_downcast=True)
    np.testing.assert_array_equal(g(np.array([1.0, 2.0])), [2.0, 4.0])


@pytest.mark.parametrize(
    "value, message",
    [
        pytest.param(np.array([1 + 2j]), "expects float64, got an array of complex128, not real numbers", id="complex"),
        pytest.param(np.array(["a"]), "expects float64, got an array of <U1, not real numbers", id="str-array"),
        pytest.param(np.array([object()]), "expects float64, got an array of object", id="object"),
        pytest.param("text", "expects float64, got str 'text', not real numbers", id="str"),
        pytest.param(np.array([True, False]), "expects float64, got bool", id="bool"),
        pytest.param(None, "expects float64, got NoneType None, not real numbers", id="None"),
        pytest.param(
            np.ones((2, 2)), r"expects a 1-d float64 value .*got a 2-d float64 value of shape \(2, 2\)", id="ndim"
        ),
        pytest.param(3.0, r"expects a 1-d float64 value \(float64\[\?\]\), got a 0-d", id="scalar-for-vector"),
    ],
)
def test_bad_argument_errors_name_the_input(value, message):
    x = T.dvector("x")
    f = theano.function([x], x + 1)
    with pytest.raises(TypeError, match=message) as info:
        f(value)
    assert "'x'" in str(info.value)


@pytest.fixture(scope="module")
def adder():
    x, y = T.dvector("x"), T.dvector("y")
    return theano.function([x, y], x + y, name="adder")


ONE = np.ones(2)


def test_too_many_arguments(adder):
    with pytest.raises(TypeError, match=r"^function 'adder' takes 2 argument\(s\) \(x, y\), got 3$"):
        adder(ONE, ONE, ONE)


def test_too_few_arguments(adder):
    message = r"^function 'adder' got no value for input 'y' \(a float64\[\?\] value\); it takes 2 argument\(s\): x, y$"
    with pytest.raises(TypeError, match=message):
        adder(ONE)
    with pytest.raises(TypeError, match="got no value for input 'x'"):
        adder()


def test_unknown_keyword(adder):
    with pytest.raises(TypeError, match=r"^function 'adder' got an unknown keyword argument 'z'; its inputs are x, y$"):
        adder(ONE, ONE, z=ONE)
    with pytest.raises(TypeError, match="unknown keyword argument 'Y'"):  # a misspelt name, not a missing y
        adder(ONE, Y=ONE)


def test_duplicate_argument(adder):
    with pytest.raises(TypeError, match=r"^adder\(\) got multiple values for argument 'x'$"):
        adder(ONE, x=ONE)


def test_python_values_are_converted_when_they_survive_the_round_trip(monkeypatch):
    """Theano's rule: lists and Python numbers take the input's dtype when no value changes; an
    array only when its dtype converts safely; a Python float literal always becomes floatX."""
    v, s = T.fvector("v"), T.fscalar("s")
    f = theano.function([v, s], v * s)
    np.testing.assert_array_equal(f([1.5, 2.5], 2.0), np.array([3.0, 5.0], dtype=np.float32))
    with pytest.raises(TypeError, match=r"^input 'v' expects float32, got values such as 0.1, which float32 cannot"):
        f([1.5, 0.1], 2.0)
    with pytest.raises(TypeError, match=r"^input 's' expects float32, got the float 0.1, which float32 cannot"):
        f([1.5], 0.1)
    with pytest.raises(TypeError, match=r"^input 'v' expects float32, got float64; converting would lose"):
        f(np.array([1.5, 2.5]), 2.0)  # an array: its dtype decides, not its values
    monkeypatch.setattr(theano.config, "floatX", "float32")
    assert f([1.5], 0.1)[0] == np.float32(1.5) * np.float32(0.1)  # a literal becomes floatX


def test_integer_inputs_reject_what_they_cannot_hold():
    i, s = T.lscalar("i"), T.dscalar("s")
    f = theano.function([i, s], i * s)
    with pytest.raises(
        TypeError, match=r"^input 'i' expects int64, got the int 1180591620717411303424, which is out of"
    ):
        f(2**70, 1.0)
    with pytest.raises(
        TypeError, match=r"^input 'i' expects int64, got the float 1.5, which int64 cannot hold exactly"
    ):
        f(1.5, 1.0)
    with pytest.raises(TypeError, match=r"^input 'i' expects int64, got the float nan"):
        f(float("nan"), 1.0)
    assert f(3, 2**70) == 3 * 2.0**70  # a huge Python int is still a number for a float input


def test_wrong_ndim_names_input_and_both_shapes():
    x = T.dmatrix("x")
    f = theano.function([x], x.sum())
    with pytest.raises(TypeError, match=r"^input 'x' expects a 2-d float64 value \(float64\[\?, \?\]\), got a 3-d "
                                        r"float64 value of shape \(1, 2, 3\)$"):  # fmt: skip
        f(np.ones((1, 2, 3)))


def test_broadcast_mismatch_between_inputs_names_both():
    a, b = T.dmatrix("a"), T.drow("b")
    f = theano.function([a, b], T.exp(a) * b)
    with pytest.raises(ValueError, match=r"shape mismatch in .*exp\(a\).*: a has shape \(2, 3\), b has shape \(1, 4\)"):
        f(np.ones((2, 3)), np.ones((1, 4)))


def test_dot_inner_dimension_mismatch_names_both():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = theano.function([a, b], T.dot(a, b) + 1)
    with pytest.raises(ValueError, match=r"^shape mismatch in dot \(built at .*test_function.py:\d+\): a has shape "
                                         r"\(2, 3\), b has shape \(4, 5\)$"):  # fmt: skip
        f(np.ones((2, 3)), np.ones((4, 5)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_non_finite_values_propagate_as_in_numpy(dtype):
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.5, 1e30], dtype=dtype)
    x, y = T.tensor(dtype, [None], name="x"), T.tensor(dtype, [None, None], name="y")
    outputs = {
        "exp": (T.exp(x), np.exp),
        "log": (T.log(x), np.log),
        "sqrt": (T.sqrt(x), np.sqrt),
        "reciprocal": (1 / x, lambda v: 1 / v),
        "arithmetic": (x * 2 - 1 + x * x, lambda v: v * 2 - 1 + v * v),
        "tanh": (T.tanh(x), np.tanh),
        "sigmoid": (T.nnet.sigmoid(x), lambda v: 1 / (1 + np.exp(-v))),
        "maximum": (T.maximum(x, 0.5), lambda v: np.maximum(v, 0.5)),
        "sum": (T.sum(x), np.sum),
        "prod": (T.prod(x), np.prod),
        "max": (T.max(x), np.max),
        "min": (T.min(x), np.min),
        "mean": (T.mean(x), np.mean),
        "argmax": (T.argmax(x), np.argmax),
        "dot": (T.dot(y, x), lambda v: np.ones((2, v.size), dtype) @ v),
        "softmax": (T.nnet.softmax(y * x), lambda v: _softmax(np.ones((2, v.size), dtype) * v)),
    }
    f = theano.function([x, y], [out for out, _ in outputs.values()])
    for value in [special, special[1:], special[3:]]:  # with nan, with +-inf, finite
        with np.errstate(all="ignore"):
            for (name, (_, reference)), got in zip(outputs.items(), f(value, np.ones((2, value.size), dtype))):
                np.testing.assert_allclose(got, reference(value), rtol=2e-6, err_msg=f"{name} of {value}")


def _softmax(v):
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_huge_array_matches_numpy():
    x = T.dvector("x")
    f = theano.function([x], [T.sum(T.exp(-x) * x), T.max(x), x * 2])
    value = np.linspace(0.0, 5.0, 2**22)  # above the parallel threshold: the multi-threaded kernels run
    total, largest, doubled = f(value)
    np.testing.assert_allclose(total, np.sum(np.exp(-value) * value), rtol=1e-12)
    assert largest == 5.0 and np.array_equal(doubled, value * 2)


def test_result_too_large_to_allocate_names_the_inputs():
    x, y = T.dvector("x"), T.dvector("y")
    f = theano.function([x, y], x.dimshuffle(0, "x") * y.dimshuffle("x", 0))
    big = np.ones(10**7)  # a 10^7 x 10^7 result: 800 TB
    with pytest.raises(MemoryError, match=r"^out of memory computing the outputs from x of shape \(10000000,\), "
                                          r"y of shape \(10000000,\): "):  # fmt: skip
        f(big, big)


def test_empty_arrays_work_and_empty_max_or_argmax_says_of_what():
    x = T.dmatrix("x")
    f = theano.function([x], [T.exp(x) + 1, T.sum(x, axis=0), T.prod(x), T.dot(x.T, x), T.max(x, axis=1), T.mean(x)])
    empty = np.zeros((0, 3))
    exp, total, product, gram, row_max, mean = f(empty)
    assert exp.shape == (0, 3) and np.array_equal(total, np.zeros(3)) and product == 1.0
    assert np.array_equal(gram, np.zeros((3, 3))) and row_max.shape == (0,) and np.isnan(mean)
    with pytest.raises(
        ValueError, match=r"^cannot take max over axes \(0,\) of x \(built at .*\): the axes it reduces"
    ):
        theano.function([x], T.max(x, axis=0))(empty)
    with pytest.raises(ValueError, match=r"^cannot take argmax of x \(built at .*\): it is empty$"):
        theano.function([x], T.argmax(x))(empty)


BAD_VALUES = [None, "text", b"bytes", 1j, [1, "a"], [[1.0], [1.0, 2.0]], object(), {}, {1.0}, np.array(["x"]),
              np.datetime64("2020-01-01"), 2**70, float("nan"), np.ones((2, 2, 2)), np.array([1j]), True]  # fmt: skip


@pytest.mark.parametrize("dtype, shape", [("float64", ()), ("int64", ()), ("float32", (None,)), ("int32", (None, None)),
                                          ("bool", (None,))])  # fmt: skip
def test_no_bad_argument_reaches_numba(dtype, shape):
    x = T.tensor(dtype, shape, name="x")
    f = theano.function([x], T.cast(x, "float64") * 2)
    for value in BAD_VALUES:
        try:
            f(value)
        except (TypeError, ValueError) as err:
            assert "input 'x'" in str(err) and "numba" not in str(err).lower(), (value, err)
            assert not type(err).__module__.startswith("numba"), (value, err)


def test_runtime_shape_mismatch_names_operands_and_line():
    x, y = T.dvector("x"), T.dvector("y")
    f = theano.function([x, y], x + y)
    with pytest.raises(ValueError, match=r"x has shape \(3,\), y has shape \(4,\)") as info:
        f(np.ones(3), np.ones(4))
    assert "test_function.py" in str(info.value)


def test_static_shape_is_checked():
    x = T.tensor("float64", (None, 3), name="x")
    f = theano.function([x], x * 2)
    with pytest.raises(ValueError, match=r"input 'x' expects shape \(\?, 3\), got \(2, 4\)"):
        f(np.ones((2, 4)))


def test_input_list_errors():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="listed twice"):
        theano.function([x, x], x)
    with pytest.raises(TypeError, match="computed from other variables"):
        theano.function([x + 1], x)
    with pytest.raises(ValueError, match="not used to compute any output"):
        theano.function([x, T.dvector("unused")], x * 2)
    with pytest.warns(UserWarning, match="not used"):
        theano.function([x, T.dvector("unused")], x * 2, on_unused_input="warn")
    theano.function([x, T.dvector("unused")], x * 2, on_unused_input="ignore")
    with pytest.raises(ValueError, match="depend on y .* not in the inputs list"):
        theano.function([x], x + T.dvector("y"))


def test_outputs_never_alias_inputs_or_each_other():
    x = T.dvector("x")
    f = theano.function([x], [x, x.T, x * 1, x * 1])
    value = np.arange(3.0)
    a, b, c, d = f(value)
    a[0] = b[1] = c[2] = 100.0
    assert value.tolist() == [0.0, 1.0, 2.0]
    assert d.tolist() == [0.0, 1.0, 2.0]
    first = f(value)[2]
    f(value + 1)
    assert first.tolist() == [0.0, 1.0, 2.0]


def test_views_of_arrays_made_in_the_call_are_returned_uncopied_and_alias_nothing_else():
    x = T.dvector("x")
    total = theano.shared(np.zeros(3), name="total")
    y = T.cumsum(x)
    reverse = T.grad(T.sum(T.cumsum(x) * x), x)  # cumsum(x[::-1])[::-1] + cumsum(x): fresh
    f = theano.function([x], [y[::-1], y, x[1:], T.cumsum(x * 2)[::-1]], updates={total: y[::-1]})
    value = np.arange(3.0)
    a, b, c, d = f(value)
    assert d.strides[0] < 0  # a view of the program's own array: not copied
    for one, other in [(a, b), (a, total.get_value(borrow=True)), (b, total.get_value(borrow=True)), (c, value)]:
        assert not np.shares_memory(one, other)
    np.testing.assert_array_equal(a, [3.0, 1.0, 0.0])
    np.testing.assert_array_equal(d, [6.0, 2.0, 0.0])
    a[0] = b[1] = c[0] = 100.0
    assert value.tolist() == [0.0, 1.0, 2.0] and total.get_value().tolist() == [3.0, 1.0, 0.0]
    g = theano.function([x], reverse)
    np.testing.assert_array_equal(g(value), np.cumsum(value[::-1])[::-1] + np.cumsum(value))


def test_parallel_kernels_match_serial(monkeypatch, quiet_machine):
    monkeypatch.setattr(theano.config, "parallel_threshold", 10)
    x = T.dmatrix("x")
    outputs = [T.exp(x) * T.sin(x), T.sum(x**2), T.sum(x, axis=1), T.max(x, axis=1), T.sum(x, axis=0)]
    f = theano.function([x], outputs)
    assert "prange" in f.source
    # The twin of the elementwise kernel asks for huge pages under its result before writing it.
    twin = f.source[f.source.index("def k0_mul_parallel(") :].split("\n\n\n")[0]
    assert "out0 = np.empty((n0, n1), dtype=np.float64)\n    advise_huge_pages(out0)\n" in twin
    value = rand((50, 40), seed=3)
    expected = [np.exp(value) * np.sin(value), (value**2).sum(), value.sum(1), value.max(1), value.sum(0)]
    for got, want in zip(f(value), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_source_is_readable_python():
    x = T.dvector("x")
    y = T.dvector("y")
    f = theano.function([x, y], T.exp(-(x**2) / 2) * T.sin(3 * x) + T.log1p(y**2) * T.tanh(x * y))
    source = f.source
    compile(source, "<generated>", "exec")
    assert "def compiled_function(x=MISSING, y=MISSING, *extra, **unknown):" in source
    # One fused loop and its multi-threaded twin; the program calling it, and its twin calling the twin.
    assert source.count("@njit(**KERNEL_OPTIONS)") == source.count("@njit(**PARALLEL_OPTIONS)") == 1
    assert source.count("@njit(**PROGRAM_OPTIONS)") == 2 and "def program(x, y):" in source
    assert "exp(" in source and "log1p(" in source


def test_trust_input_leaves_out_the_argument_checks():
    x, w = T.dmatrix("x"), T.dvector("w")
    out = T.tanh(T.dot(x, w))
    trusted = theano.function([x, w], out, trust_input=True)
    checked = theano.function([x, w], out)
    a, b = np.arange(6.0).reshape(3, 2), np.array([0.5, -1.0])
    np.testing.assert_allclose(trusted(a, b), checked(a, b))
    assert "check_x(x)" in checked.source and "check_x(x)" not in trusted.source
    with pytest.raises(ValueError, match="shape mismatch in dot"):  # shapes between operands are still checked
        trusted(a, np.ones(3))
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'w'"):
        trusted(a)


def test_a_compiled_function_prints_its_name_parameters_results_and_line():
    x, w = T.dvector("x"), T.dmatrix("w")
    f = theano.function([x, w], [T.sum(x), T.dot(w, x)], name="step")
    text = repr(f)
    assert text.startswith("<symgrad function 'step' (x: float64[?], w: float64[?, ?]) -> [float64, float64[?]], ")
    assert text.endswith(f"built at {__file__}:{f.built_at.rsplit(':', 1)[1]}>")


def test_eval_without_a_value_names_eval_and_the_missing_inputs():
    x, y = T.dvector("x"), T.dscalar("y")
    with pytest.raises(
        ValueError, match=r"^\(.*\)\.eval\(\) needs a value .* none for x, y: .*\.eval\(\{x: value, y: value\}\)"
    ):
        (x * 2 + y).eval()
    with pytest.raises(ValueError, match=r"none for y"):
        (x * 2 + y).eval({x: np.ones(2)})
    np.testing.assert_array_equal((x * 2).eval({x: np.ones(2)}), [2.0, 2.0])


# Calls a function with 8 MB temporaries and prints the page faults per call, once warm.
FAULTS_CHILD = """
import resource
import numpy as np
import symgrad as theano
import symgrad.tensor as T

x = T.dvector("x")
# Slices with a step: their gradients are zero-filled temporaries (Rosenbrock's x[1:] and x[:-1]
# have none left to reuse: their gradients are read in place).
cost = T.sum(x[::2] ** 2) + T.sum(x[1::2] ** 3)
f = theano.function([x], [cost, T.grad(cost, x)])
data = np.linspace(-1.0, 1.0, 10**6)
for _ in range(3):
    f(data)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    f(data)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc thresholds")
def test_large_temporaries_reuse_freed_memory_instead_of_faulting_in_fresh_pages():
    """Each call's 8 MB arrays come from memory the previous call freed (codegen/memory.py): a few
    page faults per call instead of one per 4 KiB page of every array."""

    def faults(reuse: str) -> float:
        env = dict(os.environ, SYMGRAD_REUSE_MEMORY=reuse)
        done = subprocess.run([sys.executable, "-c", FAULTS_CHILD], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return float(done.stdout)

    fresh, reused = faults("0"), faults("1")
    assert fresh > 2000  # at least one 8 MB array's pages, every call
    assert reused < fresh / 20, (reused, fresh)


@pytest.mark.skipif(
    not os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled"), reason="Linux's transparent huge pages"
)
def test_large_arrays_are_advised_huge_pages():
    """Arrays above the malloc ceiling are fresh pages on every call: a compiled step asks for 2 MiB
    pages under those of 4 MiB and more, as NumPy does (one fault per 2 MiB instead of per 4 KiB)."""
    assert advise_huge_pages(np.empty(HUGE_PAGES_FROM // 8))
    assert not advise_huge_pages(np.empty(HUGE_PAGES_FROM // 8 - 1))
