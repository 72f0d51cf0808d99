"""The catalog interface, and the records it deals in.

A catalog backend (``local`` here, ``oci`` later) implements the abstract methods of
``Catalog``. Records use the field names of the OCI SDK's ``Model`` (``display_name``,
``custom_metadata_list``, ``model_version_set_id``...), plus ``artifact_size`` and
``artifact_sha256``, so a record reads the same whichever catalog it came from.

Rules every backend keeps, checked by the shared test suite (``tests/catalog/suite.py``):

- ``save`` checks ``details`` (limits, version label rules) before it writes anything,
  and a failure leaves no model behind (no row without its artifact, no artifact
  without its row once ``gc`` has run).
- Version sets are created on first use by name; a label is unique within its set.
- ``download_artifact`` returns the exact bytes that were saved.
- A missing model is ``ModelNotFoundError`` (exit 3).
"""

from __future__ import annotations

import builtins
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from mdreg._files import ProgressFn
from mdreg.artifact.metadata import limit_problems
from mdreg.errors import InputError, UsageError

if TYPE_CHECKING:
    from mdreg.storage.base import Bucket

MAX_DISPLAY_NAME_CHARS = 255
LARGE_ARTIFACT_BYTES = 2 * 2**30  # above: OCI takes the artifact only through a bucket
MAX_OCI_ARTIFACT_BYTES = 6 * 2**30
_VERSION_SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


class ModelNotFoundError(InputError):
    """No model (or version set) with that id in this catalog."""


class VersionLabelTakenError(InputError):
    """The version label is already used by another model of the same version set."""


@dataclass
class ModelDetails:
    """What a caller gives to create a model (OCI: ``CreateModelDetails`` + provenance).

    ``version_set`` is a name (created on first use) or a version set id.
    Metadata items are dicts: custom ``{key, value, category, description}``,
    defined (taxonomy) ``{key, value}``.
    """

    display_name: str
    description: str | None = None
    compartment_id: str | None = None
    project_id: str | None = None
    freeform_tags: dict[str, str] = field(default_factory=dict)
    defined_tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    custom_metadata_list: list[dict[str, Any]] = field(default_factory=list)
    defined_metadata_list: list[dict[str, Any]] = field(default_factory=list)
    input_schema: dict[str, Any] | None = None
    output_schema: dict[str, Any] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    version_set: str | None = None
    version_label: str | None = None

    def check(self) -> None:
        """Raise InputError/UsageError for what the OCI catalog would refuse."""
        if self.version_label is not None and not self.version_set:
            raise UsageError("a version label needs a version set: add --version-set NAME")
        check_text(
            [
                ("--compartment-id", self.compartment_id),
                ("--project-id", self.project_id),
                ("--version-set", self.version_set),
                ("--version-label", self.version_label),
                *(("--tag", f"{k}={v}") for k, v in self.freeform_tags.items()),
            ]
        )
        if self.version_set is not None:
            check_version_set_name(self.version_set)
        check_fields(
            self.display_name,
            self.description,
            self.custom_metadata_list,
            self.defined_metadata_list,
        )


@dataclass
class ModelUpdate:
    """Changes to a model; None leaves a field as it is. Tags and metadata lists
    replace the old ones whole, as OCI's ``UpdateModelDetails`` does."""

    display_name: str | None = None
    description: str | None = None
    freeform_tags: dict[str, str] | None = None
    custom_metadata_list: list[dict[str, Any]] | None = None
    defined_metadata_list: list[dict[str, Any]] | None = None

    def applied_to(self, record: ModelRecord) -> ModelRecord:
        changes = {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }
        return replace(record, **changes)


@dataclass
class ModelRecord:
    """A model as a catalog holds it."""

    id: str
    display_name: str
    description: str | None
    lifecycle_state: str
    time_created: str  # ISO 8601, UTC
    created_by: str
    compartment_id: str | None
    project_id: str | None
    freeform_tags: dict[str, str]
    defined_tags: dict[str, dict[str, Any]]
    custom_metadata_list: list[dict[str, Any]]
    defined_metadata_list: list[dict[str, Any]]
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    provenance: dict[str, Any]
    model_version_set_id: str | None
    model_version_set_name: str | None
    version_label: str | None
    artifact_size: int
    artifact_sha256: str
    catalog: str = "local"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> ModelSummary:
        return ModelSummary(**{f.name: getattr(self, f.name) for f in fields(ModelSummary)})


