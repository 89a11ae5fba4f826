"""CPU code generation: a :class:`~codegen.lower.Program` printed as one Python module.

The module holds one ``@njit`` function per kernel (``cpu_kernels``; plus a ``prange`` twin for
kernels worth running on several threads), the *program*, one ``@njit`` function running every
step in order (kernel calls, matrix products, views, scatters, ``if``/``else`` for an ``ifelse``, a
``for`` loop for a ``Map``: the CPU's lowering rules, ``cpu_rules``), and ``make_entry``, which
returns the compiled function: plain Python that checks the arguments, calls the program once and
wraps its results. A call thus crosses from Python into machine code once.

- Kernels are inlined into the program (``inline='always'``): one compilation unit, one disk-cache
  entry, no call between them.
- ``program_parallel`` is the same program calling the kernels' ``prange`` twins where their
  inputs are large; the entry calls it only when some argument is, so Numba compiles it (and the
  twins) only for a call that needs threads.
- A check inside the program cannot format a message in compiled code: it raises
  ``StepFailed(number, values...)`` and the entry turns that into the error (``failures``).
- A step whose rule cannot run inside Numba (``compiled=False``: a matrix product of integers)
  runs in the entry between two programs (``codegen.segments``).

Names in the module are the user's variable names where they exist, so ``print(f.source)`` reads
like the math that was written.
"""

from __future__ import annotations

from dataclasses import dataclass

from symgrad.graph import Variable

from . import cpu_steps
from .checks import kernel_checks
from .cpu_kernels import FASTMATH, emit_kernel, threshold_name
from .cpu_rules import CPU_RULES
from .kernel_body import describe
from .lower import Branch, Kernel, Loop, Program, Result, ScanLoop, Step
from .module import ModuleOptions, ModulePrinter, Run, constant_text
from .names import np_dtype, shape_text
from .scalar_printer import NumbaPrinter
from .segments import Segment, split


