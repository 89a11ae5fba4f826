"""Host and device helpers for generated CUDA modules (``device='cuda'``).

Imported only by generated CUDA modules and by shared variables that hold a device copy, never by
``import symgrad``; it imports ``numba.cuda`` (the ``numba-cuda`` package, the ``cuda`` extra).

What lives here, rather than in each generated module:

- **Launch configuration** from the device's properties (multiprocessor count, threads per block).
  Under Numba's simulator (``NUMBA_ENABLE_CUDASIM=1``), which runs every CUDA thread as Python,
  blocks are tiny, so tests stay fast while still running every code path (grid-stride loops over
  several blocks, shared-memory trees over several threads, two-pass reductions).
- **Views**: dimshuffles, slices, reshapes and the padding of arrays to four dimensions, all made by
  one function, :func:`view`, from a shape, strides and an offset. Numba's own device arrays copy on
  ``.T`` and refuse most reshapes of views, so the views are built here, without copying.
- **Generic kernels** for what is not a fused loop nest: strided copies (outputs that alias an
  input, reshapes of non-contiguous views), fills, joins, ``arange``, ``argmax``, the ops along an
  axis (cumulative sums and products, cumprod's gradient, argsort, unique, flatnonzero), and matrix
  products: cuBLAS through CuPy when CuPy is installed, otherwise a tiled shared-memory kernel.
- **Device functions** for the scalar helpers of ``codegen.runtime`` (``sigmoid``, ``softplus``,
  ``digamma``, ``trigamma`` and ``polygamma``, compiled from the CPU version's own source, with
  device versions of the parts that allocate) and for NumPy's ``sign``, ``floor`` and ``ceil``,
  which ``numba.cuda`` does not type (see :data:`DEVICE_FUNCTIONS`).
"""

from __future__ import annotations

import math
import types
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import config as numba_config
from numba import cuda, float64

from . import runtime as cpu_runtime
from .scalar_printer import CUDA_POLYGAMMA_MAX_ORDER, NotSupportedOnDevice

SIMULATOR = bool(numba_config.ENABLE_CUDASIM)

#: Threads per block of elementwise (grid-stride) kernels, and the most threads a reduction's
#: shared-memory tree uses; a power of two. The simulator runs each thread as Python and each
#: ``syncthreads`` costs it milliseconds, so it gets tiny blocks.
THREADS = 4 if SIMULATOR else 256
REDUCE_THREADS = 4 if SIMULATOR else 256
#: Edge of the square tiles of the fallback matrix-product kernel.
TILE = 4 if SIMULATOR else 16
#: Arrays of up to this many dimensions can be copied, filled or joined on the device.
MAX_NDIM = 4

#: Scalar functions with a device implementation here, by the name generated code calls
#: (scalar_printer.CUDA_FUNCTIONS lists the same names).
DEVICE_FUNCTIONS = (
    "sigmoid", "softplus", "digamma", "trigamma", "polygamma", "erfinv", "erfcinv", "sign", "floor", "ceil", "rint",
)  # fmt: skip


# ------------------------------------------------------------------------------------------------
# The device


def device_description() -> str:
    """What the generated code depends on: the simulator, or the GPU's name and compute capability."""
    import numba_cuda

    if SIMULATOR:
        return f"cuda simulator, numba-cuda {numba_cuda.__version__}"
    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else device.name
    major, minor = device.compute_capability
    return f"cuda {name} sm_{major}{minor}, numba-cuda {numba_cuda.__version__}"


_blocks_wanted: int | None = None


def _target_blocks() -> int:
    """Enough blocks to keep every multiprocessor busy (a few resident blocks each)."""
    global _blocks_wanted
    if _blocks_wanted is None:
        if SIMULATOR:
            _blocks_wanted = 2
        else:
            _blocks_wanted = 8 * cuda.get_current_device().MULTIPROCESSOR_COUNT
    return _blocks_wanted


