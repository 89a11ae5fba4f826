"""The README's examples run as written, each block on its own in a fresh namespace (a reader
may copy any one of them), and print what the README shows.

A ```text block right after a ```python block is that block's output; right after a ```sh
block of ``python -m symgrad`` commands, theirs. To regenerate the outputs after changing a
printer, run ``python -m tests.test_readme --update`` from the repository root.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```\n", flags=re.S | re.M)


def blocks(text: str) -> list[re.Match]:
    return list(FENCE.finditer(text))


def outputs(text: str) -> Iterator[tuple[re.Match, str, str | None]]:
    """Run every python block, each in a namespace of its own (and every sh block of ``python -m
    symgrad`` commands); yield each block, what it printed, and the text of the output block shown
    after it."""
    found = blocks(text)
    for i, block in enumerate(found):
        language, code = block.group(2), textwrap.dedent(block.group(3))
        after = found[i + 1] if i + 1 < len(found) else None
        shown = None
        if after is not None and after.group(2) == "text" and not text[block.end() : after.start()].strip():
            shown = textwrap.dedent(after.group(3))
        if language == "python":
            printed = io.StringIO()
            padded = "\n" * text.count("\n", 0, block.start(3)) + code  # tracebacks give README's lines
            with contextlib.redirect_stdout(printed):
                exec(compile(padded, str(README), "exec"), {"__name__": "__readme__"})
            yield block, printed.getvalue(), shown
        elif language == "sh" and code.startswith("python -m symgrad "):
            yield block, "".join(_command(line) for line in code.splitlines()), shown


def _command(line: str) -> str:
    argv = [sys.executable, *shlex.split(line)[1:]]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return done.stdout + done.stderr


def test_readme_examples_run_and_print_what_the_readme_shows():
    text = README.read_text()
    compared = 0
    for block, printed, shown in outputs(text):
        if shown is not None:
            line = text.count("\n", 0, block.start()) + 1
            assert printed == shown, f"README.md line {line}: the output differs (python -m tests.test_readme --update)"
            compared += 1
    assert compared >= 8


def update() -> None:
    """Rewrite each output block of the README with what its code prints now."""
    text = README.read_text()
    replacements = []
    found = blocks(text)
    for block, printed, shown in outputs(text):
        if shown is not None:
            after = next(b for b in found if b.start() >= block.end())
            indent = after.group(1)
            body = textwrap.indent(printed, indent, lambda line: line.strip() != "")
            replacements.append((after.start(3), after.end(3), body))
    for start, end, body in reversed(replacements):
        text = text[:start] + body + text[end:]
    README.write_text(text)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python -m tests.test_readme --update")
    update()
