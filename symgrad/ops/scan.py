"""``Scan``: a loop over time steps whose body is a graph, with states carried from step to step.

Theano's ``scan`` (``symgrad/scan.py`` is its front end) reduces to one form here, built by
:func:`build_scan`:

- *sequences*: outer arrays of exactly ``n`` rows; step ``t`` reads row ``t`` of each (taps and
  ``go_backwards`` are slices and reversals the front end makes outside the loop);
- *states*: each has an initial window of ``L`` rows (``L`` its largest lag) and lags ``taps``
  (negative); step ``t`` reads, for lag ``-l``, the state ``l`` steps back and computes the next
  one. A state keeps either every row, its *buffer* of ``L + n`` rows (initial rows first), or,
  when only the final value matters (a sum carried through the loop), the last row only;
- *outputs* not fed back: one row per step;
- *bound* values: whatever the body reads that does not change from step to step, computed once
  by the outer graph (the loop-invariant work is hoisted, as in ``ops/loop.py``).

A graph node has one output, so a scan with several results is several ``Scan`` nodes sharing one
:class:`ScanCore` and one list of inputs, each giving result ``which``; the back end runs them as
one loop (``codegen/lower.py``) and the reverse sweep differentiates them together
(:meth:`Scan.joint_vjp`): backpropagation through time is another scan, running backwards, whose
states are the adjoints still owed to the last ``L`` rows of each state and the sums of the
gradients of the bound values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..graph import Constant, Op, Variable, apply, make_variable, toposort
from ..types import TensorType, describe_shape
from .loop import describe_graph, evaluate, hoist_invariants


@dataclass(frozen=True)
class StateInfo:
    """One carried state: its lags (``taps``, negative, ascending), ``lag`` (the largest, the rows
    of its initial window), and whether every row is kept (``keep_all``) or only the last."""

    taps: tuple[int, ...]
    keep_all: bool = True

    @property
    def lag(self) -> int:
        return -min(self.taps)


class ScanCore:
    """The loop body of a scan and how its inputs and results are laid out (see the module docstring).

    The body's inputs are placeholders: ``sequence_slots`` (row ``t`` of each sequence),
    ``state_slots`` (per state, one per tap) and ``bound_slots``; its results are ``steps``, the
    new value of every state, then the row of every output. Compared by identity: each call of
    :func:`build_scan` makes a new loop.
    """

    def __init__(
        self,
        sequence_slots: tuple[Variable, ...],
        states: tuple[StateInfo, ...],
        state_slots: tuple[tuple[Variable, ...], ...],
        bound_slots: tuple[Variable, ...],
        steps: tuple[Variable, ...],
        name: str | None,
        backwards: tuple[bool, ...] = (),
        truncate_gradient: int = -1,
        until: int | None = None,
    ) -> None:
        self.sequence_slots = sequence_slots
        self.states = states
        self.state_slots = state_slots
        self.bound_slots = bound_slots
        self.steps = steps
        self.name = name
        # Per sequence, then per output: read (stored) at row n - 1 - t rather than t.
        self.backwards = backwards or (False,) * (len(sequence_slots) + len(steps) - len(states))
        #: How many of the last steps the gradient goes back through (-1: all), as Theano's
        #: ``truncate_gradient``.
        self.truncate_gradient = truncate_gradient
        #: Which of ``steps`` is the loop's condition (a boolean output, Theano's ``until``): the
        #: loop stops after the first step where it holds, and its results have the rows of the
        #: steps run. None: it runs every step.
        self.until = until
        #: The loop this one computes more results of (its residuals: see ``with_residuals``), or None.
        self.extends: ScanCore | None = None
        self._with_residuals: dict[tuple[int, ...], ScanCore] = {}
        self._signature: str | None = None

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def varying_slots(self) -> list[Variable]:
        """The placeholders that change from step to step: each sequence's row, then every tap of
        every state."""
        return [*self.sequence_slots, *(s for taps in self.state_slots for s in taps)]

    @property
    def slots(self) -> list[Variable]:
        """Every placeholder of the body: the varying ones, then the bound values'."""
        return [*self.varying_slots, *self.bound_slots]

    def signature(self) -> str:
        if self._signature is None:  # the body never changes: describe it once
            layout = (f"states={[(s.taps, s.keep_all) for s in self.states]} sequences={len(self.sequence_slots)} "
                      f"backwards={self.backwards} truncate_gradient={self.truncate_gradient} "
                      f"until={self.until}")  # fmt: skip
            self._signature = f"Scan({layout}\n{describe_graph(self.slots, self.steps)})"
        return self._signature

    @property
    def root(self) -> ScanCore:
        """The loop whose results this one computes (itself, unless it adds residuals to one)."""
        return self if self.extends is None else self.extends.root

    def with_residuals(self, residuals: Sequence[Variable]) -> ScanCore:
        """This loop, also stacking ``residuals`` (values its body computes) as outputs, one row
        per step: its results keep their numbers, so the back end runs both as one loop."""
        key = tuple(id(r) for r in residuals)
        if key not in self._with_residuals:
            steps, backwards = (*self.steps, *residuals), (*self.backwards, *(False,) * len(residuals))
            core = ScanCore(self.sequence_slots, self.states, self.state_slots, self.bound_slots, steps, self.name,
                            backwards, self.truncate_gradient, self.until)  # fmt: skip
            core.extends = self
            self._with_residuals[key] = core
        return self._with_residuals[key]

    def split_inputs(self, inputs: Sequence) -> tuple[object, list, list, list]:
        """A node's inputs as (n, sequences, initial windows, bound values)."""
        n_seq, n_states = len(self.sequence_slots), self.n_states
        return (
            inputs[0],
            list(inputs[1 : 1 + n_seq]),
            list(inputs[1 + n_seq : 1 + n_seq + n_states]),
            list(inputs[1 + n_seq + n_states :]),
        )

    def run(self, n: int, sequences: list, initial: list, bound: list) -> list[np.ndarray]:
        """The NumPy reference: every result of the loop (buffers, last windows, stacked outputs)."""
        buffers = [list(np.asarray(w)) for w in initial]
        rows: list[list[np.ndarray]] = [[] for _ in self.steps[self.n_states :]]
        givens = {id(p): np.asarray(v) for p, v in zip(self.bound_slots, bound)}
        n_seq = len(sequences)
        for t in range(n):
            rows_read = [n - 1 - t if back else t for back in self.backwards[:n_seq]]
            givens.update((id(p), np.asarray(s[r])) for p, s, r in zip(self.sequence_slots, sequences, rows_read))
            for info, slots, buffer in zip(self.states, self.state_slots, buffers):
                givens.update((id(p), np.asarray(buffer[len(buffer) + tap])) for p, tap in zip(slots, info.taps))
            values = evaluate(self.steps, givens)
            for buffer, value, window in zip(buffers, values, initial):
                buffer.append(np.broadcast_to(value, np.shape(window)[1:]).astype(np.asarray(window).dtype))
            for out, value in zip(rows, values[self.n_states :]):
                out.append(value)
            if self.until is not None and values[self.until]:
                break
        results = []
        for info, buffer, window in zip(self.states, buffers, initial):
            kept = buffer if info.keep_all else buffer[-info.lag :]
            results.append(np.array(kept, dtype=np.asarray(window).dtype).reshape((len(kept), *np.shape(window)[1:])))
        for step, out, back in zip(self.steps[self.n_states :], rows, self.backwards[n_seq:]):
            out = out[::-1] if back else out
            results.append(np.array(out, dtype=step.dtype) if out else np.empty((0,) * (step.ndim + 1), step.dtype))
        return results