def grid(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over ``n`` elements."""
    return max(1, min(-(-n // THREADS), _target_blocks())), THREADS


def reduce_grid(kept: int, reduced: int) -> tuple[int, int, int]:
    """(splits, blocks, threads) for a reduction of ``reduced`` elements into each of ``kept`` results.

    Each kept element is reduced by ``splits`` blocks, each over an interleaved part of its
    elements; a second kernel adds the parts. Few kept elements (a full sum) get several splits so
    that every multiprocessor works; many get one. The block size is the smallest power of two at
    least the reduced length, at most :data:`REDUCE_THREADS`.
    """
    threads = 1
    while threads < min(reduced, REDUCE_THREADS):
        threads *= 2
    splits = max(1, min(-(-reduced // (4 * threads)), -(-_target_blocks() // max(kept, 1))))
    return splits, max(1, min(kept * splits, _target_blocks() * 4)), threads


# ------------------------------------------------------------------------------------------------
# Arrays: allocation, transfers, views


def empty(shape: Sequence[int], dtype: str) -> Any:
    return cuda.device_array(tuple(int(n) for n in shape), dtype=np.dtype(dtype))


def to_device(value: Any) -> Any:
    """A host array (or NumPy scalar) copied to the device."""
    value = np.asarray(value)
    return cuda.to_device(value if value.flags.c_contiguous else value.copy())


def is_device_array(value: Any) -> bool:
    """Whether ``value`` lives on the GPU: a Numba device array or any ``__cuda_array_interface__`` object."""
    if SIMULATOR:
        return isinstance(value, _devicearray.FakeCUDAArray)
    return isinstance(value, _devicearray.DeviceNDArray) or hasattr(value, "__cuda_array_interface__")


def as_device_array(value: Any) -> Any:
    """A Numba device array for ``value`` (CuPy arrays, PyTorch CUDA tensors: a view, no copy)."""
    if SIMULATOR or isinstance(value, _devicearray.DeviceNDArray):
        return value
    return cuda.as_cuda_array(value)


def c_contiguous(x: Any) -> bool:
    return bool(x.is_c_contiguous())


def to_host(x: Any) -> np.ndarray:
    """A fresh NumPy array with the value of device array ``x``."""
    if not c_contiguous(x):
        x = contiguous(x)
    return x.copy_to_host()


def view(x: Any, shape: Sequence[int], strides: Sequence[int], offset: int = 0) -> Any:
    """A device array over ``x``'s memory: ``shape``, ``strides`` in bytes, and its first element
    ``offset`` bytes after ``x``'s first element (negative strides and offsets are fine). No copy."""
    shape, strides, offset = tuple(int(n) for n in shape), tuple(int(s) for s in strides), int(offset)
    if SIMULATOR:
        base = x._ary
        interface = {
            "data": (base.__array_interface__["data"][0] + offset, False),
            "shape": shape,
            "strides": strides,
            "typestr": base.dtype.str,
            "version": 3,
        }
        holder = types.SimpleNamespace(__array_interface__=interface, keep=base)
        return _devicearray.FakeCUDAArray(np.asarray(holder))
    data = x.gpu_data if offset == 0 or 0 in shape else x.gpu_data.view(offset)
    return _devicearray.DeviceNDArray(shape, strides, x.dtype, gpu_data=data)


def dimshuffle(x: Any, new_order: Sequence[int | str]) -> Any:
    """Theano's dimshuffle as a view: permute dims, drop length-1 dims, add length-1 dims ('x')."""
    shape, strides = [], []
    for position, d in enumerate(new_order):
        if d == "x":
            shape.append(1)
            # Any stride works for a length-1 dim; the next dim's extent keeps C order C-contiguous.
            following = [x.shape[e] * x.strides[e] for e in new_order[position + 1 :] if e != "x"]
            strides.append(following[0] if following else x.dtype.itemsize)
        else:
            shape.append(x.shape[d])
            strides.append(x.strides[d])
    return view(x, shape, strides)


def subtensor(x: Any, index: tuple) -> Any:
    """``x[index]`` for ints and slices, as a view (what NumPy's basic indexing gives)."""
    shape, strides, offset = [], [], 0
    for d in range(x.ndim):
        item = index[d] if d < len(index) else slice(None)
        if isinstance(item, slice):
            start, stop, step = item.indices(x.shape[d])
            shape.append(len(range(start, stop, step)))
            strides.append(x.strides[d] * step)
            offset += start * x.strides[d] if shape[-1] else 0
        else:
            offset += (item + x.shape[d] if item < 0 else item) * x.strides[d]
    return view(x, shape, strides, offset)


def reshape(x: Any, shape: Sequence[int]) -> Any:
    """``np.reshape``: a view of a C-contiguous array (a copy is made first when ``x`` is not)."""
    shape = [int(n) for n in shape]
    if -1 in shape:
        known = math.prod(n for n in shape if n != -1)
        shape[shape.index(-1)] = x.size // known if known else 0
    if math.prod(shape) != x.size:
        raise ValueError(f"cannot reshape an array of shape {tuple(x.shape)} into shape {tuple(shape)}")
    if not c_contiguous(x):
        x = contiguous(x)
    strides, step = [], x.dtype.itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return view(x, shape, strides[::-1])


def _padded(x: Any) -> Any:
    """``x`` as a 4-d view (leading length-1 dims), so one kernel serves every rank up to 4."""
    if x.ndim > MAX_NDIM:
        raise NotSupportedOnDevice(
            f"symgrad's CUDA backend copies arrays of at most {MAX_NDIM} dimensions, not {x.ndim}; "
            "compile with device='cpu'"
        )
    extra = MAX_NDIM - x.ndim
    return view(x, (1,) * extra + tuple(x.shape), (0,) * extra + tuple(x.strides))


@cuda.jit(cache=True)
def _store4(src, dst, add):
    """dst = src, or dst += src when ``add``: both 4-d (see _padded), one grid-stride loop."""
    n1, n2, n3 = dst.shape[1], dst.shape[2], dst.shape[3]
    for flat in range(cuda.grid(1), dst.size, cuda.gridsize(1)):
        i3 = flat % n3
        i2 = flat // n3 % n2
        i1 = flat // (n3 * n2) % n1
        i0 = flat // (n3 * n2 * n1)
        if add:
            dst[i0, i1, i2, i3] += src[i0, i1, i2, i3]
        else:
            dst[i0, i1, i2, i3] = src[i0, i1, i2, i3]


@cuda.jit(cache=True)
def _fill1(dst, value):
    for i in range(cuda.grid(1), dst.size, cuda.gridsize(1)):
        dst[i] = value


def _broadcast(src: Any, shape: Sequence[int]) -> Any:
    """``src`` (a device array) as a view of ``shape``: NumPy broadcasting with zero strides."""
    extra = len(shape) - src.ndim
    strides = [0] * extra + [0 if n == 1 and m != 1 else s for n, m, s in zip(src.shape, shape[extra:], src.strides)]
    return view(src, shape, strides)


def assign(dst: Any, src: Any, add: bool = False) -> None:
    """``dst[...] = src`` (or ``+=``), broadcasting ``src``: a device array or a host scalar."""
    if dst.size == 0:
        return
    if not is_device_array(src):
        if not add and c_contiguous(dst):
            _fill1[grid(dst.size)](reshape(dst, (dst.size,)), dst.dtype.type(src))
            return
        src = to_device(np.asarray(src, dtype=dst.dtype))
    _store4[grid(dst.size)](_padded(_broadcast(src, dst.shape)), _padded(dst), add)


def contiguous(x: Any) -> Any:
    """A fresh C-contiguous copy of ``x``."""
    out = empty(x.shape, x.dtype)
    assign(out, x)
    return out


def full(shape: Sequence[int], value: Any, dtype: str) -> Any:
    """``np.full``: ``value`` is a host scalar or a device array broadcast to ``shape``."""
    out = empty(shape, dtype)
    assign(out, value)
    return out


def zeros(shape: Sequence[int], dtype: str) -> Any:
    out = empty(shape, dtype)
    assign(out, np.dtype(dtype).type(0))
    return out


def concatenate(pieces: Sequence[Any], axis: int) -> Any:
    """``np.concatenate`` along ``axis``: each piece copied into its slice of a new array."""
    first = pieces[0]
    shape = list(first.shape)
    shape[axis] = sum(p.shape[axis] for p in pieces)
    out = empty(shape, first.dtype)
    start = 0
    for piece in pieces:
        stop = start + piece.shape[axis]
        assign(subtensor(out, (slice(None),) * axis + (slice(start, stop),)), piece)
        start = stop
    return out


def shape_of(x: Any) -> Any:
    """``x.shape`` as an int64 device vector (the one small upload of the ``Shape`` op)."""
    return to_device(np.array(x.shape, dtype=np.int64))


@cuda.jit(cache=True)
def _arange(out, start, step):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = start + i * step


def arange(start: Any, stop: Any, step: Any, dtype: str) -> Any:
    """``np.arange(start, stop, step, dtype)`` filled on the device."""
    length = max(0, math.ceil((stop - start) / step))  # a zero step raises ZeroDivisionError, as in NumPy
    out = empty((length,), dtype)
    if length:
        _arange[grid(length)](out, np.dtype(dtype).type(start), np.dtype(dtype).type(step))
    return out


@cuda.jit(cache=True)
def _argmax_rows(x, out, sign):
    """out[r] = the first index of the largest (sign 1) or smallest (sign -1) x[r, :]; nan wins."""
    for r in range(cuda.grid(1), x.shape[0], cuda.gridsize(1)):
        best = 0
        best_value = x[r, 0] * sign
        for j in range(1, x.shape[1]):
            v = x[r, j] * sign
            if best_value != best_value:
                break
            if v > best_value or v != v:
                best, best_value = j, v
        out[r] = best


def argmax(x: Any, axis: int | None, which: str) -> Any:
    """NumPy's argmax/argmin over one ``axis`` (or the flattened array), as int64."""
    if axis is None:
        rows, kept_shape = reshape(x, (1, x.size)), ()
    else:
        kept = [d for d in range(x.ndim) if d != axis]
        moved = contiguous(dimshuffle(x, kept + [axis]))
        kept_shape = tuple(x.shape[d] for d in kept)
        rows = reshape(moved, (math.prod(kept_shape), x.shape[axis]))
    if rows.shape[1] == 0:
        raise ValueError(f"attempt to get {which} of an empty sequence")
    out = empty((rows.shape[0],), "int64")
    if rows.shape[0]:
        sign = 1 if which == "argmax" else -1
        _argmax_rows[grid(rows.shape[0])](rows, out, rows.dtype.type(sign))
    return reshape(out, kept_shape)


# ------------------------------------------------------------------------------------------------
# Ops along one axis (ops/arrays.py): cumulative sums and products, cumprod's gradient, argsort,
# and the compactions behind flatnonzero and unique. Each sees its operand as a 3-d array of
# (before, along, after) lengths, whose lines ``x[a, :, c]`` are independent; neighbouring threads
# take neighbouring ``c``, so their reads are adjacent in memory.

#: Length of the runs that argsort's first kernel sorts by insertion, one thread per run, before the
#: merge passes (tiny under the simulator, so that tests reach several merge passes).
SORT_RUN = 2 if SIMULATOR else 16
#: Entries per thread in the compactions of flatnonzero and unique (tiny under the simulator, so
#: that tests reach several chunks).
CHUNK = 2 if SIMULATOR else 256


def _lines(x: Any, axis: int) -> Any:
    """``x`` as a 3-d (before, along, after) array: a view (a vector keeps its strides: the reversed
    ``w[::-1]`` of cumsum's gradient is not copied); other arrays are reshaped, which copies them
    first when they are not C-contiguous."""
    if x.ndim == 1:
        return view(x, (1, x.shape[0], 1), (0, x.strides[0], 0))
    shape = tuple(x.shape)
    return reshape(x, (math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])))


