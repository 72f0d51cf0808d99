"""Model catalogs: the interface (``base``), the local SQLite catalog (``local``), and
later the OCI Model Catalog. Backends are named and imported on first use.

    open_catalog("local")          the catalog a command saves to and lists from
    catalog_for_id("mdl-01J...")   the catalog that issued a model id
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
    "oci": None,
}

__all__ = ["BACKENDS", "Catalog", "ModelDetails", "ModelNotFoundError", "ModelRecord",
           "ModelSummary", "ModelUpdate", "VersionSet", "backend_for_id", "catalog_for_id", "open_catalog"]


def open_catalog(name: str | None = None) -> Catalog:
    """The catalog backend ``name`` (default ``$MDREG_CATALOG``, else ``local``)."""
    name = (name or os.environ.get(ENV_CATALOG) or DEFAULT_CATALOG).lower()
    if name not in BACKENDS:
        raise UsageError(f"unknown catalog {name!r}: choose one of {', '.join(BACKENDS)}")
    target = BACKENDS[name]
    if target is None:
        raise UsageError(f"the {name} catalog needs the OCI backend (not available yet): "
                         "use --catalog local")
    module, attr = target.split(":")
    cls = getattr(import_module(module), attr)
    return cls()


def catalog_for_id(model_id: str) -> Catalog:
    return open_catalog(backend_for_id(model_id))
