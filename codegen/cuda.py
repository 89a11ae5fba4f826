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
- **Driver steps** (matrix products, views, joins, ...) are the CUDA lowering rules
  (``cuda_rules``), which call ``codegen.cuda_runtime`` (imported as ``rt``): cuBLAS through CuPy
  or a tiled kernel for ``dot``, views built without copying.
- **Integer-array indexing** (``cuda_indexing``) is a generated grid-stride kernel over the indexed
  region (the broadcast index arrays' dims ``j0, j1, ...`` and the sliced dims of ``x``):
  ``gather<n>`` reads ``x[index]``; ``scatter<n>`` adds ``cuda.atomic.add`` by element into a copy
  of ``x`` (or zeros, for the gradient of a gather), so repeated indices add up, in no fixed order;
  ``set_subtensor`` writes, and where the written values differ a first kernel ``scatter<n>_last``
  finds each place's last writer (``cuda.atomic.max`` of the position in the index arrays), so the
  last of repeated indices wins as on the CPU and in NumPy. Negative indices wrap. Index checks
  raise the CPU's ``IndexError``: host scalars and constants are checked on the host before the
  launch; index arrays on the device are checked by the kernels, which skip an entry out of bounds
  and set a flag in a small ``status`` array. The driver reads that array back (``status_check``, a
  few bytes) at the end of the call, after the outputs' copy, which waits for the kernels anyway (a
  call keeping its outputs on the device waits there), and, when an index check comes before a
  kernel that writes a shared variable in place, before that kernel too, so that a call failing on
  an index leaves the shared variables as they were, as on the CPU. No launch is followed by its own
  wait.
- **Ops along an axis** (``cumsum``, ``cumprod`` and its gradient, ``argsort``, ``unique``,
  ``flatnonzero``) call kernels compiled once in ``cuda_runtime``, one thread per line along the axis
  (a serial scan; for argsort, insertion-sorted runs and then merge passes). ``unique`` and
  ``flatnonzero`` count their kept entries per chunk, read the counts back to allocate the result,
  then write it.
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
from dataclasses import dataclass, field

from symgrad.graph import Variable

from .checks import kernel_checks
from .cuda_indexing import ATOMIC_ADD_DTYPES
from .cuda_rules import CUDA_RULES
from .kernel_body import acc_dtype, accumulate, describe, identity, kernel_body, leaf_read
from .lower import Branch, Kernel, Loop, Program, walk
from .module import ModuleOptions, ModulePrinter, constant_text
from .names import np_dtype, shape_text
from .scalar_printer import CudaPrinter, NotSupportedOnDevice