def _line_count(lines: Any) -> int:
    return lines.shape[0] * lines.shape[2]


@cuda.jit(cache=True)
def _cumulative_lines(x, out, product, identity):
    """out[a, :, c] = the cumulative sum (or product) of x[a, :, c]: one thread per line, a serial
    scan along it, adding in the CPU's order (so the same results). A first kernel: lines too few to
    fill the GPU (the cumsum of one long vector) would want a parallel scan within each line."""
    n, after = x.shape[1], x.shape[2]
    for line in range(cuda.grid(1), x.shape[0] * after, cuda.gridsize(1)):
        a, c = line // after, line % after
        acc = identity
        for b in range(n):
            acc = acc * x[a, b, c] if product else acc + x[a, b, c]
            out[a, b, c] = acc


def cumulative(x: Any, axis: int, mode: str) -> Any:
    """``np.cumsum`` (``mode`` ``'sum'``) or ``np.cumprod`` (``'prod'``) of ``x`` along ``axis``."""
    lines = _lines(x, axis)
    out = empty(lines.shape, x.dtype)
    if out.size:
        identity = x.dtype.type(mode == "prod")
        _cumulative_lines[grid(_line_count(lines))](lines, out, mode == "prod", identity)
    return reshape(out, x.shape)


@cuda.jit(cache=True)
def _cumprod_grad_lines(x, g, out, zero, one):
    """The gradient of cumprod along lines (symgrad/ops/arrays.py): out[k] = P[k-1] R[k], with
    R[k] = g[k] + x[k+1] R[k+1] run backwards and P the product before k; exact at zeros. One
    thread per line, as the CPU's loop."""
    n, after = x.shape[1], x.shape[2]
    for line in range(cuda.grid(1), x.shape[0] * after, cuda.gridsize(1)):
        a, c = line // after, line % after
        rest = zero
        for b in range(n - 1, -1, -1):
            rest = g[a, b, c] + (x[a, b + 1, c] * rest if b + 1 < n else zero)
            out[a, b, c] = rest
        before = one
        for b in range(n):
            out[a, b, c] *= before
            before *= x[a, b, c]


