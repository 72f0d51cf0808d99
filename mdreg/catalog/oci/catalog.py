"""The OCI Data Science Model Catalog, through the ``oci`` SDK.

A save, in order (nothing is created before step 3):

1. ``details`` are checked against the service's limits, the version label against the
   set's other models (``list_models``), the artifact's size against the route;
2. the version set is looked up by name or id, and created on first use;
3. ``create_model`` (metadata, schemas, tags, version set and label, and mdreg's
   ``ArtifactSha256`` item), then ``create_model_provenance``;
4. the artifact: up to ``max_direct_bytes`` (2 GiB) streamed with ``create_model_artifact``;
   from a bucket (``save_from_bucket``, the caller uploaded it) with
   ``export_model_artifact``, whose work request is polled to the end (progress follows
   its ``percentComplete``); then the artifact's size is checked with a HEAD.

Any failure (or Ctrl-C) after step 3 deletes the model again: no empty models are left.
A version set created in step 2 is kept (it is reusable and holds no artifact).

Listing needs a compartment (the OCI API lists one compartment at a time): the one given,
else the configured default. Deleted models linger in OCI as DELETED for a while; mdreg
treats them as gone.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mdreg._files import ProgressFn
from mdreg.catalog.base import (
    MAX_OCI_ARTIFACT_BYTES,
    Catalog,
    ModelDetails,
    ModelNotFoundError,
    ModelRecord,
    ModelSummary,
    ModelUpdate,
    VersionLabelTakenError,
    VersionSet,
    check_fields,
    check_version_set_name,
)
from mdreg.catalog.ids import is_ocid
from mdreg.catalog.oci import records as rec
from mdreg.catalog.oci.upload import export_from_bucket, upload_direct
from mdreg.catalog.oci.version_sets import (
    ACTIVE,
    Absent,
    check_label_free,
    create_version_set,
    find_version_set,
    pages,
    version_set_for_save,
    version_set_name,
)
from mdreg.errors import InputError, MdregError, UsageError
from mdreg.oci.clients import OciClients
from mdreg.oci.errors import translated
from mdreg.oci.settings import OciSettings, resolve
from mdreg.storage.base import Bucket, ObjectNotFoundError


class OciCatalog(Catalog):
    """The model catalog of the configured compartment and project."""

    name = "oci"
    max_direct_bytes: int  # always set, from the settings
    max_artifact_bytes = MAX_OCI_ARTIFACT_BYTES

    def __init__(
        self, settings: OciSettings | None = None, *, clients: OciClients | None = None
    ) -> None:
        self.settings = settings or (clients.settings if clients else resolve())
        self.clients = clients or OciClients(self.settings)
        self.max_direct_bytes = self.settings.max_direct_bytes

    def __repr__(self) -> str:
        return f"OciCatalog(compartment={self.settings.compartment_id!r})"

    @property
    def ds(self) -> Any:
        return self.clients.data_science

    def close(self) -> None:
        self.clients.close()

    # -- save -------------------------------------------------------------------------------
    def save(
        self,
        details: ModelDetails,
        artifact_zip: Path,
        *,
        move: bool = False,
        sha256: str | None = None,
        progress: ProgressFn | None = None,
    ) -> ModelRecord:
        details.check()
        artifact_zip = Path(artifact_zip)
        try:
            size = artifact_zip.stat().st_size
        except FileNotFoundError:
            raise InputError(f"no such file: {artifact_zip}") from None
        self._check_size(size)
        if size > self.max_direct_bytes:
            raise UsageError(
                f"the artifact zip is {size} bytes, over {self.max_direct_bytes}: the OCI "
                "catalog takes it only through a bucket; add --bucket oci://bucket@namespace/prefix"
            )
        if sha256 is None or not move:
            from mdreg._files import hash_file

            sha256 = hash_file(artifact_zip)[1]
        model_id = self._create(details, sha256)
        with _rolled_back(self, model_id):
            upload_direct(self.clients, self.settings, model_id, artifact_zip, size, progress)
        return self.get(model_id)

    def save_from_bucket(
        self, details: ModelDetails, bucket: Bucket, key: str, *, progress: ProgressFn | None = None
    ) -> ModelRecord:
        from mdreg.storage.oci import OciBucket

        details.check()
        if not isinstance(bucket, OciBucket):
            raise UsageError(
                f"the OCI catalog takes artifacts only from oci:// buckets, not "
                f"{bucket.uri}: use --bucket oci://bucket@namespace/prefix"
            )
        info = bucket.head(key)
        if info is None:
            raise ObjectNotFoundError(f"{bucket.uri_for(key)}: no such object")
        self._check_size(info.size)
        model_id = self._create(details, info.sha256)
        with _rolled_back(self, model_id):
            export_from_bucket(
                self.clients, self.settings, model_id, bucket, key, info.size, progress
            )
        return self.get(model_id)

    def _check_size(self, size: int) -> None:
        if self.max_artifact_bytes is not None and size > self.max_artifact_bytes:
            raise InputError(
                f"the artifact zip is {size} bytes; the OCI catalog takes at most "
                f"{self.max_artifact_bytes}: move data out of the artifact"
            )

    def _create(self, details: ModelDetails, sha256: str | None) -> str:
        """Steps 1-3 of a save: the model's id, with its provenance."""
        from oci.data_science.models import CreateModelDetails

        compartment = details.compartment_id or self.settings.require_compartment()
        project = details.project_id or self.settings.require_project()
        check_label_free(self.ds, details, compartment)
        vs = version_set_for_save(self.ds, details, compartment, project)
        create = CreateModelDetails(
            compartment_id=compartment,
            project_id=project,
            display_name=details.display_name,
            description=details.description,
            freeform_tags=details.freeform_tags or None,
            defined_tags=details.defined_tags or None,
            custom_metadata_list=rec.metadata_out(
                details.custom_metadata_list, custom=True, sha256=sha256
            ),
            defined_metadata_list=rec.metadata_out(details.defined_metadata_list, custom=False),
            input_schema=rec.to_text(details.input_schema),
            output_schema=rec.to_text(details.output_schema),
            model_version_set_id=vs.id if vs else None,
            version_label=details.version_label,
        )
        try:
            with translated("creating the model"):
                model_id = self.ds.create_model(create).data.id
        except MdregError as exc:
            if getattr(exc, "status", None) == 409 and details.version_label:
                raise VersionLabelTakenError(
                    f"version label {details.version_label!r} is already used "
                    f"in version set {details.version_set!r}: {exc}"
                ) from exc
            raise
        with _rolled_back(self, model_id), translated(f"recording the provenance of {model_id}"):
            self.ds.create_model_provenance(model_id, rec.provenance_out(details.provenance))
        return model_id

    # -- read -------------------------------------------------------------------------------
    def get(self, model_id: str) -> ModelRecord:
        model = self._model(model_id)
        try:
            with translated(f"reading the provenance of {model_id}", not_found=lambda e: Absent()):
                provenance = self.ds.get_model_provenance(model_id).data
        except Absent:
            provenance = None
        return rec.record(model, provenance, self._artifact_size(model_id))

    def _model(self, model_id: str) -> Any:
        def missing(_: Any = None) -> ModelNotFoundError:
            return ModelNotFoundError(f"no model {model_id} in the OCI catalog")

        if not is_ocid(model_id):
            raise ModelNotFoundError(
                f"no model {model_id} in the OCI catalog: OCI model ids are OCIDs "
                "(ocid1.datasciencemodel...)"
            )
        with translated(f"reading model {model_id}", not_found=missing):
            model = self.ds.get_model(model_id).data
        if model.lifecycle_state == "DELETED":
            raise missing()
        return model

    def _artifact_size(self, model_id: str) -> int:
        try:
            with translated(
                f"reading the artifact size of {model_id}", not_found=lambda e: Absent()
            ):
                return int(self.ds.head_model_artifact(model_id).headers.get("content-length", 0))
        except Absent:
            return 0

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
        if limit is not None and limit < 0:
            raise InputError("--limit must be 0 or more")
        if limit == 0:
            return []
        compartment = compartment_id or self.settings.require_compartment()
        query: dict[str, Any] = {
            "lifecycle_state": ACTIVE,
            "sort_by": "timeCreated",
            "sort_order": "DESC",
        }
        if project_id:
            query["project_id"] = project_id
        if version_set is not None:
            name = version_set_name(self.ds, version_set)
            if name is None:
                return []
            query["model_version_set_name"] = name
        wanted = tags or {}
        needle = name_contains.lower() if name_contains else None
        found: list[ModelSummary] = []
        for m in pages(self.ds.list_models, compartment, "listing models", **query):
            if needle is not None and needle not in (m.display_name or "").lower():
                continue
            if any((m.freeform_tags or {}).get(k) != v for k, v in wanted.items()):
                continue
            found.append(rec.summary(m))
            if limit is not None and len(found) >= limit:
                break
        return found

    # -- update / delete ------------------------------------------------------------------
    def update(self, model_id: str, changes: ModelUpdate) -> ModelRecord:
        from oci.data_science.models import UpdateModelDetails

        current = self.get(model_id)
        new = changes.applied_to(current)
        check_fields(
            new.display_name, new.description, new.custom_metadata_list, new.defined_metadata_list
        )
        kw: dict[str, Any] = {}
        if changes.display_name is not None:
            kw["display_name"] = changes.display_name
        if changes.description is not None:
            kw["description"] = changes.description
        if changes.freeform_tags is not None:
            kw["freeform_tags"] = changes.freeform_tags
        if changes.custom_metadata_list is not None:
            kw["custom_metadata_list"] = rec.metadata_out(
                changes.custom_metadata_list, custom=True, sha256=current.artifact_sha256 or None
            )
        if changes.defined_metadata_list is not None:
            kw["defined_metadata_list"] = rec.metadata_out(
                changes.defined_metadata_list, custom=False
            )
        with translated(
            f"updating model {model_id}",
            not_found=lambda e: ModelNotFoundError(f"no model {model_id} in the OCI catalog"),
        ):
            self.ds.update_model(model_id, UpdateModelDetails(**kw))
        return self.get(model_id)

    def delete(self, model_id: str) -> None:
        self._model(model_id)
        with translated(
            f"deleting model {model_id}",
            not_found=lambda e: ModelNotFoundError(f"no model {model_id} in the OCI catalog"),
        ):
            self.ds.delete_model(model_id)

    # -- download -------------------------------------------------------------------------
    def download_artifact(
        self, model_id: str, dest: Path, *, progress: ProgressFn | None = None
    ) -> Path:
        from mdreg.catalog.oci.download import download_direct, download_through_bucket

        record = self.get(model_id)
        dest = Path(dest)
        if record.artifact_size > self.max_direct_bytes:
            if not self.settings.bucket:
                raise UsageError(
                    f"the artifact of {model_id} is {record.artifact_size} bytes, over "
                    f"{self.max_direct_bytes}: OCI hands it out only through a bucket; "
                    "give --bucket oci://bucket@namespace/prefix (or MDREG_OCI_BUCKET)"
                )
            download_through_bucket(self.clients, self.settings, record, dest, progress)
        else:
            download_direct(self.clients, self.settings, record, dest, progress)
        return dest

    # -- version sets ---------------------------------------------------------------------
    def create_version_set(self, name: str, description: str | None = None) -> VersionSet:
        check_version_set_name(name)
        if is_ocid(name):
            raise InputError(f"{name!r} looks like an id: choose another version set name")
        compartment = self.settings.require_compartment()
        return create_version_set(
            self.ds, name, description, compartment, self.settings.require_project()
        )

    def get_version_set(self, name_or_id: str) -> VersionSet:
        compartment = None if is_ocid(name_or_id) else self.settings.require_compartment()
        vs = find_version_set(self.ds, name_or_id, compartment)
        if vs is None:
            raise ModelNotFoundError(f"no version set {name_or_id!r} in the OCI catalog")
        return rec.version_set(vs)

    def list_version_sets(self) -> builtins.list[VersionSet]:
        compartment = self.settings.require_compartment()
        summaries = list(
            pages(
                self.ds.list_model_version_sets,
                compartment,
                "listing version sets",
                lifecycle_state=ACTIVE,
            )
        )
        return sorted((self.get_version_set(s.id) for s in summaries), key=lambda v: v.name)


@contextmanager
def _rolled_back(catalog: OciCatalog, model_id: str) -> Iterator[None]:
    """Delete ``model_id`` when the block fails (KeyboardInterrupt included), so that no
    model without its artifact stays behind; a delete that fails too is named in the
    error the user sees."""
    try:
        yield
    except BaseException as exc:
        try:
            with translated(f"deleting the half-made model {model_id}"):
                catalog.ds.delete_model(model_id)
        except Exception as err:  # noqa: BLE001 - the original failure is what the user needs
            if isinstance(exc, MdregError) and exc.args:
                exc.args = (
                    f"{exc.args[0]}; the half-made model {model_id} could not be "
                    f"deleted either ({err}): run `mdreg delete {model_id} --yes`",
                )
        raise