class Scan(Op):
    """Result ``which`` of the loop ``core`` (see the module docstring): for a state, its buffer
    (``L + n`` rows, the initial window first) or its last window; for an output, its rows."""

    props = ("core", "which")

    def __init__(self, core: ScanCore, which: int) -> None:
        self.core = core
        self.which = which

    def __str__(self) -> str:
        return f"scan{{{self.core.name or 'loop'}}}[{self.which}]"

    def signature(self) -> str:
        return f"{self.core.signature()}[{self.which}]"

    def make_type(self, n: Variable, *rest: Variable) -> TensorType:
        core = self.core
        _, sequences, initial, bound = core.split_inputs((n, *rest))
        if n.ndim != 0 or n.dtype not in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"):
            raise TypeError(f"scan: the number of steps must be an integer scalar, got {n!r} ({n.type})")
        slots = [*core.sequence_slots, *(taps[0] for taps in core.state_slots), *core.bound_slots]
        values = [*sequences, *initial, *bound]
        if len(values) != len(slots):
            raise TypeError(f"scan: expected {len(slots)} inputs after n_steps, got {len(values)}")
        for slot, value, drop in zip(slots, values, [1] * (len(sequences) + len(initial)) + [0] * len(bound)):
            if value.dtype != slot.dtype or value.ndim != slot.ndim + drop:
                raise TypeError(f"scan: {value!r} ({value.type}) does not fit the loop's slot {slot!r} ({slot.type})")
        steps = int(n.data) if isinstance(n, Constant) and core.until is None else None
        if self.which < core.n_states:
            info, window = core.states[self.which], initial[self.which]
            rows = window.type.shape[0]
            if not info.keep_all:
                return window.type
            return TensorType(
                window.dtype, (None if steps is None or rows is None else rows + steps, *window.type.shape[1:])
            )
        step = core.steps[self.which]
        return TensorType(step.dtype, (steps, *step.type.shape))

    def perform(self, n: np.ndarray, *rest: np.ndarray) -> np.ndarray:
        _, sequences, initial, bound = self.core.split_inputs((n, *rest))
        for s, slot in zip(sequences, self.core.sequence_slots):
            if len(s) != int(n):
                raise ValueError(f"scan: the sequence read as {slot!r} has {len(s)} rows, for {int(n)} steps")
        return self.core.run(int(n), sequences, initial, bound)[self.which]

    def vjp(self, inputs, output, g):
        return self.joint_vjp(inputs, [(self, g)], [True] * len(inputs))

    @property
    def joint_key(self) -> ScanCore:
        """The loop: the reverse sweep differentiates the results of one loop together."""
        return self.core

    def joint_vjp(
        self, inputs: Sequence[Variable], grads: Sequence[tuple[Scan, Variable]], wanted: Sequence[bool]
    ) -> list[Variable | None]:
        """The gradients of the ``wanted`` inputs, given the gradients of some of the loop's results
        (each with the op of the node giving it): one backward scan for all (see :func:`_backward`)."""
        return _backward(self.core, list(inputs), {op.which: g for op, g in grads}, wanted)


