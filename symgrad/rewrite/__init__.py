"""Graph rewrites: small named pattern → replacement rules, grouped by phase, run to a fixed point.

``theano.function`` runs the phases in order, each until its rules no longer change the graph:

- ``canonicalize`` (``canonicalize.py``): algebraic identities across nodes (``--x``, ``exp(log x)``,
  ``(x + y) - x``), tensors of one number read as that number (``x * ones``), division by a constant
  array turned into multiplication, shapes known statically folded to constants, transposes and
  reshapes of transposes and reshapes composed, the sum of a broadcast turned into a product, dead
  ``ifelse`` branches dropped;
- ``stabilize`` (``stabilize.py``): naive formulas in their numerically stable forms (``log(1 + x)``
  → ``log1p(x)``, ``1/(1 + exp(-x))`` → ``sigmoid(x)``, ``log(sigmoid(x))`` → ``-softplus(-x)``,
  softmax and logsumexp with the max subtracted, ``log(softmax)`` → ``log_softmax``). ``T.grad`` runs
  this phase on the cost before differentiating it, so gradients are built from the stable forms;
- ``specialize`` (``specialize.py``): cheaper forms for this back end (matrix products take
  transposed operands as BLAS flags rather than copies);
- ``fuse`` (``fuse.py``): what the loop fuser of ``codegen/lower.py`` needs (gradient stops removed).

Each rule is excluded by its name, or all of a phase by the phase's name: for every compilation with
``theano.config.excluded_rewrites`` (a set), for one with ``theano.function(..., exclude=[...])``.
``REWRITES`` lists them all; a compiled function's ``rewrites`` names those that fired.

Merging equal subgraphs (common-subexpression elimination) needs no rule: nodes are hash-consed, and
every rewrite builds through the same constructors. Dead code needs none either: every stage walks
only what the outputs depend on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..config import config
from ..graph import Variable
from . import canonicalize, fuse, specialize, stabilize  # noqa: F401  (they register their rules)
from .core import PHASES, REWRITES, Rewrite, frozen_ids, rebuild, remake, resolve_exclusions, run_phase

__all__ = ["PHASES", "REWRITES", "Rewrite", "optimize", "rebuild", "remake", "stabilize_for_grad"]


def optimize(
    outputs: list[Variable],
    applied: list[str] | None = None,
    exclude: Iterable[str] = (),
    phases: Sequence[str] = PHASES,
    keep: Iterable[Variable] = (),
) -> list[Variable]:
    """``outputs`` rewritten by every rule of ``phases`` (in order, each to a fixed point) except
    those named in ``exclude`` or ``config.excluded_rewrites``.

    The name of each rule that fired is appended to ``applied`` once, in the order they first fired
    (the generated code's header and ``f.rewrites`` list them). Variables in ``keep``, and what they
    are computed from, are left as they are.
    """
    excluded = resolve_exclusions([*config.excluded_rewrites, *exclude])
    frozen = frozen_ids(keep)
    fired: list[str] = []
    for phase in phases:
        rules = [r for r in REWRITES.values() if r.phase == phase and r.name not in excluded]
        if rules:
            outputs = run_phase(list(outputs), rules, frozen, fired)
    if applied is not None:
        applied.extend(name for name in dict.fromkeys(fired) if name not in applied)
    return outputs


def stabilize_for_grad(
    outputs: list[Variable], keep: Iterable[Variable], applied: list[str] | None = None
) -> list[Variable]:
    """``outputs`` with the stabilize phase applied, for ``T.grad`` to differentiate: the gradient
    of ``log(sigmoid(x))`` is then that of ``-softplus(-x)``, finite everywhere. ``keep`` (the
    variables differentiated with respect to, and those held constant) stay in the graph; the names
    of the rules that fired are appended to ``applied``."""
    return optimize(outputs, applied, phases=("stabilize",), keep=keep)
