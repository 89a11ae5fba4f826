"""What every benchmark script shares: optional imports, timing, correctness checks, tables, main.

- **Optional competitors.** ``try_import(name)`` returns the module, configured for the benchmark
  (JAX in float64, numexpr on ``THREADS`` threads), or None when it is missing or listed in
  ``--skip``; ``when(lib, build)`` turns a missing library into a "—" cell.
- **Timing.** ``time_interleaved`` calls each callable once to warm up, picks a loop count so that
  one repeat lasts at least ``min_time``, then lets the contenders take turns, one repeat each per
  round, for ``repeat`` rounds; the median repeat divided by the loop count is reported.
- **Checks.** ``run_contenders`` builds each contender, compares its output with a reference's
  (``mismatch``: rtol, with an absolute tolerance of rtol times the largest magnitude) and times
  them; a disagreement is flagged "†" in the table and explained under it.
- **Tables.** Markdown: ``markdown_table``, ``sized_table`` (a column group per problem size).
- **Fresh processes.** ``run_fresh`` runs code in a new interpreter (for start-up and cold-cache
  measurements); ``run_with_deadlines`` does the same for a child that prints JSON lines as it goes,
  and kills it when a step takes too long (the steps it finished are kept).
- **main.** ``main(...)`` parses ``--quick``, ``--only`` and ``--skip``, imports symgrad and the optional
  competitors, prints the machine line (CPU, cores, versions) and the load average, runs the
  sections, prints the load average again and the notes (errors, mismatches).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
# Benchmark the checkout this file lives in, not some other installed symgrad.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MISSING = "—"
THREADS = 2  # threads for the multi-threaded competitors (numexpr, PyTorch), as many as this machine's cores


# --------------------------------------------------------------------------- settings and report


@dataclass(frozen=True)
class Settings:
    """How long to time. The scripts subclass it with their problem sizes."""

    quick: bool
    repeat: int  # interleaved rounds; the median is reported
    min_time: float  # seconds one repeat should last at least

    @staticmethod
    def timing(quick: bool) -> tuple[int, float]:
        """(repeat, min_time) of a quick or a full run."""
        return (3, 0.01) if quick else (7, 0.2)

    @classmethod
    def make(cls, quick: bool) -> Settings:
        return cls(quick, *cls.timing(quick))


@dataclass
class Report:
    """Collects notes (errors, mismatches) printed after the tables."""

    notes: list[str] = field(default_factory=list)

    def error(self, what: str, exc: BaseException) -> str:
        """Record an exception (with the innermost frames of its traceback); return the cell "error"."""
        if isinstance(exc, ChildFailed):  # its message already is the child's traceback
            detail = str(exc)
        else:
            detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
        self.notes.append(f"**{what}** failed:\n\n```\n{detail.rstrip()}\n```")
        return "error"


class ChildFailed(RuntimeError):
    """A fresh benchmark process exited with an error; the message is the end of its stderr."""


# A cell is either a time in seconds or a string shown as is ("—", "error").
Cell = float | str
Libs = dict[str, object | None]


# --------------------------------------------------------------------------- optional libraries

_SKIPPED: set[str] = set()  # names given to --skip: treated as not installed


def try_import(name: str) -> object | None:
    """Import an optional competitor (configured for the benchmark), or None when unavailable."""
    if name in _SKIPPED:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTensor warns at import when it finds no BLAS flags
            module = importlib.import_module(name)
            if name == "pytensor":
                importlib.import_module("pytensor.tensor")
    except Exception:  # any import failure means "not available"
        return None
    if name == "jax":
        module.config.update("jax_enable_x64", True)
    if name == "numexpr":
        module.set_num_threads(THREADS)
    return module


def version_of(module: object | None) -> str:
    return getattr(module, "__version__", "?") if module is not None else "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:
        return "unknown"


def when(lib: object | None, build: Callable) -> Callable | None:
    """``build`` if the library it needs is installed, else None (shown as "—")."""
    return build if lib is not None else None


# --------------------------------------------------------------------------- timing and checks


def loop_count(fn: Callable[[], object], min_time: float) -> int:
    """After a warm-up call, the number of calls of ``fn`` that lasts at least ``min_time`` seconds."""
    fn()
    number = 1
    while True:
        elapsed = timeit.timeit(fn, number=number)
        if elapsed >= min_time:
            return number
        grow = min_time / elapsed * 1.1 if elapsed > 0 else 10
        number = max(number * 2, int(number * grow))


def time_interleaved(
    fns: Mapping[str, Callable[[], object]], settings: Settings, report: Report, workload: str
) -> dict[str, Cell]:
    """Median per-call seconds of each callable, in ``settings.repeat`` rounds that take turns.

    Taking turns (one repeat of each contender per round) spreads slow drifts of the machine (clock
    changes, a neighbour's burst of work) over every contender instead of landing on one.
    """
    numbers: dict[str, int] = {}
    cells: dict[str, Cell] = {}
    for name, fn in fns.items():
        try:
            numbers[name] = loop_count(fn, settings.min_time)
        except Exception as exc:
            cells[name] = report.error(f"{workload}, {name} (timing)", exc)
    samples: dict[str, list[float]] = {name: [] for name in numbers}
    for _ in range(settings.repeat):
        for name, number in numbers.items():
            samples[name].append(timeit.timeit(fns[name], number=number) / number)
    cells.update({name: statistics.median(times) for name, times in samples.items()})
    return cells


def as_arrays(out: object) -> list[np.ndarray]:
    """Flatten a result (array, scalar, tuple/list, JAX's ``(value, (g1, g2))``) to NumPy arrays."""
    if isinstance(out, (list, tuple)):
        return [a for item in out for a in as_arrays(item)]
    if hasattr(out, "detach"):  # a PyTorch tensor
        out = out.detach().numpy()
    return [np.asarray(out)]


def mismatch(got: object, want: object, rtol: float) -> str | None:
    """None if ``got`` agrees with ``want`` output by output, else a description of the worst error."""
    got_arrays, want_arrays = as_arrays(got), as_arrays(want)
    if len(got_arrays) != len(want_arrays):
        return f"{len(got_arrays)} outputs, expected {len(want_arrays)}"
    for i, (g, w) in enumerate(zip(got_arrays, want_arrays, strict=True)):
        if g.shape != w.shape:
            return f"output {i}: shape {g.shape}, expected {w.shape}"
        w64, g64 = w.astype(np.float64), g.astype(np.float64)
        atol = rtol * float(np.max(np.abs(w64), initial=0.0))
        if not np.allclose(g64, w64, rtol=rtol, atol=atol):
            err = float(np.max(np.abs(g64 - w64) / (np.abs(w64) + atol + 1e-300)))
            return f"output {i}: max relative error {err:.2e} > rtol {rtol:g}"
    return None


@dataclass
class Contender:
    """One implementation of a workload: ``build()`` compiles and returns a zero-argument callable.

    ``build`` None means the library is not installed (cells "—"); a string is a reason the
    contender was not run, shown in its cells (e.g. "skipped: no codegen.vecmath").
    """

    name: str
    build: Callable[[], Callable[[], object]] | str | None
    checked: bool = True  # compare its output with the reference's (False for partial work)


@dataclass
class Timings:
    """Per-call seconds (or "—"/"error") by contender name, and the names whose output disagreed."""

    cells: dict[str, Cell]
    flagged: set[str]

    def show(self, name: str, scale: float) -> str:
        return fmt_time(self.cells[name], scale) + (" †" if name in self.flagged else "")

    def ratio(self, name: str, base: str) -> str:
        return fmt_ratio(self.cells[name], self.cells[base])


def run_contenders(
    contenders: Sequence[Contender],
    settings: Settings,
    report: Report,
    workload: str,
    references: Sequence[str],
    rtol: float,
) -> Timings:
    """Build each contender, check its output against the first of ``references`` that ran, time it."""
    outputs: dict[str, object] = {}
    callables: dict[str, Callable[[], object]] = {}
    cells: dict[str, Cell] = {}
    for c in contenders:
        if c.build is None or isinstance(c.build, str):
            cells[c.name] = MISSING if c.build is None else c.build
            continue
        try:
            fn = c.build()
            outputs[c.name] = fn()
            callables[c.name] = fn
        except Exception as exc:
            cells[c.name] = report.error(f"{workload}, {c.name}", exc)
    flagged: set[str] = set()
    checked = {c.name: c.checked for c in contenders}
    reference = next((r for r in references if r in outputs), None)
    for name, out in outputs.items():
        if reference is None or name == reference or not checked[name]:
            continue
        problem = mismatch(out, outputs[reference], rtol)
        if problem:
            flagged.add(name)
            report.notes.append(f"**{workload}, {name}** disagrees with {reference} (†): {problem}")
    cells.update(time_interleaved(callables, settings, report, workload))
    return Timings(cells, flagged)


# --------------------------------------------------------------------------- formatting


def fmt_time(cell: Cell, scale: float) -> str:
    """A time in seconds shown in the unit ``scale`` (1e3: ms, 1e6: µs); strings pass through."""
    if isinstance(cell, str):
        return cell
    value = cell * scale
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def fmt_ratio(cell: Cell, base: Cell) -> str:
    if isinstance(cell, str) or isinstance(base, str) or base == 0:
        return MISSING
    return f"{cell / base:.2f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def sized_table(
    names: Sequence[str], results: Mapping[str, Timings], bases: Mapping[str, str], unit: str = "ms"
) -> str:
    """Rows: implementations; per problem size, a time column and a ratio column per base.

    ``bases`` maps a contender's name to its column label ("× label"); ``unit`` is "ms" or "µs".
    """
    scale = {"ms": 1e3, "µs": 1e6}[unit]
    headers = ["implementation"]
    for label in results:
        headers += [f"{label}: {unit}", *(f"× {short}" for short in bases.values())]
    rows = []
    for name in names:
        row = [name]
        for t in results.values():
            row += [t.show(name, scale), *(t.ratio(name, base) for base in bases)]
        rows.append(row)
    return markdown_table(headers, rows)


def print_section(title: str, intro: str, table: str) -> None:
    print(f"\n## {title}\n\n{intro}\n\n{table}", flush=True)


# --------------------------------------------------------------------------- fresh processes


def child_env(env: Mapping[str, str], extra_path: Sequence[str] = ()) -> dict[str, str]:
    """This process's environment plus ``env``, with the checkout and benchmarks/ importable."""
    full_env = {**os.environ, **env}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), str(BENCH_DIR), *extra_path, os.environ.get("PYTHONPATH", "")]
    )
    return full_env