def build_scan(
    n: Variable,
    sequences: Sequence[Variable],
    initial: Sequence[Variable],
    states: Sequence[StateInfo],
    step: Callable[[list[Variable], list[list[Variable]]], list[Variable]],
    name: str | None = None,
    backwards: Sequence[bool] = (),
    slot_names: Sequence[str | None] = (),
    truncate_gradient: int = -1,
    until: bool = False,
) -> list[Variable]:
    """The results of a loop of ``n`` steps (one per state, then one per output).

    ``sequences`` have ``n`` rows each; ``initial`` holds each state's first window (``lag`` rows);
    ``step(rows, taps)`` builds the body from a placeholder for the row of each sequence and one
    for each tap of each state, and returns the new states then the outputs' rows. Whatever the
    body reads from outside is bound to the loop as an input, computed once. ``backwards`` flags,
    per sequence then per output, those read (stored) at row ``n - 1 - t`` at step ``t``.
    ``slot_names`` names the slots (the sequences' rows, then each state's taps), for printing.
    ``truncate_gradient``: the gradient goes back through the last that many steps only (-1: all).
    ``until``: the last output is a condition, and the loop stops after the first step where it
    holds (``n`` is then the most steps it runs).
    """
    names = iter(slot_names)
    sequence_slots = [make_variable(TensorType(s.dtype, s.type.shape[1:]), name=next(names, None)) for s in sequences]
    state_slots = [
        [make_variable(TensorType(w.dtype, w.type.shape[1:]), name=next(names, None)) for _ in info.taps]
        for w, info in zip(initial, states)
    ]
    results = list(step(sequence_slots, state_slots))
    for k, window in enumerate(initial):
        results[k] = _as_state(results[k], window, name)
    roots = [*sequence_slots, *(s for taps in state_slots for s in taps)]
    body, bound_slots, bound = hoist_invariants(results, roots)
    slots = tuple(map(tuple, state_slots))
    core = ScanCore(tuple(sequence_slots), tuple(states), slots, bound_slots, tuple(body), name, tuple(backwards),
                    truncate_gradient, len(body) - 1 if until else None)  # fmt: skip
    inputs = (n, *sequences, *initial, *bound)
    return [apply(Scan(core, which), *inputs) for which in range(len(body))]


def as_row(x: Variable) -> Variable:
    """``x`` with a leading dimension of length 1 (``x[None]``): a one-row window."""
    from .shape import dimshuffle

    return dimshuffle(x, ["x", *range(x.ndim)])


