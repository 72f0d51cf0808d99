"""The OCI Data Science Model Catalog, through the ``oci`` SDK (imported only when a
call needs it).

    catalog.py   OciCatalog, the backend (a save's steps and rollback in its docstring)
    records.py   SDK models <-> mdreg's records (metadata, provenance, version sets)
    upload.py    the artifact into the catalog: direct, or exported from a bucket
    download.py  the artifact out of the catalog: direct, or imported into a bucket

What every OCI backend shares (settings, auth, clients, retries, errors, work requests)
is in ``mdreg.oci``.
"""

from mdreg.catalog.oci.catalog import OciCatalog

__all__ = ["OciCatalog"]
