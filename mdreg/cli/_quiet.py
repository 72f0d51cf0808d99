"""Keep frameworks' native chatter off the command line's stderr, unless ``--debug``.

TensorFlow's C++ code writes log lines to file descriptor 2 while it is imported ("oneDNN
custom operations are on", CPU feature notes, and on GPU-less machines CUDA registration
errors), many of them before absl's logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` does not
stop them. Spark's JVM writes its own warnings ("Using incubator modules") to the stderr
it inherits. Neither is the user's to act on, and both land in the middle of mdreg's own
messages.

The CLI calls ``quiet_frameworks()`` before running a command (not with ``--debug``). It
sets ``TF_CPP_MIN_LOG_LEVEL`` (unless the environment already does) and puts an import
hook first on ``sys.meta_path`` that acts on two modules only, whoever imports them:

- ``tensorflow``: while it is imported, file descriptor 2 is held in a temporary file;
  afterwards what was written there comes out again without TensorFlow's log lines
  (everything, if the import failed). The ``absl`` and ``tensorflow`` Python loggers are
  then set to errors only.
- pyspark's ``context`` module: its ``launch_gateway`` starts the JVM with its stderr on a
  pipe; a thread passes on what the JVM (and the Python workers it starts) write there,
  without Spark's start-up notices and log lines below ERROR.

Nothing is imported here that the command would not import anyway; the framework modules
are not touched (they change more often than these two seams).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Any

#: TensorFlow's C++ log lines: absl's format ("I0000 00:00:1796289142.229763  4912
#: port.cc:153] ..."), the notice absl prints before its logging is set up, and the second
#: line of the CPU feature notice. (Patterns, compiled when used: every command imports
#: this module, few import TensorFlow.)
TF_NOISE = (
    rb"(?:[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w./-]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: .*rebuild TensorFlow)"
)
#: What Spark's JVM writes on a normal start: the JDK's incubator notice, Spark's log4j
#: banner, and log lines below ERROR (mdreg configures ERROR; a user's own config may not).
SPARK_NOISE = (
    rb"(?:WARNING: Using incubator modules: "
    rb"|Using Spark's default log4j profile: "
    rb"|Setting default log level to "
    rb"|To adjust logging level use sc\.setLogLevel"
    rb"|\d\d/\d\d/\d\d \d\d:\d\d:\d\d (?:WARN|INFO|DEBUG|TRACE) )"
)

Hook = Callable[[Callable[[], None], Any], None]


def quiet_frameworks() -> Callable[[], None]:
    """Install the quieting (once); return the function that undoes it."""
    set_env = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    if set_env:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # read by TensorFlow's C++ logging
    finder = next((f for f in sys.meta_path if isinstance(f, _AroundImport)), None)
    installed = finder is None
    if installed:
        finder = _AroundImport(
            {
                "tensorflow": _tensorflow_held,
                "pyspark.core.context": _spark_gateway_piped,  # pyspark 4
                "pyspark.context": _spark_gateway_piped,  # pyspark 3
            }
        )
        sys.meta_path.insert(0, finder)

    def undo() -> None:
        if set_env:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        if installed and finder in sys.meta_path:
            sys.meta_path.remove(finder)

    return undo


class _AroundImport:
    """A ``sys.meta_path`` finder that finds nothing itself: for the named modules it asks
    the finders after it and wraps the loader they give, so that the module's hook runs
    around its execution."""

    def __init__(self, hooks: dict[str, Hook]) -> None:
        self.hooks = hooks

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        hook = self.hooks.get(name)
        if hook is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _HookedLoader(spec.loader, hook)
        return spec


class _HookedLoader:
    def __init__(self, loader: Any, hook: Hook) -> None:
        self._loader, self._hook = loader, hook

    def create_module(self, spec: Any) -> Any:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: Any) -> None:
        try:
            self._hook(lambda: self._loader.exec_module(module), module)
        finally:  # the module keeps its own loader
            module.__loader__ = self._loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self._loader

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


def _tensorflow_held(execute: Callable[[], None], module: Any) -> None:
    import logging  # TensorFlow imports it anyway
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    ok = False
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            execute()
            ok = True
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().splitlines(keepends=True)
            _write_fd2(b"".join(ln for ln in lines if not (ok and re.match(TF_NOISE, ln))))
    for name in ("absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _spark_gateway_piped(execute: Callable[[], None], module: Any) -> None:
    execute()
    launch = getattr(module, "launch_gateway", None)
    if launch is None or getattr(launch, "mdreg_quiet", False):
        return

    def launch_gateway(conf: Any = None, popen_kwargs: dict[str, Any] | None = None) -> Any:
        if popen_kwargs and "stderr" in popen_kwargs:
            return launch(conf, popen_kwargs)
        import threading  # pyspark imports it anyway

        read, write = os.pipe()
        forward = threading.Thread(
            target=_forward, args=(read, SPARK_NOISE), daemon=True, name="mdreg-jvm-stderr"
        )
        forward.start()
        try:
            return launch(conf, {**(popen_kwargs or {}), "stderr": write})
        except BaseException:
            os.close(write)
            write = -1
            forward.join(timeout=2)  # the JVM's last words (a wrong Java, say) come first
            raise
        finally:
            if write >= 0:
                os.close(write)  # the JVM holds its own copy

    launch_gateway.mdreg_quiet = True  # type: ignore[attr-defined]
    module.launch_gateway = launch_gateway


def _forward(read: int, noise: bytes) -> None:
    """Pass on the lines written to the pipe, but noise, until every writer is gone."""
    pattern = re.compile(noise)
    with os.fdopen(read, "rb") as stream:
        for line in stream:
            if not pattern.match(line):
                _write_fd2(line)


def _write_fd2(data: bytes) -> None:
    try:
        while data:
            data = data[os.write(2, data) :]
    except OSError:
        pass  # stderr closed: nowhere to say it
