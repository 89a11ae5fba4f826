"""Graph pictures at a point: each node's value and, with ``grads=True``, the gradient of the output
with respect to it (``pydotprint(cost, values={x: 1.5}, grads=True)``), and the picture object a
notebook shows (``draw_graph``). The DOT text is tested everywhere; rendering where ``dot`` is."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T
from symgrad import printing
from tests.helpers import has_graphviz, numeric_grad, require_graphviz


def labels(dot: str) -> dict[str, list[str]]:
    """Each node's label in the DOT text, split into its lines, keyed by the label's first line."""
    found = re.findall(r'^  \w+ \[label="(.*?)", ', dot, flags=re.M)
    return {lines[0]: lines for lines in (label.split("\\n") for label in found)}


def shown(lines: list[str], what: str) -> float:
    (text,) = [line.removeprefix(what + " ") for line in lines if line.startswith(what + " ")]
    return float(text)


def test_a_neuron_drawn_at_a_point_shows_each_nodes_value_and_gradient():
    x, w, b = T.dscalars("x", "w", "b")
    z = x * w + b
    z.name = "z"
    cost = T.tanh(z)
    cost.name = "cost"
    point = {x: 1.5, w: -0.5, b: 0.2}
    nodes = labels(printing.graph_to_dot(cost, values=point, grads=True))

    z_value = 1.5 * -0.5 + 0.2
    dcost_dz = 1 - np.tanh(z_value) ** 2
    expected = {  # first label line: (value, gradient of cost with respect to the node)
        "x": (1.5, dcost_dz * -0.5),
        "w": (-0.5, dcost_dz * 1.5),
        "b": (0.2, dcost_dz),
        "mul": (1.5 * -0.5, dcost_dz),
        "z = add": (z_value, dcost_dz),
        "cost = tanh": (np.tanh(z_value), 1.0),
        "cost": (np.tanh(z_value), 1.0),  # the output's own node
    }
    assert set(nodes) == set(expected)
    for name, (value, gradient) in expected.items():
        assert shown(nodes[name], "value") == pytest.approx(value, rel=1e-3), name
        assert shown(nodes[name], "grad") == pytest.approx(gradient, rel=1e-3), name

    # the gradients shown against central differences of the compiled cost, input by input
    f = theano.function([x, w, b], cost)
    args = [np.array(point[v]) for v in (x, w, b)]
    compiled = labels(printing.graph_to_dot(f, values=point, grads=True))  # the graph f runs
    for i, v in enumerate((x, w, b)):
        assert shown(nodes[v.name], "grad") == pytest.approx(float(numeric_grad(f, args, i)), rel=1e-3)
        assert compiled[v.name] == nodes[v.name]


def test_values_without_grads_and_arrays_shared_variables_and_errors():
    v = T.dvector("v")
    scale = theano.shared(np.float64(2.0), name="scale")
    total = T.sum(T.exp(v) * scale)
    dot = printing.graph_to_dot(total, values={v: np.arange(8.0)})
    nodes = labels(dot)
    assert nodes["v"][2] == "value [0, 1, ..., 6, 7]"  # a long array is cut in the middle
    assert nodes["scale"][2] == "value 2"
    assert shown(nodes["output"], "value") == pytest.approx(2 * np.exp(np.arange(8.0)).sum(), rel=1e-3)
    assert "\\ngrad " not in dot

    grads = labels(printing.graph_to_dot(total, values={v: [0.0, 1.0]}, grads=True))
    assert grads["v"][3] == f"grad [2, {2 * np.e:.4g}]"  # d total / dv = scale * exp(v)
    assert shown(grads["scale"], "grad") == pytest.approx(1 + np.e, rel=1e-3)

    with pytest.raises(ValueError, match="no value for the input v"):
        printing.graph_to_dot(total, values={})
    with pytest.raises(ValueError, match="grads=True needs the point"):
        printing.graph_to_dot(total, grads=True)
    with pytest.raises(ValueError, match="one scalar .* output; the graph's outputs are 1-d"):
        printing.graph_to_dot(T.exp(v), values={v: [1.0]}, grads=True)


def test_the_picture_a_notebook_shows_and_pydotprint_with_values(tmp_path):
    x = T.dscalar("x")
    cost = T.sin(x) * x
    picture = printing.draw_graph(cost, values={x: 1.5}, grads=True)
    bundle = picture._repr_mimebundle_()
    assert bundle["text/plain"] == picture.dot == printing.graph_to_dot(cost, values={x: 1.5}, grads=True)
    assert shown(labels(picture.dot)["x"], "grad") == pytest.approx(np.sin(1.5) + 1.5 * np.cos(1.5), rel=1e-3)
    if has_graphviz():
        texts = {
            t.text for t in ElementTree.fromstring(bundle["image/svg+xml"]).iter("{http://www.w3.org/2000/svg}text")
        }
        assert f"grad {np.sin(1.5) + 1.5 * np.cos(1.5):.4g}" in texts
    else:
        assert "image/svg+xml" not in bundle
    require_graphviz()
    path = printing.pydotprint(cost, outfile=tmp_path / "cost.svg", values={x: 1.5}, grads=True)
    texts = {t.text for t in ElementTree.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")}
    assert {"value 1.5", f"value {np.sin(1.5) * 1.5:.4g}", "grad 1"} <= texts


def test_without_graphviz_the_notebook_picture_is_its_dot_text(monkeypatch):
    monkeypatch.setattr(printing.graphviz.shutil, "which", lambda name: None)
    x = T.dscalar("x")
    picture = printing.draw_graph(T.exp(x), values={x: 0.0}, grads=True)
    assert picture._repr_mimebundle_() == {"text/plain": picture.dot}
    assert labels(picture.dot)["exp"][2:] == ["value 1", "grad 1"]
