"""The disk cache, proven with real processes: a second process loads the machine code instead of
compiling; every kind of damage to an entry or to Numba's files is detected, discarded with a
warning and rebuilt; eight processes compiling at the same moment leave one valid entry; a
directory or file others could write is refused; a cache that cannot be written gives one warning
and in-memory compilation. ``pytest -m long`` repeats the damage and race tests five times."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from codegen import cache
from symgrad.__main__ import main

ROOT = Path(__file__).resolve().parent.parent

# Compiles n small functions (distinct keys, one kernel each) and reports each one's value, its
# Numba cache hits and misses and its module file, and every CacheWarning. With a barrier
# directory it first waits for the parent's "go", so that all the children compile at once.
CHILD = textwrap.dedent(
    """
    import json, os, sys, time, warnings
    from pathlib import Path

    if os.environ.get("FAKE_UID"):  # symgrad then sees every file as another user's
        os.geteuid = lambda: int(os.environ["FAKE_UID"])
    import numpy as np
    import symgrad as theano
    import symgrad.tensor as T
    from codegen.cache import CacheWarning

    n = int(sys.argv[1])
    x = T.dvector("x")
    outputs = [T.exp(x) * (k + 2) + x for k in range(n)]
    if len(sys.argv) > 2:
        import numba

        numba.njit(lambda v: v + 1.0)(1.0)  # Numba's one-time set-up, so that the compiles start together
        Path(sys.argv[2], f"ready-{os.getpid()}").touch()
        while not Path(sys.argv[2], "go").exists():
            time.sleep(0.002)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = []
        for out in outputs:
            f = theano.function([x], out)
            value = f(np.linspace(-1.0, 1.0, 5))
            hits, misses = f.kernel_cache_stats()
            results.append({"value": value.tolist(), "hits": hits, "misses": misses,
                            "file": getattr(f._module, "__file__", None)})
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    print(json.dumps({"results": results, "warnings": messages}))
    """
)

# Once in the default run; five more times, each of which must pass, under `pytest -m long`.
ROUNDS = [pytest.param(0, id="once")] + [pytest.param(r, id=f"repeat{r}", marks=pytest.mark.long) for r in range(1, 6)]


def expected(k: int) -> list[float]:
    v = np.linspace(-1.0, 1.0, 5)
    return (np.exp(v) * (k + 2) + v).tolist()


def child_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    # PYTHONPATH: the children import this checkout, even where another one is installed.
    return dict(os.environ, SYMGRAD_CACHE_DIR=str(cache_dir), PYTHONPATH=str(ROOT), **extra)


def run_child(cache_dir: Path, n: int, **extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(n)], env=child_env(cache_dir, **extra), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for k, result in enumerate(report["results"]):
        np.testing.assert_allclose(result["value"], expected(k), rtol=1e-14)
    return report


def modules(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("symgrad_*.py"))


def numba_files(cache_dir: Path, module: Path, suffix: str) -> list[Path]:
    return sorted((cache_dir / "__pycache__").glob(f"{module.stem}.*{suffix}"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Ways to damage or endanger one function's files: (which file, what to do, what the warning says).
DAMAGE = {
    "module truncated": ("module", lambda data: data[: len(data) // 2], "damaged"),
    "module garbage": ("module", lambda data: b"\x00\xff\xfe not python at all", "not UTF-8"),
    "module edited": ("module", lambda data: data.replace(b"def make_entry", b"def make_entry_"), "does not match"),
    "module empty": ("module", lambda data: b"", "no hash line"),
    "module without hash line": ("module", lambda data: data.partition(b"\n")[2], "no hash line"),
    "index garbage": ("index", lambda data: b"garbage\n", "no symgrad header"),
    "index truncated": ("index", lambda data: data[: len(data) // 2], "do not match"),
    "index empty": ("index", lambda data: b"", "no symgrad header"),
    "data truncated": ("data", lambda data: data[:100], "do not match"),
    "data with a flipped byte": ("data", lambda data: data[:500] + bytes([data[500] ^ 1]) + data[501:], "do not match"),
}
UNSAFE = {
    "module writable by other users": ("module", 0o646, "writable by other users"),
    "index writable by its group": ("index", 0o620, "writable by its group"),
    "data writable by group and others": ("data", 0o666, "writable by its group and other users"),
}
CASES = list(DAMAGE) + list(UNSAFE)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A cache holding one entry per damage case, compiled by a real process (in a new directory)."""
    directory = tmp_path_factory.mktemp("template") / "created" / "cache"
    report = run_child(directory, len(CASES))
    assert report["warnings"] == [] and all(r["hits"] == 0 and r["misses"] == 1 for r in report["results"])
    return directory


