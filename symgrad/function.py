"""``theano.function`` and ``theano.In``: the front end's entry points.

``function`` checks what the user passed (inputs, outputs, updates, givens), applies the givens,
optimizes the graph, finds the shared variables it reads, and hands the back end one
``codegen.function.FunctionSpec``; compiling it is ``codegen``'s work. Codegen is imported on the
first call, so ``import symgrad`` stays cheap.

Each compiled function keeps its :class:`FunctionCall`, the checked arguments it was made from.
That is what pickling writes (the graph, the options and the shared variables' values, never
machine code: loading compiles again, which the disk cache makes a lookup) and what ``f.copy()``
compiles with other shared variables.
"""

from __future__ import annotations

import keyword
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .graph import Constant, Variable, graph_inputs, pack_graph, toposort, unpack_graph, user_line
from .mode import Mode, debug_runner, get_mode, perform_runner, watched_nodes
from .shared import SharedVariable
from .tensor.basic import as_tensor_variable
from .values import coerce

if TYPE_CHECKING:
    from codegen.function import FunctionSpec

_NO_DEFAULT = object()


class In:
    """An input with options, as in Theano: ``theano.In(x, value=1.0, name='rate')``.

    ``value`` is the default used when the argument is not passed; ``name`` is the keyword the
    compiled function accepts for it (the variable's own name otherwise). Inputs with a default
    come after those without. ``borrow`` is accepted for Theano's code: a compiled function never
    writes into its arguments, so lending one costs nothing either way.
    """

    def __init__(
        self, variable: Variable, name: str | None = None, value: Any = _NO_DEFAULT, borrow: bool = False
    ) -> None:
        self.variable = variable
        self.name = name
        self.value = value
        self.borrow = borrow

    @property
    def has_default(self) -> bool:
        return self.value is not _NO_DEFAULT

    def __repr__(self) -> str:
        default = f", value={self.value!r}" if self.has_default else ""
        return f"In({self.variable!r}{', name=' + repr(self.name) if self.name else ''}{default})"


class Out:
    """An output with options, as in Theano: ``theano.Out(y, borrow=True)``.

    ``borrow=True`` lets the call return the array the program computed without a defensive copy
    even where it would otherwise copy one: an output that is an input or a shared variable's
    value itself comes back as that very array, which a later call or ``set_value`` may change.
    """

    def __init__(self, variable: Variable, borrow: bool = False) -> None:
        self.variable = variable
        self.borrow = borrow

    def __repr__(self) -> str:
        return f"Out({self.variable!r}{', borrow=True' if self.borrow else ''})"


