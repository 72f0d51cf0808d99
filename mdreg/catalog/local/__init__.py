"""The local catalog: records in SQLite, artifact zips content-addressed beside it.

$MDREG_HOME/catalog.db      WAL mode, busy timeout, named migrations
$MDREG_HOME/blobs/sha256/   one zip per distinct artifact (see blobs.py)
$MDREG_HOME/blobs/tmp/      blobs and staged zips being written

catalog.py     LocalCatalog, the backend (crash safety in its docstring)
rows.py        the columns read, the write transaction, rows <-> records
schema.py      opening the database; the schema as named migrations
migrations.py  named, recorded migrations for SQLite
blobs.py       the content-addressed zip store
locks.py       advisory file locks between mdreg processes
gc.py          garbage collection and fsck
"""

from mdreg.catalog.local.catalog import LocalCatalog
from mdreg.catalog.local.gc import FsckReport, GcReport

__all__ = ["FsckReport", "GcReport", "LocalCatalog"]