def _as_state(value: Variable, window: Variable, name: str | None) -> Variable:
    """A step's new state, checked against the state's type (from its initial value)."""
    from ..tensor.basic import as_tensor_variable

    value = as_tensor_variable(value)
    row = TensorType(window.dtype, window.type.shape[1:])
    where = f"scan{f' {name!r}' if name else ''}"
    if value.dtype != row.dtype:
        raise TypeError(
            f"{where}: the step returns {value.dtype} for a state whose initial value is {row.dtype}; "
            f"cast one of them (T.cast(..., {row.dtype!r}) on the step's result, or an initial value of its dtype)"
        )
    if value.ndim != row.ndim:
        raise TypeError(
            f"{where}: the step returns a {value.ndim}-d value for a state whose initial value is "
            f"{row.ndim}-d (shape {describe_shape(row.shape)})"
        )
    return value


# ---------------------------------------------------------------------------------------------
# Backpropagation through time


def _backward(
    core: ScanCore, inputs: list[Variable], grads: dict[int, Variable], wanted: Sequence[bool]
) -> list[Variable | None]:
    """The gradients of a scan's inputs from those of its results, by a scan running backwards.

    Going back from step ``n - 1`` to 0, step ``t`` knows the full adjoint of every state's row
    ``t`` (its own gradient plus what the later steps that read it sent back), and sends back, by
    one reverse sweep of the body, the adjoints of what the step read: the rows of the states
    ``l`` steps back (carried in a window of ``L`` pending adjoints per state), its sequences'
    rows (stacked, one per step) and the bound values (summed over the steps). The forward rows
    the body needs are read from the states' buffers: a state kept only as its last window is
    recomputed with every row kept. A truncated gradient (Theano's ``truncate_gradient=k``) stops
    after going back through ``k`` steps: the earlier rows of the sequences get none, and the
    initial rows only what those ``k`` steps read of them.
    """
    from ..grad import backprop
    from ..rewrite import rebuild
    from ..tensor.basic import as_tensor_variable, concatenate, minimum, zeros_like

    n, sequences, initial, bound = core.split_inputs(inputs)
    grads = {w: g for w, g in grads.items() if g is not None}
    # Adjoints of the slots of wanted inputs, and of the states' taps always: through them the
    # adjoints flow back to the earlier steps.
    n_seq, n_states = len(core.sequence_slots), core.n_states
    needed = [
        *(s for s, w in zip(core.sequence_slots, wanted[1 : 1 + n_seq]) if w),
        *(s for taps in core.state_slots for s in taps),
        *(s for s, w in zip(core.bound_slots, wanted[1 + n_seq + n_states :]) if w),
    ]
    float_slots = [s for s in needed if s.type.is_float]
    if not grads or not float_slots:
        return [None] * len(inputs)
    buffers = _full_buffers(core, inputs)

    # Adjoints of the body's results (every state's, and those of the outputs with a gradient),
    # as placeholders, and the body's sweep in their terms.
    seeded = [w for w, s in enumerate(core.steps) if w < n_states or w in grads]
    seeds = {w: make_variable(core.steps[w].type, name=f"{core.steps[w].name}_bar" if core.steps[w].name else None)
             for w in seeded}  # fmt: skip
    sweep = backprop([core.steps[w] for w in seeded], list(seeds.values()), float_slots)
    stored = _stored_residuals(core, inputs, [sweep[id(s)] for s in float_slots if id(s) in sweep])

    # Backward step tau undoes forward step t = taken - 1 - tau (``taken``: the steps run, all ``n``
    # unless an ``until`` stopped the loop): it reads the rows that step read or stored (so in the
    # other direction), and stores its sequences' gradients where they were read. Its first rows
    # are those of the forward slots, in the order of ``core.varying_slots``.
    taken = n if core.until is None else apply(Scan(core, core.until), *inputs).shape[0]
    first_read = n - taken  # a sequence read backwards: the steps run read its rows n - 1 down to this one
    back_sequences: list[Variable] = list(sequences)
    if core.until is not None:
        back_sequences = [x[first_read:] if back else x[:taken] for x, back in zip(sequences, core.backwards)]
    back_directions: list[bool] = [not back for back in core.backwards[:n_seq]]
    for info, buffer in zip(core.states, buffers):
        for tap in info.taps:
            start = info.lag + tap
            back_sequences.append(buffer[start : start + taken])
            back_directions.append(True)
    for _, rows in stored:
        back_sequences.append(rows)
        back_directions.append(True)
    seed_rows: dict[int, int] = {}
    for which, g in grads.items():
        if which >= n_states:
            back_sequences.append(g)
            back_directions.append(not core.backwards[n_seq + which - n_states])
        elif core.states[which].keep_all:
            back_sequences.append(g[core.states[which].lag :])
            back_directions.append(True)
        else:
            continue  # a last window's adjoint starts the pending window instead
        seed_rows[which] = len(back_sequences) - 1

    # A truncated gradient goes back through the last steps only: the backward loop reads those
    # steps' rows (the last rows of what it reads backwards, the first of what it reads forwards).
    steps_back = taken if core.truncate_gradient < 0 else minimum(taken, core.truncate_gradient)
    skipped = taken - steps_back
    if core.truncate_gradient >= 0:
        back_sequences = [x[skipped:] if back else x[:steps_back] for x, back in zip(back_sequences, back_directions)]

    pending_initial = []
    for k, (info, window) in enumerate(zip(core.states, initial)):
        g = grads.get(k)
        pending_initial.append(_reversed_rows(g) if g is not None and not info.keep_all else zeros_like(window))
    bound_float = [k for k, v in enumerate(bound) if v.type.is_float and id(core.bound_slots[k]) in sweep]
    sums_initial = [zeros_like(bound[k]) for k in bound_float]
    float_sequences = [j for j, s in enumerate(sequences) if s.type.is_float and id(core.sequence_slots[j]) in sweep]

    def back_step(rows: list[Variable], taps: list[list[Variable]]) -> list[Variable]:
        pending = [t[0] for t in taps[:n_states]]
        sums = [t[0] for t in taps[n_states:]]
        replace = dict(zip(core.bound_slots, bound))
        for which, placeholder in seeds.items():
            seed = rows[seed_rows[which]] if which in seed_rows else None
            if which < n_states:
                owed = pending[which][0]
                seed = owed if seed is None else seed + owed
            replace[placeholder] = seed
        forward_slots = core.varying_slots
        replace.update(zip(forward_slots, rows))
        replace.update((value, row) for (value, _), row in zip(stored, rows[len(forward_slots) :]))
        wanted = [sweep.get(id(s)) for s in core.slots]
        present = [w for w in wanted if w is not None]
        rebuilt = iter(rebuild(present, replace))
        adjoint = {id(s): next(rebuilt) for s, w in zip(core.slots, wanted) if w is not None}

        new_pending = []
        for info, slots, window in zip(core.states, core.state_slots, pending):
            by_lag = {-tap: adjoint.get(id(slot)) for slot, tap in zip(slots, info.taps)}
            sent = [by_lag.get(l) for l in range(1, info.lag + 1)]
            sent = [zeros_like(window[0]) if d is None else as_tensor_variable(d) for d in sent]
            # Row i of the next window is owed to the state i + 1 steps before the next step's.
            shifted = [window[i + 1] + sent[i] for i in range(info.lag - 1)] + [sent[-1]]
            new_pending.append(concatenate([as_row(x) for x in shifted]) if len(shifted) > 1 else as_row(shifted[0]))
        new_sums = [total + adjoint[id(core.bound_slots[k])] for k, total in zip(bound_float, sums)]
        sequence_grads = [adjoint[id(core.sequence_slots[j])] for j in float_sequences]
        return [*new_pending, *new_sums, *sequence_grads]

    windows = [*pending_initial, *sums_initial]
    infos = [StateInfo((-1,), keep_all=False)] * len(windows)
    back_directions += [not back for j, back in enumerate(core.backwards[:n_seq]) if j in float_sequences]
    results = build_scan(steps_back, back_sequences, [as_row(w) for w in windows], infos, back_step,
                         name=_back_name(core), backwards=back_directions)  # fmt: skip
    pending_final = [r[0] for r in results[:n_states]]
    sums_final = [r[0] for r in results[n_states : n_states + len(bound_float)]]
    sequence_grads = results[n_states + len(bound_float) :]

    input_grads: list[Variable | None] = [None] * len(inputs)
    first_sequence, first_state, first_bound = 1, 1 + len(sequences), 1 + len(sequences) + n_states
    for j, g in zip(float_sequences, sequence_grads):
        if core.truncate_gradient >= 0 or core.until is not None:  # rows of steps not gone back through get none
            rows = slice(skipped, taken) if not core.backwards[j] else slice(first_read, n - skipped)
            g = _written_at(sequences[j], rows, g)
        input_grads[first_sequence + j] = g
    for k, (info, window) in enumerate(zip(core.states, initial)):
        if not window.type.is_float:
            continue
        owed = _reversed_rows(pending_final[k])
        if core.truncate_gradient >= 0:
            owed = _owed_to_initial_rows(owed, skipped, info.lag)
        g = grads.get(k)
        input_grads[first_state + k] = owed + _first_rows(g, info.lag) if g is not None and info.keep_all else owed
    for k, total in zip(bound_float, sums_final):
        input_grads[first_bound + k] = total
    return input_grads