def function(
    inputs: Sequence[Variable | In],
    outputs: Variable | Sequence[Variable] | None = None,
    *,
    updates: Mapping | Sequence[tuple[Variable, Any]] | None = None,
    givens: Mapping | Sequence[tuple[Variable, Any]] | None = None,
    name: str | None = None,
    on_unused_input: str = "raise",
    allow_input_downcast: bool | None = None,
    exclude: Sequence[str] = (),
    mode: str | Mode | None = None,
    profile: bool | None = None,
    device: str | None = None,
    return_device_arrays: bool = False,
    trust_input: bool = False,
    no_default_updates: bool | Sequence[SharedVariable] = False,
):
    """Compile ``outputs`` as a function of ``inputs``; returns a callable.

    ``outputs`` may be one variable (the call returns one array), a list (a list of arrays) or
    ``None`` (the call returns ``[]``; useful with ``updates``). ``updates`` pairs shared variables
    with expressions for their new values: all are computed from the values before the call, then
    written. A shared variable with a ``default_update`` (each random stream's state) that the graph
    reads and ``updates`` leaves alone gets that update too, unless ``no_default_updates`` is
    ``True`` or lists it. ``givens`` pairs variables with what to use in their place. Arguments are checked
    against the inputs' types before any kernel runs; see ``symgrad.values`` for the casting rules.

    ``exclude`` names graph rewrites (or whole phases: ``'stabilize'``) not to apply, in addition to
    ``theano.config.excluded_rewrites``; ``symgrad.rewrite.REWRITES`` lists them. The compiled
    function's ``rewrites`` attribute names those that changed the graph, starting with those that
    ``T.grad`` applied to what it differentiated; ``exclude`` cannot undo those (they ran when the
    gradient was built, under ``theano.config.excluded_rewrites``).

    ``mode`` is ``'FAST_RUN'``, ``'FAST_COMPILE'``, ``'DebugMode'`` or a ``theano.Mode`` (see
    ``symgrad.mode``); ``None`` means ``theano.config.mode``. ``profile=True`` (``None``: ``theano.config.
    profile``) times each step at every call: ``f.profile.summary()`` prints the table.

    ``device`` is ``'cpu'`` (Numba kernels on the CPU) or ``'cuda'`` (numba.cuda kernels on an NVIDIA
    GPU; needs the ``cuda`` extra); ``None`` means ``theano.config.device``. With ``'cuda'``,
    arguments may be NumPy arrays or device arrays (anything with ``__cuda_array_interface__``),
    shared variables stay on the GPU between calls, and outputs come back as NumPy arrays, or as
    Numba device arrays with ``return_device_arrays=True``.

    On the CPU, arguments may be Dask arrays: the call then returns Dask arrays, computed one chunk
    at a time, with sums over the chunked rows combined in a tree (see ``symgrad.distributed``).

    ``trust_input=True`` (PyTensor's name) leaves out the argument checks on the CPU, for callers
    who guarantee each argument is a C-contiguous NumPy array of the input's dtype, ndim and static
    shape (a Python float or int for a 0-d float64 or int64 input): anything else then fails inside
    Numba, or gives wrong results. Shape checks between operands stay.
    """
    from codegen.function import FunctionSpec, compile_function, device_description, graph_key, recall_function

    from .config import config
    from .grad import rewrites_in_gradients
    from .rewrite import optimize, rebuild

    mode_given = config.mode if mode is None else mode  # kept as given (a name or a Mode), for pickling
    mode = get_mode(mode_given)
    profile = bool(config.profile if profile is None else profile)
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', got {on_unused_input!r}")
    device = config.device if device is None else device
    device_text = device_description(device)  # a clear error now, before any work, when there is no GPU
    if return_device_arrays and device != "cuda":
        raise ValueError("theano.function: return_device_arrays=True needs device='cuda'")
    if device == "cuda" and (mode.linker != "numba" or profile):
        raise ValueError(f"theano.function: {'profile=True' if profile else repr(mode)} needs device='cpu'")
    if profile and mode.linker == "debug":
        raise ValueError("theano.function: profile=True times the compiled steps, which DebugMode does not run alone")
    inputs_given = inputs
    inputs, parameter_names, defaults = _parameters(inputs, allow_input_downcast)
    single = outputs is not None and not isinstance(outputs, (list, tuple))
    out_list = [] if outputs is None else [outputs] if single else list(outputs)
    borrowed = tuple(k for k, o in enumerate(out_list) if isinstance(o, Out) and o.borrow)
    out_list = [as_tensor_variable(o.variable if isinstance(o, Out) else o) for o in out_list]
    update_pairs = _check_updates(_pairs(updates, "updates"))
    update_pairs += _default_updates(out_list, update_pairs, no_default_updates)
    replace = _check_givens(_pairs(givens, "givens"))
    everything = out_list + [v for _, v in update_pairs]
    if replace:
        everything = rebuild(everything, replace)
    # Used means used by the graph as written: rewrites may drop reads of values that only lent
    # a shape (the gradient of sum(x * w) with respect to x is w), which is no user mistake.
    used = {id(v) for v in graph_inputs(everything)}
    for v in inputs:
        if id(v) not in used:
            message = f"theano.function: input {v!r} is not used to compute any output"
            if on_unused_input == "raise":
                raise ValueError(message + "; pass on_unused_input='ignore' (or 'warn') if that is intended")
            if on_unused_input == "warn":
                warnings.warn(message, stacklevel=3)
    if isinstance(exclude, str):
        exclude = [exclude]  # one name, not its letters
    excluded = [*(exclude or ()), *config.excluded_rewrites, *mode.excluded_rewrites()]

    built_at = user_line()  # the caller's line, found once for both specs
    call = FunctionCall(
        [item if isinstance(item, In) else In(item) for item in inputs_given],
        out_list, single, update_pairs, replace, built_at,
        dict(name=name, on_unused_input=on_unused_input, allow_input_downcast=allow_input_downcast,
             exclude=tuple(exclude), mode=mode_given, profile=profile, device=device,
             return_device_arrays=return_device_arrays, trust_input=trust_input,
             no_default_updates=no_default_updates),
    )  # fmt: skip

    def spec_of(graph: list[Variable], rewrites: list[str]) -> FunctionSpec | None:
        """The spec of the function computing ``graph`` (the outputs, then the updates' values);
        ``None`` when it reads a variable that is neither an input nor shared."""
        outputs = graph[: len(out_list)]
        updates = [(t, v) for (t, _), v in zip(update_pairs, graph[len(out_list) :])]
        shared = _shared_of(graph, updates, inputs)
        if shared is None:
            return None
        updated = sorted((target for target, _ in updates), key=id)  # one global order: no deadlock
        return FunctionSpec(
            inputs=inputs,
            outputs=outputs,
            single=single,
            shared=shared,
            storage=[v.storage for v in shared],
            updates=updates,
            locks=[target.lock for target in updated],
            parameter_names=parameter_names,
            defaults=defaults,
            name=name,
            rewrites=tuple(rewrites),
            device=device,
            device_text=device_text,
            allow_input_downcast=allow_input_downcast,
            return_device_arrays=return_device_arrays,
            trust_input=trust_input,
            built_at=built_at,
            borrowed=borrowed,
            profile=profile and mode.linker == "numba",
            chunked=_chunked_call if device == "cpu" and not trust_input else None,
        )

    rewrites = rewrites_in_gradients(everything)  # those T.grad applied before differentiating
    before = spec_of(everything, rewrites)
    built = None
    if before is not None and mode.linker == "numba":
        # Built before (in this process or an earlier one)? Then its module is known: no rewriting.
        built = graph_key(before, excluded), before
        recalled = recall_function(*built)
        if recalled is not None:
            recalled.call = call
            return recalled
    everything = optimize(everything, rewrites, exclude=excluded)
    spec = spec_of(everything, rewrites)
    if spec is None:
        listed = {id(v) for v in inputs}
        unknown = next(v for v in graph_inputs(everything) if not isinstance(v, SharedVariable) and id(v) not in listed)
        raise ValueError(
            f"theano.function: the outputs depend on {unknown!r} ({unknown.type}), which is not in the inputs list"
        )
    if mode.linker == "numba":
        compiled = compile_function(spec, built)
    else:
        compiled = _python_linker(spec, mode, profile)
    compiled.call = call
    return compiled


