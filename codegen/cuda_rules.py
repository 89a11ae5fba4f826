"""CUDA lowering rules: each op that is not fused into a kernel, as driver lines on the device.

The driver runs on the host and keeps values on the device: matrix products go to cuBLAS through
CuPy (or a tiled kernel), views are made from shapes and strides without copying (Numba's device
arrays copy on ``.T`` and refuse most reshapes of views), and integer-array indexing is a generated
kernel (``cuda_indexing``); cumulative ops, argsort, unique and flatnonzero call kernels of
``cuda_runtime``. 0-d values that live on the host (inputs, sizes) stay there. See
``codegen.rules`` for the protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from symgrad.graph import Apply, Variable
from symgrad.ops.alloc import Alloc, ARange
from symgrad.ops.arrays import ArgSort, CumprodGrad, Cumulative, FlatNonzero, Unique
from symgrad.ops.blas import BatchedDot, Dot
from symgrad.ops.debug import Print
from symgrad.ops.indexing import AdvancedIncSubtensor, AdvancedSubtensor, AdvancedSubtensorGrad, IncSubtensor
from symgrad.ops.linalg import (
    LU,
    QR,
    SVD,
    Cholesky,
    Det,
    Eigh,
    Expm,
    Factorization,
    FactorPart,
    MatrixInverse,
    SLogDet,
    Solve,
    SolveTriangular,
    Triangle,
    TriangularProduct,
)
from symgrad.ops.random import RandomDraw
from symgrad.ops.reduce import Argmax
from symgrad.ops.shape import (
    SYMBOLIC,
    DimShuffle,
    Join,
    JoinPiece,
    Reshape,
    ReshapeAs,
    Shape,
    Size,
    SpecifyShape,
    Subtensor,
    SubtensorGrad,
)

from .checks import (
    alloc_checks,
    batched_dot_checks,
    dot_checks,
    join_checks,
    length_text,
    reshape_checks,
    scalar_index_checks,
    specify_shape_lines,
)
from .cuda_indexing import gather, scatter
from .names import shape_text
from .rules import RuleTable
from .runtime import RANDOM_KINDS

if TYPE_CHECKING:
    from .cuda import CudaModulePrinter

CUDA_RULES = RuleTable("cuda")
CUDA_RULES.register(AdvancedSubtensor)(gather)
CUDA_RULES.register(AdvancedSubtensorGrad, AdvancedIncSubtensor)(scatter)
CUDA_RULES.unsupported(Print, why="printing.Print prints host values: debug with device='cpu'")
CUDA_RULES.unsupported(
    QR, SVD, Cholesky, Det, Eigh, Expm, LU, MatrixInverse, SLogDet, Solve, SolveTriangular, Triangle,
    TriangularProduct, Factorization, FactorPart,
    why="linear algebra (T.nlinalg, T.slinalg) runs on the CPU only for now; compile with device='cpu'",
)  # fmt: skip


def _index(p: CudaModulePrinter, index: tuple, scalars: Sequence[Variable]) -> str:
    """A basic index as Python's own objects: ``(slice(1, None, 2), 0)``; symbolic entries from the host."""
    given = iter(scalars)

    def part(item) -> str:
        return p.host_value(next(given)) if item == SYMBOLIC else repr(item)

    items = [f"slice({', '.join(part(i) for i in item)})" if isinstance(item, tuple) else part(item) for item in index]
    return "(" + "".join(item + ", " for item in items) + ")"


