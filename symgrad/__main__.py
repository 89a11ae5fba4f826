"""The command line: ``python -m symgrad <command> ...``.

Commands:

- ``grad FORMULA [--wrt x] [--at 1.5 | --at x=1.5,y=2] [--latex] [--source]``: the simplified
  derivative of a formula (NumPy's function names: ``exp(-x**2)*sin(x)``, ``sigmoid(w*x + b)``),
  its value at a point, and optionally its LaTeX or the generated code that computes it.

Each command is a subparser with its own ``run`` function, so new ones slot in beside ``grad``.
"""

from __future__ import annotations

import argparse
import sys
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