def _chunked_call(function, arguments: tuple):
    """``function`` called with Dask arrays among ``arguments``: lazy, chunk by chunk (Dask is
    imported only now, so ``import symgrad`` never imports it)."""
    from .distributed import chunked_call

    try:
        return chunked_call(function, arguments)
    except Exception as err:  # raised inside the entry's handler: the ChunkedArguments signal is no news
        err.__suppress_context__ = True
        raise


def _python_linker(spec: FunctionSpec, mode: Mode, profile: bool):
    """The function of ``spec`` run by the 'py' linker (each node's ``perform``) or checked by DebugMode."""
    from codegen.function import StepProfile, compile_function, python_function

    roots = [*spec.inputs, *spec.shared]
    results = [*spec.outputs, *(value for _, value in spec.updates)]
    if mode.linker == "py":
        n_nodes = len(toposort(results))
        timing = ([0.0] * n_nodes, [0] * n_nodes) if profile else None
        run, steps = perform_runner(roots, results, timing)
        source = "\n".join(["# Run by the 'py' linker: each node's NumPy reference (op.perform), in this order",
                             *(f"#   {step}" for step in steps)])  # fmt: skip
        return python_function(spec, run, source, StepProfile(steps, *timing) if timing else None)
    # DebugMode: a build returning every node's value too, and the fused build, both without the
    # updates (written once checked)
    nodes = watched_nodes(results)
    build = replace(spec, outputs=[*results, *(node.output for node in nodes)], single=False, updates=[], locks=[])
    inner = compile_function(build)
    fused = compile_function(replace(spec, outputs=results, single=False, updates=[], locks=[]))
    run = debug_runner(mode, roots, len(spec.inputs), results, nodes, inner, fused)
    return python_function(spec, run, inner._module)


