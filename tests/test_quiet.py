"""Frameworks' native chatter is kept off the CLI's stderr unless --debug (cli/_quiet.py):
TensorFlow's C++ log lines while it is imported, the notices of Spark's JVM."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import types

from mdreg.cli import _quiet

TF_LINES = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1796289142.229763    4912 port.cc:153] oneDNN custom operations are on.\n"
    b"E0000 00:00:1796289142.3  4912 cuda_executor.cc:1228] failed call to cuInit\n"
    b"To enable the following instructions: AVX2 FMA, in other operations, rebuild "
    b"TensorFlow with the appropriate compiler flags.\n"
)


def test_tensorflow_import_lines_are_dropped_and_the_rest_kept(capfd):
    _quiet._tensorflow_held(lambda: os.write(2, TF_LINES + b"a warning of the user's\n"), None)
    assert capfd.readouterr().err == "a warning of the user's\n"


def test_a_failed_import_shows_everything(capfd):
    def fail() -> None:
        os.write(2, TF_LINES)
        raise ImportError("libcudart.so.12: cannot open shared object file")

    try:
        _quiet._tensorflow_held(fail, None)
    except ImportError:
        pass
    assert capfd.readouterr().err == TF_LINES.decode()


def test_the_hook_runs_around_the_import_and_the_module_keeps_its_loader(tmp_path, monkeypatch):
    (tmp_path / "mdreg_fake_tf").mkdir()
    (tmp_path / "mdreg_fake_tf" / "__init__.py").write_text("IMPORTED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    calls = []

    def hook(execute, module):
        calls.append("before")
        execute()
        calls.append(module.IMPORTED)

    finder = _quiet._AroundImport({"mdreg_fake_tf": hook})
    sys.meta_path.insert(0, finder)
    try:
        import mdreg_fake_tf
    finally:
        sys.meta_path.remove(finder)
        sys.modules.pop("mdreg_fake_tf", None)
    assert calls == ["before", True]
    assert type(mdreg_fake_tf.__loader__).__name__ == "SourceFileLoader"
    assert mdreg_fake_tf.__spec__.loader is mdreg_fake_tf.__loader__


def test_the_jvm_stderr_goes_through_a_filter(capfd):
    """pyspark's launch_gateway, wrapped: the process it starts writes to a pipe whose
    lines, but Spark's start-up notices, reach stderr."""
    script = textwrap.dedent("""
        echo "WARNING: Using incubator modules: jdk.incubator.vector" >&2
        echo "Using Spark's default log4j profile: org/apache/spark/log4j2-defaults.properties" >&2
        echo "26/12/03 09:14:03 WARN NativeCodeLoader: Unable to load native-hadoop library" >&2
        echo "26/12/03 09:14:04 ERROR SparkContext: a real error" >&2
    """)

    def launch_gateway(conf=None, popen_kwargs=None):
        proc = subprocess.Popen(["sh", "-c", script], **(popen_kwargs or {}))
        proc.wait()
        return "gateway"

    module = types.SimpleNamespace(launch_gateway=launch_gateway)
    _quiet._spark_gateway_piped(lambda: None, module)
    assert module.launch_gateway is not launch_gateway
    assert module.launch_gateway() == "gateway"
    for thread in threading.enumerate():
        if thread.name == "mdreg-jvm-stderr":
            thread.join(timeout=10)
    assert capfd.readouterr().err == "26/12/03 09:14:04 ERROR SparkContext: a real error\n"


def test_quieting_is_undone(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    before = list(sys.meta_path)
    undo = _quiet.quiet_frameworks()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert isinstance(sys.meta_path[0], _quiet._AroundImport)
    undo()
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ and sys.meta_path == before


def test_the_hooked_pyspark_module_is_where_launch_gateway_is_called():
    """The hook patches the module that calls launch_gateway (it imported the name).
    Read from the files: importing pyspark here would cost a second."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("pyspark")  # a top-level name: nothing is imported
    if spec is None or not spec.submodule_search_locations:
        return
    root = Path(next(iter(spec.submodule_search_locations)))
    sources = [
        (root / name).read_text(encoding="utf-8")
        for name in ("core/context.py", "context.py")
        if (root / name).is_file()
    ]
    assert any(
        "from pyspark.java_gateway import launch_gateway" in s and "launch_gateway(conf)" in s
        for s in sources
    )
