"""The one local SparkSession prepare uses, with the settings the generated score.py uses
too."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_PANDAS_WARNING = "PySpark does not yet fully support pandas"

#: SparkSession settings for prepare and for the generated score.py: one local thread, no
#: web UI, no console progress bars, loopback only, and a JVM tuned to start fast (C1 JIT
#: only, serial GC: about half the CPU of a default start, measured 24 s against 56 s on a
#: busy 2-core machine) that does not probe for a native BLAS (Java's is used either way
#: when none is installed; the probe only prints a dlopen error).
SESSION_CONF: dict[str, str] = {
    "spark.master": "local[1]",
    "spark.app.name": "mdreg",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC "
    "-Ddev.ludovic.netlib.blas.allowNative=false",
}
#: log4j2 configuration given to the JVM at start: errors only (Spark's default profile logs
#: INFO and WARN lines to stderr until setLogLevel runs; the repl logger's level at error
#: stops the "Setting default log level" banner).
LOG4J2_PROPERTIES = """\
rootLogger.level = error
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""


@contextmanager
def quiet() -> Iterator[None]:
    """pyspark 4 warns that pandas 3 is not fully supported; mdreg never hands Spark a
    pandas frame (rows go in as an Arrow table or as Python values), so the warning is
    noise here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        yield


def local_session() -> Any:
    """The SparkSession already running in this process, or a new local one."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers: this interpreter
    with quiet():
        from pyspark.sql import SparkSession  # frameworks load only when needed

        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        import tempfile  # not needed to sniff

        fd, log_config = tempfile.mkstemp(prefix="mdreg-log4j2-", suffix=".properties")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(LOG4J2_PROPERTIES)
            builder = SparkSession.builder
            for key, value in session_conf(Path(log_config).as_uri()).items():
                builder = builder.config(key, value)
            spark = builder.getOrCreate()
        finally:
            os.unlink(log_config)  # read once, when the JVM starts
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def session_conf(log_config_uri: str) -> dict[str, str]:
    conf = dict(SESSION_CONF)
    conf["spark.driver.extraJavaOptions"] += f" -Dlog4j2.configurationFile={log_config_uri}"
    return conf
