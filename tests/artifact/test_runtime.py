"""runtime.yaml is read without PyYAML when it is the plain block mapping mdreg, ADS and
the service write; whatever it reads must be exactly what ``yaml.safe_load`` reads, and
anything else must go to PyYAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mdreg.artifact.runtime import _simple_yaml, read_runtime
from mdreg.errors import ArtifactError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "runtime.yaml"

READ_HERE = [
    GOLDEN.read_text().replace("<ARTIFACT_DIR>", "/home/me/my models/art"),
    "A: x\n",
    "A: ''\nB: 'it''s'\nC: '3.10'\nD: 'yes'\n",
    "A:\nB: x\n",  # an empty value is null
    "A:\n  B:\n    C: oci://b@ns/p/x_y-1.0+cpu\n  D: /tmp/a:b\nE: z\n",
    "A:\n    B: deeper\n",
    "A:\n  B: x\n  C:\n",  # a null at the end
    "A: x\nB: Yesterday\nC: nullable\nD: _\nE: a b/c d:e\n",
]

LEFT_TO_PYYAML = [
    "A: yes\n",
    "A: No\n",
    "A: on\n",
    "A: null\n",
    "A: ~\n",
    "A: 3.11\n",
    "A: 3\n",
    "A: 2024-01-01\n",
    "A: .inf\n",
    "A: -x\n",
    "A: x # comment\n",
    "# comment\nA: x\n",
    "---\nA: x\n",
    "A: x\n\nB: y\n",
    'A: "x"\n',
    "A: [1, 2]\n",
    "A: {b: c}\n",
    "A:\n- x\n",
    "A: x\nA: y\n",
    "on: x\n",
    "A: 'x' \n",
    "A: x:\n",
    "A: x\n B: y\n",
    "A:\n  B: x\n C: y\n",
    "A: caf\u00e9\n",
    "A: x\tb\n",
    "A: x\r\n",
    "A: 'a\n  b'\n",
    "",
    "just text\n",
    "A: |\n  x\n",
    "A: &a x\nB: *a\n",
    "A: !!str x\n",
    "A: @x\n",
    "A: 'x'y'\n",
    "A: a: b\n",
    "A: a  b\n",
    "A: a #b\n",
    "A: a\\b\n",
]


@pytest.mark.parametrize("text", READ_HERE)
def test_read_here_as_pyyaml_reads_it(text: str) -> None:
    doc = _simple_yaml(text)
    assert doc is not None
    assert doc == yaml.safe_load(text)


@pytest.mark.parametrize("text", LEFT_TO_PYYAML)
def test_anything_else_is_left_to_pyyaml(text: str) -> None:
    assert _simple_yaml(text) is None


def test_read_runtime_either_way(tmp_path: Path) -> None:
    simple, other = tmp_path / "a.yaml", tmp_path / "b.yaml"
    simple.write_text(GOLDEN.read_text().replace("<ARTIFACT_DIR>", "/tmp/art"))
    other.write_text("# written by hand\nMODEL_ARTIFACT_VERSION: 3.0\n")
    assert read_runtime(simple) == yaml.safe_load(simple.read_text())
    assert read_runtime(other) == {"MODEL_ARTIFACT_VERSION": 3.0}
    bad = tmp_path / "c.yaml"
    bad.write_text("A: [unclosed\n")
    with pytest.raises(ArtifactError, match="not valid YAML"):
        read_runtime(bad)


DUMPED_HERE = [
    yaml.safe_load(GOLDEN.read_text().replace("<ARTIFACT_DIR>", "/tmp/art")),
    {"B": "x", "A": {"D": "3.11", "C": "3", "E": ""}},
    {"A": "oci://bucket@ns/p/x_y-1.0+cpu", "B": "/tmp/a:b", "C": "Yesterday", "D": "_"},
]

LEFT_TO_PYYAML_DUMP = [
    {"A": "x y"},
    {"A": "yes"},
    {"A": "null"},
    {"A": None},
    {"A": 3},
    {"A": True},
    {"A": {}},
    {"A": []},
    {"A": "caf\u00e9"},
    {"A": "a:"},
    {"A": "-x"},
    {"A": "3.0.1"},
    {"A": "1_000"},
    {"A": "09"},
    {"A": "00"},
    {"A": "it's"},
    {"on": "x"},
    {"a b": "x"},
    {1: "x"},
    {"A": "@x"},
    {"A": "x\ny"},
    {"A": ".5"},
]


@pytest.mark.parametrize("doc", DUMPED_HERE)
def test_dumped_here_as_pyyaml_dumps_it(doc: dict) -> None:
    from mdreg.artifact.runtime import _simple_yaml_dump, dump_runtime

    text = _simple_yaml_dump(doc)
    assert text == yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)
    assert dump_runtime(doc) == text and _simple_yaml(text) == doc


@pytest.mark.parametrize("doc", LEFT_TO_PYYAML_DUMP)
def test_anything_else_is_dumped_by_pyyaml(doc: dict) -> None:
    from mdreg.artifact.runtime import _simple_yaml_dump, dump_runtime

    assert _simple_yaml_dump(doc) is None
    assert dump_runtime(doc) == yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)