def copy_of(template: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "cache"
    shutil.copytree(template, directory)
    return directory


def test_new_cache_directory_and_files_are_private(template):
    assert mode(template) == 0o700 and mode(template / "__pycache__") == 0o700
    assert len(modules(template)) == len(CASES)
    files = list(template.rglob("*"))
    assert all(mode(f) == 0o600 for f in files if f.is_file()), [(f.name, oct(mode(f))) for f in files]
    assert not list(template.rglob("*tmp*"))


def test_second_process_loads_without_compiling(template, tmp_path):
    directory = copy_of(template, tmp_path)
    report = run_child(directory, len(CASES))
    assert report["warnings"] == []
    assert all(r["hits"] == 1 and r["misses"] == 0 for r in report["results"]), report


@pytest.mark.parametrize("round_", ROUNDS)
def test_every_kind_of_damage_is_detected_discarded_and_rebuilt(template, tmp_path, round_):
    directory = copy_of(template, tmp_path)
    files = modules(directory)
    targets = {}
    for k, case in enumerate(CASES):
        where = (DAMAGE.get(case) or UNSAFE[case])[0]
        target = {
            "module": files[k],
            "index": numba_files(directory, files[k], ".nbi")[0],
            "data": numba_files(directory, files[k], ".nbc")[0],
        }[where]
        if case in DAMAGE:
            target.write_bytes(DAMAGE[case][1](target.read_bytes()))
        else:
            target.chmod(UNSAFE[case][1])
        targets[case] = target
    report = run_child(directory, len(CASES))
    for case, target in targets.items():
        said = [w for w in report["warnings"] if target.name in w]
        reason = (DAMAGE.get(case) or UNSAFE[case])[2]
        assert len(said) == 1 and reason in said[0], (case, report["warnings"])
        assert "rebuilding" in said[0] or "recompiling" in said[0]
    assert len(report["warnings"]) == len(CASES), report["warnings"]
    # Rebuilt, so the next process loads everything from the cache, silently.
    again = run_child(directory, len(CASES))
    assert again["warnings"] == [] and all(r["hits"] == 1 and r["misses"] == 0 for r in again["results"]), again
    assert all(mode(f) == 0o600 for f in directory.rglob("*") if f.is_file())
    assert len(modules(directory)) == len(CASES) and not list(directory.rglob("*tmp*"))


@pytest.mark.parametrize("round_", ROUNDS)
def test_eight_processes_compiling_at_once_leave_one_valid_entry(tmp_path, round_):
    directory, barrier = tmp_path / "cache", tmp_path / "barrier"
    barrier.mkdir()
    n = 2
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(n), str(barrier)],
            env=child_env(directory),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(8)
    ]
    deadline = time.monotonic() + 120
    while len(list(barrier.glob("ready-*"))) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    (barrier / "go").touch()
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        assert report["warnings"] == [], report["warnings"]
        for k, result in enumerate(report["results"]):
            np.testing.assert_allclose(result["value"], expected(k), rtol=1e-14)
    assert len(modules(directory)) == n
    for module in modules(directory):
        assert len(numba_files(directory, module, ".nbi")) == 1
    assert not list(directory.rglob("*tmp*"))
    again = run_child(directory, n)
    assert again["warnings"] == [] and all(r["hits"] == 1 and r["misses"] == 0 for r in again["results"]), again


@pytest.mark.parametrize("round_", ROUNDS)
def test_directory_writable_by_others_is_not_used(template, tmp_path, round_):
    directory = copy_of(template, tmp_path)
    directory.chmod(0o777)
    before = sorted(p.name for p in directory.rglob("*"))
    report = run_child(directory, 3)
    (message,) = report["warnings"]
    assert f"the cache directory {directory} is writable by its group and other users (mode 0777)" in message
    assert "could make symgrad run their code" in message and "compiling in memory" in message
    assert all(r["file"] is None and r["hits"] == 0 for r in report["results"])  # nothing was loaded from it
    assert sorted(p.name for p in directory.rglob("*")) == before


def test_directory_owned_by_someone_else_is_not_used(template, tmp_path):
    directory = copy_of(template, tmp_path)
    report = run_child(directory, 2, FAKE_UID="4242")
    (message,) = report["warnings"]
    assert f"the cache directory {directory} is owned by user id {os.geteuid()}, not by you (user id 4242)" in message
    assert all(r["file"] is None and r["hits"] == 0 for r in report["results"])


