"""The generated module, printed once for every backend: :class:`ModulePrinter`.

A module holds the kernels and ``make_entry``, which returns the compiled function: the argument
checks, then the program's steps in order, then the outputs and the shared variables' new values.
The base class writes what every backend writes alike: names, the header comment, the walk over the
steps (kernels, ``ifelse`` branches, ``Map`` loops, and every other op through the backend's table of
lowering rules, ``codegen.rules``), the frame of ``make_entry`` and the order of its last lines.
A backend (``cpu.CpuModulePrinter``, ``cuda.CudaModulePrinter``) overrides how a kernel is printed
and launched, how a value crosses between host and device, and how arguments and results are passed.

The user's lines that built each node (``built at ...`` in error messages) are not in the text: the
module's checks read them from ``built_at``, given to ``make_entry`` by node number (``SITES`` lists
the numbers it reads, in the fixed order of ``graph_nodes``), so a module served from the disk cache
reports the lines of the process that uses it, not those of the process that wrote it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from symgrad.graph import Apply, Constant, Variable, toposort
from symgrad.ops.indexing import IncSubtensor
from symgrad.ops.loop import Map
from symgrad.ops.scan import Scan
from symgrad.ops.shape import DimShuffle, SpecifyShape, SubtensorGrad
from symgrad.printing.formulas import pp

from .errors import built_at as built_at_text
from .lower import Branch, Kernel, Loop, Program, ScanLoop, Step, constants_of, loop_body, scan_body
from .names import Names, entry_name, np_dtype
from .rules import RuleTable
from .scalar_printer import NumbaPrinter


class EqualLengths:
    """Which array lengths the steps printed so far have shown to be equal: a check made them so,
    or a step made its result's length from an operand's. Lengths are ``(variable, dim)`` pairs, in
    sets (union-find); a check between lengths of one set can never fail, and is left out."""

    def __init__(self) -> None:
        self.parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(self, length: tuple[int, int]) -> tuple[int, int]:
        while self.parent.get(length, length) != length:
            length = self.parent[length]
        return length

    def same(self, a: tuple[Variable, int], b: tuple[Variable, int]) -> bool:
        return self.find((id(a[0]), a[1])) == self.find((id(b[0]), b[1]))

    def join(self, a: tuple[Variable, int], b: tuple[Variable, int]) -> None:
        self.parent[self.find((id(a[0]), a[1]))] = self.find((id(b[0]), b[1]))


class Run(str):
    """An argument of an error (see :meth:`ModulePrinter.fail`) known only when the check fails: a
    shape or an index. Every other argument is a constant of the module (a description, a name)."""


@dataclass(frozen=True)
class ModuleOptions:
    """Everything a module printer needs besides the program; all of it is part of the cache key.

    ``parameter_names`` overrides the inputs' own names as the compiled function's parameter names
    (``theano.In(x, name=...)``); the last ``n_defaults`` parameters have default values, which
    ``make_entry`` receives already checked. ``rewrites`` names the rewrites that changed the graph,
    for the header. ``trust_input`` leaves out the CPU's argument checks; ``borrowed`` are the positions of
    the outputs returned without a defensive copy (``theano.Out(y, borrow=True)``); ``profile`` times each
    step (CPU). The other fields are one
    backend's: ``parallel_threshold`` and ``vector_math``
    the CPU's, ``return_device_arrays`` and ``reduce_threads`` CUDA's.
    """

    name: str | None
    key: str
    single: bool
    parameter_names: tuple[str | None, ...] = ()
    n_defaults: int = 0
    rewrites: tuple[str, ...] = ()
    parallel_threshold: int = 0
    vector_math: bool = False
    return_device_arrays: bool = False
    reduce_threads: int = 256
    trust_input: bool = False
    borrowed: tuple[int, ...] = ()
    profile: bool = False


@dataclass(eq=False)
class ModulePrinter(ABC):
    """Prints one program as a module; subclasses are the backends (see the module docstring)."""

    program: Program
    options: ModuleOptions
    names: Names = field(init=False)
    #: The module's kernels' texts, in the order the steps that call them are printed.
    kernels: list[str] = field(init=False, default_factory=list)
    #: The numbers (in ``graph_nodes`` order) of the nodes whose ``built_at`` the checks read.
    sites: list[int] = field(init=False, default_factory=list)

    #: The scalar-code printer of the backend's kernels (it records the functions they call).
    printer: NumbaPrinter = field(init=False)

    #: The backend's lowering rules for ops that are not fused into kernels.
    rules: ClassVar[RuleTable]
    #: Appended to the module's title: which backend it is for.
    backend_title: ClassVar[str] = ""
    #: What the compiled function does, for ``make_entry``'s docstring.
    entry_doc: ClassVar[str] = "argument checks, then the steps in order"
    #: The default of each required parameter (``=MISSING``: the check reports a missing argument).
    required_default = ""

    def __post_init__(self) -> None:
        names = self.names = Names()
        program = self.program
        for var, preferred in zip(program.inputs, self.options.parameter_names or [None] * len(program.inputs)):
            names.add(var, prefix="x", preferred=preferred)
        for var in program.shared:
            names.add(var, prefix="shared")
        self.constants = constants_of(program)
        for c in self.constants:
            names.add(c, prefix="c")
        self.node_numbers = {id(node): k for k, node in enumerate(graph_nodes(program.outputs, program.updates))}
        self.equal_lengths = EqualLengths()

    # --- values ----------------------------------------------------------------------------------
    def where(self, node: Apply) -> str:
        """The text reading, at run time, the line that built ``node``: `` (built at file:line)`` or empty."""
        k = self.node_numbers[id(node)]
        if k not in self.sites:
            self.sites.append(k)
        return f"built_at[{k}]"

    def length(self, k: Kernel, dim: int) -> str:
        """Loop dim ``dim``'s length, from an array that has it (CUDA kernels print the same text)."""
        sources = k.dim_sources(dim)
        return f"{self.names[sources[0][0]]}.shape[{sources[0][1]}]" if sources and not k.broadcastable[dim] else "1"

    def fail(self, error: str, *args: str, **keywords: str) -> str:
        """The line raising ``error`` (a function of ``codegen.errors``) called with ``args`` and
        ``keywords``: texts of Python expressions, those known only at run time marked :class:`Run`.
        Here, in Python, the line calls it directly; code compiled by Numba cannot build a message,
        so a backend's compiled steps raise the run-time values and let Python call it."""
        texts = [*args, *(f"{k}={v}" for k, v in keywords.items())]
        return f"raise {error}({', '.join(texts)})"

    def shape(self, var: Variable) -> Run:
        """``var``'s shape, for an error message."""
        return Run("()" if var.ndim == 0 else f"{self.names[var]}.shape")

    def host_value(self, var: Variable) -> str:
        """Text giving ``var``'s value where the driver runs (a backend with a device copies it back)."""
        return self.names[var]

    # --- the walk over the steps ------------------------------------------------------------------
    def steps(self, steps: list[Step]) -> list[str]:
        """Driver lines for ``steps`` in order; the kernels they call go to ``self.kernels``."""
        driver: list[str] = []
        for step in steps:
            if isinstance(step, Kernel):
                driver += self.kernel_step(step)
            elif isinstance(step, Branch):
                driver += self.branch(step)
            elif isinstance(step, ScanLoop):
                driver += self.scan_loop(step)
            elif isinstance(step, Loop):
                driver += self.loop(step)
            else:
                driver += self.rules.rule(step).emit(self, step, self.names.add(step.output))
                self.note_lengths(step)
        return driver

    def note_lengths(self, node: Apply) -> None:
        """What ``node``'s op says of its result's lengths: a dimshuffle's are its operand's, in its
        order; those of a SpecifyShape, a SubtensorGrad or an IncSubtensor are its first input's."""
        source, out = node.inputs[0], node.output
        if isinstance(node.op, DimShuffle):
            for k, d in enumerate(node.op.new_order):
                if d != "x":
                    self.equal_lengths.join((out, k), (source, d))
        elif isinstance(node.op, (SpecifyShape, SubtensorGrad, IncSubtensor)):
            for d in range(out.ndim):
                self.equal_lengths.join((out, d), (source, d))

    def nested_steps(self, steps: list[Step]) -> list[str]:
        """``steps`` inside an ``if`` or a ``for``: the lengths their checks compare are not known
        equal after them (they may not run)."""
        known = dict(self.equal_lengths.parent)
        try:
            return self.steps(steps)
        finally:
            self.equal_lengths.parent = known

    @abstractmethod
    def kernel_step(self, k: Kernel) -> list[str]:
        """Driver lines running kernel ``k`` (checks, allocation, the call); adds its text to ``kernels``."""

    def branch(self, branch: Branch) -> list[str]:
        """An ifelse as ``if``/``else``: each side runs only the steps its branch alone needs."""
        condition, then, otherwise = branch.node.inputs
        out = self.names.add(branch.node.output)
        then_lines, else_lines = self.branch_sides(branch)
        test, note = self.condition(condition)
        then_value, else_value = self.branch_values(branch)
        return [
            f"if {test}:{note}",
            *("    " + line for line in then_lines),
            f"    {out} = {then_value}",
            "else:",
            *("    " + line for line in else_lines),
            f"    {out} = {else_value}",
        ]

    def branch_sides(self, branch: Branch) -> tuple[list[str], list[str]]:
        """The driver lines of the true side and of the false side."""
        return self.nested_steps(branch.then_steps), self.nested_steps(branch.else_steps)

    def condition(self, var: Variable) -> tuple[str, str]:
        """An ifelse's condition as the driver tests it, and a comment on what that costs."""
        return self.host_value(var), ""

    def branch_values(self, branch: Branch) -> tuple[str, str]:
        """The ifelse's result on each side."""
        _, then, otherwise = branch.node.inputs
        return self.names[then], self.names[otherwise]

    def loop(self, loop: Loop) -> list[str]:
        """A Map as a plain ``for`` loop in the driver: allocate the result, then run the body's steps
        once per row and store the row. The body reads the outer values under their own names."""
        names, op = self.names, loop.node.op
        n, like = loop.inputs[:2]
        for placeholder, value in loop.bound:
            self.alias(placeholder, value)
        i, out = names.add(op.index), names.add(loop.output)
        lines, rows = self.row_count(n)
        body = self.nested_steps(loop.body.steps)
        return lines + [
            f"# {out}[{i}] for each {i} < {rows}; what does not depend on {i} is computed above, once",
            f"{out} = {self.empty(f'({rows},) + np.shape({names[like]})', loop.output.dtype)}",
            f"for {i} in range({rows}):",
            *("    " + line for line in body),
            f"    {self.store_row(out, i, names[loop.row], loop.row.ndim)}",
        ]

    def scan_loop(self, loop: ScanLoop) -> list[str]:
        """A scan as a ``for`` over the time steps. Each state lives in a buffer of its initial rows
        then one row per step (or, kept only for its last value, in two rows used in turn); the
        body reads the rows its taps name and the sequences' row ``t``, and its results are stored
        as the next rows. Outputs not fed back are allocated once the first row gives their shape."""
        names, core = self.names, loop.core
        n, sequences, initial, _ = core.split_inputs(loop.inputs)
        for placeholder, value in loop.bound:
            self.alias(placeholder, value)
        made = {node.op.which: node.output for node in loop.nodes}
        lines, steps = self.row_count(n)
        t = names.fresh("t")
        taken = steps if core.until is None else names.fresh("taken")  # the steps run (until's loop stops)
        what = repr(f"scan {core.name!r}" if core.name else "scan")
        where = self.where(loop.node)
        reads, stores, after, trimmed = [], [], [], []
        backwards = f"{steps} - 1 - {t}"  # the row of a sequence read (an output stored) backwards
        n_seq = len(sequences)
        for slot, seq, back in zip(core.sequence_slots, sequences, core.backwards):
            shapes = {names[seq]: self.shape(seq), "n_steps": Run(f"({steps},)")}
            lines += [
                f"if {names[seq]}.shape[0] != {steps}:",
                "    " + self.fail("shape_mismatch", what, where, **shapes),
            ]
            reads.append(f"{names.add(slot)} = {self.row_of(names[seq], backwards if back else t)}")
        buffers = []
        for k, (info, window, slots) in enumerate(zip(core.states, initial, core.state_slots)):
            result = names.add(made[k]) if k in made else names.fresh("state")
            shape = f"{names[window]}.shape[1:]"
            if info.keep_all:
                buffer, rows = result, f"({info.lag} + {steps},) + {shape}"
                lines += [
                    f"{buffer} = {self.empty(rows, window.dtype)}",
                    self.store_rows(buffer, "0", str(info.lag), names[window], window.ndim),
                ]
                reads += [
                    f"{names.add(s)} = {self.row_of(buffer, _plus(t, info.lag + tap))}"
                    for s, tap in zip(slots, info.taps)
                ]
                trimmed.append((buffer, f"{info.lag} + {taken}"))
            else:  # lag 1: row t % 2 holds the state before step t, row (t + 1) % 2 receives its next value
                buffer = names.fresh(f"{result}_rows")
                lines += [
                    f"{buffer} = {self.empty(f'(2,) + {shape}', window.dtype)}",
                    self.store_rows(buffer, "0", "1", names[window], window.ndim),
                ]
                reads.append(f"{names.add(slots[0])} = {self.row_of(buffer, f'{t} % 2')}")
                if k in made:  # a state no result reads (the backward pass's pending adjoints) is dropped
                    after.append(f"{result} = {self.rows_of(buffer, f'{taken} % 2', f'{taken} % 2 + 1')}")
            buffers.append(buffer)
        body = self.nested_steps(loop.body.steps)
        new_values = [names[v] for v in loop.body.outputs]
        for info, buffer, new, step in zip(core.states, buffers, new_values, core.steps):
            stores += self.row_check(buffer, new, step, what, where)
            stores.append(
                self.store_row(buffer, _plus(t, info.lag) if info.keep_all else f"({t} + 1) % 2", new, step.ndim)
            )
        for which, step in enumerate(core.steps[core.n_states :], start=core.n_states):
            row, back = new_values[which], core.backwards[n_seq + which - core.n_states]
            out = names.add(made[which]) if which in made else names.fresh("rows")
            rows = f"({steps},)" if step.ndim == 0 else f"({steps},) + {self.shape_of_row(row)}"
            lines.append(f"{out} = {self.empty('(' + '0, ' * (step.ndim + 1) + ')', step.dtype)}")
            stores += [f"if {t} == 0:", f"    {out} = {self.empty(rows, step.dtype)}"]
            stores += self.row_check(out, row, step, what, where)
            stores.append(self.store_row(out, backwards if back else t, row, step.ndim))
            trimmed.append((out, taken))
        if core.until is not None:  # stop after the first step whose condition holds; keep the rows made
            test, note = self.condition(loop.body.outputs[core.until])
            lines.append(f"{taken} = {steps}")
            stores += [f"if {test}:{note}", f"    {taken} = {t} + 1", "    break"]
            after += [f"{rows} = {self.rows_of(rows, '0', stop)}" for rows, stop in trimmed]
        for node in loop.nodes:  # the same result asked for by a node of the loop with residuals added
            if node.output is not made[node.op.which]:
                names.alias(node.output, made[node.op.which])
        states = ", ".join(names[w] for w in initial) or "none"
        return lines + [
            f"# {what[1:-1]}: step {t} reads a row of each sequence and the states before it ({states} at first)",
            f"for {t} in range({steps}):",
            *("    " + line for line in reads + body + stores),
            *after,
        ]

    def row_check(self, rows: str, row: str, step: Variable, what: str, where: str) -> list[str]:
        """Lines checking that a step's result has the shape of the rows it is stored in."""
        if step.ndim == 0:
            return []
        shapes = {"each_step": Run(f"{rows}.shape[1:]"), "this_step": Run(f"{row}.shape")}
        return [f"if {row}.shape != {rows}.shape[1:]:", "    " + self.fail("shape_mismatch", what, where, **shapes)]

    def row_of(self, array: str, i: str) -> str:
        """Row ``i`` of an array (a view)."""
        return f"{array}[{i}]"

    def rows_of(self, array: str, start: str, stop: str) -> str:
        """Rows ``start`` to ``stop`` of an array (a view)."""
        return f"{array}[{start}:{stop}]"

    @abstractmethod
    def store_rows(self, out: str, start: str, stop: str, value: str, ndim: int) -> str:
        """The line storing ``value`` (``ndim`` dimensions) in rows ``start`` to ``stop`` of ``out``."""

    def shape_of_row(self, row: str) -> str:
        """The shape of an array, as a tuple."""
        return f"{row}.shape"

    def alias(self, placeholder: Variable, value: Variable) -> None:
        """A loop body's placeholder reads the outer value under its name."""
        self.names.alias(placeholder, value)

    def row_count(self, n: Variable) -> tuple[list[str], str]:
        """Lines giving a loop's number of rows on the host, and its text."""
        return [], self.names[n]

    @abstractmethod
    def empty(self, shape: str, dtype: str) -> str:
        """An expression allocating an uninitialized array."""

    @abstractmethod
    def store_row(self, out: str, i: str, row: str, ndim: int) -> str:
        """The line storing ``row`` (``ndim`` dimensions) as row ``i`` of a loop's result."""

    # --- the module -------------------------------------------------------------------------------
    def emit(self) -> str:
        """The full text of the module."""
        program, names, options = self.program, self.names, self.options
        driver = self.driver(program.steps)
        for var in program.outputs:
            names.add(var)
        deferred = program.deferred_updates()
        for _, value in deferred:
            names.add(value)
        copied: set[int] = set()
        results = []
        for k, v in enumerate(program.outputs):
            if k in options.borrowed and v.ndim:
                # Out(borrow=True): the array as the program has it, even if it is an input or shared value.
                copied.add(id(v))
                results.append(names[v])
            else:
                results.append(self.output_text(v, copied))
        # New shared values never alias an input, an output or another shared value.
        new_values = [self.new_shared_text(value, copied) for _, value in deferred]

        title = f"symgrad function {options.name!r}" if options.name else "A function compiled by symgrad"
        header = [
            f'"""{title}{self.backend_title}',
            "",
            f"Generated by symgrad; content key {options.key}. Do not edit: the cache checks this text's hash.",
            '"""',
            *_summary(program, names, deferred, options.rewrites),
            "import numpy as np",
            *self.header_lines(),
            f"PARAMETERS = {tuple(names[v] for v in program.inputs)!r}  # the inputs, in order",
            f"SITES = {tuple(sorted(self.sites))!r}  # the nodes whose lines built_at gives, by number",
        ]
        entry, cells = self.entry_head()
        body = self.argument_lines()
        body += self.shared_lines(cells)
        body += driver
        value = results[0] if options.single else f"[{', '.join(results)}]"
        before_return = self.before_return()
        if before_return or deferred:
            note = "  # before the updates: outputs see the old values" if deferred else ""
            body.append(f"result = {value}{note}")
            body += before_return
            cell_of = {id(v): c for v, c in zip(program.shared, cells)}
            body += [self.store_shared(cell_of[id(target)], text) for (target, _), text in zip(deferred, new_values)]
            value = "result"
        body.append(f"return {value}")
        function = entry_name(options.name)
        entry += ["        " + line for line in self.wrap_body(body)]
        entry += ["", f"    {function}.__qualname__ = {function!r}  # for Python's own argument errors",
                  *("    " + line for line in self.entry_finish(function)), f"    return {function}"]  # fmt: skip
        return "\n".join(header) + "\n\n\n" + "\n\n\n".join(self.kernels + ["\n".join(entry)]) + "\n"

    def driver(self, steps: list[Step]) -> list[str]:
        """The lines of the compiled function that run the program's steps (a backend may compile
        them as a function of their own, and call it)."""
        return self.steps(steps)

    @abstractmethod
    def header_lines(self) -> list[str]:
        """The module's imports and constants, after ``import numpy as np``."""

    def function_imports(self, runtime: str) -> list[str]:
        """Imports of the functions the kernels' scalar code calls; ``runtime`` is the module of
        symgrad's own (``sigmoid``, ``digamma``, ...) on this backend."""
        printer = self.printer
        lines = [
            f"from {module} import {', '.join(sorted(names))}"
            for module, names in sorted(printer.module_imports.items())
        ]
        if printer.runtime_imports:
            lines.append(f"from {runtime} import {', '.join(sorted(printer.runtime_imports))}")
        return lines

    def entry_setup(self) -> list[str]:
        """Lines of ``make_entry`` run once, before the compiled function is defined."""
        return []

    def entry_finish(self, function: str) -> list[str]:
        """Lines of ``make_entry`` run once the compiled function (named ``function``) is defined."""
        return []

    def entry_head(self) -> tuple[list[str], list[str]]:
        """The first lines of ``make_entry`` (which unpacks the argument checks, the checked defaults of
        the last parameters and the shared variables' storage cells, then runs ``entry_setup``) up to the
        compiled function's ``def``; and the names of the storage cells."""
        names, program = self.names, self.program
        params = [names[v] for v in program.inputs]
        cells = [names.fresh(f"{names[v]}_storage") for v in program.shared]
        n_defaults = self.options.n_defaults
        defaults = [names.fresh(f"{p}_default") for p in params[len(params) - n_defaults :]]
        lines = ["def make_entry(checks, call_error, defaults, storage, built_at):",
                 f'    """The compiled function: {self.entry_doc}."""']  # fmt: skip
        unpacked = [([f"check_{p}" for p in params], "checks"), (defaults, "defaults"), (cells, "storage")]
        lines += [f"    {', '.join(group)}, = {source}" for group, source in unpacked if group]
        lines += ["    " + line for line in self.entry_setup()]
        required = len(params) - n_defaults
        signature = [p + self.required_default for p in params[:required]]
        signature += [f"{p}={d}" for p, d in zip(params[required:], defaults)]
        lines += [
            "",
            f"    def {entry_name(self.options.name)}({''.join(p + ', ' for p in signature)}*extra, **unknown):",
            "        if extra or unknown:",
            "            raise call_error(extra, unknown)",
        ]
        return lines, cells

    @abstractmethod
    def argument_lines(self) -> list[str]:
        """The compiled function's first lines: each argument checked (and converted)."""

    @abstractmethod
    def shared_lines(self, cells: list[str]) -> list[str]:
        """Lines reading each shared variable's value from its storage cell."""

    @abstractmethod
    def output_text(self, var: Variable, copied: set[int]) -> str:
        """An output as the caller gets it: a fresh array that aliases nothing the caller holds."""

    @abstractmethod
    def new_shared_text(self, var: Variable, copied: set[int]) -> str:
        """A shared variable's new value as stored in its cell."""

    def before_return(self) -> list[str]:
        """Lines run after the outputs are computed and before the shared variables are written."""
        return []

    @abstractmethod
    def store_shared(self, cell: str, value: str) -> str:
        """The line storing a shared variable's new value in its storage cell."""

    def wrap_body(self, body: list[str]) -> list[str]:
        """The compiled function's body, as the backend runs it."""
        return body

    def aliases(self, var: Variable, copied: set[int]) -> bool:
        """Whether returning ``var`` as is could alias an input, a constant, another output or what the
        next call overwrites (then it is copied); ``copied`` collects the variables already returned
        and the arrays they are views of. A view of an array the program made this call (the
        gradient of a cumsum, ``cumsum(w[::-1])[::-1]``) is returned as it is: nothing else holds it."""
        root = var
        while root.owner is not None and self._is_view(root.owner):
            root = root.owner.inputs[0]  # every view rule's result is a view of its first input
        aliased = root.owner is None or id(var) in copied or id(root) in copied
        copied.update((id(var), id(root)))
        return aliased

    def _is_view(self, node: Apply) -> bool:
        return self.rules.covers(type(node.op)) and self.rules.rule(node).is_view(node)


