"""Theano's loops: ``scan`` and the ``map``, ``reduce``, ``foldl`` and ``foldr`` built on it.

``scan`` turns Theano's arguments into the one form of ``ops/scan.py``: sequence taps become
slices of the sequences (each read at row ``t``), ``go_backwards`` reverses them, initial states
become windows of as many rows as their largest lag, and shared variables that the step updates
become states of their own whose last value is the update returned to ``theano.function``. The
loop itself is compiled: the back end prints one ``for`` loop whose body is the step's fused
kernels, with the step's loop-invariant work computed once before it. Random streams the step
draws from advance every step: their states are carried like the step's updates. A step's
``until(condition)`` becomes the loop's last output, the condition the loop stops on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from numbers import Integral
from typing import Any

from .graph import Constant, Variable, graph_inputs, toposort
from .ops.scan import StateInfo, as_row, build_scan
from .shared import SharedVariable

__all__ = ["scan", "scan_checkpoints", "map", "reduce", "foldl", "foldr", "until"]


def scan(
    fn: Callable[..., Any],
    sequences: Any = None,
    outputs_info: Any = None,
    non_sequences: Any = None,
    n_steps: Any = None,
    truncate_gradient: int = -1,
    go_backwards: bool = False,
    mode: Any = None,
    name: str | None = None,
    profile: bool = False,
    allow_gc: bool | None = None,
    strict: bool = False,
    return_list: bool = False,
) -> tuple[Variable | list[Variable], OrderedDict]:
    """Theano's ``scan``: call ``fn`` once per step and stack what it returns.

    ``fn`` receives, in order, the row of each sequence (one argument per tap, for sequences given
    as ``dict(input=x, taps=[...])``), the previous values of each output that is fed back (one per
    tap; ``outputs_info`` entries of ``None`` are not fed back), then the ``non_sequences``. It
    returns the outputs of the step, optionally with a dict of shared-variable updates, and
    optionally ``until(condition)``: the loop then stops after the first step where it holds.

    ``truncate_gradient=k`` (k >= 0) is Theano's truncated backpropagation through time: the
    gradient goes back through the last ``k`` steps only (the sequences' rows before them get zero
    gradients, the initial states only what those steps read of them); -1, the full gradient.

    Returns ``(outputs, updates)``: each output stacked over the steps (a list when there are
    several, or when ``return_list``), and the updates to pass to ``theano.function``.
    ``mode``, ``profile`` and ``allow_gc`` are accepted for Theano's sake and have no effect (the
    loop is compiled with the function that contains it).
    """
    from . import tensor as T

    where = f"scan{f' {name!r}' if name else ''}"
    if not isinstance(truncate_gradient, Integral) or truncate_gradient < -1:
        raise ValueError(
            f"{where}: truncate_gradient must be -1 (the gradient goes back through every step) or the "
            f"number of last steps it goes back through, got {truncate_gradient!r}"
        )
    seq_specs = [_sequence_spec(s, where) for s in _as_list(sequences)]
    out_specs = [_output_spec(o, where) for o in _as_list(outputs_info)]
    non_seqs = [T.as_tensor_variable(v) if not isinstance(v, Variable) else v for v in _as_list(non_sequences)]

    # Sequences: each tap a slice of the (possibly reversed) sequence, read at row t.
    rows_of: list[tuple[Variable, int, int]] = []  # (sequence, first row of tap, span of its taps)
    for seq, taps in seq_specs:
        if go_backwards:
            seq = seq[::-1]
        low, high = min(min(taps), 0), max(max(taps), 0)
        rows_of.extend((seq, tap - low, high - low) for tap in taps)
    n = _number_of_steps(n_steps, [(seq, span) for seq, _, span in rows_of], where)
    sliced = [seq[first : first + n] for seq, first, _ in rows_of]

    states = [(k, spec) for k, spec in enumerate(out_specs) if spec is not None]
    initial = [_initial_window(init, taps, where) for _, (init, taps) in states]
    infos = [StateInfo(tuple(sorted(taps))) for _, (_, taps) in states]

    # fn is called once, on stand-ins for the loop's slots; the body is that graph, rebuilt on
    # the real slots, with every shared variable the step updates read from a state of its own.
    rows = [_slot_like(s) for s in sliced]
    taps_in_order = [[_slot_like(w) for _ in info.taps] for w, info in zip(initial, infos)]
    args = list(rows)
    for state_taps, (_, (_, wanted)) in zip(taps_in_order, states):
        by_tap = dict(zip(sorted(wanted), state_taps))
        args.extend(by_tap[t] for t in wanted)  # in the order the user gave the taps
    for arg, parameter in zip(args, _parameter_names(fn)):
        arg.name = parameter  # the generated code reads as the step function was written
    outputs, updates_given, condition = _step_results(fn(*args, *non_seqs), where)
    if not out_specs:
        out_specs = [None] * len(outputs)
    if len(outputs) != len(out_specs):
        raise ValueError(
            f"{where}: the step returns {len(outputs)} output(s) but outputs_info describes {len(out_specs)}"
        )
    outputs = [T.as_tensor_variable(o) for o in outputs]
    updated = list(updates_given)
    new_values = [T.as_tensor_variable(updates_given[s]) for s in updated]
    for s in updated:
        if not isinstance(s, SharedVariable):
            raise TypeError(f"{where}: the step's updates must be keyed by shared variables, got {s!r}")
    # A random stream the step draws from advances every step (its default update): its state is
    # carried through the loop like the step's own updates, and its last value is an update too.
    pending = outputs + new_values
    while pending:
        drawn = [v for v in graph_inputs(pending) if getattr(v, "default_update", None) is not None]
        drawn = [v for v in drawn if all(v is not s for s in updated)]
        updated += drawn
        new_values += [v.default_update for v in drawn]
        pending = [v.default_update for v in drawn]
    stops = [] if condition is None else [condition]
    if strict:
        _check_strict(outputs + new_values + stops, rows, taps_in_order, non_seqs, where)
    fed_back = [k for k, _ in states]
    not_fed_back = [k for k, spec in enumerate(out_specs) if spec is None]

    def body(slots: list[Variable], taps: list[list[Variable]]) -> list[Variable]:
        from .rewrite import rebuild

        replace = dict(zip(rows, slots))
        for stand_ins, real in zip(taps_in_order, taps):
            replace.update(zip(stand_ins, real))
        replace.update((s, t[0]) for s, t in zip(updated, taps[len(states) :]))
        ordered = [outputs[k] for k in fed_back] + new_values + [outputs[k] for k in not_fed_back] + stops
        return rebuild(ordered, replace)

    windows = initial + [as_row(s) for s in updated]
    # A random state is kept at every step (a few numbers each): the backward pass draws the same
    # numbers again from them, rather than running the loop again to find them.
    infos = infos + [StateInfo((-1,), keep_all=s.default_update is not None) for s in updated]
    slot_names = [v.name for v in rows] + [v.name for taps in taps_in_order for v in taps]
    results = build_scan(n, sliced, windows, infos, body, name=name, slot_names=slot_names,
                         truncate_gradient=int(truncate_gradient), until=bool(stops))  # fmt: skip
    n_states = len(states)
    by_position = {k: buffer[info.lag :] for k, info, buffer in zip(fed_back, infos, results)}
    by_position.update(zip(not_fed_back, results[n_states + len(updated) : len(results) - len(stops)]))
    hidden_results = results[n_states : n_states + len(updated)]
    outputs = [_named(by_position[k], name) for k in range(len(out_specs))]
    updates = OrderedDict((s, states[-1]) for s, states in zip(updated, hidden_results))
    if len(outputs) == 1 and not return_list:
        return outputs[0], updates
    return outputs, updates


def scan_checkpoints(
    fn: Callable[..., Any],
    sequences: Any = None,
    outputs_info: Any = None,
    non_sequences: Any = None,
    name: str | None = None,
    n_steps: Any = None,
    save_every_N: int = 10,
) -> tuple[Variable | list[Variable], OrderedDict]:
    """Theano's ``scan_checkpoints``: a scan whose gradient stores every ``save_every_N``-th state
    only and computes the others again, chunk by chunk, as it goes back (memory ``n / N`` states
    instead of ``n``, for one more forward pass).

    It is a scan over chunks of ``save_every_N`` steps whose step is a scan over the chunk: the
    outer loop keeps the states at the chunks' ends, and the backward pass of each chunk runs the
    inner loop again. Returns the states at the end of each chunk (every ``save_every_N``-th
    state), and the updates. Every output must be fed back with one tap (``outputs_info`` holds
    initial values), and the number of steps must be a multiple of ``save_every_N``.
    """
    from . import tensor as T

    where = f"scan_checkpoints{f' {name!r}' if name else ''}"
    every = int(save_every_N)
    if every < 1:
        raise ValueError(f"{where}: save_every_N must be a positive int, got {save_every_N!r}")
    sequences, initial = [T.as_tensor_variable(s) for s in _as_list(sequences)], _as_list(outputs_info)
    if not initial or any(o is None or isinstance(o, Mapping) for o in initial):
        raise ValueError(f"{where}: every output must be fed back with one tap: give its initial value in outputs_info")
    if n_steps is None and not sequences:
        raise ValueError(f"{where}: give n_steps, or at least one sequence to take the number of steps from")
    if isinstance(n_steps, int) and n_steps % every:
        raise ValueError(f"{where}: n_steps={n_steps} is not a multiple of save_every_N={every}")
    # (With sequences, a number of steps that is not a multiple fails their reshape into chunks.)
    n = T.cast(n_steps if n_steps is not None else sequences[0].shape[0], "int64")
    chunks = n // every
    # Each sequence's first n rows, as chunks of save_every_N rows: (n / N, N, ...).
    chunked = [s[:n].reshape((chunks, every, *(s.shape[d] for d in range(1, s.ndim))), ndim=s.ndim + 1)
               for s in sequences]  # fmt: skip
    n_seq, n_states = len(sequences), len(initial)

    def chunk(*args):
        rows, states, rest = args[:n_seq], args[n_seq : n_seq + n_states], args[n_seq + n_states :]
        outputs, updates = scan(fn, list(rows), list(states), list(rest), n_steps=every, return_list=True, name=name)
        return [o[-1] for o in outputs], updates

    ends, updates = scan(chunk, chunked, initial, non_sequences, n_steps=chunks, return_list=True, name=name)
    return (ends[0] if len(ends) == 1 else ends), updates


def map(
    fn: Callable[..., Any],
    sequences: Any,
    non_sequences: Any = None,
    truncate_gradient: int = -1,
    go_backwards: bool = False,
    mode: Any = None,
    name: str | None = None,
) -> tuple[Variable | list[Variable], OrderedDict]:
    """``fn`` applied to each row of ``sequences``, stacked (a scan with no state)."""
    return scan(fn, sequences, [], non_sequences, None, truncate_gradient, go_backwards, mode, name)


def reduce(
    fn: Callable[..., Any],
    sequences: Any,
    outputs_info: Any,
    non_sequences: Any = None,
    go_backwards: bool = False,
    mode: Any = None,
    name: str | None = None,
) -> tuple[Variable | list[Variable], OrderedDict]:
    """The final value of each state of a scan (``fn(row, accumulated)`` folded over the rows)."""
    outputs, updates = scan(fn, sequences, outputs_info, non_sequences, go_backwards=go_backwards, mode=mode,
                            name=name, return_list=True)  # fmt: skip
    last = [o[-1] for o in outputs]
    return (last[0] if len(last) == 1 else last), updates


def foldl(fn: Callable[..., Any], sequences: Any, outputs_info: Any, non_sequences: Any = None,
          mode: Any = None, name: str | None = None) -> tuple[Variable | list[Variable], OrderedDict]:  # fmt: skip
    """``reduce`` from the first row to the last."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, mode=mode, name=name)