def make_read_only(directory: Path) -> None:
    directory.chmod(0o555)
    if os.access(directory, os.W_OK):  # root ignores modes; the immutable flag stops root too
        subprocess.run(["chattr", "+i", str(directory)], check=True, capture_output=True)
    assert not os.access(directory, os.W_OK)


@pytest.mark.parametrize("round_", ROUNDS)
def test_read_only_directory_gives_one_warning_and_compiles_in_memory(tmp_path, round_):
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    make_read_only(directory)
    try:
        report = run_child(directory, 3)
    finally:
        subprocess.run(["chattr", "-i", str(directory)], capture_output=True)
        directory.chmod(0o700)
    (message,) = report["warnings"]
    assert message == (
        f"symgrad: the cache directory {directory} is read-only; compiling in memory, so later processes will "
        "compile again"
    )
    assert all(r["file"] is None for r in report["results"]) and list(directory.iterdir()) == []


def test_directory_that_cannot_be_created_gives_one_warning(tmp_path):
    (tmp_path / "a-file").write_text("")
    directory = tmp_path / "a-file" / "cache"
    report = run_child(directory, 2)
    (message,) = report["warnings"]
    assert message.startswith(f"symgrad: cannot create the cache directory {directory}: Not a directory; ")
    assert all(r["file"] is None for r in report["results"])


def test_owner_rule():
    def status(uid: int, mode: int) -> os.stat_result:
        return os.stat_result((stat.S_IFREG | mode, 0, 0, 1, uid, 0, 0, 0, 0, 0))

    me = os.geteuid()
    assert cache.owner_problem(status(me, 0o600), "f") is None
    assert cache.owner_problem(status(me, 0o755), "f") is None
    assert (
        cache.owner_problem(status(me + 1, 0o600), "f") == f"f is owned by user id {me + 1}, not by you (user id {me})"
    )
    assert cache.owner_problem(status(me, 0o664), "f") == "f is writable by its group (mode 0664)"
    assert cache.owner_problem(status(me, 0o602), "f") == "f is writable by other users (mode 0602)"


# ------------------------------------------------------------------------------------------------
# python -m symgrad cache info | clear | prune


def cli(capsys, monkeypatch, directory: Path, *argv: str) -> tuple[int, str]:
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(directory))
    status = main(["cache", *argv])
    return status, capsys.readouterr().out


def test_cache_info_clear_and_prune(template, tmp_path, capsys, monkeypatch):
    directory = copy_of(template, tmp_path)
    entries, _ = cache.entries(directory)
    sizes = [e.size for e in entries]
    status, out = cli(capsys, monkeypatch, directory, "info")
    assert status == 0
    lines = out.splitlines()
    assert lines[:2] == [f"cache directory: {directory}", "status: in use (yours, mode 0700)"]
    assert lines[2].startswith(f"entries: {len(CASES)} compiled functions, ")
    # The least recently used go first: use the first entry now, so that it stays.
    newest = entries[0].key
    path = directory / f"symgrad_{newest}.py"
    os.utime(path, (time.time() + 60, path.stat().st_mtime))
    budget = max(sizes) + 10
    status, out = cli(capsys, monkeypatch, directory, "prune", "--max-size", str(budget))
    assert status == 0 and out.startswith(f"removed {len(CASES) - 1} least recently used entries")
    remaining, _ = cache.entries(directory)
    assert [e.key for e in remaining] == [newest] and sum(e.size for e in remaining) <= budget
    (directory / "__pycache__" / "symgrad_{}.orphan-1.py311.nbi".format("0" * 40)).write_bytes(b"x")
    status, out = cli(capsys, monkeypatch, directory, "prune", "--max-size", "1G")
    assert out.startswith("removed 1 least recently used entries (1 B)")  # machine code without a module
    status, out = cli(capsys, monkeypatch, directory, "clear")
    assert status == 0 and out.startswith("removed 1 entries")
    assert list(directory.rglob("*.py")) == [] and list((directory / "__pycache__").iterdir()) == []


