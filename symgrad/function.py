"""``theano.function`` and ``theano.In``: the front-end entry points; compilation is in ``codegen``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .graph import Variable

_NO_DEFAULT = object()


class In:
    """An input with options, as in Theano: ``theano.In(x, value=1.0, name='rate')``.

    ``value`` is the default used when the argument is not passed; ``name`` is the keyword the
    compiled function accepts for it (the variable's own name otherwise). Inputs with a default
    come after those without.
    """

    def __init__(self, variable: Variable, name: str | None = None, value: Any = _NO_DEFAULT) -> None:
        self.variable = variable
        self.name = name
        self.value = value

    @property
    def has_default(self) -> bool:
        return self.value is not _NO_DEFAULT

    def __repr__(self) -> str:
        default = f", value={self.value!r}" if self.has_default else ""
        return f"In({self.variable!r}{', name=' + repr(self.name) if self.name else ''}{default})"


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
    device: str | None = None,
    return_device_arrays: bool = False,
):
    """Compile ``outputs`` as a function of ``inputs``; returns a callable.

    ``outputs`` may be one variable (the call returns one array), a list (a list of arrays) or
    ``None`` (the call returns ``[]``; useful with ``updates``). ``updates`` pairs shared variables
    with expressions for their new values: all are computed from the values before the call, then
    written. ``givens`` pairs variables with what to use in their place. Arguments are checked
    against the inputs' types before any kernel runs; see ``symgrad.values`` for the casting rules.

    ``exclude`` names graph rewrites (or whole phases: ``'stabilize'``) not to apply, in addition to
    ``theano.config.excluded_rewrites``; ``symgrad.rewrite.REWRITES`` lists them. The compiled
    function's ``rewrites`` attribute names those that changed the graph, starting with those that
    ``T.grad`` applied to what it differentiated; ``exclude`` cannot undo those (they ran when the
    gradient was built, under ``theano.config.excluded_rewrites``).

    ``device`` is ``'cpu'`` (Numba kernels on the CPU) or ``'cuda'`` (numba.cuda kernels on an NVIDIA
    GPU; needs the ``cuda`` extra); ``None`` means ``theano.config.device``. With ``'cuda'``,
    arguments may be NumPy arrays or device arrays (anything with ``__cuda_array_interface__``),
    shared variables stay on the GPU between calls, and outputs come back as NumPy arrays, or as
    Numba device arrays with ``return_device_arrays=True``.
    """
    from codegen.function import compile_function

    return compile_function(
        inputs,
        outputs,
        name=name,
        on_unused_input=on_unused_input,
        allow_input_downcast=allow_input_downcast,
        updates=updates,
        givens=givens,
        exclude=exclude,
        device=device,
        return_device_arrays=return_device_arrays,
    )