class FunctionCall:
    """The checked arguments of one ``theano.function`` call, enough to compile it again.

    ``inputs`` are ``In`` specs, ``outputs`` the output variables (``single``: the call returns one
    array, not a list), ``updates`` (shared variable, new value) pairs, ``givens`` the replacements,
    ``options`` the remaining keywords. Pickled, it writes its graph flat (``pack_graph``), so that
    deep graphs pickle, and unpickled, it builds the graph through the hash-consing constructors.
    """

    def __init__(
        self,
        inputs: list[In],
        outputs: list[Variable],
        single: bool,
        updates: list[tuple[Variable, Variable]],
        givens: dict[Variable, Variable],
        built_at: str | None,
        options: dict[str, Any],
    ) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.single = single
        self.updates = updates
        self.givens = givens
        self.built_at = built_at
        self.options = options
        self._maker = None

    def compile(self):
        """The compiled function (from the disk cache when an earlier process built it)."""
        compiled = function(
            self.inputs,
            self.outputs[0] if self.single else self.outputs,
            updates=self.updates,
            givens=list(self.givens.items()),
            **self.options,
        )
        compiled.built_at = compiled.call.built_at = self.built_at
        return compiled

    def copy(
        self,
        share_memory: bool = False,
        swap: Mapping[SharedVariable, SharedVariable] | None = None,
        delete_updates: bool = False,
        name: str | None = None,
    ):
        """The function compiled again with other shared variables; see ``Function.copy``."""
        from .rewrite import rebuild

        graph = [*self.outputs, *(v for _, v in self.updates), *self.givens.values()]
        used = _shared_of(graph, self.updates, [spec.variable for spec in self.inputs]) or []
        swap = dict(swap or {})
        for old, new in swap.items():
            if not any(old is s for s in used):
                raise ValueError(f"copy: swap replaces {old!r}, which is not a shared variable this function uses")
            if not isinstance(new, SharedVariable) or new.type.dtype != old.type.dtype or new.ndim != old.ndim:
                raise TypeError(f"copy: swap replaces {old!r} ({old.type}) with {new!r}, which is not a shared "
                                "variable of the same type")  # fmt: skip
        replace: dict[Variable, Variable] = {}
        for s in used:
            if s in swap:
                replace[s] = swap[s]
            elif not share_memory:
                replace[s] = type(s)(s.type, np.asarray(s.get_value()), s.name)
        graph = rebuild(graph, replace)
        n_out, n_up = len(self.outputs), len(self.updates)
        new_values = graph[n_out : n_out + n_up]
        updates = [] if delete_updates else [
            (replace.get(target, target), value) for (target, _), value in zip(self.updates, new_values)
        ]  # fmt: skip
        givens = dict(zip(self.givens, graph[n_out + n_up :]))
        options = dict(self.options, name=self.options["name"] if name is None else name)
        if delete_updates:  # an input that only the updates read is no mistake of the caller's
            options["on_unused_input"] = "ignore"
        return FunctionCall(self.inputs, graph[:n_out], self.single, updates, givens, self.built_at, options).compile()

    @property
    def maker(self):
        """The optimized graph (``symgrad.fgraph.FunctionMaker``), optimized again on first use."""
        from .fgraph import FunctionGraph, FunctionMaker
        from .grad import rewrites_in_gradients
        from .rewrite import optimize, rebuild

        if self._maker is None:
            graph = [*self.outputs, *(v for _, v in self.updates)]
            if self.givens:
                graph = rebuild(graph, self.givens)
            excluded = [*self.options["exclude"], *get_mode(self.options["mode"]).excluded_rewrites()]
            graph = optimize(graph, rewrites_in_gradients(graph), exclude=excluded)
            inputs = [spec.variable for spec in self.inputs]
            shared = _shared_of(graph, self.updates, inputs) or []
            outputs = graph[: len(self.outputs)]
            self._maker = FunctionMaker(FunctionGraph(inputs + shared, graph), inputs, outputs)
        return self._maker

    def __reduce__(self) -> tuple:
        keys = list(self.givens)
        variables = [
            *(spec.variable for spec in self.inputs), *self.outputs, *(x for pair in self.updates for x in pair),
            *keys, *(self.givens[k] for k in keys),
        ]  # fmt: skip
        entries, numbers = pack_graph(variables)
        inputs = [(spec.name, spec.has_default, spec.value if spec.has_default else None) for spec in self.inputs]
        layout = (len(self.outputs), len(self.updates))
        return _unpack_call, (entries, numbers, inputs, layout, self.single, self.built_at, self.options)


