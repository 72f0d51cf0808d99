"""``save_model``: an artifact folder (or zip) in, a catalog model out.

In order, and nothing is written before step 4:

1. the options and the bucket URI are checked (an ``oci://`` bucket needs the OCI backend);
2. the artifact is introspected; a failed check refuses the save (exit 1, naming the
   failed keys) unless ``ignore_introspection``; then its score.py is run as ``mdreg
   verify`` does (on the kept sample, with the parity check; without a sample, up to
   load_model()), and a failure refuses the save (exit 1) unless ``no_verify``;
3. the record is built from the artifact's metadata, schemas and provenance, and checked
   against the OCI service's limits (exit 3, naming the key and the fix) and against the
   version set's labels;
4. the folder is zipped into the catalog's staging folder;
5. the zip is stored: directly, or through the bucket when one is named (``--large``,
   OCI's route for artifacts over 2 GiB), the catalog taking it from there. Through a
   bucket, a folder skips step 4: it is zipped straight into the bucket object
   (``flows._bucket.stream_zip``; into ``oci://``, in parts, with no zip on disk).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mdreg._files import ProgressFactory, no_progress
from mdreg.artifact import layout
from mdreg.catalog.base import (
    LARGE_ARTIFACT_BYTES,
    Catalog,
    ModelDetails,
    ModelRecord,
    VersionLabelTakenError,
    check_text,
    escaped,
)
from mdreg.errors import ArtifactError, ChecksFailedError, InputError, UsageError

_MAX_SIDE_FILE_BYTES = 16 << 20  # metadata and schema files read from a zip


@dataclass
class SaveOptions:
    display_name: str | None = None
    description: str | None = None
    freeform_tags: dict[str, str] = field(default_factory=dict)
    version_set: str | None = None
    version_label: str | None = None
    compartment_id: str | None = None
    project_id: str | None = None
    ignore_introspection: bool = False
    no_verify: bool = False  # skip running score.py (deliberately: recorded as skipped)
    large: bool = False
    bucket: str | None = None  # URI of a bucket prefix or a .zip object
    keep_bucket_object: bool = False


@dataclass
class SaveResult:
    record: ModelRecord
    route: str  # "direct" or "bucket"
    introspection_ok: bool
    failed_checks: list[str]
    bucket_object: str | None = None  # URI, when the bucket object was kept
    warnings: list[str] = field(default_factory=list)  # files shipped that look like secrets

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.record.to_dict(),
            "route": self.route,
            "introspection_ok": self.introspection_ok,
            "failed_checks": self.failed_checks,
            "bucket_object": self.bucket_object,
            "warnings": self.warnings,
        }


def save_model(
    artifact: str | Path,
    options: SaveOptions,
    *,
    catalog: Catalog | None = None,
    progress: ProgressFactory = no_progress,
) -> SaveResult:
    """Check, zip and store ``artifact`` in ``catalog`` (default: the configured one)."""
    from mdreg.catalog import open_catalog

    bucket = _check_options(options)
    artifact = layout.existing_artifact(artifact)
    own = catalog is None
    cat = catalog or open_catalog()
    try:
        failed = _introspect(artifact, options.ignore_introspection)
        verified = _verify(artifact, options.no_verify)
        details = build_details(artifact, options, failed_checks=failed.results)
        details.custom_metadata_list = [
            *(c for c in details.custom_metadata_list if c.get("key") != "VerifyResult"),
            verified,
        ]
        details.check()
        check_label_free(cat, details)
        if bucket is not None and artifact.is_dir():  # zipped straight into the bucket
            return _save_through_bucket(
                cat, details, None, 0, artifact, options, failed.names, progress
            )
        staging = cat.staging_dir()
        try:
            zip_path, size, sha, staged, warnings = _zip(artifact, staging, progress)
            _check_route(cat, size, bucket is not None)
            if bucket is None:
                with progress(size, "store") as advance:
                    record = cat.save(details, zip_path, move=staged, sha256=sha, progress=advance)
                return SaveResult(
                    record, "direct", not failed.names, failed.names, warnings=warnings
                )
            result = _save_through_bucket(
                cat, details, zip_path, size, artifact, options, failed.names, progress
            )
            result.warnings = warnings
            return result
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        if own:
            cat.close()


def check_label_free(catalog: Catalog, details: ModelDetails) -> None:
    """VersionLabelTakenError when the label is used in the set already (a pre-check;
    the catalog enforces it again when it writes)."""
    if details.version_set is None or details.version_label is None:
        return
    for record in catalog.list(version_set=details.version_set):
        if record.version_label == details.version_label:
            raise VersionLabelTakenError(
                f"version label {details.version_label!r} is already used in version set "
                f"{details.version_set!r} (by {record.id}): choose another --version-label"
            )


# -- steps ----------------------------------------------------------------------------


def _check_options(options: SaveOptions) -> Any:
    """The bucket named by ``options.bucket`` (None when none), after the flags' checks."""
    if options.large and not options.bucket:
        raise UsageError("--large needs --bucket URI: the artifact travels through that bucket")
    if options.keep_bucket_object and not options.bucket:
        raise UsageError("--keep-bucket-object needs --bucket URI")
    if options.version_label is not None and not options.version_set:
        raise UsageError("a version label needs a version set: add --version-set NAME")
    check_text(
        [
            ("--display-name", options.display_name),
            ("--description", options.description),
            ("--version-set", options.version_set),
            ("--version-label", options.version_label),
            ("--compartment-id", options.compartment_id),
            ("--project-id", options.project_id),
            *(("--tag", f"{k}={v}") for k, v in options.freeform_tags.items()),
        ]
    )  # before the slow steps
    if options.bucket is None:
        return None
    from mdreg.storage.uri import open_bucket, parse_uri

    return open_bucket(parse_uri(options.bucket))


