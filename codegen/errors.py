"""Errors raised by generated code, phrased in the user's terms (variable names and shapes)."""

from __future__ import annotations

import numpy as np

from symgrad.types import describe_shape


class StepFailed(Exception):
    """Raised by a check inside a compiled program (``@njit`` code cannot format a message): its
    arguments are the check's number and the run-time values its error needs. The function's
    Python entry turns it into that error (``FAILURES`` in the generated module)."""


class ChunkedArguments(Exception):
    """Raised by an argument's full check when the argument is a Dask array: the entry then hands
    all its arguments to ``args[0]``, which returns the lazy result (see ``symgrad.distributed``).
    Raised only off the fast path, so a call with NumPy arrays pays nothing for it."""


class _Missing:
    """The default of each required parameter of a compiled function. The argument's check then
    reports the missing input in the user's terms, after any unknown keyword has been reported
    (Python's own "missing argument" error would come first and hide a misspelt keyword)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


def built_at(node) -> str:
    """`` (built at file:line)``: the user's line that built ``node`` (an ``Apply``), as every
    message here appends it; empty where that line is not known."""
    return f" (built at {node.trace})" if node.trace else ""


def shape_mismatch(what: str, where: str, **shapes: tuple[int, ...]) -> ValueError:
    """A ValueError naming each operand of ``what`` with the shape it had at this call."""
    text = ", ".join(f"{name} has shape {describe_shape(tuple(shape))}" for name, shape in shapes.items())
    return ValueError(f"shape mismatch in {what}{where}: {text}")


def index_error(index: int, index_name: str, dim: int, name: str, length: int, where: str) -> IndexError:
    """An IndexError for a symbolic scalar index outside its dimension, naming both variables."""
    return IndexError(
        f"index {index} in {index_name} is out of bounds for dimension {dim} of length {length} in {name}{where}"
    )


def index_out_of_bounds(what: str, where: str, index_name: str, index: object, dim: int, length: int) -> IndexError:
    """An IndexError naming the index operand, one offending entry and the dimension it indexes."""
    values = np.asarray(index)
    bad = values[(values < -length) | (values >= length)] if values.ndim else values
    # On the GPU a kernel reports an index out of bounds; the values read back afterwards name it,
    # unless they changed since (a loop's next row): then say so without a value.
    entry = f"index {bad.flat[0]}" if bad.size else "an index"
    return IndexError(
        f"{entry} in {index_name} is out of bounds for dimension {dim} of length {length} in {what}{where}"
    )


def out_of_memory(err: MemoryError, **inputs: object) -> MemoryError:
    """A MemoryError naming the inputs of the call that ran out, with their shapes."""
    shapes = ", ".join(f"{name} of shape {describe_shape(np.shape(v))}" for name, v in inputs.items())
    return MemoryError(f"out of memory computing the outputs from {shapes or 'no inputs'}: {err}")


def empty_reduction(what: str, where: str) -> ValueError:
    """A ValueError for a max or min over axes of length 0, which have no identity."""
    return ValueError(f"cannot take {what}{where}: the axes it reduces are empty")


def empty_array(what: str, where: str) -> ValueError:
    """A ValueError for an argmax or argmin of an empty array (NumPy's own would not say of what)."""
    return ValueError(f"cannot take {what}{where}: it is empty")