@CUDA_RULES.register(Dot)
def _dot(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    a, b = step.inputs
    return dot_checks(p, step) + [f"{out} = rt.matmul({p.names[a]}, {p.names[b]})"]


@CUDA_RULES.register(BatchedDot)
def _batched_dot(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    a, b = step.inputs
    return batched_dot_checks(p, step) + [f"{out} = rt.batched_matmul({p.names[a]}, {p.names[b]})"]


@CUDA_RULES.register(DimShuffle, view=True)
def _dimshuffle(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    return [f"{out} = rt.dimshuffle({p.device_value(step.inputs[0])}, {step.op.new_order!r})"]


@CUDA_RULES.register(Subtensor, view=True)
def _subtensor(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    index = _index(p, step.op.index, step.inputs[1:])
    return scalar_index_checks(p, step) + [f"{out} = rt.subtensor({p.names[step.inputs[0]]}, {index})"]


@CUDA_RULES.register(SubtensorGrad)
def _subtensor_grad(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    source, g, *scalars = step.inputs
    index = _index(p, step.op.index, scalars)
    return scalar_index_checks(p, step) + [
        f"{out} = rt.zeros({p.names[source]}.shape, {step.output.dtype!r})",
        f"rt.assign(rt.subtensor({out}, {index}), {p.names[g]})",
    ]


@CUDA_RULES.register(Reshape, view=True)
def _reshape(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    lengths = [length_text(p, e, step) for e in step.op.shape]
    return reshape_checks(p, step, lengths) + [
        f"{out} = rt.reshape({p.device_value(step.inputs[0])}, {shape_text(lengths)})"
    ]


@CUDA_RULES.register(ReshapeAs, view=True)
def _reshape_as(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    return [f"{out} = rt.reshape({p.device_value(step.inputs[0])}, np.shape({p.names[step.inputs[1]]}))"]


@CUDA_RULES.register(SpecifyShape, view=True)
def _specify_shape(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    if p.is_host(step.inputs[0]):
        p.host.add(id(step.output))
    return specify_shape_lines(p, step, out)


@CUDA_RULES.register(Size)
def _size(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    p.host.add(id(step.output))
    x = p.names[step.inputs[0]]
    return [f"{out} = {' * '.join(f'{x}.shape[{a}]' for a in step.op.axes) or '1'}"]


@CUDA_RULES.register(Shape)
def _shape(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    return [f"{out} = rt.shape_of({p.names[step.inputs[0]]})"]


@CUDA_RULES.register(JoinPiece, view=True)
def _join_piece(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    op, names = step.op, p.names
    lengths = [f"{names[t]}.shape[{op.axis}]" for t in step.inputs[1:]]
    start = " + ".join(lengths[: op.k]) or "0"
    stop = " + ".join(lengths[: op.k + 1])
    return [f"{out} = rt.subtensor({names[step.inputs[0]]}, (slice(None),) * {op.axis} + (slice({start}, {stop}),))"]


@CUDA_RULES.register(Join)
def _join(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    pieces = ", ".join(p.device_value(t) for t in step.inputs)
    return join_checks(p, step) + [f"{out} = rt.concatenate(({pieces},), {step.op.axis})"]


@CUDA_RULES.register(ARange)
def _arange(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    start, stop, step_ = (p.host_value(v) for v in step.inputs)
    return [f"{out} = rt.arange({start}, {stop}, {step_}, {step.output.dtype!r})"]


@CUDA_RULES.register(Alloc)
def _alloc(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    targets = [length_text(p, e, step) for e in step.op.shape]
    value = p.names[step.inputs[0]]
    return alloc_checks(p, step, targets) + [f"{out} = rt.full({shape_text(targets)}, {value}, {step.output.dtype!r})"]


@CUDA_RULES.register(RandomDraw)
def _random_draw(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    op = step.op
    shape = shape_text([length_text(p, e, step) for e in op.shape])
    kind = RANDOM_KINDS[op.distribution, op.dtype]
    return [f"{out} = rt.random_draw({shape}, {p.device_value(step.inputs[0])}, {kind}, {op.dtype!r})"]


@CUDA_RULES.register(Argmax)
def _argmax(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    op = step.op
    return [f"{out} = rt.argmax({p.device_value(step.inputs[0])}, {op.axis!r}, {op.which!r})"]


@CUDA_RULES.register(IncSubtensor)
def _inc_subtensor(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    x, y, *scalars = step.inputs
    region = f"rt.subtensor({out}, {_index(p, step.op.index, scalars)})"
    add = step.op.mode == "inc"
    return scalar_index_checks(p, step) + [
        f"{out} = rt.contiguous({p.names[x]})",
        f"rt.assign({region}, {p.names[y]}, add={add})",
    ]


# The ops along an axis (symgrad/ops/arrays.py): kernels of cuda_runtime, one thread per line along it.


@CUDA_RULES.register(Cumulative)
def _cumulative(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    op = step.op
    return [f"{out} = rt.cumulative({p.device_value(step.inputs[0])}, {op.axis}, {op.mode!r})"]


@CUDA_RULES.register(CumprodGrad)
def _cumprod_grad(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    x, g = (p.device_value(v) for v in step.inputs)
    return [f"{out} = rt.cumprod_grad({x}, {g}, {step.op.axis})"]


@CUDA_RULES.register(ArgSort)
def _argsort(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    return [f"{out} = rt.argsort({p.device_value(step.inputs[0])}, {step.op.axis})"]


@CUDA_RULES.register(Unique)
def _unique(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    return [f"{out} = rt.unique({p.device_value(step.inputs[0])})"]


@CUDA_RULES.register(FlatNonzero)
def _flatnonzero(p: CudaModulePrinter, step: Apply, out: str) -> list[str]:
    return [f"{out} = rt.flatnonzero({p.device_value(step.inputs[0])})"]
