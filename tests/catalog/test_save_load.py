"""The save and load flows on real artifacts: introspection gate, limits before any
write, the bucket route, and load round trips from every kind of source."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mdreg.artifact.zipping import zip_artifact
from mdreg.catalog.local import LocalCatalog
from mdreg.errors import (
    ArtifactError,
    ChecksFailedError,
    DestinationExistsError,
    InputError,
    UsageError,
)
from mdreg.flows.load import load_artifact
from mdreg.flows.save import SaveOptions, save_model
from mdreg.storage.file import FileBucket


@pytest.fixture
def cat(mdreg_home: Path) -> Iterator[LocalCatalog]:
    with LocalCatalog() as c:
        yield c


def stored_files(home: Path) -> list[Path]:
    """Every file under blobs/ (stored artifacts and temp files alike)."""
    return (
        sorted(p for p in (home / "blobs").rglob("*") if p.is_file())
        if (home / "blobs").exists()
        else []
    )


def set_metadata(art: Path, mutate) -> None:  # type: ignore[no-untyped-def]
    path = art / ".mdreg" / "metadata.json"
    meta = json.loads(path.read_text())
    mutate(meta)
    path.write_text(json.dumps(meta))


# -- save -------------------------------------------------------------------------------


def test_save_records_what_the_artifact_says(art: Path, cat: LocalCatalog) -> None:
    before = (art / ".mdreg" / "metadata.json").read_bytes()
    result = save_model(
        art,
        SaveOptions(
            description="iris", freeform_tags={"team": "ml"}, version_set="iris", version_label="v1"
        ),
        catalog=cat,
    )
    record = result.record
    assert result.route == "direct" and result.introspection_ok and result.failed_checks == []
    assert record.display_name == "rf-artifact" and record.description == "iris"
    defined = {i["key"]: i["value"] for i in record.defined_metadata_list}
    assert (
        defined["Framework"] == "scikit-learn" and defined["Algorithm"] == "RandomForestClassifier"
    )
    assert defined["ArtifactTestResults"]["score_py"]["success"] is True
    custom = {i["key"]: i["value"] for i in record.custom_metadata_list}
    assert custom["ModelFileName"] == "model.joblib"
    assert record.input_schema == json.loads((art / "input_schema.json").read_text())
    assert record.output_schema == json.loads((art / "output_schema.json").read_text())
    assert (record.model_version_set_name, record.version_label) == ("iris", "v1")
    assert (
        art / ".mdreg" / "metadata.json"
    ).read_bytes() == before  # the user's folder is not touched
    assert cat.get(record.id) == record


def test_a_failed_check_refuses_the_save_before_any_write(
    art: Path, cat: LocalCatalog, mdreg_home: Path
) -> None:
    (art / "score.py").write_text("def load_model():\n    return 1\n")  # no predict()
    with pytest.raises(
        ChecksFailedError, match=r"introspection failed: .*score_predict.*--ignore-introspection"
    ) as exc:
        save_model(art, SaveOptions(), catalog=cat)
    assert exc.value.exit_code == 1
    assert cat.list() == [] and stored_files(mdreg_home) == []

    with pytest.raises(ChecksFailedError, match=r"verify failed at predict: .*--no-verify"):
        save_model(art, SaveOptions(ignore_introspection=True), catalog=cat)
    assert cat.list() == [] and stored_files(mdreg_home) == []

    result = save_model(art, SaveOptions(ignore_introspection=True, no_verify=True), catalog=cat)
    assert "score_predict" in result.failed_checks and not result.introspection_ok
    tests = next(
        i["value"] for i in result.record.defined_metadata_list if i["key"] == "ArtifactTestResults"
    )
    assert tests["score_predict"]["success"] is False


def test_limits_are_checked_before_any_write(
    art: Path, cat: LocalCatalog, mdreg_home: Path
) -> None:
    set_metadata(
        art,
        lambda m: m["custom"].append(
            {"key": "TrainingNotes", "value": "n" * 300, "category": "Other", "description": ""}
        ),
    )
    with pytest.raises(InputError, match=r"'TrainingNotes' is 300 characters.*allows 255") as exc:
        save_model(art, SaveOptions(), catalog=cat)
    assert exc.value.exit_code == 3
    with pytest.raises(InputError, match="description is 256 characters"):
        save_model(art, SaveOptions(description="d" * 256, ignore_introspection=True), catalog=cat)
    assert cat.list() == [] and stored_files(mdreg_home) == []


def test_a_taken_label_is_refused_before_zipping(
    art: Path, cat: LocalCatalog, mdreg_home: Path
) -> None:
    save_model(art, SaveOptions(version_set="s", version_label="v1"), catalog=cat)
    files = stored_files(mdreg_home)
    with pytest.raises(InputError, match="'v1' is already used in version set 's'"):
        save_model(art, SaveOptions(version_set="s", version_label="v1"), catalog=cat)
    assert stored_files(mdreg_home) == files  # no staging folder, no new blob


def test_save_a_zip(art: Path, cat: LocalCatalog, tmp_path: Path) -> None:
    z = zip_artifact(art, tmp_path / "rf.zip")
    record = save_model(z.path, SaveOptions(), catalog=cat).record
    assert record.display_name == "rf" and record.artifact_sha256 == z.sha256
    assert {i["key"] for i in record.custom_metadata_list} >= {"ModelFileName"}
    assert z.path.exists()  # the user's zip is copied, not taken


def test_save_through_a_bucket(art: Path, cat: LocalCatalog, tmp_path: Path) -> None:
    bucket_dir = tmp_path / "bucket"
    result = save_model(
        art, SaveOptions(large=True, bucket=bucket_dir.as_uri() + "/staging/"), catalog=cat
    )
    assert result.route == "bucket" and result.bucket_object is None
    assert list(FileBucket(bucket_dir).list()) == []  # the temporary object is removed
    kept = save_model(
        art,
        SaveOptions(bucket=bucket_dir.as_uri() + "/keep.zip", keep_bucket_object=True),
        catalog=cat,
    )
    assert kept.bucket_object == (bucket_dir / "keep.zip").as_uri()
    assert [o.key for o in FileBucket(bucket_dir).list()] == ["keep.zip"]
    assert kept.record.artifact_sha256 == result.record.artifact_sha256


def test_bucket_options_are_checked_first(art: Path, cat: LocalCatalog, mdreg_home: Path) -> None:
    with pytest.raises(UsageError, match="--large needs --bucket"):
        save_model(art, SaveOptions(large=True), catalog=cat)
    with pytest.raises(UsageError, match="no OCI config file at"):
        save_model(art, SaveOptions(bucket="oci://b@ns/prefix/"), catalog=cat)
    assert stored_files(mdreg_home) == []


def test_a_catalog_with_a_direct_limit_takes_big_artifacts_only_through_a_bucket(
    art: Path, cat: LocalCatalog, tmp_path: Path
) -> None:
    cat.max_direct_bytes = 1000  # as OCI's 2 GiB, scaled down
    with pytest.raises(UsageError, match="only through a bucket; add --bucket"):
        save_model(art, SaveOptions(), catalog=cat)
    assert cat.list() == []
    result = save_model(art, SaveOptions(bucket=(tmp_path / "b").as_uri() + "/"), catalog=cat)
    assert result.route == "bucket"
    cat.max_artifact_bytes = 1000
    with pytest.raises(InputError, match="takes at most 1000"):
        save_model(art, SaveOptions(bucket=(tmp_path / "b").as_uri() + "/"), catalog=cat)


# -- load -------------------------------------------------------------------------------


def test_load_by_id_is_byte_identical(art: Path, cat: LocalCatalog, tmp_path: Path) -> None:
    original = zip_artifact(art, tmp_path / "orig.zip")
    record = save_model(art, SaveOptions(), catalog=cat).record
    assert record.artifact_sha256 == original.sha256  # what was stored is the artifact's zip
    result = load_artifact(record.id, tmp_path / "loaded", catalog=cat)
    assert result.artifact_dir == tmp_path / "loaded" and result.manifest == "verified"
    assert result.kind == "model" and result.zip_sha256 == original.sha256
    again = zip_artifact(result.artifact_dir, tmp_path / "again.zip")
    assert again.sha256 == original.sha256  # same files, same bytes
    assert (tmp_path / "loaded" / "model.joblib").read_bytes() == (
        art / "model.joblib"
    ).read_bytes()


def test_load_a_zip_a_folder_and_a_bucket_object(art: Path, tmp_path: Path) -> None:
    z = zip_artifact(art, tmp_path / "rf.zip")
    for n, source in enumerate([str(z.path), str(art)]):
        result = load_artifact(source, tmp_path / f"out{n}")
        assert zip_artifact(result.artifact_dir, tmp_path / f"re{n}.zip").sha256 == z.sha256
    FileBucket(tmp_path / "bucket").put("m/rf.zip", z.path)
    result = load_artifact((tmp_path / "bucket" / "m" / "rf.zip").as_uri(), tmp_path / "out2")
    assert result.kind == "bucket" and result.zip_sha256 == z.sha256
    assert zip_artifact(result.artifact_dir, tmp_path / "re2.zip").sha256 == z.sha256


def test_load_flattens_a_single_nested_folder(art: Path, tmp_path: Path) -> None:
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as zf:
        for p in sorted(art.rglob("*")):
            if p.is_file():
                zf.write(p, "rf-artifact/" + p.relative_to(art).as_posix())
    result = load_artifact(str(nested), tmp_path / "out")
    assert (tmp_path / "out" / "score.py").is_file() and result.artifact_dir == tmp_path / "out"
    assert result.manifest == "verified"


def test_load_refuses_a_tampered_artifact(art: Path, tmp_path: Path) -> None:
    (art / "model.joblib").write_bytes((art / "model.joblib").read_bytes() + b"\x00")
    z = zip_artifact(art, tmp_path / "bad.zip")
    with pytest.raises(ArtifactError, match=r"does not match its manifest.*model.joblib"):
        load_artifact(str(z.path), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nothing half-done


def test_load_into_a_non_empty_folder_needs_force(art: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(DestinationExistsError, match="not empty: use --force"):
        load_artifact(str(art), out)
    assert (out / "old.txt").exists()
    load_artifact(str(art), out, force=True)
    assert not (out / "old.txt").exists() and (out / "score.py").is_file()
    (tmp_path / "empty").mkdir()
    load_artifact(str(art), tmp_path / "empty")  # an empty folder is fine


def test_load_from_nowhere(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such model id, bucket URI, zip file or folder"):
        load_artifact(str(tmp_path / "missing"), tmp_path / "out")
    with pytest.raises(InputError, match="no model"):
        load_artifact("mdl-01HZZZZZZZZZZZZZZZZZZZZZZZ", tmp_path / "out")
    with pytest.raises(UsageError, match="OCI backend"):
        load_artifact("oci://b@ns/m.zip", tmp_path / "out")
    (tmp_path / "notzip.zip").write_text("hello")
    with pytest.raises(InputError, match="not a zip file"):
        load_artifact(str(tmp_path / "notzip.zip"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
