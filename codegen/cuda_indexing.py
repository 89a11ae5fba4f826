"""Integer-array indexing on the GPU: gathers and scatters as generated grid-stride kernels.

``gather`` (``out = x[index]``) and ``scatter`` (the gradient of a gather, ``inc_subtensor`` and
``set_subtensor`` with index arrays) are CUDA lowering rules (see ``cuda_rules``); the module
docstring of ``codegen.cuda`` says how each works: ``cuda.atomic.add`` for adding, the last writer
found with ``cuda.atomic.max`` for writing, index checks on the host or in the kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from symgrad.graph import Apply, Constant, Variable
from symgrad.ops.indexing import AdvancedSubtensorGrad, result_dims

from .checks import advanced_text, checked_indices, index_shape_checks, indexed_lengths
from .errors import built_at
from .names import shape_text
from .scalar_printer import NotSupportedOnDevice

if TYPE_CHECKING:
    from .cuda import CudaModulePrinter

#: The dtypes ``cuda.atomic.add`` takes: what a scatter-add (``inc_subtensor`` with index arrays, the
#: gradient of a gather) can add on the GPU.
ATOMIC_ADD_DTYPES = ("float64", "float32", "int64", "int32", "uint64", "uint32")


def gather(p: CudaModulePrinter, node: Apply, out: str) -> list[str]:
    """``out = x[index]``: a kernel over the elements of the result."""
    names = p.names
    x, *indices = node.inputs
    name = names.numbered("gather")
    lengths = indexed_lengths(node.op.pattern, names[x], indices, names)
    driver, positions, slots = _index_positions(p, node, x, names[x], indices)
    driver += index_shape_checks(p, node, x, indices, None) + [
        f"{out} = rt.empty({shape_text(lengths)}, {node.output.dtype!r})",
        f"{name}[rt.grid({out}.size)]({', '.join(_index_params(p, x, *indices) + [out] + slots)})",
    ]
    region = _region_names(node.op.pattern, max(i.ndim for i in indices))
    store = f"{out}[{', '.join(region) or '()'}] = {names[x]}[{', '.join(f'i{d}' for d in range(x.ndim))}]"
    what = advanced_text(node.op.pattern, x, indices, names)
    params = [*_index_params(p, x, *indices), out]
    p.index_kernel(name, f"{out} = {what}", params + slots, lengths, region, positions + [store])
    return driver


def scatter(p: CudaModulePrinter, node: Apply, out: str) -> list[str]:
    """A copy of ``x`` (or zeros shaped like it) with ``value`` added or written at ``x[index]``:
    a kernel over the indexed elements. Adding uses ``cuda.atomic.add``, so repeated indices add
    up (in an unspecified order); writing keeps NumPy's order, the last repeated index winning,
    through a first kernel that finds each place's last writer (see ``_last_writers``)."""
    names, op = p.names, node.op
    x, value, *indices = node.inputs
    name = names.numbered("scatter")
    adding = isinstance(op, AdvancedSubtensorGrad) or op.mode == "inc"
    if adding and node.output.dtype not in ATOMIC_ADD_DTYPES:
        raise NotSupportedOnDevice(
            f"device='cuda' cannot add {node.output.dtype} values at integer-array indices{built_at(node)}: "
            f"cuda.atomic.add takes {', '.join(ATOMIC_ADD_DTYPES)}; compile this function with device='cpu'"
        )
    what = advanced_text(op.pattern, x, indices, names)
    if isinstance(op, AdvancedSubtensorGrad):
        made = f"{out} = rt.zeros({names[x]}.shape, {node.output.dtype!r})"
        summary = f"{out} = zeros like {names[x]}, with {names[value]} added at {what} (repeated indices add up)"
    else:
        made = f"{out} = rt.contiguous({names[x]})"
        action = "added at" if adding else "written to"
        summary = f"{out} = a copy of {names[x]}, with {names[value]} {action} {what}"
    checks, positions, slots = _index_positions(p, node, x, out, indices)
    driver = index_shape_checks(p, node, x, indices, value) + checks + [made]
    lengths = indexed_lengths(op.pattern, out, indices, names)
    nb = max(i.ndim for i in indices)
    element = _value_element(p, value, op.pattern, nb)
    target = ", ".join(f"i{d}" for d in range(x.ndim))
    params = _index_params(p, value, *indices)
    if adding:
        body = positions + [f"cuda.atomic.add({out}, {target if x.ndim == 1 else f'({target})'}, {element})"]
    elif not value.ndim or all(n == 1 for n in value.type.shape):  # one value: any order gives the same
        body = positions + [f"{out}[{target}] = {element}"]
    else:
        driver += _last_writers(p, node, name, out, indices, positions, slots)
        params.append("winners")
        placed = ", ".join(f"i{d}" for d, is_array in enumerate(op.pattern) if is_array)
        body = positions + [
            f"if winners[{placed}] == {_flat_position(op.pattern, nb)}:  # the last write here, in NumPy's order",
            f"    {out}[{target}] = {element}",
        ]
        summary += " (the last of repeated indices wins)"
    driver.append(f"{name}[rt.grid({' * '.join(lengths) or '1'})]({', '.join(params + [out] + slots)})")
    p.index_kernel(name, summary, params + [out] + slots, lengths, _region_names(op.pattern, nb), body)
    return driver