def _unpack_call(entries, numbers, inputs, layout, single, built_at, options) -> FunctionCall:
    """The :class:`FunctionCall` that ``FunctionCall.__reduce__`` wrote."""
    variables = unpack_graph(entries, numbers)
    n_in, (n_out, n_up) = len(inputs), layout
    specs = [
        In(v, name, value) if has_default else In(v, name)
        for v, (name, has_default, value) in zip(variables, inputs)
    ]  # fmt: skip
    rest = variables[n_in:]
    outputs, pairs, givens = rest[:n_out], rest[n_out : n_out + 2 * n_up], rest[n_out + 2 * n_up :]
    half = len(givens) // 2
    updates = list(zip(pairs[::2], pairs[1::2]))
    return FunctionCall(specs, outputs, single, updates, dict(zip(givens[:half], givens[half:])), built_at, options)


def _shared_of(
    graph: list[Variable], updates: list[tuple[Variable, Variable]], inputs: list[Variable]
) -> list[Variable] | None:
    """The shared variables ``graph`` reads or ``updates`` write, in a fixed order; ``None`` if the
    graph reads a variable that is neither one of them nor in ``inputs``."""
    listed = {id(v) for v in inputs}
    shared: list[Variable] = []
    for v in graph_inputs(graph) + [t for t, _ in updates]:
        if isinstance(v, SharedVariable):
            if all(v is not s for s in shared):
                shared.append(v)
        elif id(v) not in listed:
            return None
    return shared


def _pairs(value: Any, what: str) -> list[tuple[Any, Any]]:
    """``updates=``/``givens=`` as a list of pairs: from a dict, or a list or tuple of pairs."""
    if value is None:
        return []
    items = list(value.items()) if isinstance(value, Mapping) else value
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"theano.function: {what} must be a dict or a list of (variable, value) pairs, "
                        f"got {type(value).__name__}")  # fmt: skip
    if len(items) == 2 and isinstance(items[0], Variable) and not isinstance(items[1], (list, tuple)):
        items = [items]  # a single pair, as Theano accepts
    pairs = []
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise TypeError(f"theano.function: each entry of {what} must be a (variable, value) pair, got {item!r}")
        pairs.append(tuple(item))
    return pairs


def _check_updates(pairs: list[tuple[Any, Any]]) -> list[tuple[Variable, Variable]]:
    """The update pairs, each a shared variable and a value of its type, no target twice."""
    checked: list[tuple[Variable, Variable]] = []
    for target, value in pairs:
        if not isinstance(target, SharedVariable):
            raise TypeError(f"theano.function: update target {target!r} is not a shared variable; "
                            "only variables made with theano.shared can be updated")  # fmt: skip
        if any(t is target for t, _ in checked):
            raise ValueError(f"theano.function: shared variable {target!r} is updated twice")
        value = as_tensor_variable(value)
        if value.dtype != target.dtype or value.ndim != target.ndim:
            raise TypeError(
                f"theano.function: the update of {target!r} must have its type {target.type}, got {value.type} "
                f"(an update cannot change the dtype or number of dimensions; cast it with T.cast)"
            )
        if any(n is not None and m is not None and n != m for n, m in zip(target.type.shape, value.type.shape)):
            raise ValueError(f"theano.function: the update of {target!r} has shape {value.type}, not {target.type}")
        checked.append((target, value))
    return checked