@dataclass
class _Introspection:
    names: list[str]
    results: dict[str, Any]


def _introspect(artifact: Path, ignore: bool) -> _Introspection:
    from mdreg.checks.introspect import introspect

    report = introspect(artifact, record=False)
    names = [r.key for r in report.failed]
    if names and not ignore:
        raise ChecksFailedError(
            f"introspection failed: {', '.join(names)}: fix them (`mdreg introspect {artifact}` "
            "says how) or pass --ignore-introspection"
        )
    return _Introspection(names, report.to_ads())


def _verify(artifact: Path, skip: bool) -> dict[str, Any]:
    """Run score.py as verify does; refuse a failure. The custom metadata item recording it."""
    import time

    from mdreg.checks.verify import verify

    doc: dict[str, Any] = {"ok": None, "skipped": True}
    if not skip:
        start = time.perf_counter()
        result = verify(artifact, load_only=not _keeps_sample(artifact))
        if not result.ok:
            raise ChecksFailedError(
                f"verify failed at {result.stage}: {result.error}; fix score.py (`mdreg verify "
                f"{artifact}` shows the traceback) or pass --no-verify"
            )
        doc = {
            "ok": True,
            "stage": "predict" if result.predict_s is not None else "load_model",
            "parity": result.parity,
            "seconds": round(time.perf_counter() - start, 3),
        }
    doc["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "key": "VerifyResult",
        "value": json.dumps(doc, separators=(",", ":")),
        "category": "Other",
        "description": "mdreg verify at save: score.py run on the "
        "kept sample (or up to load_model without one)",
    }


def _keeps_sample(artifact: Path) -> bool:
    if artifact.is_dir():
        return (artifact / layout.SAMPLE).is_file()
    return _SideFiles(artifact).json(layout.SAMPLE) is not None


def build_details(
    artifact: Path, options: SaveOptions, *, failed_checks: dict[str, Any] | None = None
) -> ModelDetails:
    """The record to create, from the artifact's metadata, schemas and the options."""
    side = _SideFiles(artifact)
    meta = side.json(layout.METADATA) or {}
    if not isinstance(meta, dict):
        raise ArtifactError(f"{artifact}: {layout.METADATA} is not a JSON object")
    defined = [
        {"key": i["key"], "value": i.get("value")}
        for i in meta.get("taxonomy") or []
        if isinstance(i, dict)
        and i.get("key")
        and i.get("value") is not None
        and i["key"] != "ArtifactTestResults"
    ]
    if failed_checks is not None:
        defined.append({"key": "ArtifactTestResults", "value": failed_checks})
    custom = [
        {
            "key": i.get("key"),
            "value": i.get("value"),
            "category": i.get("category", "Other"),
            "description": i.get("description", ""),
        }
        for i in meta.get("custom") or []
        if isinstance(i, dict)
    ]
    provenance = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
    name = options.display_name
    if name is None:  # the folder's name, its bytes that are not UTF-8 as escapes (art\xff)
        name = escaped(artifact.resolve().name)
        name = name[:-4] if name.lower().endswith(".zip") else name
    return ModelDetails(
        display_name=name,
        description=options.description,
        compartment_id=options.compartment_id,
        project_id=options.project_id,
        freeform_tags=dict(options.freeform_tags),
        custom_metadata_list=custom,
        defined_metadata_list=defined,
        input_schema=side.json(layout.INPUT_SCHEMA),
        output_schema=side.json(layout.OUTPUT_SCHEMA),
        provenance=provenance or {},
        version_set=options.version_set,
        version_label=options.version_label,
    )


