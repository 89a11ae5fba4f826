"""The README's Python examples run as written, in order, as one session (later blocks use the
names earlier ones define, as a reader following along would)."""

import re
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"^( *)```python\n(.*?)^ *```", README.read_text(), flags=re.S | re.M)
    assert len(blocks) >= 2
    namespace: dict = {}
    for _, block in blocks:
        exec(compile(textwrap.dedent(block), str(README), "exec"), namespace)
