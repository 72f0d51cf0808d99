"""Inference conda environments: service packs by slug, or published packs by oci:// path."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from mdreg.errors import InputError

SERVICE_PACK_BUCKET = "oci://service-conda-packs@id19sfcrra6z/service_pack"

# Slug -> (cpu|gpu, pack-name folder, pack version). ADS resolves a slug by reading the
# service bucket's index.json over the network; prepare never goes online, so mdreg keeps
# the packs it defaults to here. The folder names follow the bucket's published pattern;
# `mdreg introspect --online` checks that the pack really exists.
SERVICE_PACKS: dict[str, tuple[str, str, str]] = {
    "generalml_p311_cpu_x86_64_v1": (
        "cpu",
        "General_Machine_Learning_for_CPUs_on_Python_3.11",
        "1.0",
    ),
    "generalml_p38_cpu_v1": ("cpu", "General_Machine_Learning_for_CPUs_on_Python_3.8", "1.0"),
    "dataexpl_p37_cpu_v3": ("cpu", "Data_Exploration_and_Manipulation_for_CPU_Python_3.7", "3.0"),
    "pyspark30_p37_cpu_v2": ("cpu", "PySpark_3.0_and_Data_Flow", "2.0"),
    # slug from OCI's public pack list; the folder name is not confirmed offline
    "pyspark35_p311_cpu_x86_64_v1": ("cpu", "PySpark_3.5_and_Data_Flow_CPU_on_Python_3.11", "1.0"),
}

_SLUG_PYTHON = re.compile(r"_p(\d)(\d+)_")


@dataclass(frozen=True)
class CondaEnv:
    path: str  # oci://bucket@namespace/object
    slug: str  # '' for published packs
    env_type: str  # "data_science" (service pack) or "published"
    python_version: str


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def resolve(env: str, python_version: str | None = None) -> CondaEnv:
    """Turn ``--inference-conda-env`` (a slug or an oci:// path) into runtime.yaml facts."""
    env = env.strip()
    if env.startswith("oci://"):
        if not re.fullmatch(r"oci://[^/@]+@[^/@]+/.+", env):
            raise InputError(f"bad conda pack path {env!r}: expected oci://bucket@namespace/path")
        is_service = env.startswith(SERVICE_PACK_BUCKET + "/")
        slug = env.rstrip("/").rsplit("/", 1)[-1] if is_service else ""
        return CondaEnv(
            env,
            slug,
            "data_science" if is_service else "published",
            python_version or _slug_python(slug) or running_python(),
        )
    if env not in SERVICE_PACKS:
        if not re.fullmatch(r"[a-z0-9_]+", env):
            raise InputError(f"bad conda pack {env!r}: give a service pack slug or an oci:// path")
        known = ", ".join(sorted(SERVICE_PACKS))
        raise InputError(
            f"unknown service pack slug {env!r} (mdreg knows {known}); "
            "pass the pack's full oci:// path instead"
        )
    arch, folder, version = SERVICE_PACKS[env]
    path = f"{SERVICE_PACK_BUCKET}/{arch}/{folder}/{version}/{env}"
    return CondaEnv(
        path, env, "data_science", python_version or _slug_python(env) or running_python()
    )


def _slug_python(slug: str) -> str | None:
    m = _SLUG_PYTHON.search(slug)
    return f"{m.group(1)}.{m.group(2)}" if m else None
