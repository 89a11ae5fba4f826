"""The notebooks in examples/notebooks run, each in a fresh Jupyter kernel on this interpreter, and
show what their text says: the derivative as LaTeX, the gradients drawn on the graph equal to the
compiled ones, the optimum found and plotted.

The kernel imports this checkout (``PYTHONPATH``), compiles into the test run's cache (it inherits
``SYMGRAD_CACHE_DIR`` from conftest), runs in the test's own folder, and keeps IPython's, Jupyter's
and Matplotlib's files there too: a run writes nothing outside its temporary folder."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import sympy

from tests.helpers import has_graphviz

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "examples" / "notebooks"
KERNEL = "symgrad-tests"  # a kernel spec of our own: a user's "python3" may run another interpreter


def execute(name: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    """Run the notebook ``name`` in ``folder``; returns its code cells, outputs filled in."""
    try:
        import nbclient
        import nbformat
        from ipykernel.kernelspec import write_kernel_spec
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import KernelManager
    except ImportError as error:
        pytest.fail(f"the notebook tests need the test extra's Jupyter packages ({error}): pip install -e '.[test]'")
    for variable, subfolder in [
        ("IPYTHONDIR", "ipython"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTER_CONFIG_DIR", "jupyter-config"),
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("MPLCONFIGDIR", "matplotlib"),
    ]:
        monkeypatch.setenv(variable, str(folder / subfolder))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    # Plots come back as images whatever backend the test run chose.
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    write_kernel_spec(str(folder / "kernels" / KERNEL))  # runs sys.executable -m ipykernel_launcher
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")], ensure_native_kernel=False)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells), f"{name} is saved with outputs: clear them"
    client = nbclient.NotebookClient(
        notebook,
        km=KernelManager(
            kernel_name=KERNEL, kernel_spec_manager=specs, connection_file=str(folder / "connection.json")
        ),
        timeout=60,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def printed(cell) -> str:
    return "".join(out["text"] for out in cell.outputs if out.output_type == "stream" and out.name == "stdout")


def shown(cell, mime: str) -> str:
    (result,) = [out for out in cell.outputs if out.output_type in ("execute_result", "display_data")]
    return result["data"][mime]


def picture_labels(cell) -> dict[str, dict[str, str]]:
    """The node labels of a graph picture's DOT text (its text/plain), keyed by their first line:
    each label's ``type``, and its ``value`` and ``grad`` where shown. Where Graphviz is installed
    the picture itself is SVG, which must show the same text."""
    dot = shown(cell, "text/plain")
    labels, found = {}, re.findall(r'^  \w+ \[label="(.*?)", ', dot, flags=re.M)
    for label in found:
        head, *fields = re.split(r"\\n(?=value |grad )", label)
        name, type_ = head.split("\\n")
        labels[name] = {"type": type_, **dict(field.split(" ", 1) for field in fields)}
    if has_graphviz():
        svg = ElementTree.fromstring(shown(cell, "image/svg+xml"))
        texts = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
        assert {line.strip() for label in found for line in label.split("\\n")} <= {t.strip() for t in texts}
    return labels


def numbers(text: str) -> np.ndarray:
    """The numbers in ``text``, in order."""
    return np.array([float(n) for n in re.findall(r"-?\d+(?:\.\d*)?(?:e[-+]\d+)?", text)])


def test_derivatives_notebook(tmp_path, monkeypatch):
    cells = execute("derivatives.ipynb", tmp_path, monkeypatch)
    assert shown(cells[0], "text/latex") == r"$e^{- x^{2}} \sin{\left(x \right)}$"
    expected = r"$\left(- 2 x \sin{\left(x \right)} + \cos{\left(x \right)}\right) e^{- x^{2}}$"
    assert shown(cells[1], "text/latex") == expected
    steps = shown(cells[2], "text/latex")
    assert steps.startswith("$$\n\\begin{aligned}") and r"\bar{x}" in steps
    assert "x̄ = v̄4·∂v4/∂x + v̄1·∂v1/∂x" in printed(cells[3])
    value, slope, numeric = numbers(re.sub(r"\(1\.5\)", "", printed(cells[4])))
    np.testing.assert_allclose([value, slope], [np.exp(-2.25) * np.sin(1.5), -0.307950], atol=1e-6)
    assert numeric == pytest.approx(slope, abs=1e-5)
    neuron = shown(cells[5], "text/latex")
    assert r"\sigma" in neuron and r"\bar{w}" in neuron and r"\bar{b}" in neuron


def test_backpropagation_notebook(tmp_path, monkeypatch):
    cells = execute("backpropagation.ipynb", tmp_path, monkeypatch)
    forward = picture_labels(cells[0])
    assert forward["out = tanh"] == {"type": "float64", "value": f"{np.tanh(-0.55):.4g}"}  # no grads yet
    assert forward["mul"]["value"] == "-0.75"
    backward = picture_labels(cells[1])
    dz = 1 - np.tanh(-0.55) ** 2
    for name, gradient in [("x", -0.5 * dz), ("w", 1.5 * dz), ("b", dz), ("z = add", dz), ("out", 1)]:
        assert backward[name]["grad"] == f"{gradient:.4g}", name
    compiled = numbers(printed(cells[2]))
    np.testing.assert_allclose(compiled, [-0.5 * dz, 1.5 * dz, dz], atol=1e-4)

    net = picture_labels(cells[3])
    gradients = dict(zip(["W1", "b1", "w2"], printed(cells[4]).splitlines()))
    for name, line in gradients.items():  # the picture's gradient of each weight is the compiled one
        np.testing.assert_allclose(numbers(net[name]["grad"]), numbers(line.split("=")[1]), atol=1e-3, err_msg=name)
    assert net["loss"]["grad"] == "1" and net["W1"]["type"] == "float64[?, ?]"
    gradient_graph = shown(cells[5], "text/plain")
    assert 'fillcolor="#ffd8a8"' in gradient_graph and 'label="hidden = relu' in gradient_graph


def test_optimization_notebook(tmp_path, monkeypatch):
    cells = execute("optimization.ipynb", tmp_path, monkeypatch)
    # pp writes (p[0]**2 - p[1])**2 or (p[1] - p[0]**2)**2, as SymPy orders the terms in this process
    formula = printed(cells[0]).removeprefix("f(p) = ").replace("p[0]", "a").replace("p[1]", "b")
    a, b = sympy.symbols("a b")
    assert sympy.expand(sympy.sympify(formula) - ((1 - a) ** 2 + 100 * (b - a**2) ** 2)) == 0
    bfgs, descent = printed(cells[1]).splitlines()
    # both reach the minimum, 0 at (1, 1), from (-1.2, 1); BFGS in far fewer steps
    steps, a, b, value = numbers(bfgs.removeprefix("BFGS"))
    assert 10 < steps < 100 and value < 1e-10
    np.testing.assert_allclose([a, b], [1.0, 1.0], atol=1e-5)
    steps, a, b, value = numbers(descent.removeprefix("momentum descent"))
    assert steps == 2000 and value < 1e-7
    np.testing.assert_allclose([a, b], [1.0, 1.0], atol=1e-3)
    (image,) = [out for out in cells[2].outputs if out.output_type == "display_data"]
    assert image["data"]["image/png"]  # base64 PNG of the two plots
