"""What only the GPU backend has: device arrays in and out, shared variables kept on the device, a
training step without transfers, the fallback matrix-product kernel, reductions split over blocks,
views, polygamma on the device, clear errors for what does not run on the GPU, and the disk cache across
processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.special
import sympy
from numba import cuda

import symgrad as theano
import symgrad.tensor as T
from codegen import cuda_runtime as rt
from codegen import runtime
from codegen.scalar_printer import CudaPrinter, NotSupportedOnDevice
from symgrad import optim
from tests.helpers import rand

from .helpers import evaluate


def test_device_arrays_in_and_out():
    x, w = T.dmatrix("x"), T.dvector("w")
    f = theano.function([x, w], [T.tanh(x @ w), x.T, T.sum(x, axis=0)], return_device_arrays=True)
    xv, wv = rand((3, 4), seed=1), rand(4, seed=2)
    x_device = cuda.to_device(xv)
    outs = f(x_device, wv)
    assert all(rt.is_device_array(o) for o in outs)
    np.testing.assert_allclose(outs[0].copy_to_host(), np.tanh(xv @ wv), rtol=1e-12)
    np.testing.assert_array_equal(outs[1].copy_to_host(), xv.T)
    np.testing.assert_allclose(outs[2].copy_to_host(), xv.sum(axis=0), rtol=1e-12)
    # x.T is a copy, not a view of the argument: writing the argument leaves the output alone.
    x_device.copy_to_device(np.zeros((3, 4)))
    np.testing.assert_array_equal(outs[1].copy_to_host(), xv.T)
    # Outputs of a default function are NumPy arrays, whatever the arguments were.
    g = theano.function([x, w], T.tanh(x @ w))
    assert type(g(cuda.to_device(xv), cuda.to_device(wv))) is np.ndarray


def test_device_argument_errors_name_the_input():
    x = T.dvector("x")
    f = theano.function([x], x * 2)
    with pytest.raises(TypeError, match="input 'x' expects float64, got a device array of float32"):
        f(cuda.to_device(np.ones(3, dtype="float32")))
    with pytest.raises(TypeError, match="input 'x' expects a 1-d float64 value"):
        f(cuda.to_device(np.ones((2, 2))))
    np.testing.assert_array_equal(f([1, 2]), [2.0, 4.0])  # host values are converted as on the CPU


def test_views_of_device_arrays():
    x = T.dtensor3("x")
    m = T.dmatrix("m")
    outputs = [x[:, ::-1, 1], x.dimshuffle(2, "x", 0, 1), m.T.reshape((-1,)), x[1:, 1:].flatten(), m.T[::2]]
    f = theano.function([x, m], outputs)
    xv, mv = rand((2, 3, 4), seed=1), rand((3, 5), seed=2)
    expected = [xv[:, ::-1, 1], xv.transpose(2, 0, 1)[:, None], mv.T.reshape(-1), xv[1:, 1:].reshape(-1), mv.T[::2]]
    for got, want in zip(f(xv, mv), expected):
        np.testing.assert_array_equal(got, want)


def test_joins_alloc_arange_argmax_and_basic_inc_subtensor():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    n = T.lscalar("n")
    outputs = [
        T.concatenate([x, y], axis=0),
        T.stack([x[0], y[1]]),
        T.alloc(x[0], 2, x.shape[1]),
        T.arange(n) * 2,
        T.argmax(x, axis=1),
        T.argmin(y),
        T.inc_subtensor(x[1:, :2], 10.0),
        T.set_subtensor(x[0], y[1]),
    ]
    f = theano.function([x, y, n], outputs)
    xv, yv = rand((3, 4), seed=1), rand((2, 4), seed=2)
    inc = xv.copy()
    inc[1:, :2] += 10
    st = xv.copy()
    st[0] = yv[1]
    expected = [
        np.concatenate([xv, yv]), np.stack([xv[0], yv[1]]), np.broadcast_to(xv[0], (2, 4)), np.arange(5) * 2,
        xv.argmax(axis=1), yv.argmin(), inc, st,
    ]  # fmt: skip
    for got, want in zip(f(xv, yv, 5), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    check = lambda v: T.concatenate([v, v[::-1] * 2], axis=1)  # noqa: E731 - a gradient through a join
    xv = rand((2, 3), seed=4)
    g = theano.function([x], T.grad(T.sum(check(x) ** 2), x))
    (want,) = evaluate([T.grad(T.sum(check(x) ** 2), x)], {x: xv})
    np.testing.assert_allclose(g(xv), want, rtol=1e-12)


def test_reductions_split_over_blocks_match_numpy():
    # Few kept elements and many reduced ones: several blocks per result, combined by the second pass.
    x = T.dmatrix("x")
    splits, _, threads = rt.reduce_grid(1, 60)
    assert splits > 1 and threads > 1  # the tree and the second pass both run
    f = theano.function([x], [T.sum(x), T.max(x, axis=1), T.prod(x[:, :3], axis=0), T.mean(x**2, axis=0)])
    xv = rand((4, 15), low=0.5, high=1.5, seed=3)
    for got, want in zip(f(xv), [xv.sum(), xv.max(axis=1), xv[:, :3].prod(axis=0), (xv**2).mean(axis=0)]):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_results_are_deterministic():
    x = T.fvector("x")
    f = theano.function([x], T.sum(T.exp(x)))
    xv = rand(50, "float32", seed=5)
    assert len({float(f(xv)) for _ in range(3)}) == 1


def test_tiled_matrix_product_kernel():
    # The fallback when CuPy is absent (as under the simulator, where dot always uses it).
    for dtype in ("float64", "float32", "int64", "int32"):
        a, b = rand((5, 7), dtype, seed=1), rand((7, 6), dtype, seed=2)
        got = rt.tiled_matmul(rt.to_device(a), rt.to_device(b)).copy_to_host()
        np.testing.assert_allclose(got, a @ b, rtol=1e-5 if dtype == "float32" else 1e-12)
    empty = rt.tiled_matmul(rt.to_device(np.ones((2, 0))), rt.to_device(np.ones((0, 3)))).copy_to_host()
    np.testing.assert_array_equal(empty, np.zeros((2, 3)))


def test_stacked_matrix_products_and_their_gradients():
    # One product per matrix (the tiled kernel, or cuBLAS through CuPy), a stack of 1 broadcast.
    a, b = T.dtensor3("a"), T.tensor("float64", (1, None, None), name="b")
    out = a @ b
    f = theano.function([a, b], [out, *T.grad(T.sum(out * out), [a, b])], device="cuda")
    x, y = rand((3, 3, 4), seed=1), rand((1, 4, 2), seed=2)
    got, ga, gb = f(x, y)
    np.testing.assert_allclose(got, x @ y, rtol=1e-12)
    np.testing.assert_allclose(ga, 2 * (x @ y) @ y.transpose(0, 2, 1), rtol=1e-12)
    np.testing.assert_allclose(gb, np.sum(2 * x.transpose(0, 2, 1) @ (x @ y), axis=0, keepdims=True), rtol=1e-12)


def _two_layer_net(device: str, steps: int):
    rng = np.random.default_rng(0)
    xv, yv = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    w1 = theano.shared(rng.normal(size=(3, 5)) * 0.5, name="w1")
    w2 = theano.shared(rng.normal(size=(5, 2)) * 0.5, name="w2")
    x, y = T.dmatrices("x", "y")
    loss = T.mean((T.nnet.relu(x @ w1) @ w2 - y) ** 2)
    train = theano.function([x, y], loss, updates=optim.adam(loss, [w1, w2], learning_rate=0.05), device=device)
    if device == "cuda":
        xv, yv = cuda.to_device(xv), cuda.to_device(yv)  # the data set lives on the device too
    losses = [float(train(xv, yv)) for _ in range(steps)]
    return losses, w1, w2, train


def test_training_step_on_the_device_matches_the_cpu_and_moves_only_the_loss(monkeypatch):
    losses_gpu, w1, _, train = _two_layer_net("cuda", 3)
    losses_cpu, c1, _, _ = _two_layer_net("cpu", 3)
    np.testing.assert_allclose(losses_gpu, losses_cpu, rtol=1e-10)
    assert losses_gpu[-1] < losses_gpu[0]
    # The parameters and Adam's state stay on the device: a step copies the loss back, nothing else.
    transfers = []
    to_device, copy_to_host = cuda.to_device, type(w1.storage.device).copy_to_host
    monkeypatch.setattr(cuda, "to_device", lambda *a, **k: transfers.append("to device") or to_device(*a, **k))
    monkeypatch.setattr(
        type(w1.storage.device), "copy_to_host", lambda *a, **k: transfers.append("to host") or copy_to_host(*a, **k)
    )
    data = rt.to_device(np.ones((8, 3))), rt.to_device(np.ones((8, 2)))
    transfers.clear()
    train(*data)
    assert transfers == ["to host"]
    monkeypatch.undo()
    # get_value brings the device's value back; set_value reaches the device.
    np.testing.assert_array_equal(w1.get_value(), rt.to_host(w1.storage.device))
    w1.set_value(c1.get_value())
    np.testing.assert_array_equal(theano.function([], w1 * 1)(), c1.get_value())


def test_shared_variables_move_between_cpu_and_gpu_functions():
    s = theano.shared(np.arange(4.0), name="s")
    on_gpu = theano.function([], s, updates=[(s, s * 2)], device="cuda")
    on_cpu = theano.function([], s, updates=[(s, s + 1)], device="cpu")
    np.testing.assert_array_equal(on_gpu(), [0, 1, 2, 3])  # outputs see the old value
    np.testing.assert_array_equal(on_cpu(), [0, 2, 4, 6])  # the CPU sees the GPU's update
    np.testing.assert_array_equal(on_gpu(), [1, 3, 5, 7])  # and the GPU the CPU's
    np.testing.assert_array_equal(s.get_value(), [2, 6, 10, 14])
    counter = theano.shared(np.float64(0.0), name="counter")
    tick = theano.function([], counter, updates=[(counter, counter + 1)], device="cuda")
    assert [float(tick()) for _ in range(3)] == [0.0, 1.0, 2.0]
    assert counter.get_value() == 3.0 and np.ndim(counter.get_value()) == 0


def test_third_and_fourth_derivatives_of_gammaln_run_on_the_device():
    # polygamma of orders 2 and 3 are device functions, as digamma and trigamma are.
    x = T.dvector("x")
    second = T.grad(T.sum(T.psi(x)), x)
    third = T.grad(T.sum(second), x)
    f = theano.function([x], [third, T.grad(T.sum(third), x)])
    xv = np.array([0.3, 2.5, 11.0, 1e3, -0.4, -2.7, 0.0, -3.0, -1e300, -np.inf, np.inf, np.nan])
    for order, got in zip((2, 3), f(xv)):
        want = [runtime.polygamma(order, v) for v in xv]
        np.testing.assert_allclose(got, want, rtol=1e-14)  # the CPU's method: the same values
        np.testing.assert_allclose(got[:6], scipy.special.polygamma(order, xv[:6]), rtol=1e-12)


def test_a_matrix_product_in_a_dtype_the_tiled_kernel_lacks_is_refused_with_a_way_out(monkeypatch):
    # Without CuPy, products go to the tiled kernel, which has no int8 version: the error is
    # NotSupportedOnDevice (a NotImplementedError) and says what to do instead.
    monkeypatch.setattr(rt, "_load_cupy", lambda: None)
    a = T.tensor("int8", (None, None), name="a")
    f = theano.function([a], T.dot(a, a), device="cuda")
    with pytest.raises(NotSupportedOnDevice, match=r"not int8: cast the operands .*device='cpu'"):
        f(np.ones((2, 2), dtype="int8"))


def test_linear_algebra_is_refused_on_the_device_naming_the_op():
    # cuSOLVER through CuPy is not wired in yet: compiling for the GPU says so, naming the op.
    a = T.dmatrix("a")
    with pytest.raises(NotSupportedOnDevice, match=r"cholesky.*linear algebra .*device='cpu'"):
        theano.function([a], T.slinalg.cholesky(a), device="cuda")


def test_polygamma_beyond_the_device_orders_fails_at_compile_time_naming_it():
    # (tests/cuda/test_indexing.py checks the other refusal: adding values of a dtype without atomics)
    z = sympy.Symbol("z")
    with pytest.raises(NotImplementedError, match=r"polygamma of order 41 has no CUDA implementation .*device='cpu'"):
        CudaPrinter().doprint(sympy.polygamma(41, z))


CACHE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import symgrad as theano
    import symgrad.tensor as T
    import codegen.function

    if sys.argv[1] == "warm":  # the module must come from the disk cache: lowering it again fails
        def no_lowering(*args, **kwargs):
            raise AssertionError("lowered again")
        codegen.function.lower = no_lowering
    x, w = T.dmatrix('x'), T.dvector('w')
    loss = T.sum(T.tanh(T.dot(x, w)) ** 2) + T.mean(w ** 2)
    f = theano.function([x, w], [loss, T.grad(loss, w)], device='cuda')
    value, grad = f(np.arange(12.0).reshape(4, 3) / 10, np.array([0.1, -0.2, 0.3]))
    print(json.dumps({"value": float(value), "grad": grad.tolist(), "file": f._module.__file__}))
    """
)


def test_second_process_loads_the_cuda_module_from_the_disk_cache(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path))
    runs = []
    for mode in ("cold", "warm"):
        done = subprocess.run(
            [sys.executable, "-c", CACHE_SCRIPT, mode], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1]
    assert len(list(tmp_path.glob("symgrad_*.py"))) == 1


def test_hessian_vector_product_and_rop_run_on_the_device():
    x, v = T.dvectors("x", "v")
    cost = T.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    wanted = [T.hessian_vector_product(cost, x, v), T.Rop(T.tanh(x) * x, x, v)]
    xv, vv = rand(5, seed=1), rand(5, seed=2)
    for got, want in zip(theano.function([x, v], wanted)(xv, vv), evaluate(wanted, {x: xv, v: vv})):
        np.testing.assert_allclose(got, want, rtol=1e-12)