def test_cache_info_explains_a_directory_it_will_not_use(tmp_path, capsys, monkeypatch):
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o700)
    directory.chmod(0o775)
    _, out = cli(capsys, monkeypatch, directory, "info")
    assert (
        f"status: not used: {directory} is writable by its group (mode 0775); functions are compiled in memory" in out
    )
    _, out = cli(capsys, monkeypatch, tmp_path / "missing", "info")
    assert "status: does not exist yet (it is created, with mode 0700, when a function is first compiled)" in out


@pytest.mark.parametrize("size, expected", [("500M", 500 * 2**20), ("2G", 2 * 2**30), ("1.5KiB", 1536), ("123", 123)])
def test_prune_sizes(size, expected):
    from symgrad.__main__ import _size

    assert _size(size) == expected


def test_prune_rejects_a_bad_size(tmp_path, capsys):
    assert main(["cache", "prune", "--max-size", "12Q"]) == 2
    assert "--max-size 12Q: not a size (examples: 500M, 2G, 1000000)" in capsys.readouterr().err


# Builds the same graph as every other run of it, but at a line that depends on argv[1] (blank lines
# before it), then calls it with shapes that disagree: the error must name this process's line.
BUILT_AT_CHILD = """
import sys
import numpy as np
import symgrad as theano
import symgrad.tensor as T
a, b = T.dmatrix("a"), T.dmatrix("b")
{padding}f = theano.function([a, b], T.dot(a, b))
try:
    f(np.ones((2, 3)), np.ones((2, 3)))
except ValueError as err:
    print(err)
"""


def test_a_cached_module_reports_the_lines_of_the_process_using_it(tmp_path):
    """The line that built a node is not part of the cache key, so the module's text must not hold
    it: a second process building the same graph elsewhere gets the first one's module, with its
    own lines in the errors."""
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path / "cache"))
    messages = []
    for blank_lines in (0, 7):
        script = tmp_path / f"build_{blank_lines}.py"
        script.write_text(BUILT_AT_CHILD.format(padding="\n" * blank_lines))
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=True)
        messages.append(done.stdout.strip())
    assert messages[0].startswith("shape mismatch in dot (built at ") and "build_0.py:7" in messages[0]
    assert "build_7.py:14" in messages[1], messages
    assert len(list((tmp_path / "cache").glob("symgrad_*.py"))) == 1  # one entry served both


# Builds a gradient with a shared variable and its update; with "warm", rewriting and lowering
# raise once the graph is built, so the function can only come from the recipe an earlier process left.
RECALL_CHILD = """
import json, sys
import numpy as np
import symgrad as theano
import symgrad.tensor as T
import codegen.function
import symgrad.rewrite

x = T.dvector("x")
w = theano.shared(np.ones(3), name="w")
cost = T.sum(T.exp(x * w) * 2)
grad = T.grad(cost, x)  # T.grad rewrites what it differentiates: that is building the graph
if sys.argv[1] == "warm":
    def refuse(*args, **kwargs):
        raise AssertionError("the graph was rewritten or lowered again")

    codegen.function.lower = symgrad.rewrite.optimize = refuse
f = theano.function([x], [cost, grad], updates=[(w, w * 0.5)])
values = [f(np.arange(3.0))[0].item() for _ in range(2)]
print(json.dumps({"values": values, "w": w.get_value().tolist(), "rewrites": f.rewrites,
                  "stats": f.kernel_cache_stats()}))
"""


def test_a_second_process_finds_the_function_without_rewriting_or_lowering_the_graph(tmp_path):
    """The recipe, keyed by the graph as built, names the module it led to: the second process
    neither rewrites nor lowers nor prints, and loads the machine code. A damaged recipe is
    only a missed shortcut: the function is built the long way and the recipe written again."""
    env = dict(child_env(tmp_path / "cache"))
    script = tmp_path / "recall.py"
    script.write_text(RECALL_CHILD)

    def run(mode: str) -> dict:
        done = subprocess.run([sys.executable, str(script), mode], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    cold = run("cold")
    assert cold["stats"] == [0, 1] and cold["w"] == [0.25, 0.25, 0.25]
    warm = run("warm")
    assert warm["stats"] == [1, 0]  # the program's machine code, from Numba's cache
    assert warm["values"] == cold["values"] and warm["w"] == cold["w"] and warm["rewrites"] == cold["rewrites"]
    (recipe,) = (tmp_path / "cache").glob("symgrad_*.recipe")
    recipe.write_text("# sha256: 0\n{}")
    again = run("cold")
    assert again["values"] == cold["values"] and again["stats"] == [1, 0]
    assert recipe.read_text().startswith("# sha256: ") and run("warm")["values"] == cold["values"]