def _stored_residuals(
    core: ScanCore, inputs: list[Variable], adjoints: list[Variable]
) -> list[tuple[Variable, Variable]]:
    """The matrix products of the step that its backward sweep reads, each with its rows over the
    steps: stored by the forward loop (the same loop, with more results) rather than computed
    again backwards. (A loop keeping some state only as its last window is run again anyway, by
    ``_full_buffers``: its products are recomputed too.)"""
    from .blas import Dot

    if not all(info.keep_all for info in core.states):
        return []
    varying = {id(s) for s in core.varying_slots}
    computed: set[int] = set()
    for node in toposort(list(core.steps)):
        computed.add(id(node.output))
        if any(id(i) in varying for i in node.inputs):
            varying.add(id(node.output))
    steps = {id(s): k for k, s in enumerate(core.steps)}
    found = [
        node.output
        for node in toposort(adjoints)
        if isinstance(node.op, Dot) and id(node.output) in computed and id(node.output) in varying
    ]
    if not found:
        return []
    new = [r for r in found if id(r) not in steps]
    loop = core.with_residuals(new) if new else core
    steps.update((id(r), len(core.steps) + k) for k, r in enumerate(new))
    stored = []
    for r in found:
        rows = apply(Scan(loop, steps[id(r)]), *inputs)
        if steps[id(r)] < core.n_states:  # a state's new value: its buffer after the initial rows
            rows = rows[core.states[steps[id(r)]].lag :]
        stored.append((r, rows))
    return stored