#: A graph whose expression, written out as a tree, is bigger than this is not printed in the
#: module header: a nested gradient reuses each level's values, so its tree grows exponentially
#: with depth while its graph grows linearly, and building that tree took minutes at depth 8,
#: for a line cut to 100 characters anyway. Nor is one nested deeper than FORMULA_DEPTH: SymPy
#: recursed past Python's limit printing a 60-layer network's gradient.
FORMULA_TREE_SIZE = 2000
FORMULA_DEPTH = 120


def _formula(var: Variable) -> str:
    """What ``var`` computes, as ``pp`` prints it (unsimplified), cut to fit one comment line."""
    nodes = toposort([var])
    tree: dict[int, int] = {}  # each variable's size written out as a tree
    depth: dict[int, int] = {}  # and its nesting: SymPy recurses through it (a 60-layer net's gradient)
    for node in nodes:
        tree[id(node.output)] = 1 + sum(tree.get(id(i), 1) for i in node.inputs)
        depth[id(node.output)] = 1 + max((depth.get(id(i), 0) for i in node.inputs), default=0)
    if tree.get(id(var), 1) > FORMULA_TREE_SIZE or depth.get(id(var), 0) > FORMULA_DEPTH:
        return f"(a graph of {len(nodes)} operations: see the kernels)"
    text = " ".join(pp(var, simplify=False).split())
    return text if len(text) <= 100 else text[:97] + "..."


