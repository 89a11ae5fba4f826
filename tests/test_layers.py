"""The back end's structure: one-way imports, and a lowering rule (or a reason) for every op.

The import checks read the source (every ``import`` statement, also those inside functions), so
they hold whatever a test happened to import first.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import symgrad
from symgrad.graph import Op

ROOT = Path(__file__).resolve().parent.parent

#: What codegen/ must never import: the user-facing API. It reads graphs and ops, and receives
#: everything else (storage cells, locks, defaults) in the front end's FunctionSpec.
USER_FACING = ("symgrad", "symgrad.function", "symgrad.shared", "symgrad.tensor", "symgrad.optim",
               "symgrad.optimize", "symgrad.explain", "symgrad.interop", "symgrad.__main__")  # fmt: skip
#: The front-end modules that may call into codegen/, and why.
CALLS_CODEGEN = {
    "symgrad.function": "hands the back end its FunctionSpec",
    "symgrad.shared": "copies a shared value to and from the GPU (codegen.cuda_runtime)",
    "symgrad.__main__": "the `cache` command (codegen.cache)",
}


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(module: str, path: Path) -> set[str]:
    """The modules ``module`` imports at run time, absolute (``from a.b import c`` counts as ``a.b``,
    or ``a.b.c`` when that is a module). Imports under ``if TYPE_CHECKING:`` are left out: a rule
    module names its printer's class in annotations only."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    known = _modules("symgrad") | _modules("codegen")
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found


def test_codegen_never_imports_the_user_facing_api():
    offending = [
        f"{module} imports {target}"
        for module, path in _modules("codegen").items()
        for target in _imports(module, path)
        if any(target == api or target.startswith(api + ".") for api in USER_FACING if api != "symgrad")
        or target == "symgrad"
    ]
    assert not offending, offending


def test_only_the_named_front_end_modules_call_codegen():
    callers = {
        module
        for module, path in _modules("symgrad").items()
        if any(t == "codegen" or t.startswith("codegen.") for t in _imports(module, path))
    }
    assert callers <= set(CALLS_CODEGEN), sorted(callers - set(CALLS_CODEGEN))


def test_codegen_modules_import_each_other_one_way():
    """No circle among codegen's own modules: each can be read knowing only those below it."""
    modules = _modules("codegen")
    graph = {m: {t for t in _imports(m, p) if t in modules and t != m} for m, p in modules.items()}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join(path[path.index(module) :] + (module,))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, path + (module,))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def _all_ops() -> list[type[Op]]:
    for info in pkgutil.walk_packages(symgrad.__path__, "symgrad."):
        if info.name not in ("symgrad.__main__", "symgrad.sparse"):  # sparse: an ImportError that explains
            importlib.import_module(info.name)
    found, pending = [], list(Op.__subclasses__())
    while pending:
        op = pending.pop()
        found.append(op)
        pending += op.__subclasses__()
    return sorted(found, key=lambda op: op.__qualname__)


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_every_op_has_a_lowering_rule(backend):
    """Each op is lowered by its backend's table, or by codegen.lower, or explicitly unsupported
    (CUDA only, with a reason): never by an isinstance chain that a new op could fall through."""
    from codegen.cpu_rules import CPU_RULES
    from codegen.cuda_rules import CUDA_RULES
    from codegen.rules import LOWERED_ELSEWHERE

    table = {"cpu": CPU_RULES, "cuda": CUDA_RULES}[backend]
    missing = [
        op.__qualname__
        for op in _all_ops()
        if not table.covers(op) and not any(issubclass(op, other) for other in LOWERED_ELSEWHERE)
    ]
    assert not missing, f"ops with no {backend} lowering rule: {missing}"
    if backend == "cpu":
        assert all(rule.emit is not None for rule in CPU_RULES.rules.values()), "the CPU runs every op"


def test_views_are_declared_by_the_rules():
    """An output that is a view of an input is copied before it is returned: the rules say which."""
    import numpy as np

    import symgrad.tensor as T

    x = T.dmatrix("x")
    f = symgrad.function([x], [x.T, x[1:], T.exp(x)])
    a = np.arange(6.0).reshape(2, 3)
    transposed, tail, _ = f(a)
    a[1, 1] = 100.0
    assert transposed[1, 1] == 4.0 and tail[0, 1] == 4.0