def _last_writers(
    p: CudaModulePrinter,
    node: Apply,
    name: str,
    out: str,
    indices: list[Variable],
    positions: list[str],
    slots: list[str],
) -> list[str]:
    """Driver lines and a kernel finding, for each place a write reaches, the last position of the
    index arrays (in C order) that writes it: ``winners``, -1 where none does."""
    names, op = p.names, node.op
    nb = max(i.ndim for i in indices)
    placed = [d for d, is_array in enumerate(op.pattern) if is_array]
    shape = shape_text([f"{out}.shape[{d}]" for d in placed])
    lengths = [length for length, (kind_, _) in zip(indexed_lengths(op.pattern, out, indices, names),
                                                     result_dims(op.pattern, nb)) if kind_ == "b"]  # fmt: skip
    params = _index_params(p, *indices)
    target = ", ".join(f"i{d}" for d in placed)
    p.index_kernel(
        f"{name}_last",
        f"winners: for each place of {out} that {name} writes, the last position of the index arrays writing it",
        [*params, out, "winners", *slots],
        lengths,
        [f"j{k}" for k in range(nb)],
        positions + [f"cuda.atomic.max(winners, {target if len(placed) == 1 else f'({target})'}, flat)"],
    )
    return [
        f"winners = rt.full({shape}, -1, 'int64')",
        f"{name}_last[rt.grid({' * '.join(lengths) or '1'})]({', '.join(params + [out, 'winners'] + slots)})",
    ]


def _index_params(p: CudaModulePrinter, *variables: Variable) -> list[str]:
    """Kernel arguments: each variable once, by its driver name (0-d host values pass by value)."""
    return list(dict.fromkeys(p.names[v] for v in variables))


def _index_positions(
    p: CudaModulePrinter, node: Apply, x: Variable, x_text: str, indices: list[Variable]
) -> tuple[list[str], list[str], list[str]]:
    """For a gather or scatter: driver lines checking the indices known on the host, kernel lines
    setting ``i<d>`` for each indexed dim ``d`` of ``x`` (``x_text`` has its shape) from the index
    arrays at the current point, and the status argument when the kernel checks indices itself.

    Host scalars are checked in the driver before the launch, constants against their least and
    greatest entries (known now); index arrays on the device are checked by the kernel, which
    skips an entry out of bounds and sets its slot of ``status``, read back by ``status_check``.
    """
    names, op = p.names, node.op
    what = advanced_text(op.pattern, x, indices, names)
    nb = max(i.ndim for i in indices)
    checked = {d for d, _ in checked_indices(op.pattern, x, indices)}
    driver: list[str] = []
    kernel: list[str] = []
    device = False
    for d, index in zip([d for d, is_array in enumerate(op.pattern) if is_array], indices):
        i, length, host_length = names[index], f"{x_text}.shape[{d}]", f"{names[x]}.shape[{d}]"
        if index.ndim:
            where = ", ".join("0" if n == 1 else f"j{nb - index.ndim + e}" for e, n in enumerate(index.type.shape))
            entry = f"{i}[{where}]"
        else:
            entry = i if p.is_host(index) else f"{i}[()]"
        kernel += [f"i{d} = int({entry})", f"if i{d} < 0:", f"    i{d} += {length}"]
        if d not in checked:
            continue
        if isinstance(index, Constant) or p.is_host(index):
            if isinstance(index, Constant):
                if not index.data.size:
                    continue
                low, high = int(index.data.min()), int(index.data.max())
                condition, values = f"{low} < -{host_length} or {high} >= {host_length}", f"{i}_host"
            else:
                condition, values = f"not -{host_length} <= {i} < {host_length}", i
            error = f"index_out_of_bounds({what!r}, {p.where(node)}, {i!r}, {values}, {d}, {host_length})"
            driver += [f"if {condition}:", f"    raise {error}"]
        else:
            slot = len(p.slots)
            p.slots.append((what, p.where(node), i, d, host_length))
            kernel += [f"if not 0 <= i{d} < {length}:", f"    status[{slot}] = 1  # {i}: out of bounds"]
            kernel.append("    continue")
            device = True
    p.pending = p.pending or device
    return driver, kernel, ["status"] if device else []


def _value_element(p: CudaModulePrinter, value: Variable, pattern: tuple[bool, ...], nb: int) -> str:
    """The element of ``value`` (broadcast to the indexed region, right-aligned) at this point."""
    if not value.ndim:
        return p.names[value] if p.is_host(value) else f"{p.names[value]}[()]"
    dims = result_dims(pattern, nb)
    where = [
        "0" if n == 1 else (f"j{k}" if kind_ == "b" else f"i{k}")
        for n, (kind_, k) in zip(value.type.shape, dims[len(dims) - value.ndim :])
    ]
    return f"{p.names[value]}[{', '.join(where)}]"


def _region_names(pattern: tuple[bool, ...], nb: int) -> list[str]:
    """The loop indices over ``x[index]``, by its dims: ``j<k>`` for dim k of the broadcast index
    arrays, ``i<d>`` for a sliced dim d of ``x``."""
    return [f"j{k}" if kind_ == "b" else f"i{k}" for kind_, k in result_dims(pattern, nb)]


def _flat_position(pattern: tuple[bool, ...], nb: int) -> str:
    """The flat position (C order) in the broadcast index arrays at the point ``j0, j1, ...`` of a
    region whose lengths are ``n0, n1, ...``."""
    lengths = [f"n{q}" for q, (kind_, _) in enumerate(result_dims(pattern, nb)) if kind_ == "b"]
    text = "j0" if nb else "0"
    for k in range(1, nb):
        text = f"{text if k == 1 else f'({text})'} * {lengths[k]} + j{k}"
    return text
