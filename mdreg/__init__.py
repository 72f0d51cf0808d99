"""mdreg: prepare, check and register model artifacts for the OCI Data Science Model Catalog.

The library API is re-exported here and imported on first use, so that ``import mdreg``
stays free of ML frameworks, pandas and ``oci``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute"
_EXPORTS = {
    "prepare": "mdreg.flows.prepare:prepare",
    "PrepareResult": "mdreg.flows.prepare:PrepareResult",
    "Framework": "mdreg.frameworks.base:Framework",
    "Detection": "mdreg.frameworks.base:Detection",
    "ModelFacts": "mdreg.frameworks.base:ModelFacts",
    "Registry": "mdreg.frameworks.registry:Registry",
    "detect": "mdreg.api:detect",
    "scan": "mdreg.scan:scan_path",
    "introspect": "mdreg.checks.introspect:introspect",
    "verify": "mdreg.checks.verify:verify",
    "zip_artifact": "mdreg.artifact.zipping:zip_artifact",
    "save_model": "mdreg.flows.save:save_model",
    "load_artifact": "mdreg.flows.load:load_artifact",
    "upload_artifact": "mdreg.flows.upload:upload_artifact",
    "open_catalog": "mdreg.catalog:open_catalog",
    "MdregError": "mdreg.errors:MdregError",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'mdreg' has no attribute {name!r}")
    module, attr = target.split(":")
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
