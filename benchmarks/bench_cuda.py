"""GPU benchmarks of symgrad's CUDA backend (``device='cuda'``), for a machine with an NVIDIA GPU.

Run from the repository root::

    python benchmarks/bench_cuda.py            # full sizes (needs ~4 GB of GPU memory)
    python benchmarks/bench_cuda.py --quick    # smaller sizes, a smoke run

Without a GPU (or under Numba's simulator, whose timings mean nothing) it exits with a message.
The output is Markdown, one table per workload.

W1  The fused expression ``exp(-x**2/2)*sin(3*x) + log1p(y**2)*tanh(x*y)`` over float32 vectors of
    n = 1e8, inputs and output on the device (``return_device_arrays=True``). Reported: ms per call
    and effective bandwidth (two arrays read, one written) as a fraction of a device-to-device copy
    of the same arrays measured in the same run. Target: at least 0.8.

W2  A two-layer net's loss and gradients, ``h = relu(x @ w1); loss = sum((h @ w2 - y)**2)``, at
    (N, D, H, C) = (4096, 1024, 1024, 10) in float32, everything on the device; against PyTorch
    (autograd on CUDA) and JAX (``jit(value_and_grad)`` on the GPU) when installed. Before timing,
    each competitor's loss and gradients are compared with symgrad's. Target: at most 1.3x PyTorch.

Adam  One training step of that net with ``symgrad.optim.adam`` (parameters and optimizer state
    in shared variables, data on the device), against ``torch.optim.Adam``. Host-device transfers
    during the timed steps are counted by wrapping Numba's driver copy functions; the target is one
    device-to-host copy (the scalar loss) and nothing else.

Times: one call to warm up (compilation), then ``repeat`` rounds of ``number`` calls each, the device
synchronized after each round; the median round divided by ``number`` is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def require_gpu() -> None:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        sys.exit("bench_cuda: NUMBA_ENABLE_CUDASIM=1 is set; the simulator's timings mean nothing. Run on a GPU.")
    try:
        from numba import cuda
    except ImportError:
        sys.exit("bench_cuda: numba-cuda is not installed: pip install -e '.[cuda]' (and cupy-cuda12x)")
    if not cuda.is_available():
        sys.exit("bench_cuda: no CUDA GPU is available on this machine; nothing to measure.")


def timed(fn, sync, number: int, repeat: int) -> float:
    """Median seconds per call of ``fn`` (after a warm-up call), the device synchronized per round."""
    fn()
    sync()
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        sync()
        rounds.append((time.perf_counter() - start) / number)
    return statistics.median(rounds)


def optional(name: str):
    try:
        return __import__(name)
    except ImportError:
        print(f"skipped: {name} not installed")
        return None


def w1(n: int, number: int, repeat: int) -> None:
    from numba import cuda

    import symgrad as theano
    import symgrad.tensor as T

    x, y = T.fvectors("x", "y")
    expr = T.exp(-(x**2) / 2) * T.sin(3 * x) + T.log1p(y**2) * T.tanh(x * y)
    f = theano.function([x, y], expr, device="cuda", return_device_arrays=True)
    rng = np.random.default_rng(0)
    xh, yh = rng.uniform(-2, 2, n).astype("float32"), rng.uniform(-2, 2, n).astype("float32")
    xd, yd = cuda.to_device(xh), cuda.to_device(yh)
    check = f(cuda.to_device(xh[:1000]), cuda.to_device(yh[:1000])).copy_to_host()
    xs, ys = xh[:1000].astype("float64"), yh[:1000].astype("float64")
    np.testing.assert_allclose(check, np.exp(-(xs**2) / 2) * np.sin(3 * xs) + np.log1p(ys**2) * np.tanh(xs * ys),
                               rtol=1e-4, atol=1e-5)  # fmt: skip
    copy_target = cuda.device_array_like(xd)
    t_copy = timed(lambda: copy_target.copy_to_device(xd), cuda.synchronize, number, repeat)
    t_symgrad = timed(lambda: f(xd, yd), cuda.synchronize, number, repeat)
    copy_bandwidth = 2 * 4 * n / t_copy
    bandwidth = 3 * 4 * n / t_symgrad
    print(f"\n### W1: fused elementwise, n = {n:.0e} float32, on the device\n")
    print("| what | ms | GB/s | fraction of copy bandwidth |\n|---|---:|---:|---:|")
    print(f"| device-to-device copy | {t_copy * 1e3:.3f} | {copy_bandwidth / 1e9:.0f} | 1.00 |")
    print(f"| symgrad | {t_symgrad * 1e3:.3f} | {bandwidth / 1e9:.0f} | {bandwidth / copy_bandwidth:.2f} |")
    print(f"\ntarget: at least 0.80 of the copy bandwidth: {'met' if bandwidth >= 0.8 * copy_bandwidth else 'NOT met'}")


def _net(sizes: tuple[int, int, int, int]):
    rng = np.random.default_rng(0)
    n, d, h, c = sizes
    return [(rng.standard_normal(shape) * scale).astype("float32")
            for shape, scale in [((n, d), 1.0), ((d, h), d**-0.5), ((h, c), h**-0.5), ((n, c), 1.0)]]  # fmt: skip


def w2(sizes: tuple[int, int, int, int], number: int, repeat: int) -> None:
    from numba import cuda

    import symgrad as theano
    import symgrad.tensor as T
    from codegen import cuda_runtime

    host = _net(sizes)
    x, w1_, w2_, y = T.fmatrices("x", "w1", "w2", "y")
    loss = T.sum((T.nnet.relu(x @ w1_) @ w2_ - y) ** 2)
    f = theano.function([x, w1_, w2_, y], [loss, *T.grad(loss, [w1_, w2_])], device="cuda", return_device_arrays=True)
    device = [cuda.to_device(a) for a in host]
    ours = [o.copy_to_host() for o in f(*device)]
    rows = [("symgrad", timed(lambda: f(*device), cuda.synchronize, number, repeat), "")]
    print(f"\n### W2: two-layer net loss + gradients, (N, D, H, C) = {sizes}, float32\n")
    print(f"matrix products: {'cuBLAS via CuPy' if cuda_runtime.uses_cublas() else 'the tiled fallback kernel'}")
    torch = optional("torch")
    if torch is not None and torch.cuda.is_available():
        xt, w1t, w2t, yt = (torch.tensor(a, device="cuda") for a in host)
        w1t.requires_grad_(True)
        w2t.requires_grad_(True)

        def step():
            w1t.grad = w2t.grad = None
            value = ((torch.relu(xt @ w1t) @ w2t - yt) ** 2).sum()
            value.backward()
            return value

        step()
        note = _agree(ours, [step().item(), w1t.grad.cpu().numpy(), w2t.grad.cpu().numpy()])
        rows.append(("PyTorch CUDA", timed(step, torch.cuda.synchronize, number, repeat), note))
    jax = optional("jax")
    if jax is not None and any(dev.platform == "gpu" for dev in jax.devices()):
        import jax.numpy as jnp

        xj, w1j, w2j, yj = (jax.device_put(a) for a in host)
        grad = jax.jit(jax.value_and_grad(lambda a, b, c, d: jnp.sum((jax.nn.relu(a @ b) @ c - d) ** 2), (1, 2)))
        value, (g1, g2) = grad(xj, w1j, w2j, yj)
        note = _agree(ours, [float(value), np.asarray(g1), np.asarray(g2)])
        rows.append(("JAX GPU", timed(lambda: grad(xj, w1j, w2j, yj)[0].block_until_ready(), lambda: None,
                                      number, repeat), note))  # fmt: skip
    base = rows[0][1]
    print("\n| implementation | ms | symgrad / it | agrees |\n|---|---:|---:|---|")
    for label, seconds, note in rows:
        print(f"| {label} | {seconds * 1e3:.3f} | {base / seconds:.2f} | {note or '-'} |")
    torch_time = next((s for label, s, _ in rows if label == "PyTorch CUDA"), None)
    if torch_time is not None:
        print(f"\ntarget: at most 1.3x PyTorch: {'met' if base <= 1.3 * torch_time else 'NOT met'}")


def _agree(ours: list, theirs: list) -> str:
    for a, b in zip(ours, theirs):
        b = np.asarray(b)
        scale = float(np.max(np.abs(b))) or 1.0
        if not np.allclose(a, b, rtol=1e-3, atol=1e-3 * scale):
            return "DISAGREES"
    return "yes"


def adam(sizes: tuple[int, int, int, int], number: int, repeat: int) -> None:
    from numba import cuda
    from numba.cuda.cudadrv import driver

    import symgrad as theano
    import symgrad.tensor as T
    from symgrad import optim

    xh, w1h, w2h, yh = _net(sizes)
    w1, w2 = theano.shared(w1h, name="w1"), theano.shared(w2h, name="w2")
    x, y = T.fmatrices("x", "y")
    loss = T.mean((T.nnet.relu(x @ w1) @ w2 - y) ** 2)
    train = theano.function([x, y], loss, updates=optim.adam(loss, [w1, w2], learning_rate=1e-3), device="cuda")
    xd, yd = cuda.to_device(xh), cuda.to_device(yh)
    train(xd, yd)
    counts = {"host to device": 0, "device to host": 0}
    originals = driver.host_to_device, driver.device_to_host

    def counting(kind, original):
        def wrapper(*args, **kwargs):
            counts[kind] += 1
            return original(*args, **kwargs)

        return wrapper

    driver.host_to_device = counting("host to device", originals[0])
    driver.device_to_host = counting("device to host", originals[1])
    try:
        t_symgrad = timed(lambda: train(xd, yd), cuda.synchronize, number, repeat)
    finally:
        driver.host_to_device, driver.device_to_host = originals
    calls = 1 + number * repeat
    print(f"\n### Adam training step, (N, D, H, C) = {sizes}, float32, parameters on the device\n")
    print("| implementation | ms per step |\n|---|---:|")
    print(f"| symgrad | {t_symgrad * 1e3:.3f} |")
    torch = optional("torch")
    if torch is not None and torch.cuda.is_available():
        xt, yt = torch.tensor(xh, device="cuda"), torch.tensor(yh, device="cuda")
        params = [torch.tensor(w, device="cuda", requires_grad=True) for w in (w1h, w2h)]
        opt = torch.optim.Adam(params, lr=1e-3)

        def step():
            opt.zero_grad()
            value = ((torch.relu(xt @ params[0]) @ params[1] - yt) ** 2).mean()
            value.backward()
            opt.step()
            return value.item()

        t_torch = timed(step, torch.cuda.synchronize, number, repeat)
        print(f"| PyTorch CUDA (torch.optim.Adam, .item() of the loss) | {t_torch * 1e3:.3f} |")
    per_step = {kind: n / calls for kind, n in counts.items()}
    met = per_step == {"host to device": 0, "device to host": 1}
    print(f"\ntransfers per step: {per_step['host to device']:g} host to device, {per_step['device to host']:g} "
          f"device to host (target: 0 and 1, the scalar loss): {'met' if met else 'NOT met'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repetitions")
    args = parser.parse_args()
    require_gpu()
    from numba import cuda

    device = cuda.get_current_device()
    print(f"GPU: {device.name.decode() if isinstance(device.name, bytes) else device.name}, "
          f"compute capability {device.compute_capability}")  # fmt: skip
    number, repeat = (3, 3) if args.quick else (10, 7)
    w1(10**6 if args.quick else 10**8, number, repeat)
    sizes = (512, 256, 256, 10) if args.quick else (4096, 1024, 1024, 10)
    w2(sizes, number, repeat)
    adam(sizes, number, repeat)


if __name__ == "__main__":
    main()
