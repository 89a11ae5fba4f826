"""The README's GPU example (its ``py`` block) runs as written and prints what the README shows."""

from __future__ import annotations

import contextlib
import io
import textwrap

from tests.test_readme import README, blocks


def test_readme_gpu_example_runs():
    found = blocks(README.read_text())
    (example,) = [b for b in found if b.group(2) == "py" and 'device="cuda"' in b.group(3)]
    shown = found[found.index(example) + 1]
    assert shown.group(2) == "text"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(textwrap.dedent(example.group(3)), str(README), "exec"), {})
    assert printed.getvalue() == textwrap.dedent(shown.group(3))
