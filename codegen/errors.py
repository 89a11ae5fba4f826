"""Errors raised by generated code, phrased in the user's terms (variable names and shapes)."""

from __future__ import annotations

import numpy as np

from symgrad.types import describe_shape


def shape_mismatch(what: str, where: str, **operands: object) -> ValueError:
    """A ValueError naming each operand of ``what`` with the shape it had at this call."""
    shapes = ", ".join(f"{name} has shape {describe_shape(np.shape(v))}" for name, v in operands.items())
    return ValueError(f"shape mismatch in {what}{where}: {shapes}")


def index_error(index: int, dim: int, name: str, length: int, where: str) -> IndexError:
    """An IndexError for a symbolic index outside its dimension, naming the indexed variable."""
    return IndexError(f"index {index} is out of bounds for dimension {dim} of {name}, which has length {length}{where}")