def foldr(fn: Callable[..., Any], sequences: Any, outputs_info: Any, non_sequences: Any = None,
          mode: Any = None, name: str | None = None) -> tuple[Variable | list[Variable], OrderedDict]:  # fmt: skip
    """``reduce`` from the last row to the first."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, mode=mode, name=name)


class until:  # noqa: N801 - Theano's name
    """Theano's ``scan_module.until``: a step that returns ``outputs, until(condition)`` (or
    ``outputs, updates, until(condition)``) stops the loop after the first step where the scalar
    ``condition`` holds. The outputs have the rows of the steps run; ``n_steps`` (or the
    sequences' length) is the most steps the loop runs."""

    def __init__(self, condition: Any) -> None:
        from . import tensor as T

        condition = T.as_tensor_variable(condition)
        if condition.ndim != 0:
            raise TypeError(f"until: the condition must be a scalar, got {condition!r} ({condition.type})")
        self.condition = condition if condition.dtype == "bool" else T.neq(condition, 0)


# ---------------------------------------------------------------------------------------------


def _as_list(x: Any) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _sequence_spec(s: Any, where: str) -> tuple[Variable, list[int]]:
    from . import tensor as T

    if isinstance(s, Mapping):
        unknown = set(s) - {"input", "taps"}
        if unknown or "input" not in s:
            raise TypeError(f"{where}: a sequence given as a dict takes the keys 'input' and 'taps', got {sorted(s)}")
        seq, taps = T.as_tensor_variable(s["input"]), list(s.get("taps", [0]) or [])
    else:
        seq, taps = T.as_tensor_variable(s), [0]
    if seq.ndim == 0:
        raise TypeError(f"{where}: sequence {seq!r} is a scalar; a sequence needs a leading dimension to iterate over")
    if not taps or any(not isinstance(t, int) for t in taps):
        raise TypeError(f"{where}: the taps of sequence {seq!r} must be a non-empty list of ints, got {taps!r}")
    return seq, taps


def _output_spec(o: Any, where: str) -> tuple[Variable, list[int]] | None:
    from . import tensor as T

    if o is None:
        return None
    if isinstance(o, Mapping):
        unknown = set(o) - {"initial", "taps"}
        if unknown:
            raise TypeError(f"{where}: an outputs_info dict takes the keys 'initial' and 'taps', got {sorted(o)}")
        if o.get("initial") is None:
            return None
        taps = list(o.get("taps", [-1]) or [])
        if not taps or any(not isinstance(t, int) or t >= 0 for t in taps):
            raise ValueError(f"{where}: the taps of a fed-back output must be negative ints, got {taps!r}")
        return T.as_tensor_variable(o["initial"]), taps
    return T.as_tensor_variable(o), [-1]


def _initial_window(init: Variable, taps: list[int], where: str) -> Variable:
    """A state's first ``L`` rows: its initial value as one row (lag 1), or the first ``L`` rows
    of the initial value Theano takes for larger lags."""
    lag = -min(taps)
    if lag == 1 and taps == [-1]:
        return as_row(init)
    if init.ndim == 0:
        raise ValueError(f"{where}: taps {taps} need an initial value with a leading dimension of at least {lag} rows")
    return init[:lag]


def _number_of_steps(n_steps: Any, spans: list[tuple[Variable, int]], where: str) -> Variable:
    """The loop's length: ``n_steps`` if given, else what the sequences allow (the shortest)."""
    from . import tensor as T

    if n_steps is not None:
        n = T.as_tensor_variable(n_steps)
        if n.ndim != 0 or not n.dtype.startswith(("int", "uint")):
            raise TypeError(f"{where}: n_steps must be an integer scalar, got {n!r} ({n.type})")
        if isinstance(n, Constant) and int(n.data) < 0:
            raise ValueError(
                f"{where}: n_steps={int(n.data)} is negative; reverse the sequences with go_backwards=True"
            )
        return T.cast(n, "int64")
    if not spans:
        raise ValueError(f"{where}: give n_steps, or at least one sequence to take the number of steps from")
    lengths = [T.cast(seq.shape[0], "int64") - span for seq, span in spans]
    n = lengths[0]
    for other in lengths[1:]:
        n = T.minimum(n, other)
    return T.maximum(n, 0)


def _parameter_names(fn: Callable[..., Any]) -> list[str]:
    """The names of ``fn``'s positional parameters, in order (none when they cannot be read)."""
    import inspect

    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds]


