"""Oracle ADS opens every zip mdreg writes.

ADS extracts each artifact it downloads with ``safe_extract_zip``: when the zip holds
model_artifact_manifest.json, the zip's files (the manifest aside) must be exactly the
manifest's, and once unpacked each must have the manifest's size and sha256. mdreg's
folder manifest leaves the mutable ``.mdreg/metadata.json`` out, so the zip writer
stores its own manifest (``mdreg.artifact.manifest.zip_manifest``): prepare's entries as
they are, plus the metadata and any file added since, hashed as zipped and marked
``"listed_at": "zip"``. ``ads_safe_extract_zip`` below is ADS's rule; every writer's zip
(zip, save, save through a bucket, upload, a loaded model zipped again) goes through it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from mdreg.artifact.manifest import verify_manifest
from mdreg.artifact.metadata import read_metadata, write_metadata
from mdreg.artifact.zipping import zip_artifact
from mdreg.errors import ArtifactError

MANIFEST = "model_artifact_manifest.json"
METADATA = ".mdreg/metadata.json"


# --- ADS's rule ----------------------------------------------------------------------------
#
# Mirrors oracle-ads 2.16, ads/model/common/utils.py: safe_extract_zip() and the helpers
# it calls (_validate_archive_member_name, _read_model_artifact_manifest,
# _get_manifest_file_records, _validate_archive_matches_manifest, _archive_file_names,
# _extract_zip_members, verify_model_artifact_manifest). Same checks in the same order,
# same messages; written here from reading it, not copied.


class AdsRefused(ValueError):
    """What ADS raises (a ValueError) when it refuses an artifact zip."""


def _ads_member_name_ok(name: str) -> None:
    # _validate_archive_member_name: not empty, no backslash, relative, no ".." part
    path = PurePosixPath(name)
    if not name or "\\" in name or path.is_absolute() or ".." in path.parts:
        raise AdsRefused(f"Invalid model artifact archive member: {name}")


def _ads_file_records(manifest: Any) -> dict[str, Any]:
    # _get_manifest_file_records: a "files" object; each entry a valid name, an object
    # with a str sha256 and an int size
    if not isinstance(manifest, dict):
        raise AdsRefused("Model artifact manifest must be a JSON object.")
    records = manifest.get("files")
    if not isinstance(records, dict):
        raise AdsRefused("Model artifact manifest is missing a valid `files` map.")
    for rel, expected in records.items():
        _ads_member_name_ok(rel)
        if not isinstance(expected, dict):
            raise AdsRefused(f"Model artifact manifest entry `{rel}` is invalid.")
        if not isinstance(expected.get("sha256"), str) or not isinstance(expected.get("size"), int):
            raise AdsRefused(
                f"Model artifact manifest entry `{rel}` is missing hash or size metadata."
            )
    return records


def _ads_mismatch(what: str, expected: set[str], actual: set[str]) -> None:
    if actual != expected:
        details = []
        if expected - actual:
            details.append(f"missing files: {sorted(expected - actual)}")
        if actual - expected:
            details.append(f"extra files: {sorted(actual - expected)}")
        raise AdsRefused(
            f"Model artifact manifest does not match {what}"
            + (f" ({'; '.join(details)})" if details else ".")
        )


def _ads_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _ads_verify_extracted(folder: str, strict: bool) -> None:
    # verify_model_artifact_manifest(folder, strict=<the zip held a manifest>)
    manifest_path = os.path.join(folder, MANIFEST)
    if not os.path.exists(manifest_path):
        if strict:
            raise AdsRefused(f"Model artifact manifest `{MANIFEST}` was not found.")
        return
    with open(manifest_path, encoding="utf-8") as f:
        records = _ads_file_records(json.load(f))
    actual = set()
    for dirpath, _, names in os.walk(folder):
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), folder).replace(os.sep, "/")
            if rel != MANIFEST:
                actual.add(rel)
    _ads_mismatch("extracted files", set(records), actual)
    for rel, expected in records.items():
        path = os.path.join(folder, rel)
        if not os.path.exists(path):
            raise AdsRefused(f"Model artifact file `{rel}` is missing.")
        if os.path.getsize(path) != expected.get("size"):
            raise AdsRefused(f"Model artifact file `{rel}` size mismatch.")
        if _ads_sha256(path) != expected.get("sha256"):
            raise AdsRefused(f"Model artifact file `{rel}` hash mismatch.")


def ads_safe_extract_zip(zip_path: Path, target: Path) -> set[str]:
    """Unpack ``zip_path`` into ``target`` as ADS's safe_extract_zip does, raising
    AdsRefused where ADS raises; the files unpacked (relative posix paths)."""
    with zipfile.ZipFile(zip_path) as zf:
        members = zf.infolist()
        for member in members:
            _ads_member_name_ok(member.filename)
        # _read_model_artifact_manifest: the root-level entry of that exact name, at most one
        found = [m for m in members if m.filename == MANIFEST]
        if len(found) > 1:
            raise AdsRefused(f"Model artifact archive has multiple `{MANIFEST}` entries.")
        manifest = json.loads(zf.read(MANIFEST).decode("utf-8")) if found else None
        if manifest is not None:
            # _validate_archive_matches_manifest over _archive_file_names(members)
            names = {m.filename for m in members if not m.is_dir() and m.filename != MANIFEST}
            _ads_mismatch("archive contents", set(_ads_file_records(manifest)), names)
        tmp = tempfile.mkdtemp(prefix=".ads-model-artifact-", dir=target.parent)
        try:
            # _extract_zip_members: every destination inside the folder, then write them
            real = os.path.realpath(tmp)
            for member in members:
                dest = os.path.realpath(os.path.join(tmp, member.filename))
                if dest != real and not dest.startswith(real + os.sep):
                    raise AdsRefused(f"Invalid model artifact archive member: {member.filename}")
            for member in members:
                dest = os.path.realpath(os.path.join(tmp, member.filename))
                if member.is_dir():
                    os.makedirs(dest, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with zf.open(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
                mode = (member.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(dest, mode)
            _ads_verify_extracted(tmp, strict=manifest is not None)
            shutil.move(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}


def opens_in_ads(zip_path: Path) -> set[str]:
    """ADS's rule applied to a zip of mdreg's; the files it unpacks."""
    target = Path(tempfile.mkdtemp(prefix="ads-")) / "artifact"
    try:
        return ads_safe_extract_zip(zip_path, target)
    finally:
        shutil.rmtree(target.parent, ignore_errors=True)


def zip_of(entries: dict[str, bytes], path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def manifest_of(files: dict[str, bytes]) -> bytes:
    return json.dumps(
        {
            "version": 1,
            "files": {
                rel: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                for rel, data in files.items()
            },
        }
    ).encode()


# --- the checker is ADS's rule ------------------------------------------------------------


def test_checker_accepts_a_matching_zip_and_one_without_manifest(tmp_path: Path) -> None:
    files = {"score.py": b"x", "sub/a.bin": b"\x00\x01"}
    ok = zip_of({**files, MANIFEST: manifest_of(files)}, tmp_path / "ok.zip")
    assert opens_in_ads(ok) == {"score.py", "sub/a.bin", MANIFEST}
    bare = zip_of(files, tmp_path / "bare.zip")
    assert opens_in_ads(bare) == {"score.py", "sub/a.bin"}


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        # mdreg's zips before the zip manifest: the metadata ships, the manifest leaves it out
        (
            {"score.py": b"x", METADATA: b"{}", MANIFEST: manifest_of({"score.py": b"x"})},
            "does not match archive contents (extra files: ['.mdreg/metadata.json'])",
        ),
        (
            {"score.py": b"x", MANIFEST: manifest_of({"score.py": b"x", "gone.pkl": b"y"})},
            "does not match archive contents (missing files: ['gone.pkl'])",
        ),
        (
            {"score.py": b"changed", MANIFEST: manifest_of({"score.py": b"x" * 7})},
            "`score.py` hash mismatch",
        ),
        (
            {"score.py": b"x", MANIFEST: manifest_of({"score.py": b"xx"})},
            "`score.py` size mismatch",
        ),
        (
            {
                "score.py": b"x",
                MANIFEST: json.dumps({"files": {"score.py": {"sha256": "a"}}}).encode(),
            },
            "missing hash or size metadata",
        ),
        ({"../score.py": b"x"}, "Invalid model artifact archive member"),
    ],
)
def test_checker_refuses_what_ads_refuses(
    tmp_path: Path, entries: dict[str, bytes], says: str
) -> None:
    with pytest.raises(AdsRefused) as exc:
        opens_in_ads(zip_of(entries, tmp_path / "a.zip"))
    assert says in str(exc.value)


# --- every writer's zip opens in ADS --------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MDREG_HOME", str(tmp_path / "mdreg-home"))
    monkeypatch.delenv("MDREG_CATALOG", raising=False)
    return tmp_path / "mdreg-home"


@pytest.fixture
def grown(artifact: Path) -> Path:
    """A prepared artifact that lived on: introspection recorded in its metadata, a file
    added after prepare."""
    from mdreg.checks.introspect import introspect

    before = (artifact / METADATA).read_bytes()
    introspect(artifact)  # records ArtifactTestResults in the metadata
    assert (artifact / METADATA).read_bytes() != before
    (artifact / "README.md").write_text("how to call it\n")
    return artifact


def _zip_manifest(zip_path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(zip_path) as zf:
        return json.loads(zf.read(MANIFEST))


def test_zip_lists_every_file_and_keeps_prepares_entries(grown: Path, tmp_path: Path) -> None:
    result = zip_artifact(grown, tmp_path / "a.zip")
    assert opens_in_ads(result.path) == set(result.files)
    folder = json.loads((grown / MANIFEST).read_text())
    zipped = _zip_manifest(result.path)
    assert METADATA not in folder["files"]  # the folder's manifest leaves it out still
    for rel in (METADATA, "README.md"):
        data = (grown / rel).read_bytes()
        assert zipped["files"][rel] == {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "listed_at": "zip",
        }
    # prepare's entries and the document's other keys travel unchanged
    assert {k: v for k, v in zipped["files"].items() if "listed_at" not in v} == folder["files"]
    assert {k: v for k, v in zipped.items() if k != "files"} == {
        k: v for k, v in folder.items() if k != "files"
    }
    with zipfile.ZipFile(result.path) as zf:
        assert zf.namelist()[-1] == MANIFEST  # written last, as ADS writes it


def test_zip_cli_writes_an_ads_zip(grown: Path, cli, tmp_path: Path) -> None:
    r = cli("zip", grown, "-o", tmp_path / "a.zip", "--json")
    assert r.code == 0, r.err
    assert opens_in_ads(tmp_path / "a.zip") == set(json.loads(r.out)["files"])


def test_save_stores_an_ads_zip_directly_and_through_a_bucket(
    grown: Path, home: Path, tmp_path: Path
) -> None:
    from mdreg.catalog.local import LocalCatalog
    from mdreg.flows.save import SaveOptions, save_model

    with LocalCatalog() as cat:
        direct = save_model(grown, SaveOptions(no_verify=True), catalog=cat)
        with cat.open_artifact(direct.record.id) as blob:
            assert METADATA in opens_in_ads(blob)
        bucket = tmp_path / "bucket"
        large = save_model(
            grown,
            SaveOptions(
                no_verify=True, large=True, keep_bucket_object=True, bucket=bucket.as_uri() + "/"
            ),
            catalog=cat,
        )
        assert large.route == "bucket"
        (kept,) = [p for p in bucket.rglob("*.zip")]
        assert METADATA in opens_in_ads(kept)
        with cat.open_artifact(large.record.id) as blob:
            assert METADATA in opens_in_ads(blob)


def test_upload_puts_an_ads_zip(grown: Path, tmp_path: Path) -> None:
    from mdreg.flows.upload import upload_artifact

    result = upload_artifact(grown, (tmp_path / "bucket").as_uri() + "/")
    assert METADATA in opens_in_ads(tmp_path / "bucket" / result.key)


def test_a_loaded_model_zips_again_to_the_same_ads_zip(
    grown: Path, home: Path, tmp_path: Path
) -> None:
    from mdreg.catalog.local import LocalCatalog
    from mdreg.flows.load import load_artifact
    from mdreg.flows.save import SaveOptions, save_model

    first = zip_artifact(grown, tmp_path / "first.zip")
    with LocalCatalog() as cat:
        record = save_model(grown, SaveOptions(no_verify=True), catalog=cat).record
        loaded = load_artifact(record.id, tmp_path / "loaded", catalog=cat)
    assert loaded.manifest == "verified" and loaded.unlisted == ["README.md"]
    again = zip_artifact(loaded.artifact_dir, tmp_path / "again.zip")
    assert opens_in_ads(again.path) == set(again.files)
    assert again.sha256 == first.sha256 == record.artifact_sha256


# --- the manifest still verifies -----------------------------------------------------------


def test_load_introspect_and_verify_of_the_zip_check_the_manifest(
    grown: Path, cli, tmp_path: Path
) -> None:
    from mdreg.checks.introspect import introspect

    zipped = zip_artifact(grown, tmp_path / "a.zip").path
    r = cli("load", zipped, "-o", tmp_path / "out")
    assert r.code == 0 and "manifest verified" in r.err, r.err
    report = introspect(zipped)
    manifest_check = next(c for c in report.results if c.key == "manifest")
    assert manifest_check.status.value == "passed", manifest_check.message
    r = cli("verify", zipped)  # score.py checks the model file's sha256 against the manifest
    assert r.code == 0, r.err + r.out


def test_the_loaded_folder_keeps_the_metadata_mutable(grown: Path, tmp_path: Path) -> None:
    from mdreg.checks.introspect import introspect
    from mdreg.flows.load import load_artifact

    zipped = zip_artifact(grown, tmp_path / "a.zip").path
    out = load_artifact(str(zipped), tmp_path / "out").artifact_dir
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"][METADATA]["listed_at"] == "zip"
    meta = read_metadata(out)
    meta["custom"].append({"key": "Owner", "value": "me", "category": "Other", "description": ""})
    write_metadata(out, meta)  # as a catalog edit would
    assert introspect(out).ok
    assert verify_manifest(out, manifest).ok  # in a folder the metadata's entry is not checked
    assert not verify_manifest(out, manifest, unzipped=True).ok  # in the zip it was
    assert METADATA in opens_in_ads(zip_artifact(out, tmp_path / "b.zip").path)


def test_a_file_added_after_prepare_stays_unvouched_for(artifact: Path, tmp_path: Path) -> None:
    """A zip-time entry vouches for the zip's bytes only: a model file added after prepare
    is still reported by introspect once the zip is loaded."""
    from mdreg.checks.introspect import introspect
    from mdreg.flows.load import load_artifact

    shutil.copy(artifact / "model.joblib", artifact / "other.joblib")
    zipped = zip_artifact(artifact, tmp_path / "a.zip").path
    assert "other.joblib" in opens_in_ads(zipped)
    out = load_artifact(str(zipped), tmp_path / "out").artifact_dir
    check = next(c for c in introspect(out, record=False).results if c.key == "manifest")
    assert check.status.value == "failed" and "other.joblib" in check.message


def test_a_file_changed_after_prepare_is_refused_by_ads_and_load(
    artifact: Path, tmp_path: Path
) -> None:
    code = (artifact / "score.py").read_text()
    (artifact / "score.py").write_text(code.replace("import", "IMPORT", 1))  # same size
    zipped = zip_artifact(artifact, tmp_path / "a.zip").path  # prepare's entry travels as is
    with pytest.raises(AdsRefused, match=r"`score\.py` hash mismatch"):
        opens_in_ads(zipped)
    from mdreg.flows.load import load_artifact

    with pytest.raises(ArtifactError, match=r"does not match its manifest.*score\.py"):
        load_artifact(str(zipped), tmp_path / "out")


def test_a_listed_file_missing_from_the_folder_is_refused(
    artifact: Path, cli, tmp_path: Path
) -> None:
    (artifact / "input_schema.json").unlink()
    r = cli("zip", artifact, "-o", tmp_path / "a.zip")
    assert r.code == 3 and "manifest lists input_schema.json, not in the folder" in r.err
    assert r.err.count("\n") == 1 and not (tmp_path / "a.zip").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