def _written_at(x: Variable, rows: slice, g: Variable) -> Variable:
    """Zeros like ``x`` with ``g`` written at ``x[rows]`` (the gradient of ``x[rows]``)."""
    from .shape import Subtensor, SubtensorGrad, subtensor

    part = subtensor(x, (rows,))
    if part.owner is None or not isinstance(part.owner.op, Subtensor):
        return g  # rows are all of x's
    return apply(SubtensorGrad(part.owner.op.index), x, g, *part.owner.inputs[1:])


def _owed_to_initial_rows(owed: Variable, skipped: Variable, lag: int) -> Variable:
    """What a backward loop that stopped ``skipped`` steps short of the first owes to the initial
    window (``lag`` rows): ``owed`` (oldest first) is owed to the states from the one the first step
    gone back through read (buffer row ``skipped``), so its row ``i`` goes to initial row
    ``skipped + i``, where that is one."""
    from ..tensor.basic import concatenate, minimum, zeros_like

    padded = concatenate([zeros_like(owed), owed])  # row lag + i is owed[i]
    first = lag - minimum(skipped, lag)
    return _first_rows(padded[first:], lag)


def _reversed_rows(x: Variable) -> Variable:
    """A window's rows in the other order (oldest first, or newest first)."""
    return x if x.type.shape[0] == 1 else x[::-1]


def _first_rows(x: Variable, rows: int) -> Variable:
    """``x[:rows]`` with its length known to be ``rows`` (a slice's length is not, statically)."""
    from ..tensor.basic import concatenate

    pieces = [as_row(x[i]) for i in range(rows)]
    return pieces[0] if rows == 1 else concatenate(pieces)


def _back_name(core: ScanCore) -> str:
    return f"grad_of_{core.name}" if core.name else "grad_of_scan"


def _full_buffers(core: ScanCore, inputs: list[Variable]) -> list[Variable]:
    """Every state's buffer (``L + n`` rows): the node's own results where it keeps them all, else
    those of the same loop run again keeping every row."""
    if all(info.keep_all for info in core.states):
        return [apply(Scan(core, k), *inputs) for k in range(core.n_states)]
    from ..rewrite import rebuild

    fresh = {s: make_variable(s.type, name=s.name) for s in core.slots}
    steps = rebuild(list(core.steps), fresh)
    full = ScanCore(
        tuple(fresh[s] for s in core.sequence_slots),
        tuple(StateInfo(info.taps) for info in core.states),
        tuple(tuple(fresh[s] for s in taps) for taps in core.state_slots),
        tuple(fresh[s] for s in core.bound_slots),
        tuple(steps),
        core.name,
        core.backwards,
        core.truncate_gradient,
        core.until,
    )
    return [apply(Scan(full, k), *inputs) for k in range(core.n_states)]
