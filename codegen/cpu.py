"""CPU code generation: a :class:`~codegen.lower.Program` printed as one Python module.

The module holds one ``@njit`` function per kernel (``cpu_kernels``; plus a ``prange`` twin for
kernels worth running on several threads) and ``make_entry``, which returns the compiled function:
plain Python that tests its arguments inline, checks shapes, calls the kernels and the steps of the
CPU's lowering rules (``cpu_rules``: NumPy's BLAS-backed ``np.dot``, views, scatters) in order, and
returns the outputs. Matrix products stay outside the kernels because, measured here, small
kernels around NumPy's GEMM compile in less than half the time of one kernel calling ``np.dot``
inside Numba, load faster from the disk cache, and run as fast.

Names in the module are the user's variable names where they exist, so ``print(f.source)`` reads
like the math that was written.
"""

from __future__ import annotations

from dataclasses import dataclass

from symgrad.graph import Variable

from .checks import kernel_checks
from .cpu_kernels import FASTMATH, emit_kernel, threshold_name
from .cpu_rules import CPU_RULES
from .kernel_body import describe
from .lower import Kernel, Program
from .module import ModuleOptions, ModulePrinter, constant_text
from .names import np_dtype
from .scalar_printer import NumbaPrinter


@dataclass(eq=False)
class CpuModulePrinter(ModulePrinter):
    """Prints a program for the CPU: ``@njit`` kernels called from a plain Python driver."""

    rules = CPU_RULES

    def __post_init__(self) -> None:
        super().__post_init__()
        self.printer = NumbaPrinter(self.options.vector_math)
        # A missing argument is reported by its check, in the user's terms (without checks, by Python).
        self.required_default = "" if self.options.trust_input else "=MISSING"

    def kernel_step(self, k: Kernel) -> list[str]:
        names = self.names
        lines = kernel_checks(self, k)
        if any(r.reduction in ("max", "min") for r in k.results):
            count = " * ".join(self.length(k, d) for d in k.axes)
            error = f"empty_reduction({describe(k, names)!r}, {self.where(k.results[0].node)})"
            lines += [f"if {count} == 0:", f"    raise {error}"]
        out = ", ".join(names.add(r.var) for r in k.results if r.target is None)
        assign = f"{out} = " if out else ""
        args = ", ".join(names[v] for v in k.params)
        if k.parallelizable:
            biggest = max((v for v in k.params if v.ndim), key=lambda v: v.ndim)
            kernel = f"{k.name}_parallel if {names[biggest]}.size >= {threshold_name(k)} else {k.name}"
            lines.append(f"{assign}({kernel})({args})")
        else:
            lines.append(f"{assign}{k.name}({args})")
        self.kernels.append(emit_kernel(k, names, self.printer, parallel=False))
        if k.parallelizable:
            self.kernels.append(emit_kernel(k, names, self.printer, parallel=True))
            self.kernels.append(f"{threshold_name(k)} = max(1, PARALLEL_THRESHOLD // {k.cost})  # elements")
        return lines

    def empty(self, shape: str, dtype: str) -> str:
        return f"np.empty({shape}, dtype={np_dtype(dtype)})"

    def store_row(self, out: str, i: str, row: str) -> str:
        return f"{out}[{i}] = {row}"

    def finish_driver(self, driver: list[str]) -> list[str]:
        return _drop_repeated_checks(driver)

    def header_lines(self) -> list[str]:
        lines = ["from numba import njit, prange", *self.function_imports("codegen.runtime")]
        lines += [
            "from codegen.errors import (MISSING, empty_array, empty_reduction, index_error, index_out_of_bounds,",
            "                            out_of_memory, shape_mismatch)",
            "",
            # cache=True is left out: symgrad's loader attaches Numba's disk cache, with its checks.
            f"KERNEL_OPTIONS = dict(error_model='numpy', fastmath={FASTMATH})  # disk cache: see codegen/cache.py",
            "PARALLEL_OPTIONS = dict(KERNEL_OPTIONS, parallel=True)",
            f"PARALLEL_THRESHOLD = {self.options.parallel_threshold}  # work (elements x operations) worth threads",
            "REDUCTION_CHUNKS = 64  # a parallel sum adds these parts in order: the same result on any thread count",
            "PARTIALS_LIMIT = 1 << 20  # elements of partial results a parallel sum over axis 0 may allocate",
        ]
        dtypes = sorted({v.dtype for v in self.program.inputs if v.ndim})
        lines += [f"DTYPE_{d.upper()} = np.dtype('{d}')" for d in dtypes]
        lines += [f"{self.names[c]} = {constant_text(c)}" for c in self.constants]
        return lines

    def argument_lines(self) -> list[str]:
        if self.options.trust_input:
            return []
        return [line for var in self.program.inputs for line in _argument_check(var, self.names[var])]

    def shared_lines(self, cells: list[str]) -> list[str]:
        return [
            f"{self.names[var]} = {cell}[0]{'[()]' if var.ndim == 0 else ''}  # the shared value, as of this call"
            for var, cell in zip(self.program.shared, cells)
        ]

    def output_text(self, var: Variable, copied: set[int]) -> str:
        name = self.names[var]
        if var.ndim == 0:
            # Kernels return Python scalars; np.array restores float64/int64/bool by itself.
            exact = var.dtype in ("float64", "int64", "bool")
            return f"np.array({name})" if exact else f"np.array({name}, {np_dtype(var.dtype)})"
        return f"{name}.copy()" if self.aliases(var, copied) else name

    new_shared_text = output_text

    def store_shared(self, cell: str, value: str) -> str:
        return f"{cell}[0] = {value}"

    def wrap_body(self, body: list[str]) -> list[str]:
        # A kernel's failed allocation says only "Allocation failed": name the inputs and their shapes.
        shapes = "".join(f", {p}={p}" for p in (self.names[v] for v in self.program.inputs))
        return ["try:", *("    " + line for line in body), "except MemoryError as err:",
                f"    raise out_of_memory(err{shapes}) from err"]  # fmt: skip


