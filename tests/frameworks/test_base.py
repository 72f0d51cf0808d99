"""The plugin interface: ``Framework`` is an abstract base class, and the minimal plugin
its docstring shows is complete and working (prepared, introspected and verified here)."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from mdreg.frameworks.base import Framework, LoadOptions
from mdreg.frameworks.registry import PluginError, Registry

np = pytest.importorskip("numpy")


def _docstring_blocks() -> dict[str, str]:
    """The literal blocks of Framework's docstring, by the file each one is for."""
    doc = Framework.__doc__ or ""
    blocks = {}
    for match in re.finditer(r"``([\w./-]+)``(?:[^`]|`[^`])*?::\n\n((?:        .*\n|\n)+)", doc):
        blocks[match.group(1)] = textwrap.dedent(match.group(2)).strip() + "\n"
    return blocks


def test_framework_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Framework()  # type: ignore[abstract]

    class NoSave(Framework):
        name = "nosave"

        def load(self, path: Path, options: LoadOptions) -> object:
            return path

    with pytest.raises(PluginError, match="does not write save"):
        Registry().add(NoSave)


def test_only_the_builtin_fallbacks_set_the_warning_flags():
    from mdreg.frameworks.registry import default_registry

    plugins = default_registry().plugins
    assert [n for n, p in plugins.items() if p.guessed] == ["generic"]
    assert [n for n, p in plugins.items() if p.template_only] == ["other"]


def test_the_docstring_plugin_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from mdreg.checks.introspect import introspect
    from mdreg.checks.verify import verify
    from mdreg.flows.prepare import prepare

    blocks = _docstring_blocks()
    assert set(blocks) == {
        "npy_linear/__init__.py",
        "npy_linear/templates/score_npy_linear.py.jinja2",
        "pyproject.toml",
    }
    for name, text in blocks.items():
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.delitem(sys.modules, "npy_linear", raising=False)
    from npy_linear import NpyLinearFramework  # type: ignore[import-not-found]

    registry = Registry()
    registry.add(NpyLinearFramework)
    weights = np.arange(6, dtype=np.float64).reshape(3, 2)
    np.save(tmp_path / "linear.npy", weights)
    rows = np.random.default_rng(0).normal(size=(8, 3))
    np.save(tmp_path / "x.npy", rows)

    result = prepare(
        tmp_path / "linear.npy", tmp_path / "art", x_sample=tmp_path / "x.npy", registry=registry
    )
    assert result.framework == "npy-linear" and result.detection.evidence == "a NumPy .npy array"
    assert (tmp_path / "art/model.npy").read_bytes() == (tmp_path / "linear.npy").read_bytes()
    assert introspect(tmp_path / "art").ok
    checked = verify(tmp_path / "art")
    assert checked.ok, checked.traceback or checked.stderr
    assert np.allclose(checked.prediction["prediction"], rows[:5] @ weights)
