"""OCI version sets, found by name or id (created on first use by a save), and the
paging every OCI list call needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mdreg.catalog.base import (
    ModelDetails,
    ModelNotFoundError,
    VersionLabelTakenError,
    VersionSet,
)
from mdreg.catalog.ids import is_ocid
from mdreg.catalog.oci import records as rec
from mdreg.errors import InputError, MdregError
from mdreg.oci.errors import translated

ACTIVE = "ACTIVE"
PAGE = 100


class Absent(MdregError):
    """Internal: a 404 the caller treats as 'none'."""


def pages(method: Callable[..., Any], compartment: str, what: str, **query: Any) -> Any:
    page: str | None = None
    while True:
        with translated(what):
            resp = method(compartment, limit=PAGE, **({"page": page} if page else {}), **query)
        yield from resp.data
        page = resp.headers.get("opc-next-page")
        if not page:
            return


def create_version_set(
    ds: Any, name: str, description: str | None, compartment: str, project: str
) -> VersionSet:
    from oci.data_science.models import CreateModelVersionSetDetails

    if find_version_set(ds, name, compartment) is not None:
        raise InputError(f"a version set named {name!r} already exists")
    details = CreateModelVersionSetDetails(
        compartment_id=compartment, project_id=project, name=name, description=description
    )
    try:
        with translated(f"creating version set {name!r}"):
            vs = ds.create_model_version_set(details).data
    except MdregError as exc:
        if getattr(exc, "status", None) == 409:
            raise InputError(f"a version set named {name!r} already exists ({exc})") from exc
        raise
    return rec.version_set(vs)


def find_version_set(ds: Any, name_or_id: str, compartment: str | None) -> Any:
    """The SDK ``ModelVersionSet`` by id, or by name in ``compartment``; None if none."""
    if is_ocid(name_or_id):
        try:
            with translated(f"reading version set {name_or_id}", not_found=lambda e: Absent()):
                vs = ds.get_model_version_set(name_or_id).data
        except Absent:
            return None
        return vs if vs.lifecycle_state == ACTIVE else None
    for s in pages(
        ds.list_model_version_sets,
        compartment or "",
        f"looking up version set {name_or_id!r}",
        name=name_or_id,
        lifecycle_state=ACTIVE,
    ):
        return find_version_set(ds, s.id, None)
    return None


def version_set_name(ds: Any, name_or_id: str) -> str | None:
    if not is_ocid(name_or_id):
        return name_or_id
    vs = find_version_set(ds, name_or_id, None)
    return vs.name if vs is not None else None


def version_set_for_save(
    ds: Any, details: ModelDetails, compartment: str, project: str
) -> VersionSet | None:
    if details.version_set is None:
        return None
    vs = find_version_set(ds, details.version_set, compartment)
    if vs is not None:
        return rec.version_set(vs)
    if is_ocid(details.version_set):
        raise ModelNotFoundError(f"no version set {details.version_set} in the OCI catalog")
    try:
        return create_version_set(ds, details.version_set, None, compartment, project)
    except InputError:  # created by a concurrent save since the look-up
        vs = find_version_set(ds, details.version_set, compartment)
        if vs is None:
            raise
        return rec.version_set(vs)


def check_label_free(ds: Any, details: ModelDetails, compartment: str) -> None:
    if details.version_set is None or details.version_label is None:
        return
    name = version_set_name(ds, details.version_set)
    if name is None:
        return
    for m in pages(
        ds.list_models,
        compartment,
        "checking the version label",
        model_version_set_name=name,
        version_label=details.version_label,
        lifecycle_state=ACTIVE,
    ):
        raise VersionLabelTakenError(
            f"version label {details.version_label!r} is already used in version set "
            f"{details.version_set!r} (by {m.id}): choose another --version-label"
        )
