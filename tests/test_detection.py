"""Detection reads bytes only: it never unpickles the file and never imports a framework."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mdreg.frameworks.registry import Registry, default_registry


class _Canary:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))  # unpickling this creates the canary file


def test_builtin_plugins_come_from_the_entry_point_group():
    import importlib.metadata

    names = {ep.name for ep in importlib.metadata.entry_points(group="mdreg.frameworks")}
    assert {"sklearn", "generic"} <= names
    assert {"sklearn", "generic"} <= set(default_registry().plugins)


def test_entry_points_are_read_as_importlib_metadata_reads_them():
    """The registry's reader (no importlib.metadata import) gives the same entry points,
    in the same order, for mdreg's group and for a busy one."""
    import importlib.metadata

    from mdreg.frameworks._entry_points import _read, entry_points

    for group in ("mdreg.frameworks", "console_scripts"):
        want = [(e.name, e.value) for e in importlib.metadata.entry_points(group=group)]
        assert [(e.name, e.value) for e in _read(group)] == want
        assert [(e.name, e.value) for e in entry_points(group)] == want
    sklearn = next(e for e in _read("mdreg.frameworks") if e.name == "sklearn")
    from mdreg.frameworks.sklearn import SklearnFramework

    assert sklearn.load() is SklearnFramework


def test_sniff_neither_unpickles_nor_imports(iris_rf, tmp_path):
    canary = tmp_path / "canary"
    evil = tmp_path / "evil.pkl"
    import pickle

    evil.write_bytes(pickle.dumps({"model": _Canary(str(canary))}))
    code = f"""
import json, sys
from pathlib import Path
from mdreg.frameworks.registry import default_registry
reg = default_registry()
found = {{}}
for p in {[str(iris_rf), str(evil)]!r}:
    try:
        plugin, det, probe = reg.detect(Path(p))
        found[p] = [det.framework, det.evidence]
    except Exception as exc:
        found[p] = [type(exc).__name__, str(exc)]
heavy = [m for m in ("sklearn", "numpy", "pandas", "joblib", "scipy", "torch", "tensorflow",
                     "xgboost", "lightgbm", "pyspark", "cloudpickle") if m in sys.modules]
print(json.dumps({{"found": found, "heavy": heavy}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["heavy"] == []
    assert doc["found"][str(iris_rf)][0] == "sklearn"
    assert "RandomForestClassifier" in doc["found"][str(iris_rf)][1]
    assert not canary.exists()


def test_import_mdreg_and_help_stay_light():
    code = (
        "import sys, mdreg, mdreg.cli; "
        "print(' '.join(m for m in ('torch','tensorflow','sklearn','xgboost','lightgbm',"
        "'pyspark','oci','pandas','numpy','jinja2','yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    help_run = subprocess.run(
        [sys.executable, "-m", "mdreg", "--help"], capture_output=True, text=True
    )
    assert help_run.returncode == 0 and "prepare" in help_run.stdout


def test_unsafe_pickle_is_refused_before_loading(cli, tmp_path):
    import pickle

    canary = tmp_path / "canary"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Canary(str(canary))))
    run = cli("prepare", evil, "-o", tmp_path / "art")
    assert run.code == 4, run.err
    assert "builtins.open" in run.err or "io.open" in run.err
    assert not canary.exists() and not (tmp_path / "art").exists()


def test_duplicate_plugin_name_is_an_error():
    from mdreg.frameworks.registry import PluginError
    from mdreg.frameworks.sklearn import SklearnFramework

    reg = Registry()
    reg.add(SklearnFramework)
    with pytest.raises(PluginError, match="two framework plugins are named 'sklearn'"):
        reg.add(SklearnFramework)


def test_broken_plugin_is_a_warning(tmp_path):
    import importlib.metadata

    good = importlib.metadata.EntryPoint(
        "sklearn", "mdreg.frameworks.sklearn:SklearnFramework", "mdreg.frameworks"
    )
    bad = importlib.metadata.EntryPoint("broken", "no_such_module_xyz:Plugin", "mdreg.frameworks")
    reg = Registry.from_entry_points([good, bad])
    assert set(reg.plugins) == {"sklearn"}
    assert len(reg.warnings) == 1 and "'broken'" in reg.warnings[0]


def test_frameworks_command(cli):
    run = cli("frameworks", "--json")
    assert run.code == 0
    rows = {r["name"]: r for r in json.loads(run.out)["frameworks"]}
    assert rows["sklearn"]["installed"] is True
    import sklearn

    assert rows["sklearn"]["version"] == sklearn.__version__
    table = cli("frameworks")
    assert "scikit-learn" in table.out


def test_no_color_is_respected(iris_rf, tmp_path):
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": ""}
    out = subprocess.run(
        [sys.executable, "-m", "mdreg", "frameworks"], capture_output=True, text=True, env=env
    )
    assert "\x1b[" not in out.stdout


def test_command_modules_name_every_command_where_it_is_defined():
    """main() imports only the module COMMAND_MODULES names for a command: the table must
    match what the modules register, or a command would run without its definition."""
    import typer.main

    from mdreg.cli import COMMAND_MODULES, app

    defined = {
        (c.name or typer.main.get_command_name(c.callback.__name__)): c.callback.__module__
        for c in app.registered_commands
    }
    # a group (``mdreg deployments ...``): where its subcommands are defined
    for group in app.registered_groups:
        modules = {c.callback.__module__ for c in group.typer_instance.registered_commands}
        assert len(modules) == 1, f"the {group.name} group's subcommands live in {modules}"
        defined[group.name] = modules.pop()
    assert defined == {name: f"mdreg.cli.{module}" for name, module in COMMAND_MODULES.items()}


def test_a_group_runs_with_only_its_module(tmp_path):
    """``mdreg deployments ...`` imports mdreg.cli.deploy (the group's) and not the SDK to
    refuse a delete without --yes."""
    code = (
        "import sys; from mdreg.cli import main\n"
        "try:\n    main(['deployments', 'delete', 'ocid1.datasciencemodeldeployment.oc1..x'])\n"
        "except SystemExit as e:\n    print(e.code, file=sys.stderr)\n"
        "print(sorted(m for m in sys.modules if m.startswith('mdreg.cli.')), 'oci' in sys.modules,"
        " file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = run.stderr.strip().splitlines()
    assert "needs --yes" in lines[0] and lines[1] == "2"
    assert "'mdreg.cli.deploy'" in lines[2] and "'mdreg.cli.save'" not in lines[2]
    assert lines[2].endswith("False")


def test_running_one_command_imports_only_its_module(tmp_path):
    code = (
        "import sys; from mdreg.cli import main\n"
        "try:\n    main(['introspect', sys.argv[1]])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('mdreg.cli.')), file=sys.stderr)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "missing")], capture_output=True, text=True
    )
    loaded = run.stderr.strip().splitlines()[-1]
    assert "no such artifact" in run.stderr
    # _quiet: the import hook that keeps frameworks' native log lines off stderr (~0.3 ms)
    assert loaded == str(
        ["mdreg.cli._app", "mdreg.cli._output", "mdreg.cli._quiet", "mdreg.cli.introspect"]
    )
