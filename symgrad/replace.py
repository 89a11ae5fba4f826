"""``theano.clone``: a graph rebuilt with some of its variables replaced."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .graph import Variable, graph_inputs, make_variable


def clone(
    output: Variable | Sequence[Variable],
    replace: Mapping[Variable, Variable] | Sequence[tuple[Variable, Variable]] | None = None,
    share_inputs: bool = True,
) -> Variable | list[Variable]:
    """``output`` (a variable or a list) computed with each key of ``replace`` swapped for its value.

    As in Theano, a replacement must have the type of what it replaces, and with
    ``share_inputs=False`` the free inputs are replaced by new variables of the same types and
    names, so the clone shares nothing with the original graph but its constants and shared variables.
    """
    from .rewrite import rebuild
    from .shared import SharedVariable
    from .tensor.basic import as_tensor_variable

    single = isinstance(output, Variable)
    outputs = [output] if single else list(output)
    pairs = list(replace.items() if isinstance(replace, Mapping) else replace or [])
    swap: dict[Variable, Variable] = {}
    for old, new in pairs:
        new = as_tensor_variable(new)
        if new.dtype != old.dtype or new.ndim != old.ndim:
            raise TypeError(f"theano.clone: {old!r} ({old.type}) cannot be replaced by {new!r} ({new.type})")
        swap[old] = new
    if not share_inputs:
        for v in graph_inputs(outputs):
            if v not in swap and not isinstance(v, SharedVariable):
                swap[v] = make_variable(v.type, name=v.name)
    result = rebuild(outputs, swap)
    return result[0] if single else result