@dataclass(eq=False)
class CpuModulePrinter(ModulePrinter):
    """Prints a program for the CPU: ``@njit`` kernels called from one ``@njit`` program."""

    rules = CPU_RULES
    entry_doc = "argument checks, then the program"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.printer = NumbaPrinter(self.options.vector_math)
        # A missing argument is reported by its check, in the user's terms (without checks, by Python).
        self.required_default = "" if self.options.trust_input else "=MISSING"
        #: Whether the lines being printed run inside a program (compiled), or in Python.
        self.compiled = False
        #: The errors of the checks inside programs, by number: ``lambda v0, ...: error(...)``.
        self.failures: list[str] = []
        #: What each step does, in order, for a profiled module (``ModuleOptions.profile``).
        self.step_names: list[str] = []
        #: The helper functions the module has (``copy_2d``, ...), each printed once.
        self.helpers: set[str] = set()
        #: How many scan loops the lines being printed are inside (their kernels get no twin on threads).
        self.scan_depth = 0

    def fail(self, error: str, *args: str, **keywords: str) -> str:
        if not self.compiled:
            return super().fail(error, *args, **keywords)
        values = [a for a in (*args, *keywords.values()) if isinstance(a, Run)]
        slots = iter(f"v{j}" for j in range(len(values)))
        texts = [next(slots) if isinstance(a, Run) else a for a in args]
        texts += [f"{k}={next(slots) if isinstance(v, Run) else v}" for k, v in keywords.items()]
        failure = f"lambda {', '.join(f'v{j}' for j in range(len(values)))}: {error}({', '.join(texts)})"
        if failure not in self.failures:
            self.failures.append(failure)
        return f"raise StepFailed({', '.join([str(self.failures.index(failure)), *values])})"

    def kernel_step(self, k: Kernel) -> list[str]:
        names = self.names
        lines = kernel_checks(self, k)
        if any(r.reduction in ("max", "min") for r in k.results):
            count = " * ".join(self.length(k, d) for d in k.axes)
            lines += [f"if {count} == 0:", "    " + self.fail("empty_reduction", repr(describe(k, names)),
                                                                 self.where(k.results[0].node))]  # fmt: skip
        if _fills(k):  # zeros_like(x) (the first adjoint of a loop's state): no kernel to compile
            shape = shape_text([self.length(k, d) for d in range(k.ndim)])
            return lines + [_fill(names.add(r.var), shape, r) for r in k.results]
        out = ", ".join(names.add(r.var) for r in k.results if r.target is None)
        call = f"{f'{out} = ' if out else ''}{k.name}({', '.join(names[v] for v in k.params)})"
        self.kernels.append(emit_kernel(k, names, self.printer, parallel=False))
        if not k.parallelizable or self.scan_depth:
            return lines + [call]
        self.kernels.append(emit_kernel(k, names, self.printer, parallel=True))
        self.kernels.append(f"{threshold_name(k)} = max(1, PARALLEL_THRESHOLD // {k.cost})  # elements")
        biggest = max((v for v in k.params if v.ndim), key=lambda v: v.ndim)
        return lines + [f"{call}{_THREADS}{k.name}_parallel if {names[biggest]}.size >= {threshold_name(k)}"]

    def driver(self, steps: list[Step]) -> list[str]:
        """Python lines running the steps: each run of steps that Numba can compile is a program
        function of the module, called once; a step that it cannot runs here, between programs."""
        program, profile = self.program, self.options.profile
        read_after = [*program.outputs, *(value for _, value in program.deferred_updates())]
        segments = split(steps, self.rules, read_after, apart=profile)
        compiled = [s for s in segments if s.compiled]
        lines: list[str] = []
        programs = 0
        if profile:  # each step is a segment: time it from here
            start, end = self.names.fresh("step_start"), self.names.fresh("step_end")
            lines.append(f"{start} = perf_counter()")
        for k, segment in enumerate(segments):
            if not segment.compiled:
                lines += _drop_repeated_checks(self.steps(segment.steps))
            else:
                programs += 1
                lines += self.program_function(f"program_{programs}" if len(compiled) > 1 else "program", segment)
            if profile:
                self.step_names.append(self.step_name(segment.steps[0]))
                lines.append(f"{end} = perf_counter(); step_seconds[{k}] += {end} - {start}; step_calls[{k}] += 1; "
                             f"{start} = {end}")  # fmt: skip
        return lines

    def scan_loop(self, loop: ScanLoop) -> list[str]:
        """A scan's step runs its kernels on one thread: a step's arrays are a row of the loop's
        (an RNN's are 32 x 128: far below the threshold), threads would start and stop at every
        step, and each kernel's ``prange`` twin costs seconds of compile (a parfor), paid by every
        program with a loop, while the step's matrix products use BLAS's threads anyway."""
        self.scan_depth += 1
        try:
            return super().scan_loop(loop)
        finally:
            self.scan_depth -= 1

    def step_name(self, step: Step) -> str:
        """One line saying what ``step`` does, for a profile's table."""
        names = self.names
        if isinstance(step, Kernel):
            text = f"{step.name}: {describe(step, names)}"
        elif isinstance(step, Branch):
            text = f"{names[step.node.output]} = ifelse({', '.join(names[v] for v in step.node.inputs)})"
        elif isinstance(step, Loop):
            over = "steps" if isinstance(step, ScanLoop) else "rows"
            text = f"{', '.join(names[v] for v in step.outputs)} = a loop over {over}"
        else:
            text = f"{names[step.output]} = {step.op}({', '.join(names[v] for v in step.inputs)})"
        return text if len(text) <= 80 else text[:77] + "..."

    def branch_values(self, branch: Branch) -> tuple[str, str]:
        """A 0-d result is a number on both sides: a 0-d value may be a number (an input, a kernel's
        result) or a 0-d array (a reshape to ``()``), and Numba cannot unify the two."""
        then, otherwise = super().branch_values(branch)
        var = branch.node.output
        if var.ndim == 0:
            return f"{np_dtype(var.dtype)}({then})", f"{np_dtype(var.dtype)}({otherwise})"
        return then, otherwise

    def program_function(self, name: str, segment: Segment) -> list[str]:
        """Adds the program running ``segment``'s steps (and its twin on threads, where a kernel in it
        has one) to the module; returns the Python lines calling it."""
        names = self.names
        self.compiled = True
        body = _drop_repeated_checks(self.steps(segment.steps))
        self.compiled = False
        params = ", ".join(names[v] for v in segment.params)
        results = ", ".join(names[v] for v in segment.results)
        threaded = [line for line in body if _THREADS in line]
        summary = "The steps, compiled as one function"
        for parallel in (False, True) if threaded else (False,):
            lines = [f"def {name}{'_parallel' if parallel else ''}({params}):"]
            lines.append(f'    """{summary}{" (kernels worth threads run on them)" if parallel else ""}."""')
            lines += ["    " + line for row in body for line in _threads(row, parallel)]
            if results:
                lines.append(f"    return {results}")
            self.kernels.append("@njit(**PROGRAM_OPTIONS)\n" + "\n".join(lines))
        call = f"{name}({params})"
        if threaded:
            above = f"{name.upper()}_PARALLEL_ABOVE"
            thresholds = sorted({line.rsplit(">= ", 1)[1] for line in threaded})
            least = f"min({', '.join(thresholds)})" if len(thresholds) > 1 else thresholds[0]
            self.kernels.append(f"{above} = {least}  # elements: below, no kernel is worth threads")
            sizes = [f"{names[v]}.size >= {above}" for v in segment.params if v.ndim]
            if sizes:
                call = f"({name}_parallel if {' or '.join(sizes)} else {name})({params})"
        return [f"{results} = {call}" if results else call]

    def empty(self, shape: str, dtype: str) -> str:
        return f"np.empty({shape}, dtype={np_dtype(dtype)})"

    def store_row(self, out: str, i: str, row: str, ndim: int) -> str:
        return f"{out}[{i}] = {row}" if ndim == 0 else self.store_rows(out, i, "", row, ndim)

    def store_rows(self, out: str, start: str, stop: str, value: str, ndim: int) -> str:
        # Numba's array assignment takes seconds to compile for each new type: a loop nest of our own.
        rows = f"{out}[{start}:{stop}]" if stop else f"{out}[{start}]"
        name = f"copy_{ndim}d"
        if name not in self.helpers:
            self.helpers.add(name)
            self.kernels.append(_copy_function(name, ndim))
        return f"{name}({rows}, {value})"

    def header_lines(self) -> list[str]:
        lines = ["from numba import njit, prange", *self.function_imports("codegen.runtime")]
        lines += [
            "from codegen.errors import (MISSING, ChunkedArguments, StepFailed, empty_array, empty_reduction,",
            "                            index_error, index_out_of_bounds, out_of_memory, shape_mismatch)",
            f"from codegen.cpu_steps import {', '.join(cpu_steps.__all__)}",
            "",
            # cache=True is left out: symgrad's loader attaches Numba's disk cache, with its checks.
            f"PROGRAM_OPTIONS = dict(error_model='numpy', fastmath={FASTMATH})  # disk cache: see codegen/cache.py",
            "KERNEL_OPTIONS = dict(PROGRAM_OPTIONS, inline='always')  # compiled once, inside the program",
            "PARALLEL_OPTIONS = dict(PROGRAM_OPTIONS, parallel=True)",
            f"PARALLEL_THRESHOLD = {self.options.parallel_threshold}  # work (elements x operations) worth threads",
            "REDUCTION_CHUNKS = 64  # a parallel sum adds these parts in order: the same result on any thread count",
            "PARTIALS_LIMIT = 1 << 20  # elements of partial results a parallel sum over axis 0 may allocate",
        ]
        if self.options.profile:
            lines += ["from time import perf_counter", f"STEPS = {tuple(self.step_names)!r}  # what each step does"]
        dtypes = sorted({v.dtype for v in self.program.inputs if v.ndim})
        lines += [f"DTYPE_{d.upper()} = np.dtype('{d}')" for d in dtypes]
        # A 0-d constant is a NumPy scalar: the programs take it as a number, not a 0-d array.
        lines += [
            f"{self.names[c]} = {np_dtype(c.dtype)}({c.data.item()!r})" if c.ndim == 0 else
            f"{self.names[c]} = {constant_text(c)}"
            for c in self.constants
        ]  # fmt: skip
        return lines

    def entry_setup(self) -> list[str]:
        lines = ["step_seconds, step_calls = [0.0] * len(STEPS), [0] * len(STEPS)"] if self.options.profile else []
        if not self.failures:
            return lines
        # What each check inside a program raises, by number, from the values it passes.
        return lines + ["failures = (", *(f"    {failure}," for failure in self.failures), ")"]

    def entry_finish(self, function: str) -> list[str]:
        if not self.options.profile:
            return []
        return [f"{function}.step_seconds, {function}.step_calls = step_seconds, step_calls  # the profile"]

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
            # Programs return Python scalars; np.array restores float64/int64/bool by itself.
            exact = var.dtype in ("float64", "int64", "bool")
            return f"np.array({name})" if exact else f"np.array({name}, {np_dtype(var.dtype)})"
        return f"{name}.copy()" if self.aliases(var, copied) else name

    new_shared_text = output_text

    def store_shared(self, cell: str, value: str) -> str:
        return f"{cell}[0] = {value}"

    def wrap_body(self, body: list[str]) -> list[str]:
        # A kernel's failed allocation says only "Allocation failed": name the inputs and their shapes.
        shapes = "".join(f", {p}={p}" for p in (self.names[v] for v in self.program.inputs))
        lines = ["try:", *("    " + line for line in body)]
        if not self.options.trust_input:  # a Dask argument: the whole call becomes lazy, chunk by chunk
            parameters = ", ".join(self.names[v] for v in self.program.inputs)
            lines += ["except ChunkedArguments as chunked:", f"    return chunked.args[0]({parameters})"]
        if self.failures:
            lines += ["except StepFailed as failed:", "    raise failures[failed.args[0]](*failed.args[1:]) from None"]
        return lines + ["except MemoryError as err:", f"    raise out_of_memory(err{shapes}) from err"]


