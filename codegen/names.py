"""Names in a generated module: readable, unique Python identifiers for the program's variables.

Variables keep the user's names where they have one (``x``, ``W1``), so ``print(f.source)`` reads
like the math that was written; anything that would clash with the generated code's own names
(loop indices ``i0``, kernels ``k3_exp``, imported functions) gets a suffix.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re

from symgrad.graph import Variable

from .scalar_printer import CUDA_FUNCTIONS, RUNTIME_FUNCTIONS

# Names the generated code itself uses; a user variable called one of these gets a suffix.
_RESERVED = re.compile(
    r"^(i\d+|j\d+|n\d+|e\d+|s\d+|r\d+|near\d+|k\d+_.*|scatter\d+|[A-Z]+_[A-Z0-9_]+|PARAMETERS|built_at|out\d*|acc\d*"
    r"|candidate|result|np|njit|prange|math|shape_mismatch|index_error|index_out_of_bounds|out_of_memory"
    r"|empty_reduction|err|chunks?|partial\d+|MISSING"
    r"|cuda|rt|flat|kept|part|block|thread|threads|stride|splits|blocks|shared\d+"  # CUDA modules' own names
    r"|gather\d+|scatter\d+_last|status|failed|winners|position"
    r"|program(_\d+)?(_parallel)?|failures|StepFailed|(batched_)?matrix_product|put\d+|region"  # CPU modules' programs
    r"|linalg_[a-z_]+|random_[a-z_]+)$"  # the steps of codegen/cpu_steps.py
)
_RESERVED_WORDS = set(dir(math)) | set(dir(builtins)) | set(RUNTIME_FUNCTIONS) | set(CUDA_FUNCTIONS)


class Names:
    """Readable, unique Python identifiers for the program's variables."""

    def __init__(self) -> None:
        self.by_var: dict[int, str] = {}
        self.taken: set[str] = set()
        self.counter = 0

    def add(self, var: Variable, prefix: str = "t", preferred: str | None = None) -> str:
        if id(var) in self.by_var:
            return self.by_var[id(var)]
        name = self.fresh(preferred or var.name or "", prefix)
        self.by_var[id(var)] = name
        return name

    def numbered(self, prefix: str) -> str:
        """``prefix`` with the smallest number not yet taken: ``scatter0``, ``scatter1``, ..."""
        k = 0
        while f"{prefix}{k}" in self.taken:
            k += 1
        self.taken.add(f"{prefix}{k}")
        return f"{prefix}{k}"

    def fresh(self, wanted: str, prefix: str = "t") -> str:
        """An unused identifier close to ``wanted`` (or ``prefix`` and a number)."""
        base = re.sub(r"\W", "_", wanted)
        if base and (base[0].isdigit() or keyword.iskeyword(base) or _RESERVED.match(base) or base in _RESERVED_WORDS):
            base = base + "_"
        name = base
        while not name or name in self.taken:
            if base:
                self.counter += 1
                name = f"{base}_{self.counter}"
            else:
                name = f"{prefix}{self.counter}"
                self.counter += 1
        self.taken.add(name)
        return name

    def __getitem__(self, var: Variable) -> str:
        return self.by_var[id(var)]

    def alias(self, var: Variable, same: Variable) -> None:
        """Give ``var`` the name of ``same``: a loop body's placeholder reads the outer value."""
        self.by_var[id(var)] = self[same]


def np_dtype(dtype: str) -> str:
    """How generated code names a dtype: ``np.float64``, ``np.bool_``."""
    return "np.bool_" if dtype == "bool" else f"np.{dtype}"


def shape_text(dims: list[str]) -> str:
    """A tuple display of ``dims``: ``(n0,)``, ``(n0, n1)``."""
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def entry_name(name: str | None) -> str:
    """The compiled function's own name: the function's name where it is an identifier."""
    return name if name and name.isidentifier() and not keyword.iskeyword(name) else "compiled_function"
