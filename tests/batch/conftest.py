"""Fixtures the scoring tests share."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    """ONE SparkSession for the whole run (a JVM costs 5-10 s idle, much more on a busy
    machine), with the settings prepare and score.py use."""
    pytest.importorskip("pyspark")
    from mdreg.frameworks.spark.session import local_session

    return local_session()  # the running session if there is one