def require_device() -> str:
    """The CUDA device's description (for the cache key), or a clear error when there is none."""
    if importlib.util.find_spec("numba_cuda") is None:
        raise RuntimeError(
            "device='cuda' needs the numba-cuda package, which is not installed: pip install 'symgrad[cuda]', "
            "or from a clone of symgrad's repository pip install -e '.[cuda]' (and cupy-cuda12x for cuBLAS "
            "matrix products)"
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


@dataclass(eq=False)
class CudaModulePrinter(ModulePrinter):
    """Prints a program for ``numba.cuda``: kernels launched from a host driver (see the module docstring)."""

    rules = CUDA_RULES
    backend_title = " (CUDA)"
    entry_doc = "arguments to the device, then the steps in order"
    #: 0-d values that live on the host (inputs, sizes, constants): kernels take them by value.
    host: set[int] = field(init=False, default_factory=set)
    #: Index arrays checked on the device: (what, where, index, dim, length) per slot of the ``status``
    #: array that kernels set.
    slots: list[tuple[str, str, str, int, str]] = field(init=False, default_factory=list)
    #: Whether a kernel may have set a status slot since the last check.
    pending: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.printer = CudaPrinter()
        self.host = {id(v) for v in self.program.inputs if v.ndim == 0} | {id(c) for c in self.constants if c.ndim == 0}

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

    # --- steps ----------------------------------------------------------------------------------
    def kernel_step(self, k: Kernel) -> list[str]:
        lines = []
        if self.pending and any(r.target is not None for r in k.results):
            # A kernel about to write a shared variable in place: an index out of bounds must
            # raise before it, as on the CPU, not leave the variable half updated.
            lines += self.status_check()
        lines += kernel_checks(self, k) + self.launch(k)
        self.kernels += self.kernel(k)
        return lines

    def branch_sides(self, branch: Branch) -> tuple[list[str], list[str]]:
        """Each side as if the other had not run: after the ifelse, a status check is pending if
        either side may have set one."""
        before = self.pending
        then_lines = self.nested_steps(branch.then_steps)
        then_pending, self.pending = self.pending, before
        else_lines = self.nested_steps(branch.else_steps)
        self.pending = self.pending or then_pending
        return then_lines, else_lines

    def condition(self, var: Variable) -> tuple[str, str]:
        """Decided on the host: a condition computed by a kernel is one scalar copied back."""
        return self.host_value(var), "" if self.is_host(var) else "  # one scalar copied back from the device"

    def branch_values(self, branch: Branch) -> tuple[str, str]:
        _, then, otherwise = branch.node.inputs
        if self.is_host(then) and self.is_host(otherwise):
            self.host.add(id(branch.node.output))
            return self.names[then], self.names[otherwise]
        return self.device_value(then), self.device_value(otherwise)

    def loop(self, loop: Loop) -> list[str]:
        """A Map as a ``for`` loop on the host: each row's steps run on the device."""
        self.host.add(id(loop.node.op.index))
        return super().loop(loop)

    def alias(self, placeholder: Variable, value: Variable) -> None:
        super().alias(placeholder, value)
        if self.is_host(value):
            self.host.add(id(placeholder))

    def row_count(self, n: Variable) -> tuple[list[str], str]:
        if self.is_host(n):
            return [], self.names[n]
        rows = self.names.fresh(f"{self.names[n]}_rows")
        return [f"{rows} = {self.host_value(n)}"], rows

    def empty(self, shape: str, dtype: str) -> str:
        return f"rt.empty({shape}, {dtype!r})"

    def store_row(self, out: str, i: str, row: str, ndim: int) -> str:
        return f"rt.assign(rt.subtensor({out}, ({i},)), {row})"

    def row_of(self, array: str, i: str) -> str:
        return f"rt.subtensor({array}, ({i},))"

    def rows_of(self, array: str, start: str, stop: str) -> str:
        return f"rt.subtensor({array}, (slice({start}, {stop}),))"

    def store_rows(self, out: str, start: str, stop: str, value: str, ndim: int) -> str:
        return f"rt.assign({self.rows_of(out, start, stop)}, {value})"

    def shape_of_row(self, row: str) -> str:
        return f"tuple(np.shape({row}))"

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
                lines.append(f"{names[r.var]} = rt.empty({shape_text(shape)}, {r.var.dtype!r})")
        if not k.axes:
            launch = "1, 1" if k.ndim == 0 else f"rt.grid({' * '.join(shape)})"
            return lines + [f"{k.name}[{launch}]({', '.join(args)})"]
        n_kept = " * ".join(shape[d] for d in kept) or "1"
        n_reduced = " * ".join(shape[d] for d in k.axes)
        if any(r.reduction in ("max", "min") for r in k.results):
            error = self.fail("empty_reduction", repr(describe(k, names)), self.where(k.results[0].node))
            lines += [f"if {n_reduced} == 0:", "    " + error]
        lines.append(f"splits, blocks, threads = rt.reduce_grid({n_kept}, {n_reduced})")
        partials, finals = [], []
        for j, r in enumerate(k.results):
            if r.reduction:
                partials.append(f"partial{j}")
                lines.append(f"partial{j} = rt.empty((splits, {n_kept}), {acc_dtype(r)!r})")
                finals.append(names.add(r.var))
                lines.append(f"{finals[-1]} = rt.empty({shape_text([shape[d] for d in kept])}, {r.var.dtype!r})")
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
                access[leaf.symbol] = leaf_read(leaf, name)
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
                stores += accumulate(r.reduction, f"acc{j}", value)
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
        lines += [f"    shared{j} = cuda.shared.array(REDUCE_THREADS, {np_dtype(acc_dtype(r))})" for j, r in reduced]
        lines += [
            f"    for block in range(cuda.blockIdx.x, {n_kept + ' * ' if kept else ''}splits, cuda.gridDim.x):",
            "        kept = block // splits",
            "        part = block % splits",
        ]
        lines += ["        " + line for line in _unravel("kept", kept, k)]
        lines += [f"        acc{j} = {identity(r.reduction, acc_dtype(r))}" for j, r in reduced]
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
                for line in accumulate(r.reduction, f"shared{j}[thread]", f"shared{j}[thread + stride]")
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
            lines += ["            " + line for line in accumulate(r.reduction, f"acc{j}", f"partial{j}[part, kept]")]
        index = ", ".join(f"i{d}" for d in kept) or "()"
        lines += [f"        out{j}[{index}] = acc{j}" for j, _ in reduced]
        return _jit(lines)

    def index_kernel(
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
                f"        raise index_out_of_bounds({what!r}, {where}, {index!r}, {values}, {dim}, {length})",
            ]
        self.pending = False
        return lines

    # --- the module -----------------------------------------------------------------------------
    def header_lines(self) -> list[str]:
        lines = ["from numba import cuda", *self.function_imports("codegen.cuda_runtime")]
        lines += [
            "import codegen.cuda_runtime as rt",
            "from codegen.errors import empty_array, empty_reduction, index_error, index_out_of_bounds, shape_mismatch",
            "",
            "KERNEL_OPTIONS = dict(cache=True)  # machine code in Numba's disk cache, next to this file",
            f"REDUCE_THREADS = {self.options.reduce_threads}  # the shared-memory tree's size: reductions use at most "
            "this many threads",
        ]
        lines += [f"{self.names[c]}_host = {constant_text(c)}{'[()]' if c.ndim == 0 else ''}" for c in self.constants]
        return lines

    def entry_setup(self) -> list[str]:
        return [
            f"{name} = {name}_host if np.ndim({name}_host) == 0 else rt.to_device({name}_host)"
            for name in (self.names[c] for c in self.constants)
        ]

    def argument_lines(self) -> list[str]:
        # Each argument becomes a device array (a NumPy array is copied over; a device array is used as
        # it is) or, for a 0-d input, a host scalar; the check names the input in any error.
        lines = [f"{p} = check_{p}({p})" for p in (self.names[v] for v in self.program.inputs)]
        if self.slots:
            lines.append(f"status = rt.zeros(({len(self.slots)},), 'int32')  # kernels flag indices out of bounds here")
        return lines

    def shared_lines(self, cells: list[str]) -> list[str]:
        kernels = [s for s in walk(self.program.steps) if isinstance(s, Kernel)]
        written = {id(r.target) for k in kernels for r in k.results if r.target is not None}
        lines = []
        for var, cell in zip(self.program.shared, cells):
            writing = id(var) in written
            note = "updated in place by a kernel" if writing else "the shared value, as of this call"
            lines.append(f"{self.names[var]} = {cell}.on_device(write={writing})  # {note}")
        return lines

    def output_text(self, var: Variable, copied: set[int]) -> str:
        """The output as the caller gets it: a NumPy array, or a device array that aliases nothing."""
        name = self.names[var]
        device_arrays = self.options.return_device_arrays
        if self.is_host(var):
            text = f"np.asarray({name}, dtype={np_dtype(var.dtype)})"
            return f"rt.to_device({text})" if device_arrays else text
        if not device_arrays:
            return f"rt.to_host({name})"
        return f"rt.contiguous({name})" if self.aliases(var, copied) else name

    def new_shared_text(self, var: Variable, copied: set[int]) -> str:
        if self.is_host(var):
            return self.device_value(var)
        return f"rt.contiguous({self.names[var]})" if self.aliases(var, copied) else self.names[var]

    def before_return(self) -> list[str]:
        # After the outputs' copy, which waits for the kernels anyway.
        return self.status_check() if self.pending else []

    def store_shared(self, cell: str, value: str) -> str:
        return f"{cell}.set_device({value})"


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


def _jit(lines: list[str]) -> str:
    return "@cuda.jit(**KERNEL_OPTIONS)\n" + "\n".join(lines)


def emit_cuda_module(program: Program, options: ModuleOptions) -> str:
    """The text of the generated CUDA module: kernels, then ``make_entry``, which returns the compiled
    function (``cpu.emit_module`` is the CPU twin)."""
    return CudaModulePrinter(program, options).emit()


__all__ = ["ATOMIC_ADD_DTYPES", "NotSupportedOnDevice", "emit_cuda_module", "require_device"]
