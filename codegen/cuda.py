"""CUDA code generation: the same :class:`~codegen.lower.Program` as the CPU's, printed for ``numba.cuda``.

The lowering is shared (DESIGN.md, principle 6): a kernel is the same fused loop nest on both
backends, with the same leaves, results, bindings and scalar code (``cpu.kernel_body``, printed by
:class:`~codegen.scalar_printer.CudaPrinter`). Only the shape of the loops and how they are launched
differ:

- **Elementwise kernels** are one flat grid-stride loop over the output's elements; the flat index
  is unravelled into the loop indices ``i0, i1, ...`` that the shared body reads with. Launch
  configuration (blocks, threads) comes from ``cuda_runtime.grid``, from the device's properties.
- **Reductions** (with any ``axis``, fused with the expression they reduce and with elementwise
  results over the same loop nest) run in two passes. The first kernel gives each kept element
  ``splits`` blocks; each thread accumulates an interleaved share of the reduced elements, then the
  block combines its threads' values in a shared-memory tree and writes one partial result. The
  second kernel (``<name>_finish``) combines the partial results in order and casts them. Both
  passes add in a fixed order, so results are the same from run to run.
- **Driver steps** (matrix products, views, joins, ...) call ``codegen.cuda_runtime`` (imported as
  ``rt``): cuBLAS through CuPy or a tiled kernel for ``dot``, views built without copying.
- **Integer-array indexing** is a generated grid-stride kernel over the indexed region (the broadcast
  index arrays' dims ``j0, j1, ...`` and the sliced dims of ``x``): ``gather<n>`` reads ``x[index]``;
  ``scatter<n>`` adds ``cuda.atomic.add`` by element into a copy of ``x`` (or zeros, for the gradient
  of a gather), so repeated indices add up, in no fixed order; ``set_subtensor`` writes, and where
  the written values differ a first kernel ``scatter<n>_last`` finds each place's last writer
  (``cuda.atomic.max`` of the position in the index arrays), so the last of repeated indices wins
  as on the CPU and in NumPy. Negative indices wrap. Index checks raise the CPU's ``IndexError``:
  host scalars and constants are checked on the host before the launch; index arrays on the device
  are checked by the kernels, which skip an entry out of bounds and set a flag in a small ``status``
  array. The driver reads that array back (``status_check``, a few bytes) at the end of the call,
  after the outputs' copy, which waits for the kernels anyway (a call keeping its outputs on the
  device waits there), and, when an index check comes before a kernel that writes a shared variable
  in place, before that kernel too, so that a call failing on an index leaves the shared variables
  as they were, as on the CPU. No launch is followed by its own wait.
- **ifelse** is decided on the host: a condition computed by a kernel is one scalar copied back
  from the device (a host scalar input costs nothing); only the taken branch's steps run.
- **Map** (the rows of ``T.jacobian`` and ``T.hessian``) is a ``for`` loop on the host, as on the
  CPU; each row's steps run on the device and the row is copied into its place in the result.

Values stay on the device for the whole call: inputs are converted once on entry (NumPy arrays are
copied to the device, device arrays are used as they are), shared variables keep a device copy
between calls and their updates are written there, and outputs are copied back only at the end
(or not at all, with ``return_device_arrays=True``). 0-d inputs and sizes stay host scalars, passed
to kernels by value; 0-d results of kernels are 0-d device arrays.

What the GPU cannot run raises :class:`NotSupportedOnDevice` when the module is generated, naming
the op: polygamma beyond order 40, adding values of a dtype ``cuda.atomic.add`` lacks (int8, int16,
bool) at integer-array indices, an op with no CUDA lowering.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from symgrad.graph import Apply, Constant, Variable
from symgrad.ops import shape as shape_ops
from symgrad.ops.alloc import Alloc, ARange
from symgrad.ops.blas import Dot
from symgrad.ops.indexing import AdvancedSubtensor, AdvancedSubtensorGrad, IncSubtensor, result_dims
from symgrad.ops.reduce import Argmax

from .cpu import (
    SCATTER_OPS,
    Names,
    _acc_dtype,
    _accumulate,
    _advanced_text,
    _constant_text,
    _identity,
    _lines_specify_shape,
    _scalar_index_checks,
    _shape_text,
    _where,
    alloc_checks,
    checked_indices,
    describe,
    dot_checks,
    entry_head,
    index_shape_checks,
    indexed_lengths,
    join_checks,
    kernel_body,
    kernel_checks,
    leaf_index,
    module_header,
    module_names,
    module_text,
    np_dtype,
    output_aliases,
)
from .lower import Branch, Kernel, Loop, Program, Step, walk
from .scalar_printer import CudaPrinter, NotSupportedOnDevice

#: The dtypes ``cuda.atomic.add`` takes: what a scatter-add (``inc_subtensor`` with index arrays, the
#: gradient of a gather) can add on the GPU.
ATOMIC_ADD_DTYPES = ("float64", "float32", "int64", "int32", "uint64", "uint32")


def require_device() -> str:
    """The CUDA device's description (for the cache key), or a clear error when there is none."""
    if importlib.util.find_spec("numba_cuda") is None:
        raise RuntimeError(
            "device='cuda' needs the numba-cuda package, which is not installed: pip install 'symgrad[cuda]' "
            "(and cupy-cuda12x for cuBLAS matrix products)"
        )
    from numba import cuda

    if not cuda.is_available():
        raise RuntimeError(
            "device='cuda': no CUDA GPU is available here (numba.cuda.is_available() is False: no NVIDIA GPU, "
            "or no working driver). To run CUDA code without a GPU, use Numba's CUDA simulator: set "
            "NUMBA_ENABLE_CUDASIM=1 in the environment before Python starts (before Numba is imported); it runs "
            "kernels as Python, a few thousand elements per second, which suits tests. Or use device='cpu'."
        )
    from .cuda_runtime import device_description

    return device_description()