def _default_updates(
    outputs: list[Variable], updates: list[tuple[Variable, Variable]], skip: bool | Sequence[SharedVariable]
) -> list[tuple[Variable, Variable]]:
    """The default updates of the shared variables that ``outputs`` and ``updates`` read (and that
    those updates read in turn), except the targets of ``updates`` and those ``skip`` names."""
    if skip is True:
        return []
    skip = [] if skip is False or skip is None else list(skip)
    for v in skip:
        if not isinstance(v, SharedVariable):
            raise TypeError(f"theano.function: no_default_updates lists {v!r}, which is not a shared variable")
    done = {id(v) for v in skip} | {id(t) for t, _ in updates}
    found: list[tuple[Any, Any]] = []
    pending = [*outputs, *(v for _, v in updates)]
    while pending:
        new = [v for v in graph_inputs(pending) if getattr(v, "default_update", None) is not None and id(v) not in done]
        done.update(id(v) for v in new)
        found += [(v, v.default_update) for v in new]
        pending = [v.default_update for v in new]
    return _check_updates(found)


def _check_givens(pairs: list[tuple[Any, Any]]) -> dict[Variable, Variable]:
    """The replacements of ``givens=``: free variables, each by a value of its type."""
    replace: dict[Variable, Variable] = {}
    for old, new in pairs:
        if not isinstance(old, Variable) or old.owner is not None or isinstance(old, Constant):
            raise TypeError(f"theano.function: givens can only replace free variables (inputs or shared "
                            f"variables), got {old!r}")  # fmt: skip
        new = as_tensor_variable(new)
        if new.dtype != old.dtype or new.ndim != old.ndim:
            raise TypeError(f"theano.function: givens replaces {old!r} ({old.type}) with a value of type {new.type}; "
                            "the types must agree")  # fmt: skip
        replace[old] = new
    return replace


def _parameters(inputs: Sequence[Any], allow_downcast: bool | None) -> tuple[list[Variable], list, list]:
    """The input variables, their parameter names and the checked default values (``theano.In``)."""
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"theano.function: inputs must be a list of variables, got {type(inputs).__name__}")
    variables, names, defaults = [], [], []
    for i, item in enumerate(inputs):
        spec = item if isinstance(item, In) else In(item)
        v = spec.variable
        if not isinstance(v, Variable):
            raise TypeError(f"theano.function: inputs[{i}] is a {type(v).__name__}, not a symbolic variable")
        if isinstance(v, SharedVariable):
            raise TypeError(f"theano.function: inputs[{i}] ({v!r}) is a shared variable; shared variables are "
                            "implicit inputs (their value is used), so leave them out of the inputs list")  # fmt: skip
        if isinstance(v, Constant) or v.owner is not None:
            raise TypeError(f"theano.function: inputs[{i}] ({v!r}) is computed from other variables or is a "
                            "constant; inputs must be free variables such as T.dmatrix('x')")  # fmt: skip
        if any(v is w for w in variables):
            raise ValueError(f"theano.function: input {v!r} is listed twice")
        label = spec.name or v.name or f"inputs[{i}]"
        if spec.name is not None and (not spec.name.isidentifier() or keyword.iskeyword(spec.name)):
            raise ValueError(f"theano.function: In(name={spec.name!r}) is not a valid Python parameter name")
        if spec.has_default:
            defaults.append(coerce(spec.value, v.type, f"the default value of input {label!r}", allow_downcast))
        elif defaults:
            raise ValueError(f"theano.function: input {label!r} has no default value but follows one that has; "
                             "inputs with defaults (theano.In(..., value=...)) must come last")  # fmt: skip
        variables.append(v)
        names.append(spec.name)
    return variables, names, defaults