#: Marks a kernel call that a program's twin on threads makes to the kernel's parallel twin when
#: the condition after it holds (see ``_threads``).
_THREADS = "  # on threads: "


def _fills(k: Kernel) -> bool:
    """Whether every result of ``k`` is an array of one finite number, newly made: a fill, which
    NumPy does without a loop of ours (each such kernel and its ``prange`` twin took 0.2 to 1 s to
    compile, four of them in the RNN gradient's program)."""
    return k.ndim > 0 and all(
        r.target is None and r.reduction is None and r.expr.is_Number and r.expr.is_finite for r in k.results
    )


def _fill(out: str, shape: str, r: Result) -> str:
    """The line making ``r``, an array of one number (see ``_fills``)."""
    dtype = np_dtype(r.var.dtype)
    if r.expr.is_zero:
        return f"{out} = np.zeros({shape}, dtype={dtype})"
    value = float(r.expr) if "float" in r.var.dtype else int(r.expr)
    return f"{out} = np.full({shape}, {value!r}, dtype={dtype})"


def _copy_function(name: str, ndim: int) -> str:
    """``dst[...] = src`` for arrays of one shape, as a loop nest."""
    index = ", ".join(f"i{d}" for d in range(ndim))
    lines = [
        "@njit(**KERNEL_OPTIONS)",
        f"def {name}(dst, src):",
        '    """dst[...] = src, both of one shape."""',
        "    if dst.shape != src.shape:",
        "        raise ValueError('the value stored has another shape than its destination')",
    ]
    lines += [f"{'    ' * (d + 1)}for i{d} in range(dst.shape[{d}]):" for d in range(ndim)]
    lines.append(f"{'    ' * (ndim + 1)}dst[{index}] = src[{index}]")
    return "\n".join(lines)


def _threads(line: str, parallel: bool) -> list[str]:
    """A program's line as printed: a kernel call marked ``_THREADS`` is a plain call in the serial
    program, and in its twin on threads an ``if`` choosing the kernel's parallel twin."""
    if _THREADS not in line:
        return [line]
    call, choice = line.split(_THREADS)
    if not parallel:
        return [call]
    indent = call[: len(call) - len(call.lstrip())]
    twin, condition = choice.split(" if ")
    assign, _, kernel_call = call.strip().rpartition(" = ")
    serial_name, args = kernel_call.split("(", 1)
    target = f"{assign} = " if assign else ""
    return [f"{indent}if {condition}:", f"{indent}    {target}{twin}({args}", f"{indent}else:",
            f"{indent}    {target}{kernel_call}"]  # fmt: skip


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
