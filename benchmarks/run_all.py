"""The benchmark suite in one run: workloads W1-W6 of symgrad against every competitor installed.

Run from the repository root::

    python benchmarks/run_all.py                 # W1-W6, full sizes: 10-15 minutes on 2 cores
    python benchmarks/run_all.py --quick         # smoke run, under a minute: small sizes, few rounds
    python benchmarks/run_all.py --only w1 w6    # some sections (also: startup hvp lbfgsb train)
    python benchmarks/run_all.py --quick --skip jax pytensor torch   # as if those were not installed

The sections are those of the three scripts, which also run on their own; each documents what it
measures in its docstring:

- W1 ``bench_core.py``: a fused elementwise expression (against NumPy, numexpr, JAX, PyTensor C
  and NUMBA, PyTorch, ``sympy.lambdify``, SymEngine's LLVM ``Lambdify`` and hand-written Numba);
- W2 ``bench_core.py``: a two-layer net's loss and gradients;
- W3 ``bench_optim.py``: the Rosenbrock function's value and gradient;
- W4 ``bench_core.py``: per-call overhead;
- W5 ``bench_grad.py``: logistic regression's cost and gradient (the Theano tutorial's);
- W6 ``bench_grad.py``: the gradient of a nested expression, its size against the forward's;

and, left out unless named with ``--only``: ``startup`` (``bench_core.py``: cold and warm start in
fresh processes), ``hvp``, ``lbfgsb`` and ``train`` (``bench_optim.py``).

The output is Markdown: the machine line (CPU, cores, every library's version), the load average,
one table per section, the load average again, then notes (errors, disagreements).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_core  # noqa: E402 (the path above makes the benchmarks importable from anywhere)
import bench_grad  # noqa: E402
import bench_optim  # noqa: E402
import scipy  # noqa: E402
from harness import Libs, Report, Section, Settings  # noqa: E402
from harness import main as harness_main  # noqa: E402


@dataclass(frozen=True)
class SuiteSettings(Settings):
    """Each script's own settings, for its sections."""

    core: bench_core.CoreSettings | None = None
    optim: bench_optim.OptimSettings | None = None
    grad: bench_grad.GradSettings | None = None

    @classmethod
    def make(cls, quick: bool) -> SuiteSettings:
        return cls(
            quick,
            *cls.timing(quick),
            bench_core.CoreSettings.make(quick),
            bench_optim.OptimSettings.make(quick),
            bench_grad.GradSettings.make(quick),
        )


def section(script: str, function: Callable) -> Section:
    """A section of one of the scripts, run with that script's settings."""

    def run(settings: SuiteSettings, libs: Libs, report: Report) -> None:
        function(getattr(settings, script), libs, report)

    return run


SECTIONS: dict[str, Section] = {
    "w1": section("core", bench_core.bench_w1),
    "w2": section("core", bench_core.bench_w2),
    "w3": section("optim", bench_optim.bench_w3),
    "w4": section("core", bench_core.bench_w4),
    "w5": section("grad", bench_grad.bench_w5),
    "w6": section("grad", bench_grad.bench_w6),
    "startup": section("core", bench_core.bench_startup),
    "hvp": section("optim", bench_optim.bench_hvp),
    "lbfgsb": section("optim", bench_optim.bench_lbfgsb),
    "train": section("optim", bench_optim.bench_train),
}
DEFAULT = ("w1", "w2", "w3", "w4", "w5", "w6")
# Every competitor any section uses, in one order (the union of the scripts' lists).
OPTIONAL = tuple(dict.fromkeys(bench_core.OPTIONAL + bench_optim.OPTIONAL + bench_grad.OPTIONAL))


def main(argv: Sequence[str] | None = None) -> None:
    harness_main(
        "symgrad benchmark suite, W1-W6",
        __doc__.split("\n\n")[0],
        SECTIONS,
        OPTIONAL,
        SuiteSettings.make,
        argv,
        default=DEFAULT,
        always=[("scipy", scipy)],
    )


if __name__ == "__main__":
    main()