@dataclass
class ModelSummary:
    """A model as a listing shows it (OCI: ``ModelSummary``): no metadata, schemas or
    provenance, so that listing thousands of models stays cheap. ``artifact_size`` and
    ``artifact_sha256`` are None where the backend's listing does not carry them."""

    id: str
    display_name: str
    lifecycle_state: str
    time_created: str
    created_by: str
    compartment_id: str | None
    project_id: str | None
    freeform_tags: dict[str, str]
    defined_tags: dict[str, dict[str, Any]]
    model_version_set_id: str | None
    model_version_set_name: str | None
    version_label: str | None
    artifact_size: int | None
    artifact_sha256: str | None
    catalog: str = "local"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VersionSet:
    id: str
    name: str
    description: str | None
    time_created: str
    created_by: str
    compartment_id: str | None = None
    project_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Catalog(ABC):
    """A model catalog. Subclasses set ``name`` and the two size limits.

    ``max_direct_bytes``: the largest artifact ``save`` takes directly; a larger one must
    go through a bucket and ``save_from_bucket`` (OCI: 2 GiB). None: no such limit.
    ``max_artifact_bytes``: the largest artifact the catalog takes at all (OCI: 6 GiB).
    """

    name: str = ""
    max_direct_bytes: int | None = None
    max_artifact_bytes: int | None = MAX_OCI_ARTIFACT_BYTES

    # -- models -------------------------------------------------------------------------
    @abstractmethod
    def save(
        self,
        details: ModelDetails,
        artifact_zip: Path,
        *,
        move: bool = False,
        sha256: str | None = None,
        progress: ProgressFn | None = None,
    ) -> ModelRecord:
        """Create a model with ``details`` and the artifact zip at ``artifact_zip``.

        ``move=True`` lets the catalog take the file instead of copying it (the caller
        made it and will not use it again); with it, ``sha256`` is the zip's hash the
        caller computed while writing it (zip_artifact does), which spares a re-read.
        ``progress(n)`` is fed the bytes stored.
        """

    @abstractmethod
    def save_from_bucket(
        self, details: ModelDetails, bucket: Bucket, key: str, *, progress: ProgressFn | None = None
    ) -> ModelRecord:
        """Create a model whose artifact zip the catalog takes from ``bucket``/``key``
        (OCI: ``export_model_artifact``). The object is left in the bucket."""

    @abstractmethod
    def get(self, model_id: str) -> ModelRecord:
        """The model ``model_id``; ModelNotFoundError when there is none."""

    @abstractmethod
    def list(
        self,
        *,
        version_set: str | None = None,
        tags: dict[str, str] | None = None,
        name_contains: str | None = None,
        compartment_id: str | None = None,
        project_id: str | None = None,
        limit: int | None = None,
    ) -> list[ModelSummary]:
        """Summaries of the models matching every filter given, newest first, at most ``limit``.

        ``version_set`` is a name or id; ``tags`` must all match freeform tags exactly;
        ``name_contains`` matches the display name case-insensitively.
        """

    @abstractmethod
    def update(self, model_id: str, changes: ModelUpdate) -> ModelRecord:
        """Apply ``changes`` (checked against the limits first); return the new record."""

    @abstractmethod
    def delete(self, model_id: str) -> None:
        """Remove the model and, when no other model shares it, its artifact."""

    @abstractmethod
    def download_artifact(
        self, model_id: str, dest: Path, *, progress: ProgressFn | None = None
    ) -> Path:
        """Write the model's artifact zip to the file ``dest`` (atomically); return it."""

    @contextmanager
    def open_artifact(self, model_id: str, *, progress: ProgressFn | None = None) -> Iterator[Path]:
        """A local zip of the model's artifact, to read inside the ``with`` block.

        The default downloads it to a temp file removed afterwards; a backend that keeps
        zips on local disk yields its own copy (read-only: never modify or move it).
        """
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="mdreg-artifact-"))
        try:
            yield self.download_artifact(model_id, tmp / "artifact.zip", progress=progress)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # -- version sets -------------------------------------------------------------------
    @abstractmethod
    def create_version_set(self, name: str, description: str | None = None) -> VersionSet:
        """A new version set; InputError when the name is taken."""

    @abstractmethod
    def get_version_set(self, name_or_id: str) -> VersionSet:
        """The version set with that name or id; ModelNotFoundError when there is none."""

    @abstractmethod
    def list_version_sets(self) -> builtins.list[VersionSet]:
        """Every version set, by name."""

    # -- plumbing -----------------------------------------------------------------------
    def staging_dir(self) -> Path:
        """A new empty folder in which a caller stages an artifact zip, so that
        ``save(move=True)`` can take it cheaply. The caller removes the folder."""
        import tempfile

        return Path(tempfile.mkdtemp(prefix="mdreg-save-"))

    def close(self) -> None:  # noqa: B027 - optional: a catalog without connections keeps it
        """Release connections; the catalog may not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_version_set_name(name: str) -> str:
    from mdreg.catalog.ids import looks_like_id

    if looks_like_id(name) or _VERSION_SET_NAME.match(name):
        return name
    raise InputError(
        f"version set name {name!r}: use 1-255 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    )


def escaped(text: str) -> str:
    """``text`` as valid UTF-8, what is not written as backslash escapes: a name decoded from
    bytes that are not UTF-8 (os.fsdecode's surrogate escapes) shows those bytes, so the
    folder ``b"art\\xff"`` reads ``art\\xff``. Valid text comes back unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_text(values: list[tuple[str, str | None]]) -> None:
    """InputError naming the first (option, value) whose value is not valid UTF-8 text
    (from bytes on the command line that are not UTF-8): the catalog stores text."""
    for option, value in values:
        if value is not None and escaped(value) != value:
            raise InputError(
                f"{option} '{escaped(value)}' is not valid UTF-8 text, which the "
                "catalog stores: give it in UTF-8"
            )


def check_fields(
    display_name: str | None,
    description: str | None,
    custom: list[dict[str, Any]],
    defined: list[dict[str, Any]],
) -> None:
    """The OCI service's limits on a model's fields, as one InputError naming each problem."""
    check_text([("--display-name", display_name), ("--description", description)])
    problems = []
    if display_name is not None:
        if not display_name.strip():
            problems.append("the display name is empty: give --display-name")
        elif len(display_name) > MAX_DISPLAY_NAME_CHARS:
            problems.append(
                f"the display name is {len(display_name)} characters; the catalog "
                f"allows {MAX_DISPLAY_NAME_CHARS}: shorten --display-name"
            )
    for item in (*custom, *defined):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            problems.append(f"metadata item {item!r} has no key")
    meta = {"taxonomy": defined, "custom": custom}
    for problem in limit_problems(meta, description):
        if problem.startswith("description"):
            problem += ": shorten --description"
        problems.append(problem)
    if problems:
        raise InputError("the catalog would refuse this model: " + "; ".join(problems))
