"""Which steps of a program run inside one compiled function, and what crosses into and out of it.

On the CPU a compiled function's steps run inside one ``@njit`` function, the *program*, so that a
call crosses from Python into machine code once. A step whose lowering rule cannot run inside
Numba (``Rule.compiled`` is false for it) stays in Python, between programs: the steps are cut into
:class:`Segment` s, runs of compiled steps and single Python steps, in order. Each compiled segment
takes the values it reads that come from before it (inputs, shared values, constants, results of
earlier segments) and returns those of its results that something after it reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from symgrad.graph import Variable

from .lower import Branch, Kernel, Loop, Step, constants_of
from .rules import RuleTable

MAX_PROGRAM = 40  # the most steps (see size) one program function runs


@dataclass(eq=False)
class Segment:
    """Consecutive steps run the same way: ``compiled`` inside a program, or else in Python.
    ``params`` and ``results`` are what a compiled segment takes and returns."""

    steps: list[Step]
    compiled: bool
    params: list[Variable]
    results: list[Variable]


def runs_compiled(step: Step, rules: RuleTable) -> bool:
    """Whether ``step`` can run inside a program: kernels can; a branch or a loop can when every
    step inside it can; any other step when its lowering rule says so."""
    if isinstance(step, Kernel):
        return True
    if isinstance(step, Branch):
        return all(runs_compiled(s, rules) for s in step.then_steps + step.else_steps)
    if isinstance(step, Loop):
        return all(runs_compiled(s, rules) for s in step.body.steps)
    return rules.rule(step).runs_compiled(step)


def defines(step: Step) -> list[Variable]:
    """The values ``step`` makes that later steps can read (a kernel's in-place writes are not new values)."""
    if isinstance(step, Kernel):
        return [r.var for r in step.results if r.target is None]
    if isinstance(step, Branch):
        # What a side makes stays visible after it: a later ifelse on the same condition reads it.
        inner = [v for s in step.then_steps + step.else_steps for v in defines(s)]
        return _unique([*inner, step.node.output])
    if isinstance(step, Loop):
        return step.outputs
    return [step.output]


def reads(step: Step) -> list[Variable]:
    """The values ``step`` reads that it does not make itself (a branch's sides and a loop's body included)."""
    if isinstance(step, Kernel):
        return step.params + [r.target for r in step.results if r.target is not None]
    if isinstance(step, Branch):
        condition, then, otherwise = step.node.inputs
        return _unique([condition, *free_reads(step.then_steps, [then]), *free_reads(step.else_steps, [otherwise])])
    if isinstance(step, Loop):
        return _unique([*step.inputs, *(value for _, value in step.bound), *constants_of(step.body)])
    return list(step.inputs)


def free_reads(steps: list[Step], then_read: Iterable[Variable] = ()) -> list[Variable]:
    """What ``steps`` (and then whoever reads ``then_read``) read that they do not make, in first-read order."""
    made: set[int] = set()
    found: list[Variable] = []
    for step in steps:
        found += [v for v in reads(step) if id(v) not in made]
        made.update(id(v) for v in defines(step))
    return _unique(found + [v for v in then_read if id(v) not in made])


def size(step: Step) -> int:
    """How much a step weighs in a program: 1, plus a tenth of a kernel's weight (its lines, its
    calls of transcendental functions and its array reads, see ``Kernel.weight``), with what a
    branch or a loop holds."""
    if isinstance(step, Kernel):
        return 1 + step.weight // 10
    if isinstance(step, Branch):
        return 1 + sum(size(s) for s in step.then_steps + step.else_steps)
    if isinstance(step, Loop):
        return 1 + sum(size(s) for s in step.body.steps)
    return 1


def split(steps: list[Step], rules: RuleTable, read_after: list[Variable], apart: bool = False) -> list[Segment]:
    """``steps`` cut into segments (see the module docstring); ``read_after`` is what the caller
    reads once they have all run (the outputs, the shared variables' new values). With ``apart``
    each step is a segment of its own (a profiled function times them one by one). A run of
    compiled steps is cut after :data:`MAX_PROGRAM` of :func:`size`: Numba takes more than linear
    time to type and optimize one huge function (a 50-layer network's gradient as one program
    took minutes), and a call crossing into a few programs instead of one costs microseconds."""
    groups: list[tuple[list[Step], bool]] = []
    weight = 0
    for step in steps:
        compiled = runs_compiled(step, rules)
        if groups and compiled and groups[-1][1] and not apart and weight + size(step) <= MAX_PROGRAM:
            groups[-1][0].append(step)
            weight += size(step)
        else:
            groups.append(([step], compiled))
            weight = size(step)
    # What each group must return: what later groups read before making it, found from the back.
    segments = []
    later: dict[int, Variable] = {id(v): v for v in read_after}
    for group, compiled in reversed(groups):
        made = [v for step in group for v in defines(step)]
        results = [v for v in made if id(v) in later]
        params = free_reads(group)
        segments.append(Segment(group, compiled, params, results))
        for v in made:
            later.pop(id(v), None)
        later.update((id(v), v) for v in params)
    return segments[::-1]


def _unique(variables: list[Variable]) -> list[Variable]:
    return list({id(v): v for v in variables}.values())