class _SideFiles:
    """Small JSON files of an artifact folder or zip (where score.py sits in the zip)."""

    def __init__(self, artifact: Path) -> None:
        self.artifact = artifact

    def json(self, rel: str) -> Any:
        raw = self._read(rel)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"{self.artifact}: {rel} is not valid JSON ({exc})") from exc

    def _read(self, rel: str) -> bytes | None:
        if self.artifact.is_dir():
            path = self.artifact / rel
            return path.read_bytes() if path.is_file() else None
        from mdreg.artifact.unzipping import artifact_root_in_zip

        try:
            with zipfile.ZipFile(self.artifact) as zf:
                root = artifact_root_in_zip(zf.namelist())
                try:
                    info = zf.getinfo(root + rel)
                except KeyError:
                    return None
                if info.file_size > _MAX_SIDE_FILE_BYTES:
                    raise ArtifactError(
                        f"{self.artifact}: {rel} is over {_MAX_SIDE_FILE_BYTES} bytes"
                    )
                return zf.read(info)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArtifactError(f"{self.artifact} is not a readable zip file ({exc})") from exc


def _zip(
    artifact: Path, staging: Path, progress: ProgressFactory
) -> tuple[Path, int, str | None, bool, list[str]]:
    """(zip path, size, sha256 when known, whether it is a staged copy the catalog may take,
    warnings about files in it that look like keys or tokens)."""
    if artifact.is_file():
        from mdreg.artifact.secrets import zip_secret_warnings

        return artifact, artifact.stat().st_size, None, False, zip_secret_warnings(artifact)
    from mdreg.artifact.zipping import zip_artifact

    total = sum(p.stat().st_size for p in artifact.rglob("*") if p.is_file())
    with progress(total, "zip") as advance:
        result = zip_artifact(artifact, staging / "artifact.zip", progress=advance)
    return result.path, result.size, result.sha256, True, result.warnings


def _check_route(catalog: Catalog, size: int, have_bucket: bool) -> None:
    limit = catalog.max_artifact_bytes
    if limit is not None and size > limit:
        raise InputError(
            f"the artifact zip is {size} bytes; the {catalog.name} catalog takes at "
            f"most {limit}: move data out of the artifact"
            + (" or raise MDREG_LOCAL_MAX_ARTIFACT_BYTES" if catalog.name == "local" else "")
        )
    direct = catalog.max_direct_bytes
    if direct is not None and size > direct and not have_bucket:
        raise UsageError(
            f"the artifact zip is {size} bytes, over {direct}: the {catalog.name} "
            "catalog takes it only through a bucket; add --bucket oci://bucket@namespace/prefix"
        )


def _save_through_bucket(
    catalog: Catalog,
    details: ModelDetails,
    zip_path: Path | None,
    size: int,
    artifact: Path,
    options: SaveOptions,
    failed: list[str],
    progress: ProgressFactory,
) -> SaveResult:
    """Upload the zip (``zip_path`` None: zip the folder straight into the bucket), then
    have the catalog take it from there; the object is removed unless kept."""
    from mdreg.flows._bucket import bucket_object, stream_zip

    bucket, key = bucket_object(artifact, options.bucket or "")
    warnings: list[str] = []
    if zip_path is None:
        info, warnings = stream_zip(bucket, key, artifact, progress)
        size = info.size
    else:
        with progress(size, "upload") as advance:
            bucket.put(key, zip_path, progress=advance)
    try:
        _check_route(catalog, size, True)  # a streamed zip's size is known only now
        with progress(size, "import") as advance:
            record = catalog.save_from_bucket(details, bucket, key, progress=advance)
    finally:
        if not options.keep_bucket_object:
            _delete_quietly(bucket, key)
    kept = bucket.uri_for(key) if options.keep_bucket_object else None
    return SaveResult(record, "bucket", not failed, failed, kept, warnings=warnings)


def _delete_quietly(bucket: Any, key: str) -> None:
    from mdreg.storage.base import ObjectNotFoundError

    try:
        bucket.delete(key)
    except ObjectNotFoundError:
        pass


__all__ = [
    "LARGE_ARTIFACT_BYTES",
    "SaveOptions",
    "SaveResult",
    "build_details",
    "check_label_free",
    "save_model",
]