def _summary(
    program: Program, names: Names, deferred: list[tuple[Variable, Variable]], rewrites: Sequence[str]
) -> list[str]:
    """The header comment: inputs, outputs (with their math), updates and the rewrites applied."""
    rows = [("Inputs:", f"{names[v]}: {v.type}") for v in program.inputs]
    rows += [("Shared:", f"{names[v]}: {v.type}") for v in program.shared]
    rows += [("Outputs:", f"{names[v]}: {v.type} = {_formula(v)}") for v in program.outputs]
    stored = {id(target) for target, _ in deferred}
    for target, value in program.updates:
        if value is target:
            continue  # an update to itself changes nothing
        how = f"from {names[value]}" if id(target) in stored else "in place"
        rows.append(("Updates:", f"{names[target]} <- {_formula(value)} ({how})"))
    rows.append(("Rewrites applied:", ", ".join(rewrites) or "none"))
    lines, previous = [], None
    for title, text in rows:
        lines.append(f"# {'' if title == previous else title:<18}{text}")
        previous = title
    return lines


def graph_nodes(outputs: Sequence[Variable], updates: Sequence[tuple[Variable, Variable]]) -> list[Apply]:
    """The nodes of a function's graph in a fixed order, which numbers them for ``built_at``: the
    outputs' and update values' nodes in topological order, then each Map's inner graph the same way."""
    return _nodes_of([*outputs, *(value for _, value in updates)])