def run_fresh(code: str, env: Mapping[str, str], extra_path: Sequence[str] = ()) -> dict[str, float]:
    """Run ``code`` in a new interpreter; return its JSON line plus ``wall_s`` seen from here."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], env=child_env(env, extra_path), capture_output=True, text=True, timeout=900
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ChildFailed(f"fresh process exited with status {proc.returncode}:\n{tail}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


@dataclass
class ChildSteps:
    """What a child of ``run_with_deadlines`` reported: one dict per JSON line, in order, and the
    step it was killed in (None when it finished)."""

    steps: list[dict]
    killed_in: str | None = None
    killed_after: float = 0.0  # seconds the killed step had run

    def get(self, key: str, default: object = None) -> object:
        """The value of ``key`` in the last line that has it."""
        for step in reversed(self.steps):
            if key in step:
                return step[key]
        return default


def run_with_deadlines(
    code: str, env: Mapping[str, str], step_names: Sequence[str], deadline: float, poll: float = 0.05
) -> ChildSteps:
    """Run ``code`` in a new interpreter that prints one JSON line per finished step.

    Each line must hold ``"step": name``; ``step_names`` lists them in the order the child runs
    them. Every step gets ``deadline`` seconds from the end of the previous one; a child still in
    a step past that is killed, and the result says which step it was in. A child that fails
    raises ``ChildFailed`` with the end of its stderr.
    """
    with tempfile.TemporaryDirectory(prefix="symgrad-bench-child-") as tmp:
        out_path, err_path = Path(tmp) / "out", Path(tmp) / "err"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-c", code], env=child_env(env), stdout=out, stderr=err)
        try:
            step_start = time.perf_counter()
            seen = 0
            while True:
                done = proc.poll() is not None
                lines = [json.loads(line) for line in out_path.read_text().splitlines() if line.startswith("{")]
                if len(lines) > seen:
                    seen, step_start = len(lines), time.perf_counter()
                if done:
                    break
                if time.perf_counter() - step_start > deadline:
                    proc.kill()
                    proc.wait()
                    finished = {line.get("step") for line in lines}
                    current = next((s for s in step_names if s not in finished), "?")
                    return ChildSteps(lines, current, time.perf_counter() - step_start)
                time.sleep(poll)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            tail = "\n".join(err_path.read_text().strip().splitlines()[-15:])
            raise ChildFailed(f"fresh process exited with status {proc.returncode}:\n{tail}")
        return ChildSteps(lines)


# --------------------------------------------------------------------------- main

Section = Callable[[Settings, Libs, Report], None]


def main(
    title: str,
    description: str,
    sections: Mapping[str, Section],
    optional: Sequence[str],
    make_settings: Callable[[bool], Settings],
    argv: Sequence[str] | None = None,
    default: Sequence[str] | None = None,
    always: Sequence[tuple[str, object]] = (),
) -> None:
    """Parse the options, print the machine line, run the chosen sections, print the notes.

    ``optional`` names the competitor modules to import (each may be missing); ``always`` adds
    (name, module) pairs the scripts import unconditionally (their versions go on the machine line);
    ``default`` is the sections run without ``--only`` (all of them when None).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="few repetitions, small sizes only")
    parser.add_argument(
        "--only", nargs="+", choices=list(sections), default=list(default or sections), help="sections to run"
    )
    parser.add_argument(
        "--skip", nargs="+", choices=list(optional), default=[], metavar="LIB", help="treat these as not installed"
    )
    args = parser.parse_args(argv)
    _SKIPPED.clear()
    _SKIPPED.update(args.skip)
    settings = make_settings(args.quick)

    print(f"# {title}\n")
    import symgrad  # the subject: not optional
    import symgrad.tensor

    libs: Libs = {"symgrad": symgrad, "symgrad.tensor": symgrad.tensor}
    for name in optional:
        libs[name] = try_import(name)
    versions = ", ".join(
        [f"python {platform.python_version()}", f"numpy {np.__version__}"]
        + [f"{name} {version_of(module)}" for name, module in always]
        + [f"{name} {version_of(libs[name])}" for name in optional]
        + [f"symgrad {version_of(symgrad)}"]
    )
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; {versions}")
    print(f"\nload average at start: {load_average()}")
    for name in optional:
        if libs[name] is None:
            reason = "--skip" if name in _SKIPPED else "not installed"
            print(f"\nskipped: {name} ({reason})")
    # PyTensor warns at length when it finds no BLAS to link to; the line below says it once.
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    pytensor = libs.get("pytensor")
    if pytensor is not None and not pytensor.config.blas__ldflags:
        print("\nPyTensor found no BLAS to link its C code to (pip install): its default mode's dot and gemm")
        print("call BLAS through NumPy's C API instead.")
    print(
        f"\nmode: {'quick' if settings.quick else 'full'} "
        f"(median of {settings.repeat} interleaved rounds, each ≥ {settings.min_time * 1e3:g} ms); "
        f"sections: {' '.join(args.only)}"
    )

    report = Report()
    for name in args.only:
        started = time.perf_counter()
        sections[name](settings, libs, report)
        print(f"\n({name}: {time.perf_counter() - started:.0f} s; load average now {load_average()})", flush=True)
    print(f"\nload average at end: {load_average()} (other work on the machine makes times noisy)")
    if report.notes:
        print("\n## Notes\n")
        for note in report.notes:
            print(f"- {note}\n")
