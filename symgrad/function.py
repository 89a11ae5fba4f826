"""``theano.function``: the front-end entry point; the compiled callable is built in ``codegen``."""

from __future__ import annotations

from collections.abc import Sequence

from .graph import Variable


def function(
    inputs: Sequence[Variable],
    outputs: Variable | Sequence[Variable] | None = None,
    *,
    name: str | None = None,
    on_unused_input: str = "raise",
    allow_input_downcast: bool | None = None,
):
    """Compile ``outputs`` as a function of ``inputs``; returns a callable.

    ``outputs`` may be one variable (the call returns one array) or a list (a list of arrays).
    Arguments are checked against the inputs' types before any kernel runs; see
    ``codegen.function.Function`` for the casting rules.
    """
    from codegen.function import compile_function

    return compile_function(
        inputs, outputs, name=name, on_unused_input=on_unused_input, allow_input_downcast=allow_input_downcast
    )