def _nodes_of(outputs: list[Variable]) -> list[Apply]:
    nodes = toposort(outputs)
    scans: set[int] = set()
    for node in list(nodes):
        if isinstance(node.op, Map):
            nodes += _nodes_of([loop_body(node)[0]])
        elif isinstance(node.op, Scan) and id(node.op.core) not in scans:
            scans.add(id(node.op.core))
            nodes += _nodes_of(scan_body(node)[0])
    return nodes


def _plus(t: str, offset: int) -> str:
    return t if offset == 0 else f"{t} + {offset}"


def built_at(nodes: list[Apply], numbers: Sequence[int]) -> dict[int, str]:
    """What ``make_entry`` gets as ``built_at``: the line that built each numbered node, as the error
    messages add it (`` (built at file:line)``), or nothing for a node built where no line is known."""
    return {k: built_at_text(nodes[k]) for k in numbers}


def constant_text(c: Constant) -> str:
    """An array constant as an expression: a literal when small and finite, its bytes otherwise."""
    data = c.data
    if data.size == 0:  # a literal [] or [[]] would lose lengths of 0
        return f"np.zeros({data.shape}, dtype={np_dtype(c.dtype)})"
    if data.size <= 64 and np.all(np.isfinite(data)):
        return f"np.array({data.tolist()!r}, dtype={np_dtype(c.dtype)})"
    return f"np.frombuffer(bytes.fromhex({data.tobytes().hex()!r}), dtype={np_dtype(c.dtype)}).reshape({data.shape})"