def cumprod_grad(x: Any, g: Any, axis: int) -> Any:
    """The gradient of ``cumprod(x, axis)`` given the output's gradient ``g`` (shaped like ``x``)."""
    lines = _lines(x, axis)
    out = empty(lines.shape, x.dtype)
    if out.size:
        zero, one = x.dtype.type(0), x.dtype.type(1)
        _cumprod_grad_lines[grid(_line_count(lines))](lines, _lines(g, axis), out, zero, one)
    return reshape(out, x.shape)


@cuda.jit(device=True)
def _before(u, v):
    """Whether ``u`` sorts strictly before ``v`` in NumPy's order, where nan comes last."""
    return u < v or (v != v and u == u)


@cuda.jit(cache=True)
def _sort_runs(x, order, run):
    """order[a, s:s + run, c] = the indices sorting x[a, s:s + run, c], a stable insertion sort:
    one thread per run of each line."""
    n, after = x.shape[1], x.shape[2]
    runs = (n + run - 1) // run
    for task in range(cuda.grid(1), x.shape[0] * runs * after, cuda.gridsize(1)):
        c, rest = task % after, task // after
        start, a = rest % runs * run, rest // runs
        for k in range(start, min(start + run, n)):
            value = x[a, k, c]
            j = k
            while j > start and _before(value, x[a, order[a, j - 1, c], c]):
                order[a, j, c] = order[a, j - 1, c]
                j -= 1
            order[a, j, c] = k


