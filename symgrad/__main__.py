"""The command line: ``python -m symgrad <command> ...``.

Commands:

- ``grad FORMULA [--wrt x] [--at 1.5 | --at x=1.5,y=2] [--latex] [--source]``: the simplified
  derivative of a formula (NumPy's function names: ``exp(-x**2)*sin(x)``, ``sigmoid(w*x + b)``),
  its value at a point, and optionally its LaTeX or the generated code that computes it.
- ``cache info | clear | prune --max-size SIZE``: the disk cache of compiled functions: where it is,
  whether symgrad may use it, what it holds; remove everything; remove the least recently used
  entries until it fits in SIZE (``500M``, ``2G``, or bytes).

Each command is a subparser with its own ``run`` function.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence


class CommandError(Exception):
    """A mistake in the command line, reported as one line on stderr (exit status 2)."""


def _point(text: str, names: list[str]) -> dict[str, float]:
    """``--at``: one number for a one-variable formula, else ``name=value`` pairs."""
    if "=" not in text:
        if len(names) != 1:
            raise CommandError(f"--at {text}: the formula has variables {', '.join(names)}; give x=...,y=... pairs")
        pairs = [(names[0], text)]
    else:
        pairs = [tuple(part.split("=", 1)) for part in text.split(",")]
    point = {}
    for name, value in pairs:
        name = name.strip()
        if name not in names:
            raise CommandError(f"--at: {name!r} is not a variable of the formula (its variables: {', '.join(names)})")
        try:
            point[name] = float(value)
        except ValueError:
            raise CommandError(f"--at: {value.strip()!r} is not a number") from None
    missing = [n for n in names if n not in point]
    if missing:
        raise CommandError(f"--at: no value for {', '.join(missing)}")
    return point


def run_grad(args: argparse.Namespace) -> int:
    import symgrad as theano
    import symgrad.tensor as T
    from symgrad.interop import ParseError, from_sympy, parse
    from symgrad.printing import latex, pp

    try:
        expr = parse(args.formula)
    except ParseError as err:
        raise CommandError(str(err)) from None
    names = sorted(s.name for s in expr.free_symbols)
    if not names:
        raise CommandError(f"{args.formula!r} has no variables to differentiate with respect to")
    wrt_names = args.wrt or names
    if not args.wrt and len(names) > 1:
        raise CommandError(f"the formula has variables {', '.join(names)}; say which with --wrt")
    for name in wrt_names:
        if name not in names:
            raise CommandError(f"--wrt {name}: not a variable of the formula (its variables: {', '.join(names)})")
    variables = {name: T.dscalar(name) for name in names}
    f = from_sympy(expr, variables)
    derivatives = T.grad(f, [variables[n] for n in wrt_names])

    print(f"f({', '.join(names)}) = {pp(f)}")
    for name, d in zip(wrt_names, derivatives):
        print(f"df/d{name} = {pp(d)}")
    if args.latex:
        for name, d in zip(wrt_names, derivatives):
            print(rf"\frac{{\partial f}}{{\partial {latex(variables[name])}}} = {latex(d)}")
    if args.at is not None or args.source:
        compiled = theano.function(list(variables.values()), [f, *derivatives], on_unused_input="ignore")
        if args.at is not None:
            point = _point(args.at, names)
            value, *slopes = compiled(*(point[n] for n in names))
            where = ", ".join(f"{n} = {point[n]:.12g}" for n in names)
            # 12 digits: what the formula means, not the last bits of one machine's libm
            results = [f"f = {float(value):.12g}"] + [f"df/d{n} = {float(v):.12g}" for n, v in zip(wrt_names, slopes)]
            print(f"at {where}: {', '.join(results)}")
        if args.source:
            print()
            print(compiled.source, end="")
    return 0


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _size(text: str) -> int:
    """``--max-size``: bytes, or a number with K, M, G or T (binary multiples; KB, KiB also read)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if match is None:
        raise CommandError(f"--max-size {text}: not a size (examples: 500M, 2G, 1000000)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def run_cache(args: argparse.Namespace) -> int:
    from codegen import cache

    directory = cache.cache_dir()
    if args.action == "info":
        print(f"cache directory: {directory}")
        print(f"status: {cache.directory_status(directory)}")
        found, temporary = cache.entries(directory)
        modules = sum(f.stat().st_size for e in found for f in e.files if f.suffix == ".py")
        total = sum(e.size for e in found)
        orphans = sum(not e.has_module for e in found)
        print(f"entries: {len(found) - orphans} compiled functions, {_bytes(total)} "
              f"({_bytes(modules)} generated code, {_bytes(total - modules)} machine code)")  # fmt: skip
        if orphans:
            print(f"machine code without its module (removed by prune): {orphans}")
        used = [e.last_used for e in found if e.has_module]
        if used:
            print(f"last used: {_when(min(used))} (least recent) to {_when(max(used))} (most recent)")
        if temporary:
            print(f"temporary files (of writers at work, or that died): {len(temporary)}")
        return 0
    if args.action == "clear":
        removed, freed = cache.clear(directory)
        print(f"removed {removed} entries ({_bytes(freed)}) from {directory}")
        return 0
    removed, freed = cache.prune(_size(args.max_size), directory)
    print(f"removed {removed} least recently used entries ({_bytes(freed)}) from {directory}")
    return 0


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="python -m symgrad", description="symgrad on the command line.")
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="command")
    grad = commands.add_parser(
        "grad",
        help="differentiate a formula",
        description="Print the simplified derivative of FORMULA, and optionally its value, LaTeX or generated code.",
    )
    grad.add_argument("formula", help="e.g. 'exp(-x**2)*sin(x)' (NumPy's function names; sigmoid, softplus, relu)")
    grad.add_argument("--wrt", action="append", metavar="NAME",
                      help="the variable to differentiate with respect to (repeat for several; "
                           "default: the formula's only variable)")  # fmt: skip
    grad.add_argument("--at", metavar="POINT", help="evaluate there: a number, or x=1.5,y=2 for several variables")
    grad.add_argument("--latex", action="store_true", help="also print the derivative as LaTeX")
    grad.add_argument("--source", action="store_true", help="also print the generated code computing it")
    grad.set_defaults(run=run_grad)

    cache = commands.add_parser(
        "cache",
        help="inspect or clean the disk cache",
        description="The disk cache of compiled functions ($SYMGRAD_CACHE_DIR, theano.config.compiledir or the "
        "platform's cache directory).",
    )
    actions = cache.add_subparsers(dest="action", required=True, metavar="action")
    actions.add_parser("info", help="where the cache is, whether it is used, and what it holds")
    actions.add_parser("clear", help="remove every entry")
    prune = actions.add_parser("prune", help="remove the least recently used entries until the cache fits")
    prune.add_argument("--max-size", required=True, metavar="SIZE", help="e.g. 500M, 2G, or a number of bytes")
    cache.set_defaults(run=run_cache)
    return main_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CommandError as err:
        print(f"python -m symgrad {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