class _Printer:
    """Prints one program's kernels and driver lines; holds what they share (names, printer, host scalars)."""

    def __init__(self, names: Names, printer: CudaPrinter, host: set[int]) -> None:
        self.names = names
        self.printer = printer
        # 0-d values that live on the host (inputs, sizes, constants): kernels take them by value.
        self.host = host
        self.kernels: list[str] = []
        # Index arrays checked on the device: (what, where, index, dim, length) per slot of the
        # ``status`` array that kernels set; ``pending``: a kernel may have set one since the last check.
        self.slots: list[tuple[str, str, str, int, str]] = []
        self.pending = False

    # --- values ---------------------------------------------------------------------------------
    def is_host(self, var: Variable) -> bool:
        return var.ndim == 0 and id(var) in self.host

    def host_value(self, var: Variable) -> str:
        """Text giving ``var``'s value on the host: a scalar of a kernel's 0-d result is copied back."""
        name = self.names[var]
        return name if self.is_host(var) else f"rt.to_host({name})[()]"

    def device_value(self, var: Variable) -> str:
        """Text giving ``var`` as a device array (a host scalar is copied to the device)."""
        name = self.names[var]
        return f"rt.to_device(np.asarray({name}, dtype={np_dtype(var.dtype)}))" if self.is_host(var) else name

    def length(self, k: Kernel, dim: int) -> str:
        """Loop dim ``dim``'s length, from an array that has it (the same text in kernels and driver)."""
        sources = k.dim_sources(dim)
        return f"{self.names[sources[0][0]]}.shape[{sources[0][1]}]" if sources and not k.broadcastable[dim] else "1"

    # --- steps ----------------------------------------------------------------------------------
    def steps(self, steps: list[Step]) -> list[str]:
        driver: list[str] = []
        for step in steps:
            if isinstance(step, Kernel):
                if self.pending and any(r.target is not None for r in step.results):
                    # A kernel about to write a shared variable in place: an index out of bounds
                    # must raise before it, as on the CPU, not leave the variable half updated.
                    driver += self.status_check()
                driver += kernel_checks(step, self.names) + self.launch(step)
                self.kernels += self.kernel(step)
            elif isinstance(step, Branch):
                driver += self.branch(step)
            elif isinstance(step, Loop):
                driver += self.loop(step)
            elif isinstance(step.op, AdvancedSubtensor):
                driver += self.gather(step)
            elif isinstance(step.op, SCATTER_OPS):
                driver += self.scatter(step)
            else:
                driver += self.apply(step)
        return driver

    def branch(self, branch: Branch) -> list[str]:
        """An ifelse, decided on the host: a condition computed by a kernel is one scalar copied back
        from the device; then only the taken side's steps run."""
        names = self.names
        condition, then, otherwise = branch.node.inputs
        out = names.add(branch.node.output)
        before = self.pending
        then_lines = self.steps(branch.then_steps)
        then_pending, self.pending = self.pending, before
        else_lines = self.steps(branch.else_steps)
        self.pending = self.pending or then_pending
        if self.is_host(then) and self.is_host(otherwise):
            self.host.add(id(branch.node.output))
            values = names[then], names[otherwise]
        else:
            values = self.device_value(then), self.device_value(otherwise)
        note = "" if self.is_host(condition) else "  # one scalar copied back from the device"
        return [
            f"if {self.host_value(condition)}:{note}",
            *("    " + line for line in then_lines),
            f"    {out} = {values[0]}",
            "else:",
            *("    " + line for line in else_lines),
            f"    {out} = {values[1]}",
        ]

    def loop(self, loop: Loop) -> list[str]:
        """A Map as a ``for`` loop on the host: each row's steps run on the device, and the row is
        copied into its place in the result (allocated first, so zero rows keep the row shape)."""
        names, op = self.names, loop.node.op
        n, like = loop.inputs[:2]
        for placeholder, value in loop.bound:
            names.alias(placeholder, value)  # the body reads the outer values under their own names
            if self.is_host(value):
                self.host.add(id(placeholder))
        i, out = names.add(op.index), names.add(loop.output)
        self.host.add(id(op.index))
        lines = []
        rows = names[n]
        if not self.is_host(n):
            rows = names.fresh(f"{names[n]}_rows")
            lines.append(f"{rows} = {self.host_value(n)}")
        body = self.steps(loop.body.steps)
        return lines + [
            f"# {out}[{i}] for each {i} < {rows}; what does not depend on {i} is computed above, once",
            f"{out} = rt.empty(({rows},) + np.shape({names[like]}), {loop.output.dtype!r})",
            f"for {i} in range({rows}):",
            *("    " + line for line in body),
            f"    rt.assign(rt.subtensor({out}, ({i},)), {names[loop.row]})",
        ]

    def launch(self, k: Kernel) -> list[str]:
        """Driver lines: allocate the results, launch the kernel (and the reduction's second pass)."""
        names = self.names
        shape = [self.length(k, d) for d in range(k.ndim)]
        kept = [d for d in range(k.ndim) if d not in k.axes]
        args = [names[v] for v in k.params]
        lines = []
        for r in k.results:
            if r.target is None and r.reduction is None:
                args.append(names.add(r.var))
                lines.append(f"{names[r.var]} = rt.empty({_shape_text(shape)}, {r.var.dtype!r})")
        if not k.axes:
            launch = "1, 1" if k.ndim == 0 else f"rt.grid({' * '.join(shape)})"
            return lines + [f"{k.name}[{launch}]({', '.join(args)})"]
        n_kept = " * ".join(shape[d] for d in kept) or "1"
        n_reduced = " * ".join(shape[d] for d in k.axes)
        if any(r.reduction in ("max", "min") for r in k.results):
            lines += [f"if {n_reduced} == 0:", "    raise ValueError('max or min of an empty array has no identity')"]
        lines.append(f"splits, blocks, threads = rt.reduce_grid({n_kept}, {n_reduced})")
        partials, finals = [], []
        for j, r in enumerate(k.results):
            if r.reduction:
                partials.append(f"partial{j}")
                lines.append(f"partial{j} = rt.empty((splits, {n_kept}), {_acc_dtype(r)!r})")
                finals.append(names.add(r.var))
                lines.append(f"{finals[-1]} = rt.empty({_shape_text([shape[d] for d in kept])}, {r.var.dtype!r})")
        lines.append(f"{k.name}[blocks, threads]({', '.join(args + partials)}, splits)")
        lines.append(f"{k.name}_finish[rt.grid({n_kept})]({', '.join(partials + finals)})")
        return lines

    def kernel(self, k: Kernel) -> list[str]:
        """The kernel's text (two kernels for a reduction: the block-level pass and the finish)."""
        names = self.names
        access = {}
        for leaf in k.leaves:
            name = names[leaf.var]
            if leaf.var.ndim:
                access[leaf.symbol] = f"{name}[{leaf_index(leaf)}]"
            else:
                access[leaf.symbol] = name if self.is_host(leaf.var) else f"{name}[()]"
        body, values = kernel_body(k, access, self.printer, self.names)
        if any(r.target is not None for r in k.results):
            # A result written over one of its own inputs: compute every value of this point before
            # the first store, so no expression reads an element already overwritten.
            body += [f"r{j} = {value}" for j, value in enumerate(values)]
            values = [f"r{j}" for j in range(len(values))]
        full_index = ", ".join(f"i{d}" for d in range(k.ndim)) or "()"
        stores, outs, partials = [], [], []
        for j, (r, value) in enumerate(zip(k.results, values)):
            if r.target is not None:
                stores.append(f"{names[r.target]}[{full_index}] = {value}")
            elif r.reduction is None:
                outs.append(f"out{j}")
                stores.append(f"out{j}[{full_index}] = {value}")
            else:
                partials.append(f"partial{j}")
                stores += _accumulate(r.reduction, f"acc{j}", value)
        params = [names[v] for v in k.params] + outs
        lines = [f"def {k.name}({', '.join(params + partials + (['splits'] if k.axes else []))}):"]
        lines.append(f'    """{describe(k, names)}"""')
        lines += [f"    n{d} = {self.length(k, d)}" for d in range(k.ndim)]
        if not k.axes:
            if k.ndim == 0:
                lines += ["    if cuda.grid(1) == 0:", *("        " + line for line in body + stores)]
            else:
                total = " * ".join(f"n{d}" for d in range(k.ndim))
                lines.append(f"    for flat in range(cuda.grid(1), {total}, cuda.gridsize(1)):")
                lines += ["        " + line for line in _unravel("flat", range(k.ndim), k) + body + stores]
            return [_jit(lines)]
        return [_jit(lines + self._reduction_loops(k, body, stores)), self._finish(k)]

    def _reduction_loops(self, k: Kernel, body: list[str], stores: list[str]) -> list[str]:
        """Blocks over (kept element, split) pairs; threads over the reduced elements; then the tree."""
        reduced = [(j, r) for j, r in enumerate(k.results) if r.reduction]
        kept = [d for d in range(k.ndim) if d not in k.axes]
        n_kept = " * ".join(f"n{d}" for d in kept) or "1"
        n_reduced = " * ".join(f"n{d}" for d in k.axes)
        lines = ["    thread = cuda.threadIdx.x", "    threads = cuda.blockDim.x"]
        lines += [f"    shared{j} = cuda.shared.array(REDUCE_THREADS, {np_dtype(_acc_dtype(r))})" for j, r in reduced]
        lines += [
            f"    for block in range(cuda.blockIdx.x, {n_kept + ' * ' if kept else ''}splits, cuda.gridDim.x):",
            "        kept = block // splits",
            "        part = block % splits",
        ]
        lines += ["        " + line for line in _unravel("kept", kept, k)]
        lines += [f"        acc{j} = {_identity(r.reduction, _acc_dtype(r))}" for j, r in reduced]
        lines.append(f"        for flat in range(part * threads + thread, {n_reduced}, splits * threads):")
        lines += ["            " + line for line in _unravel("flat", k.axes, k) + body + stores]
        tree = ["if threads > 1:  # the same for every thread of the block, so all reach each syncthreads"]
        tree += [f"    shared{j}[thread] = acc{j}" for j, _ in reduced]
        tree += [
            "    cuda.syncthreads()",
            "    stride = threads // 2",
            "    while stride > 0:",
            "        if thread < stride:",
        ]
        for j, r in reduced:
            tree += [
                "            " + line
                for line in _accumulate(r.reduction, f"shared{j}[thread]", f"shared{j}[thread + stride]")
            ]
        tree += ["        cuda.syncthreads()", "        stride //= 2"]
        tree += [f"    acc{j} = shared{j}[0]" for j, _ in reduced]
        tree += ["if thread == 0:"] + [f"    partial{j}[part, kept] = acc{j}" for j, _ in reduced]
        return lines + ["        " + line for line in tree]

    def _finish(self, k: Kernel) -> str:
        """The second pass: combine each kept element's partial results in order, cast, store."""
        reduced = [(j, r) for j, r in enumerate(k.results) if r.reduction]
        kept = [d for d in range(k.ndim) if d not in k.axes]
        first = f"partial{reduced[0][0]}"
        params = [f"partial{j}" for j, _ in reduced] + [f"out{j}" for j, _ in reduced]
        lines = [f"def {k.name}_finish({', '.join(params)}):"]
        lines.append(f'    """The second pass of {k.name}: each result from its blocks\' partial results, in order."""')
        out = f"out{reduced[0][0]}"
        lines += [f"    n{d} = {out}.shape[{position}]" for position, d in enumerate(kept)]
        lines.append(f"    for kept in range(cuda.grid(1), {first}.shape[1], cuda.gridsize(1)):")
        lines += ["        " + line for line in _unravel("kept", kept, k)]
        lines += [f"        acc{j} = partial{j}[0, kept]" for j, _ in reduced]
        lines.append(f"        for part in range(1, {first}.shape[0]):")
        for j, r in reduced:
            lines += ["            " + line for line in _accumulate(r.reduction, f"acc{j}", f"partial{j}[part, kept]")]
        index = ", ".join(f"i{d}" for d in kept) or "()"
        lines += [f"        out{j}[{index}] = acc{j}" for j, _ in reduced]
        return _jit(lines)

    # --- driver steps ---------------------------------------------------------------------------
    def apply(self, step: Apply) -> list[str]:
        names, op = self.names, step.op
        out = names.add(step.output)
        x = names[step.inputs[0]] if step.inputs else ""
        if isinstance(op, Dot):
            a, b = step.inputs
            return dot_checks(step, names) + [f"{out} = rt.matmul({names[a]}, {names[b]})"]
        if isinstance(op, shape_ops.DimShuffle):
            return [f"{out} = rt.dimshuffle({self.device_value(step.inputs[0])}, {op.new_order!r})"]
        if isinstance(op, shape_ops.Subtensor):
            index = self._index(op.index, step.inputs[1:])
            return _scalar_index_checks(step, names) + [f"{out} = rt.subtensor({x}, {index})"]
        if isinstance(op, shape_ops.SubtensorGrad):
            source, g, *scalars = step.inputs
            index = self._index(op.index, scalars)
            return _scalar_index_checks(step, names) + [
                f"{out} = rt.zeros({names[source]}.shape, {step.output.dtype!r})",
                f"rt.assign(rt.subtensor({out}, {index}), {names[g]})",
            ]
        if isinstance(op, shape_ops.Reshape):
            lengths = _shape_text([self._length(e, step) for e in op.shape])
            return [f"{out} = rt.reshape({self.device_value(step.inputs[0])}, {lengths})"]
        if isinstance(op, shape_ops.ReshapeAs):
            return [f"{out} = rt.reshape({self.device_value(step.inputs[0])}, np.shape({names[step.inputs[1]]}))"]
        if isinstance(op, shape_ops.SpecifyShape):
            if self.is_host(step.inputs[0]):
                self.host.add(id(step.output))
            return _lines_specify_shape(step, names, out)
        if isinstance(op, shape_ops.Size):
            self.host.add(id(step.output))
            return [f"{out} = {' * '.join(f'{x}.shape[{a}]' for a in op.axes) or '1'}"]
        if isinstance(op, shape_ops.Shape):
            return [f"{out} = rt.shape_of({x})"]
        if isinstance(op, shape_ops.JoinPiece):
            lengths = [f"{names[t]}.shape[{op.axis}]" for t in step.inputs[1:]]
            start = " + ".join(lengths[: op.k]) or "0"
            stop = " + ".join(lengths[: op.k + 1])
            return [f"{out} = rt.subtensor({x}, (slice(None),) * {op.axis} + (slice({start}, {stop}),))"]
        if isinstance(op, shape_ops.Join):
            pieces = ", ".join(self.device_value(t) for t in step.inputs)
            return join_checks(step, names) + [f"{out} = rt.concatenate(({pieces},), {op.axis})"]
        if isinstance(op, ARange):
            start, stop, step_ = (self.host_value(v) for v in step.inputs)
            return [f"{out} = rt.arange({start}, {stop}, {step_}, {step.output.dtype!r})"]
        if isinstance(op, Alloc):
            targets = [self._length(e, step) for e in op.shape]
            return alloc_checks(step, names, targets) + [
                f"{out} = rt.full({_shape_text(targets)}, {x}, {step.output.dtype!r})"
            ]
        if isinstance(op, Argmax):
            return [f"{out} = rt.argmax({self.device_value(step.inputs[0])}, {op.axis!r}, {op.which!r})"]
        if isinstance(op, IncSubtensor):
            return self._inc_subtensor(step, out)
        raise NotSupportedOnDevice(f"device='cuda' cannot run {op}{_where(step)} yet; compile with device='cpu'")

    def _index(self, index: tuple, scalars: Sequence[Variable]) -> str:
        """A basic index as Python's own objects: ``(slice(1, None, 2), 0)``; symbolic entries from the host."""
        given = iter(scalars)

        def part(p) -> str:
            return self.host_value(next(given)) if p == shape_ops.SYMBOLIC else repr(p)

        items = [
            f"slice({', '.join(part(p) for p in item)})" if isinstance(item, tuple) else part(item) for item in index
        ]
        return "(" + "".join(item + ", " for item in items) + ")"

    def _length(self, entry: int | tuple, node: Apply) -> str:
        """A Reshape/Alloc shape entry: an int, ``('dim', k)`` of the first input, or ``('arg', j)``."""
        if isinstance(entry, tuple):
            kind_, k = entry
            if kind_ == "dim":
                return f"{self.names[node.inputs[0]]}.shape[{k}]"
            return self.host_value(node.inputs[1 + k])
        return str(entry)

    def _inc_subtensor(self, step: Apply, out: str) -> list[str]:
        x, y = step.inputs
        region = f"rt.subtensor({out}, {self._index(step.op.index, ())})"
        add = step.op.mode == "inc"
        return [f"{out} = rt.contiguous({self.names[x]})", f"rt.assign({region}, {self.names[y]}, add={add})"]

    # --- integer-array indexing: gathers and scatters as generated kernels ----------------------
    def gather(self, node: Apply) -> list[str]:
        """``out = x[index]``: a kernel over the elements of the result."""
        names = self.names
        x, *indices = node.inputs
        out = names.add(node.output)
        name = names.numbered("gather")
        lengths = indexed_lengths(node.op.pattern, names[x], indices, names)
        driver, positions, slots = self._index_positions(node, x, names[x], indices)
        driver += index_shape_checks(node, names, x, indices, None) + [
            f"{out} = rt.empty({_shape_text(lengths)}, {node.output.dtype!r})",
            f"{name}[rt.grid({out}.size)]({', '.join(self._index_params(x, *indices) + [out] + slots)})",
        ]
        region = _region_names(node.op.pattern, max(i.ndim for i in indices))
        store = f"{out}[{', '.join(region) or '()'}] = {names[x]}[{', '.join(f'i{d}' for d in range(x.ndim))}]"
        what = _advanced_text(node.op.pattern, x, indices, names)
        params = [*self._index_params(x, *indices), out]
        self._index_kernel(name, f"{out} = {what}", params + slots, lengths, region, positions + [store])
        return driver

    def scatter(self, node: Apply) -> list[str]:
        """A copy of ``x`` (or zeros shaped like it) with ``value`` added or written at ``x[index]``:
        a kernel over the indexed elements. Adding uses ``cuda.atomic.add``, so repeated indices add
        up (in an unspecified order); writing keeps NumPy's order, the last repeated index winning,
        through a first kernel that finds each place's last writer (see ``_last_writers``)."""
        names, op = self.names, node.op
        x, value, *indices = node.inputs
        out = names.add(node.output)
        name = names.numbered("scatter")
        adding = isinstance(op, AdvancedSubtensorGrad) or op.mode == "inc"
        if adding and node.output.dtype not in ATOMIC_ADD_DTYPES:
            raise NotSupportedOnDevice(
                f"device='cuda' cannot add {node.output.dtype} values at integer-array indices{_where(node)}: "
                f"cuda.atomic.add takes {', '.join(ATOMIC_ADD_DTYPES)}; compile this function with device='cpu'"
            )
        what = _advanced_text(op.pattern, x, indices, names)
        if isinstance(op, AdvancedSubtensorGrad):
            made = f"{out} = rt.zeros({names[x]}.shape, {node.output.dtype!r})"
            summary = f"{out} = zeros like {names[x]}, with {names[value]} added at {what} (repeated indices add up)"
        else:
            made = f"{out} = rt.contiguous({names[x]})"
            action = "added at" if adding else "written to"
            summary = f"{out} = a copy of {names[x]}, with {names[value]} {action} {what}"
        checks, positions, slots = self._index_positions(node, x, out, indices)
        driver = index_shape_checks(node, names, x, indices, value) + checks + [made]
        lengths = indexed_lengths(op.pattern, out, indices, names)
        nb = max(i.ndim for i in indices)
        element = self._value_element(value, op.pattern, nb)
        target = ", ".join(f"i{d}" for d in range(x.ndim))
        params = self._index_params(value, *indices)
        if adding:
            body = positions + [f"cuda.atomic.add({out}, {target if x.ndim == 1 else f'({target})'}, {element})"]
        elif not value.ndim or all(n == 1 for n in value.type.shape):  # one value: any order gives the same
            body = positions + [f"{out}[{target}] = {element}"]
        else:
            driver += self._last_writers(node, name, out, indices, positions, slots)
            params.append("winners")
            placed = ", ".join(f"i{d}" for d, is_array in enumerate(op.pattern) if is_array)
            body = positions + [
                f"if winners[{placed}] == {_flat_position(op.pattern, nb)}:  # the last write here, in NumPy's order",
                f"    {out}[{target}] = {element}",
            ]
            summary += " (the last of repeated indices wins)"
        driver.append(f"{name}[rt.grid({' * '.join(lengths) or '1'})]({', '.join(params + [out] + slots)})")
        self._index_kernel(name, summary, params + [out] + slots, lengths, _region_names(op.pattern, nb), body)
        return driver

    def _last_writers(
        self, node: Apply, name: str, out: str, indices: list[Variable], positions: list[str], slots: list[str]
    ) -> list[str]:
        """Driver lines and a kernel finding, for each place a write reaches, the last position of the
        index arrays (in C order) that writes it: ``winners``, -1 where none does."""
        names, op = self.names, node.op
        nb = max(i.ndim for i in indices)
        placed = [d for d, is_array in enumerate(op.pattern) if is_array]
        shape = _shape_text([f"{out}.shape[{d}]" for d in placed])
        lengths = [length for length, (kind_, _) in zip(indexed_lengths(op.pattern, out, indices, names),
                                                         result_dims(op.pattern, nb)) if kind_ == "b"]  # fmt: skip
        params = self._index_params(*indices)
        target = ", ".join(f"i{d}" for d in placed)
        self._index_kernel(
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

    def _index_params(self, *variables: Variable) -> list[str]:
        """Kernel arguments: each variable once, by its driver name (0-d host values pass by value)."""
        return list(dict.fromkeys(self.names[v] for v in variables))

    def _index_positions(
        self, node: Apply, x: Variable, x_text: str, indices: list[Variable]
    ) -> tuple[list[str], list[str], list[str]]:
        """For a gather or scatter: driver lines checking the indices known on the host, kernel lines
        setting ``i<d>`` for each indexed dim ``d`` of ``x`` (``x_text`` has its shape) from the index
        arrays at the current point, and the status argument when the kernel checks indices itself.

        Host scalars are checked in the driver before the launch, constants against their least and
        greatest entries (known now); index arrays on the device are checked by the kernel, which
        skips an entry out of bounds and sets its slot of ``status``, read back by ``status_check``.
        """
        names, op = self.names, node.op
        what = _advanced_text(op.pattern, x, indices, names)
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
                entry = i if self.is_host(index) else f"{i}[()]"
            kernel += [f"i{d} = int({entry})", f"if i{d} < 0:", f"    i{d} += {length}"]
            if d not in checked:
                continue
            if isinstance(index, Constant) or self.is_host(index):
                if isinstance(index, Constant):
                    if not index.data.size:
                        continue
                    low, high = int(index.data.min()), int(index.data.max())
                    condition, values = f"{low} < -{host_length} or {high} >= {host_length}", f"{i}_host"
                else:
                    condition, values = f"not -{host_length} <= {i} < {host_length}", i
                error = f"index_out_of_bounds({what!r}, {_where(node)!r}, {i!r}, {values}, {d}, {host_length})"
                driver += [f"if {condition}:", f"    raise {error}"]
            else:
                slot = len(self.slots)
                self.slots.append((what, _where(node), i, d, host_length))
                kernel += [f"if not 0 <= i{d} < {length}:", f"    status[{slot}] = 1  # {i}: out of bounds"]
                kernel.append("    continue")
                device = True
        self.pending = self.pending or device
        return driver, kernel, ["status"] if device else []

    def _value_element(self, value: Variable, pattern: tuple[bool, ...], nb: int) -> str:
        """The element of ``value`` (broadcast to the indexed region, right-aligned) at this point."""
        if not value.ndim:
            return self.names[value] if self.is_host(value) else f"{self.names[value]}[()]"
        dims = result_dims(pattern, nb)
        where = [
            "0" if n == 1 else (f"j{k}" if kind_ == "b" else f"i{k}")
            for n, (kind_, k) in zip(value.type.shape, dims[len(dims) - value.ndim :])
        ]
        return f"{self.names[value]}[{', '.join(where)}]"

    def _index_kernel(
        self, name: str, summary: str, params: list[str], lengths: list[str], indices: list[str], body: list[str]
    ) -> None:
        """A grid-stride kernel over a region of ``lengths`` (named ``n0, n1, ...`` in it): the flat
        position ``flat`` is unravelled into ``indices``, then ``body`` runs."""
        lines = [f"def {name}({', '.join(params)}):", f'    """{summary}"""']
        lines += [f"    n{q} = {length}" for q, length in enumerate(lengths)]
        total = " * ".join(f"n{q}" for q in range(len(lengths))) or "1"
        lines.append(f"    for flat in range(cuda.grid(1), {total}, cuda.gridsize(1)):")
        lengths_names = [f"n{q}" for q in range(len(lengths))]
        lines += ["        " + line for line in unravel("flat", indices, lengths_names) + body]
        self.kernels.append(_jit(lines))

    def status_check(self) -> list[str]:
        """Driver lines reading back the kernels' index status (one small copy, the only wait for
        the device it adds) and raising, for the first index found out of bounds, the CPU's error."""
        lines = [
            "failed = rt.to_host(status)  # set by a kernel above for an index out of bounds",
            "if failed.any():",
        ]
        for slot, (what, where, index, dim, length) in enumerate(self.slots):
            values = f"rt.to_host({index})"
            lines += [
                f"    if failed[{slot}]:",
                f"        raise index_out_of_bounds({what!r}, {where!r}, {index!r}, {values}, {dim}, {length})",
            ]
        self.pending = False
        return lines


def _unravel(flat: str, dims: Sequence[int], k: Kernel) -> list[str]:
    """Lines turning ``flat`` (C order over loop dims ``dims``, outermost first) into ``i<d>``."""
    dims = list(dims)
    return unravel(flat, [f"i{d}" for d in dims], [f"n{d}" for d in dims], [k.broadcastable[d] for d in dims])


def unravel(flat: str, indices: Sequence[str], lengths: Sequence[str], fixed: Sequence[bool] = ()) -> list[str]:
    """Lines turning ``flat`` (C order over dims of ``lengths``, outermost first) into ``indices``;
    a dim marked in ``fixed`` has length 1 and index 0."""
    fixed = list(fixed) or [False] * len(indices)
    lines = []
    inner: list[str] = []
    for position in reversed(range(len(indices))):
        if fixed[position]:
            lines.append(f"{indices[position]} = 0")
            continue
        divided = f"{flat} // ({' * '.join(inner)})" if len(inner) > 1 else f"{flat} // {inner[0]}" if inner else flat
        outermost = all(fixed[:position])
        lines.append(f"{indices[position]} = {divided}{'' if outermost else f' % {lengths[position]}'}")
        inner.append(lengths[position])
    return lines[::-1]


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


def _jit(lines: list[str]) -> str:
    return "@cuda.jit(**KERNEL_OPTIONS)\n" + "\n".join(lines)


def emit_cuda_module(
    program: Program,
    name: str | None,
    key: str,
    single: bool,
    parameter_names: list[str | None] | None = None,
    n_defaults: int = 0,
    rewrites: Sequence[str] = (),
    return_device_arrays: bool = False,
    reduce_threads: int = 256,
) -> str:
    """The text of the generated CUDA module for the function called ``name``: kernels, then
    ``make_entry``, which returns the compiled function (see ``cpu.emit_module`` for the CPU twin)."""
    title = f"symgrad function {name!r} (CUDA)" if name else "A function compiled by symgrad (CUDA)"
    names, constants = module_names(program, parameter_names)
    host = {id(v) for v in program.inputs if v.ndim == 0} | {id(c) for c in constants if c.ndim == 0}
    printer = _Printer(names, CudaPrinter(), host)
    driver = printer.steps(program.steps)
    for var in program.outputs:
        names.add(var)
    deferred = program.deferred_updates()
    for _, value in deferred:
        names.add(value)
    copied: set[int] = set()

    def returned(var: Variable) -> str:
        """The output as the caller gets it: a NumPy array, or a device array that aliases nothing."""
        if printer.is_host(var):
            text = f"np.asarray({names[var]}, dtype={np_dtype(var.dtype)})"
            return f"rt.to_device({text})" if return_device_arrays else text
        if not return_device_arrays:
            return f"rt.to_host({names[var]})"
        return f"rt.contiguous({names[var]})" if output_aliases(var, copied) else names[var]

    results = [returned(v) for v in program.outputs]
    # New shared values never alias an input, an output or another shared value.
    new_values = [
        printer.device_value(v) if printer.is_host(v)
        else f"rt.contiguous({names[v]})" if output_aliases(v, copied) else names[v]
        for _, v in deferred
    ]  # fmt: skip

    header = [*module_header(title, key, program, names, deferred, rewrites), "from numba import cuda"]
    for module, functions in sorted(printer.printer.module_imports.items()):
        header.append(f"from {module} import {', '.join(sorted(functions))}")
    if printer.printer.runtime_imports:
        header.append(f"from codegen.cuda_runtime import {', '.join(sorted(printer.printer.runtime_imports))}")
    header += [
        "import codegen.cuda_runtime as rt",
        "from codegen.errors import index_error, index_out_of_bounds, shape_mismatch",
        "",
        "KERNEL_OPTIONS = dict(cache=True)  # machine code in Numba's disk cache, next to this file",
        f"REDUCE_THREADS = {reduce_threads}  # the shared-memory tree's size: reductions use at most this many threads",
    ]
    for c in constants:
        header.append(f"{names[c]}_host = {_constant_text(c)}{'[()]' if c.ndim == 0 else ''}")
    params = [names[v] for v in program.inputs]
    header.append(f"PARAMETERS = {tuple(params)!r}  # the inputs, in order")

    setup = [f"{names[c]} = {names[c]}_host if np.ndim({names[c]}_host) == 0 else rt.to_device({names[c]}_host)"
             for c in constants]  # fmt: skip
    entry, cells = entry_head(program, names, name, n_defaults, "arguments to the device, then the steps in order",
                              setup=setup)  # fmt: skip
    # Each argument becomes a device array (a NumPy array is copied over; a device array is used as
    # it is) or, for a 0-d input, a host scalar; the check names the input in any error.
    body = [f"{p} = check_{p}({p})" for p in params]
    if printer.slots:
        body.append(f"status = rt.zeros(({len(printer.slots)},), 'int32')  # kernels flag indices out of bounds here")
    kernels = [s for s in walk(program.steps) if isinstance(s, Kernel)]
    written = {id(r.target) for k in kernels for r in k.results if r.target is not None}
    for var, cell in zip(program.shared, cells):
        writing = id(var) in written
        note = "updated in place by a kernel" if writing else "the shared value, as of this call"
        body.append(f"{names[var]} = {cell}.on_device(write={writing})  # {note}")
    body += driver
    value = results[0] if single else f"[{', '.join(results)}]"
    if printer.pending:  # after the outputs' copy, which waits for the kernels anyway
        body.append(f"result = {value}")
        body += printer.status_check()
        value = "result"
    if deferred:
        if value != "result":
            body.append(f"result = {value}  # before the updates: outputs see the old values")
        cell_of = {id(v): c for v, c in zip(program.shared, cells)}
        body += [f"{cell_of[id(target)]}.set_device({text})" for (target, _), text in zip(deferred, new_values)]
        value = "result"
    body.append(f"return {value}")
    return module_text(header, printer.kernels, entry, body, name)


__all__ = ["ATOMIC_ADD_DTYPES", "NotSupportedOnDevice", "emit_cuda_module", "require_device"]