@cuda.jit(cache=True)
def _merge_runs(x, src, dst, width):
    """One pass of a bottom-up merge sort of indices along the lines: the sorted runs of ``width``
    indices in src, merged by pairs into dst, one thread per pair of each line. An entry of the
    right run goes first only if it sorts strictly before, so equal entries keep their order."""
    n, after = x.shape[1], x.shape[2]
    pairs = (n + 2 * width - 1) // (2 * width)
    for task in range(cuda.grid(1), x.shape[0] * pairs * after, cuda.gridsize(1)):
        c, rest = task % after, task // after
        start, a = rest % pairs * 2 * width, rest // pairs
        middle, stop = min(start + width, n), min(start + 2 * width, n)
        i, j = start, middle
        for k in range(start, stop):
            if j < stop and (i >= middle or _before(x[a, src[a, j, c], c], x[a, src[a, i, c], c])):
                dst[a, k, c] = src[a, j, c]
                j += 1
            else:
                dst[a, k, c] = src[a, i, c]
                i += 1


def argsort(x: Any, axis: int) -> Any:
    """NumPy's stable ``argsort`` of ``x`` along ``axis`` (int64; nan last): runs of
    :data:`SORT_RUN` sorted by insertion, then merge passes of doubling width, each a launch whose
    threads merge pairs of runs. A first kernel: each pass halves the threads at work on a line, the
    last merging the whole line on one, so many short lines sort well and one long line (``axis=None``
    of a large array) does not; splitting each merge among threads (merge path) is the next step."""
    lines = _lines(x, axis)
    before, n, after = lines.shape
    order = empty(lines.shape, "int64")
    if order.size:
        _sort_runs[grid(before * -(-n // SORT_RUN) * after)](lines, order, SORT_RUN)
        spare, width = None, SORT_RUN
        while width < n:
            spare = empty(lines.shape, "int64") if spare is None else spare
            _merge_runs[grid(before * -(-n // (2 * width)) * after)](lines, order, spare, width)
            order, spare = spare, order
            width *= 2
    return reshape(order, x.shape)


@cuda.jit(device=True)
def _kept(x, order, i, distinct):
    """Whether flat position ``i`` is kept: x[i] is nonzero, or (``distinct``, for unique) the
    i-th entry of x in sorted ``order`` differs from the one before it (nans are one value, as in
    NumPy's unique)."""
    if not distinct:
        return x[i] != 0
    if i == 0:
        return True
    u, v = x[order[i - 1]], x[order[i]]
    return not (u == v or (u != u and v != v))


@cuda.jit(cache=True)
def _count_kept(x, order, distinct, chunk, counts):
    for t in range(cuda.grid(1), counts.size, cuda.gridsize(1)):
        count = 0
        for i in range(t * chunk, min(t * chunk + chunk, x.size)):
            if _kept(x, order, i, distinct):
                count += 1
        counts[t] = count


@cuda.jit(cache=True)
def _write_kept(x, order, distinct, chunk, offsets, out):
    for t in range(cuda.grid(1), offsets.size, cuda.gridsize(1)):
        k = offsets[t]
        for i in range(t * chunk, min(t * chunk + chunk, x.size)):
            if _kept(x, order, i, distinct):
                out[k] = i
                k += 1


def _kept_positions(flat: Any, order: Any, distinct: bool) -> Any:
    """The kept flat positions of ``flat`` (see ``_kept``), in order, as an int64 device vector:
    each thread counts the kept entries of its chunk of :data:`CHUNK`; the counts come to the host,
    which adds them up into each chunk's first place in the result and the result's length (which
    it needs to allocate the result: a length that depends on the data is read on the host, one
    int64 per chunk); then each thread writes its chunk's positions from its place."""
    chunks = -(-flat.shape[0] // CHUNK)
    counts = empty((chunks,), "int64")
    if chunks:
        _count_kept[grid(chunks)](flat, order, distinct, CHUNK, counts)
    offsets = np.concatenate([[0], np.cumsum(to_host(counts))]).astype(np.int64)
    out = empty((int(offsets[-1]),), "int64")
    if out.size:
        _write_kept[grid(chunks)](flat, order, distinct, CHUNK, to_device(offsets[:-1]), out)
    return out


def flatnonzero(x: Any) -> Any:
    """NumPy's ``flatnonzero``: the int64 positions of the nonzero entries of the flattened ``x``."""
    return _kept_positions(reshape(x, (x.size,)), empty((0,), "int64"), False)


@cuda.jit(cache=True)
def _take_sorted(flat, order, picks, out):
    for j in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[j] = flat[order[picks[j]]]


def unique(x: Any) -> Any:
    """NumPy's ``unique``: the flattened ``x`` sorted by :func:`argsort`, and the first entry of each
    run of equal ones kept (see ``_kept_positions``)."""
    flat = reshape(x, (x.size,))
    order = argsort(flat, 0)
    picks = _kept_positions(flat, order, True)
    out = empty(picks.shape, x.dtype)
    if out.size:
        _take_sorted[grid(out.size)](flat, order, picks, out)
    return out


# ------------------------------------------------------------------------------------------------
# Matrix products: cuBLAS through CuPy, else a tiled shared-memory kernel


@cuda.jit(device=True)
def _gemm_tiles(a, b, out, tile_a, tile_b, zero):
    """out = a @ b, one TILE x TILE block of ``out`` per block of threads: each step stages a tile
    of ``a`` and one of ``b`` in shared memory, so each element is loaded once per tile, not once
    per product."""
    tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    for block_row in range(cuda.blockIdx.y, -(-m // TILE), cuda.gridDim.y):
        for block_col in range(cuda.blockIdx.x, -(-n // TILE), cuda.gridDim.x):
            row, col = block_row * TILE + ty, block_col * TILE + tx
            acc = zero
            for t in range(0, k, TILE):
                tile_a[ty, tx] = a[row, t + tx] if row < m and t + tx < k else zero
                tile_b[ty, tx] = b[t + ty, col] if t + ty < k and col < n else zero
                cuda.syncthreads()
                for j in range(TILE):
                    acc += tile_a[ty, j] * tile_b[j, tx]
                cuda.syncthreads()
            if row < m and col < n:
                out[row, col] = acc


@cuda.jit(cache=True)
def _gemm(a, b, out, zero):
    """out = a @ b for the dtypes of _GEMM_DTYPES (one compiled version each); ``zero`` is a 0 of
    that dtype."""
    tile_a = cuda.shared.array((TILE, TILE), out.dtype)
    tile_b = cuda.shared.array((TILE, TILE), out.dtype)  # its own line: the simulator tells shared arrays apart by line
    _gemm_tiles(a, b, out, tile_a, tile_b, zero)


_GEMM_DTYPES = ("float64", "float32", "int64", "int32")
_cupy: Any = None


def _load_cupy() -> Any:
    """CuPy, or False when it is not installed (or under the simulator, which has no real memory)."""
    global _cupy
    if _cupy is None:
        _cupy = False
        if not SIMULATOR:
            try:
                import cupy

                _cupy = cupy
            except ImportError:
                pass
    return _cupy


def uses_cublas() -> bool:
    """Whether matrix products go to cuBLAS (CuPy is installed) rather than the tiled kernel."""
    return bool(_load_cupy())


def batched_matmul(a: Any, b: Any) -> Any:
    """``np.matmul`` of 3-d device stacks (one of length 1 broadcast): cuBLAS via CuPy if installed,
    else the tiled kernel once per matrix."""
    cupy = _load_cupy()
    if cupy:
        return cuda.as_cuda_array(cupy.matmul(cupy.asarray(a), cupy.asarray(b)))
    count = b.shape[0] if a.shape[0] == 1 else a.shape[0]
    out = empty((count, a.shape[1], b.shape[2]), np.dtype(a.dtype).name)
    for i in range(count):
        assign(out[i], tiled_matmul(a[i if a.shape[0] > 1 else 0], b[i if b.shape[0] > 1 else 0]))
    return out


def tiled_matmul(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-d device arrays with the tiled shared-memory kernel."""
    dtype = np.dtype(a.dtype).name
    if dtype not in _GEMM_DTYPES:
        raise NotSupportedOnDevice(
            f"symgrad's CUDA matrix-product kernel takes {', '.join(_GEMM_DTYPES)}, not {dtype}: cast the "
            "operands (T.cast), install CuPy for cuBLAS, or compile with device='cpu'"
        )
    out = empty((a.shape[0], b.shape[1]), dtype)
    if out.size == 0:
        return out
    if a.shape[1] == 0:
        assign(out, a.dtype.type(0))
        return out
    blocks = [min(-(-length // TILE), 64) for length in (b.shape[1], a.shape[0])]
    _gemm[tuple(blocks), (TILE, TILE)](a, b, out, a.dtype.type(0))
    return out


def matmul(a: Any, b: Any) -> Any:
    """``np.dot`` for 1-d and 2-d device arrays: cuBLAS via CuPy if installed, else the tiled kernel."""
    cupy = _load_cupy()
    if cupy:
        return cuda.as_cuda_array(cupy.matmul(cupy.asarray(a), cupy.asarray(b)))
    a2 = view(a, (1, a.shape[0]), (0, a.strides[0])) if a.ndim == 1 else a
    b2 = view(b, (b.shape[0], 1), (b.strides[0], 0)) if b.ndim == 1 else b
    out = tiled_matmul(a2, b2)
    shape = tuple(a.shape[:-1]) + tuple(b.shape[1:])
    return out if out.ndim == len(shape) else reshape(out, shape)


# ------------------------------------------------------------------------------------------------
# Device versions of codegen.runtime's scalar helpers, compiled from the same Python source


def _device_function(name: str, compiled: dict[str, Any]) -> Any:
    """``codegen.runtime.<name>`` recompiled as a CUDA device function; the runtime helpers it calls
    are replaced by their own device versions."""
    if name not in compiled:
        source = getattr(cpu_runtime, name).py_func
        scope = dict(source.__globals__)
        for helper in source.__code__.co_names:
            if hasattr(getattr(cpu_runtime, helper, None), "py_func"):
                scope[helper] = _device_function(helper, compiled)
        # The closure too: sigmoid and softplus are made by factories over math.exp and math.log1p.
        function = types.FunctionType(source.__code__, scope, name, source.__defaults__, source.__closure__)
        compiled[name] = cuda.jit(device=True)(function)
    return compiled[name]


_compiled: dict[str, Any] = {}
sigmoid = _device_function("sigmoid", _compiled)
softplus = _device_function("softplus", _compiled)
digamma = _device_function("digamma", _compiled)
erfcinv = _device_function("erfcinv", _compiled)
erfinv = _device_function("erfinv", _compiled)


_polygamma_positive = _device_function("_polygamma_positive", _compiled)
_cot_pi = _device_function("_cot_pi", _compiled)


@cuda.jit(device=True)
def trigamma(x):
    """psi'(x), as codegen.runtime.trigamma, whose reflection step allocates (so it cannot run on a GPU):
    here the reflection is psi'(x) = pi^2 (1 + cot(pi x)^2) - psi'(1 - x), from psi'(1 - x) + psi'(x) =
    pi^2 / sin(pi x)^2, with cot(pi x) reduced exactly as on the CPU. Poles give inf."""
    # 0, a negative integer or -inf: a pole (every float beyond 2**52 is an integer, and math.floor needs an int64)
    if x <= 0.0 and (x < -(2.0**52) or x == math.floor(x)):
        return math.inf
    if x < 0.0:
        cot = _cot_pi(x)
        return math.pi * math.pi * (1.0 + cot * cot) - _polygamma_positive(1, 1.0 - x)
    if x != x or x == math.inf:
        return 0.0 if x == math.inf else x
    return _polygamma_positive(1, x)


_COEFFICIENTS = CUDA_POLYGAMMA_MAX_ORDER + 3  # P_n's coefficients, and a spare slot


@cuda.jit(device=True)
def _cot_derivative(n, c):
    """P_n(c), where d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x)), as codegen.runtime._cot_derivative
    computes it (P_{k+1}(c) = -(1 + c^2) P_k'(c), then Horner), but in one local array of fixed size,
    updated in place: the coefficient of c^i becomes -(i + 1) p[i + 1] - (i - 1) p[i - 1]. Orders
    beyond CUDA_POLYGAMMA_MAX_ORDER (which the printer refuses) give nan."""
    if n > CUDA_POLYGAMMA_MAX_ORDER:
        return math.nan
    coeffs = cuda.local.array(_COEFFICIENTS, float64)
    for i in range(n + 3):
        coeffs[i] = 0.0
    coeffs[1] = 1.0
    for _ in range(n):
        below = 0.0  # the old coefficient of c^(i - 1), already replaced
        for i in range(n + 3):
            old = coeffs[i]
            above = coeffs[i + 1] if i + 1 < n + 3 else 0.0
            coeffs[i] = -(i + 1) * above - (i - 1) * below
            below = old
    result = 0.0
    for i in range(n + 1, -1, -1):
        result = result * c + coeffs[i]
    return result


# codegen.runtime.polygamma, compiled for the device with this _cot_derivative in place of the CPU's.
_compiled["_cot_derivative"] = _cot_derivative
polygamma = _device_function("polygamma", _compiled)


@cuda.jit(device=True)
def sign(x):
    """NumPy's sign: -1, 0 or 1 in x's type, and nan for nan (numba.cuda does not type np.sign)."""
    if x > 0:
        return x - x + 1
    if x < 0:
        return x - x - 1
    return x


@cuda.jit(device=True)
def floor(x):
    """NumPy's floor, a float (math.floor gives an int in Numba): inf, nan and huge x stay as they are."""
    return float(math.floor(x)) if abs(x) < 2.0**62 else x


@cuda.jit(device=True)
def ceil(x):
    """NumPy's ceil, a float; inf, nan and huge x stay as they are."""
    return float(math.ceil(x)) if abs(x) < 2.0**62 else x


@cuda.jit(device=True)
def rint(x):
    """NumPy's rint: the nearest integer as a float, ties to even; inf, nan and huge x stay."""
    if not abs(x) < 2.0**52:
        return x
    r = float(math.floor(x + 0.5))
    if r - x == 0.5 and r % 2.0 != 0.0:  # a tie rounded up to an odd integer
        r -= 1.0
    return r


if SIMULATOR:
    from numba.cuda.simulator.cudadrv import devicearray as _devicearray
else:
    from numba.cuda.cudadrv import devicearray as _devicearray


# ------------------------------------------------------------------------------------------------
# Random draws: the CPU's Philox pairs (codegen.runtime.random_pair), one pair per thread step

random_pair = _device_function("random_pair", _compiled)


@cuda.jit(cache=True)
def _random_fill(out, state, kind):
    key, counter, n = state[0], state[1], out.size
    for b in range(cuda.grid(1), (n + 1) // 2, cuda.gridsize(1)):
        first, second = random_pair(kind, key, counter, np.uint64(b))
        out[2 * b] = first
        if 2 * b + 1 < n:
            out[2 * b + 1] = second


def random_draw(shape: Sequence[int], state: Any, kind: int, dtype: str) -> Any:
    """A new device array of ``shape`` filled with the draw of ``kind`` under ``state`` (a device
    uint64 vector [key, counter]): the same numbers as the CPU's ``cpu_steps.random_fill``."""
    out = empty(shape, dtype)
    if out.size:
        _random_fill[grid((out.size + 1) // 2)](reshape(out, (out.size,)), state, kind)
    return out
