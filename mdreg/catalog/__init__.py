"""Model catalogs: the interface (``base``), the local SQLite catalog (``local``) and the
OCI Data Science Model Catalog (``oci``). Backends are named and imported on first use.

    open_catalog("local")          the catalog a command saves to and lists from
    catalog_for_id("mdl-01J...")   the catalog that issued a model id

Which catalog: the name given (``--catalog``), else ``$MDREG_CATALOG``, else the
``catalog`` key of ``$MDREG_HOME/config.toml`` (see ``mdreg.oci.settings``), else local.
"""

from __future__ import annotations

import os
from importlib import import_module

from mdreg.catalog.base import (
    Catalog,
    ModelDetails,
    ModelNotFoundError,
    ModelRecord,
    ModelSummary,
    ModelUpdate,
    VersionSet,
)
from mdreg.catalog.ids import backend_for_id
from mdreg.errors import UsageError

ENV_CATALOG = "MDREG_CATALOG"
DEFAULT_CATALOG = "local"

# name -> "module:class"; None: known, not available yet
BACKENDS: dict[str, str | None] = {
    "local": "mdreg.catalog.local:LocalCatalog",
    "oci": "mdreg.catalog.oci:OciCatalog",
}

__all__ = [
    "BACKENDS",
    "Catalog",
    "ModelDetails",
    "ModelNotFoundError",
    "ModelRecord",
    "ModelSummary",
    "ModelUpdate",
    "VersionSet",
    "backend_for_id",
    "catalog_for_id",
    "open_catalog",
]


def open_catalog(name: str | None = None) -> Catalog:
    """The catalog backend ``name`` (default ``$MDREG_CATALOG``, else the config file's
    ``catalog``, else ``local``). The OCI catalog reads its settings from the flags given
    to ``mdreg.oci.settings.using``, the environment and the config file."""
    name = (name or os.environ.get(ENV_CATALOG) or _configured() or DEFAULT_CATALOG).lower()
    if name not in BACKENDS:
        raise UsageError(f"unknown catalog {name!r}: choose one of {', '.join(BACKENDS)}")
    target = BACKENDS[name]
    if target is None:
        raise UsageError(f"the {name} catalog is not available in this build: use --catalog local")
    module, attr = target.split(":")
    cls = getattr(import_module(module), attr)
    return cls()


def _configured() -> str | None:
    from mdreg.oci.settings import configured_catalog  # a stat when there is no file

    return configured_catalog()


def catalog_for_id(model_id: str) -> Catalog:
    return open_catalog(backend_for_id(model_id))