def emit_module(program: Program, options: ModuleOptions) -> str:
    """The full text of the generated CPU module."""
    return CpuModulePrinter(program, options).emit()


def _drop_repeated_checks(driver: list[str]) -> list[str]:
    """Driver lines without a check (``if ...:`` and its ``raise``) whose condition an earlier check
    tested already: every name is assigned once and shapes never change, so the repeat could not fail
    (a gather and the scatter of its gradient check the same indices)."""
    kept: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(driver):
        if driver[i].startswith("if ") and i + 1 < len(driver) and driver[i + 1].startswith("    raise "):
            if driver[i] not in seen:
                seen.add(driver[i])
                kept += driver[i : i + 2]
            i += 2
            continue
        kept.append(driver[i])
        i += 1
    return kept


def _argument_check(var: Variable, name: str) -> list[str]:
    """Inline fast-path test of one argument; anything unusual goes to its full check."""
    full = f"{name} = check_{name}({name})"
    if var.ndim == 0:
        if var.dtype == "float64":
            return [
                f"if type({name}) is not float:",
                f"    {name} = float({name}) if type({name}) is int and abs({name}) <= 2**53 else check_{name}({name})",
            ]
        if var.dtype == "int64":
            return [f"if type({name}) is not int or not -(2**63) <= {name} < 2**63:", f"    {full}"]
        return [full]
    conditions = [
        f"type({name}) is not np.ndarray",
        f"{name}.dtype is not DTYPE_{var.dtype.upper()}",
        f"{name}.ndim != {var.ndim}",
        f"not {name}.flags.c_contiguous",
    ] + [f"{name}.shape[{d}] != {n}" for d, n in enumerate(var.type.shape) if n is not None]
    return [f"if {' or '.join(conditions)}:", f"    {full}"]