def _slot_like(x: Variable) -> Variable:
    from .graph import make_variable
    from .types import TensorType

    return make_variable(TensorType(x.dtype, x.type.shape[1:]), name=x.name)


def _step_results(result: Any, where: str) -> tuple[list[Any], dict, Variable | None]:
    """What a step returned, as (outputs, updates, the condition of its ``until`` or None)."""
    condition = None
    if isinstance(result, until):
        return [], {}, result.condition
    if isinstance(result, (tuple, list)) and any(isinstance(r, until) for r in result):
        stops = [r for r in result if isinstance(r, until)]
        if len(stops) > 1:
            raise TypeError(f"{where}: the step returns {len(stops)} until(...) conditions; return one")
        condition, result = stops[0].condition, tuple(r for r in result if not isinstance(r, until))
        result = result[0] if len(result) == 1 else result
    if isinstance(result, Mapping):
        return [], dict(result), condition
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], Mapping):
        outputs, updates = result
        return _as_list(outputs), dict(updates), condition
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Mapping):
        updates, outputs = result
        return _as_list(outputs), dict(updates), condition
    outputs = _as_list(result)
    for o in outputs:
        if isinstance(o, Mapping):
            raise TypeError(f"{where}: the step returns a dict among its outputs; return (outputs, updates)")
    return outputs, {}, condition


def _check_strict(outputs: list[Variable], rows: list[Variable], taps: list[list[Variable]],
                  non_seqs: list[Variable], where: str) -> None:  # fmt: skip
    """``strict=True``: the step may read only its arguments (and constants)."""
    allowed = {id(v) for v in [*rows, *(t for ts in taps for t in ts), *non_seqs]}
    for node in toposort(outputs):
        for v in node.inputs:
            if v.owner is None and not isinstance(v, Constant) and id(v) not in allowed:
                raise ValueError(
                    f"{where}: with strict=True the step may read only its arguments, but it reads {v!r}; "
                    "pass it in non_sequences"
                )


def _named(x: Variable, name: str | None) -> Variable:
    if name and x.name is None:
        x.name = name
    return x
