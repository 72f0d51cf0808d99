"""The catalog test suite every backend passes.

A backend adopts it in a few lines::

    class TestMyCatalog(CatalogSuite):
        @pytest.fixture
        def catalog(self):
            with MyCatalog(...) as cat:     # an empty catalog (or an empty compartment)
                yield cat

        @pytest.fixture
        def bucket(self, tmp_path):         # a bucket this catalog can import from
            return MyBucket(...)

``make_zip`` (tests/catalog/conftest.py) gives tiny distinct artifact zips.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mdreg.catalog import ModelDetails, ModelNotFoundError, ModelUpdate, backend_for_id
from mdreg.catalog.base import Catalog, VersionLabelTakenError
from mdreg.errors import InputError, UsageError

MakeZip = Callable[..., Path]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def details(name: str = "model", **kw: object) -> ModelDetails:
    return ModelDetails(display_name=name, **kw)  # type: ignore[arg-type]


class CatalogSuite:
    @pytest.fixture
    def catalog(self) -> Catalog:
        raise NotImplementedError("a backend's test class overrides the catalog fixture")

    @pytest.fixture
    def bucket(self, tmp_path: Path):  # type: ignore[no-untyped-def]
        from mdreg.storage.file import FileBucket

        return FileBucket(tmp_path / "bucket")

    # -- save / get ---------------------------------------------------------------------
    def test_save_returns_the_full_record(self, catalog: Catalog, make_zip: MakeZip) -> None:
        z = make_zip()
        full = details(
            "iris rf",
            description="a forest",
            compartment_id="ocid1.compartment.oc1..c",
            project_id="ocid1.datascienceproject.oc1..p",
            freeform_tags={"team": "ml", "stage": "dev"},
            custom_metadata_list=[
                {
                    "key": "ModelFileName",
                    "value": "model.joblib",
                    "category": "Other",
                    "description": "",
                }
            ],
            defined_metadata_list=[{"key": "Framework", "value": "scikit-learn"}],
            input_schema={"schema": [{"name": "x", "dtype": "float64"}], "version": "1.1"},
            output_schema={"schema": [{"name": "y", "dtype": "int64"}], "version": "1.1"},
            provenance={"git_commit": "abc123", "repository_url": "https://example.com/r.git"},
        )
        record = catalog.save(full, z)
        assert not record.id.startswith("ocid1.") or catalog.name == "oci"
        assert backend_for_id(record.id) == catalog.name
        assert record.display_name == "iris rf" and record.description == "a forest"
        assert record.lifecycle_state == "ACTIVE"
        assert record.time_created and record.created_by
        assert record.compartment_id == full.compartment_id and record.project_id == full.project_id
        assert record.freeform_tags == {"team": "ml", "stage": "dev"}
        assert record.custom_metadata_list == full.custom_metadata_list
        assert record.defined_metadata_list == full.defined_metadata_list
        assert (
            record.input_schema == full.input_schema and record.output_schema == full.output_schema
        )
        assert record.provenance == full.provenance
        assert record.artifact_size == z.stat().st_size and record.artifact_sha256 == sha256(z)
        assert catalog.get(record.id) == record
        json.dumps(record.to_dict())  # a record is plain JSON

    def test_get_a_missing_model(self, catalog: Catalog) -> None:
        with pytest.raises(ModelNotFoundError, match="no model"):
            catalog.get(
                "mdl-01HZZZZZZZZZZZZZZZZZZZZZZZ"
                if catalog.name == "local"
                else "ocid1.datasciencemodel.oc1..missing"
            )

    def test_download_is_byte_identical(
        self, catalog: Catalog, make_zip: MakeZip, tmp_path: Path
    ) -> None:
        z = make_zip(b"\x00\x01weights" * 50_000)
        record = catalog.save(details(), z)
        seen: list[int] = []
        out = catalog.download_artifact(record.id, tmp_path / "down.zip", progress=seen.append)
        assert out.read_bytes() == z.read_bytes()
        assert sum(seen) == z.stat().st_size

    def test_open_artifact_gives_the_saved_zip(self, catalog: Catalog, make_zip: MakeZip) -> None:
        z = make_zip()
        record = catalog.save(details(), z)
        with catalog.open_artifact(record.id) as path:
            assert path.read_bytes() == z.read_bytes()
        with (
            pytest.raises(ModelNotFoundError),
            catalog.open_artifact("mdl-01HZZZZZZZZZZZZZZZZZZZZZZZ"),
        ):
            pass

    def test_save_from_a_bucket(
        self,
        catalog: Catalog,
        bucket,
        make_zip: MakeZip,  # type: ignore[no-untyped-def]
        tmp_path: Path,
    ) -> None:
        z = make_zip()
        bucket.put("staging/m.zip", z)
        record = catalog.save_from_bucket(details("big"), bucket, "staging/m.zip")
        assert record.artifact_sha256 == sha256(z)
        catalog.download_artifact(record.id, tmp_path / "down.zip")
        assert (tmp_path / "down.zip").read_bytes() == z.read_bytes()
        assert bucket.head("staging/m.zip") is not None  # the caller decides when it goes

    def test_save_from_a_missing_bucket_object(self, catalog: Catalog, bucket) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(InputError, match="no such object"):
            catalog.save_from_bucket(details(), bucket, "nothing.zip")
        assert catalog.list() == []

    # -- list ---------------------------------------------------------------------------
    def test_list_gives_summaries_of_the_records(self, catalog: Catalog, make_zip: MakeZip) -> None:
        record = catalog.save(
            details(
                "m",
                freeform_tags={"a": "b"},
                version_set="s",
                version_label="v1",
                compartment_id="ocid1.compartment.oc1..c",
            ),
            make_zip(),
        )
        [summary] = catalog.list()
        expected = record.summary()
        if summary.artifact_sha256 is None:  # a backend whose listing lacks artifact facts
            expected.artifact_size = expected.artifact_sha256 = None
        assert summary == expected
        json.dumps(summary.to_dict())

    def test_list_newest_first_with_limit(self, catalog: Catalog, make_zip: MakeZip) -> None:
        ids = [catalog.save(details(f"m{i}"), make_zip()).id for i in range(4)]
        assert [r.id for r in catalog.list()] == ids[::-1]
        assert [r.id for r in catalog.list(limit=2)] == ids[:1:-1]
        assert catalog.list(limit=0) == []

    def test_list_by_tags_all_must_match(self, catalog: Catalog, make_zip: MakeZip) -> None:
        a = catalog.save(details("a", freeform_tags={"team": "x", "stage": "prod"}), make_zip()).id
        b = catalog.save(details("b", freeform_tags={"team": "x", "stage": "dev"}), make_zip()).id
        catalog.save(details("c", freeform_tags={"team": "y"}), make_zip())
        assert {r.id for r in catalog.list(tags={"team": "x"})} == {a, b}
        assert [r.id for r in catalog.list(tags={"team": "x", "stage": "prod"})] == [a]
        assert catalog.list(tags={"team": "z"}) == []
        assert catalog.list(tags={"stage": "x"}) == []  # a value, not a key

    def test_list_by_name_contains_any_case(self, catalog: Catalog, make_zip: MakeZip) -> None:
        a = catalog.save(details("Iris Forest"), make_zip()).id
        catalog.save(details("churn"), make_zip())
        assert [r.id for r in catalog.list(name_contains="iris")] == [a]
        assert [r.id for r in catalog.list(name_contains="FOREST")] == [a]
        assert catalog.list(name_contains="%") == []  # no wildcards

    def test_list_by_version_set_name_or_id(self, catalog: Catalog, make_zip: MakeZip) -> None:
        a = catalog.save(details("a", version_set="iris", version_label="v1"), make_zip())
        catalog.save(details("b", version_set="churn"), make_zip())
        catalog.save(details("c"), make_zip())
        assert [r.id for r in catalog.list(version_set="iris")] == [a.id]
        assert [r.id for r in catalog.list(version_set=a.model_version_set_id)] == [a.id]
        assert catalog.list(version_set="nope") == []

    def test_list_by_compartment_and_project(self, catalog: Catalog, make_zip: MakeZip) -> None:
        a = catalog.save(
            details(
                "a",
                compartment_id="ocid1.compartment.oc1..a",
                project_id="ocid1.datascienceproject.oc1..p",
            ),
            make_zip(),
        ).id
        catalog.save(details("b", compartment_id="ocid1.compartment.oc1..b"), make_zip())
        assert [r.id for r in catalog.list(compartment_id="ocid1.compartment.oc1..a")] == [a]
        assert [r.id for r in catalog.list(project_id="ocid1.datascienceproject.oc1..p")] == [a]

    # -- update -------------------------------------------------------------------------
    def test_update_name_description_tags_metadata(
        self, catalog: Catalog, make_zip: MakeZip
    ) -> None:
        record = catalog.save(details("old", freeform_tags={"a": "1"}), make_zip())
        new = catalog.update(
            record.id,
            ModelUpdate(
                display_name="new",
                description="now described",
                freeform_tags={"b": "2"},
                custom_metadata_list=[
                    {"key": "k", "value": "v", "category": "Other", "description": ""}
                ],
            ),
        )
        assert (new.display_name, new.description, new.freeform_tags) == (
            "new",
            "now described",
            {"b": "2"},
        )
        assert catalog.get(record.id) == new
        assert (
            new.artifact_sha256 == record.artifact_sha256
            and new.time_created == record.time_created
        )
        assert catalog.list(tags={"a": "1"}) == [] and [
            r.id for r in catalog.list(tags={"b": "2"})
        ] == [record.id]

    def test_update_past_a_limit_changes_nothing(self, catalog: Catalog, make_zip: MakeZip) -> None:
        record = catalog.save(details("m"), make_zip())
        with pytest.raises(InputError, match=r"'long'.*256 characters.*255"):
            catalog.update(
                record.id,
                ModelUpdate(
                    custom_metadata_list=[
                        {"key": "long", "value": "x" * 256, "category": "Other", "description": ""}
                    ]
                ),
            )
        with pytest.raises(InputError, match="description is 256 characters"):
            catalog.update(record.id, ModelUpdate(description="d" * 256))
        assert catalog.get(record.id) == record

    def test_update_a_missing_model(self, catalog: Catalog) -> None:
        with pytest.raises(ModelNotFoundError):
            catalog.update("mdl-01HZZZZZZZZZZZZZZZZZZZZZZZ", ModelUpdate(display_name="x"))

    # -- delete -------------------------------------------------------------------------
    def test_delete(self, catalog: Catalog, make_zip: MakeZip, tmp_path: Path) -> None:
        keep = catalog.save(details("keep"), make_zip())
        gone = catalog.save(details("gone"), make_zip())
        catalog.delete(gone.id)
        with pytest.raises(ModelNotFoundError):
            catalog.get(gone.id)
        with pytest.raises(ModelNotFoundError):
            catalog.download_artifact(gone.id, tmp_path / "x.zip")
        with pytest.raises(ModelNotFoundError):
            catalog.delete(gone.id)
        assert [r.id for r in catalog.list()] == [keep.id]
        catalog.download_artifact(keep.id, tmp_path / "keep.zip")

    def test_two_models_with_one_artifact(
        self, catalog: Catalog, make_zip: MakeZip, tmp_path: Path
    ) -> None:
        z = make_zip()
        a = catalog.save(details("a"), z)
        b = catalog.save(details("b"), z)
        assert a.id != b.id and a.artifact_sha256 == b.artifact_sha256
        catalog.delete(a.id)
        catalog.download_artifact(b.id, tmp_path / "b.zip")
        assert (tmp_path / "b.zip").read_bytes() == z.read_bytes()

    # -- version sets -------------------------------------------------------------------
    def test_version_set_is_created_on_first_use(self, catalog: Catalog, make_zip: MakeZip) -> None:
        a = catalog.save(details("a", version_set="iris", version_label="v1"), make_zip())
        b = catalog.save(details("b", version_set="iris", version_label="v2"), make_zip())
        vs = catalog.get_version_set("iris")
        assert a.model_version_set_id == b.model_version_set_id == vs.id
        assert a.model_version_set_name == "iris" and (a.version_label, b.version_label) == (
            "v1",
            "v2",
        )
        assert catalog.get_version_set(vs.id) == vs
        assert [v.name for v in catalog.list_version_sets()] == ["iris"]

    def test_label_is_unique_within_its_set(self, catalog: Catalog, make_zip: MakeZip) -> None:
        first = catalog.save(details("a", version_set="iris", version_label="v1"), make_zip())
        with pytest.raises(VersionLabelTakenError, match=f"'v1' is already used.*{first.id}"):
            catalog.save(details("b", version_set="iris", version_label="v1"), make_zip())
        catalog.save(
            details("c", version_set="churn", version_label="v1"), make_zip()
        )  # other set: fine
        catalog.save(details("d", version_set="iris"), make_zip())  # no label: fine
        catalog.save(details("e", version_set="iris"), make_zip())
        assert len(catalog.list(version_set="iris")) == 3

    def test_label_needs_a_set(self, catalog: Catalog, make_zip: MakeZip) -> None:
        with pytest.raises(UsageError, match="--version-set"):
            catalog.save(details("a", version_label="v1"), make_zip())
        assert catalog.list() == []

    def test_create_and_look_up_version_sets(self, catalog: Catalog) -> None:
        vs = catalog.create_version_set("fraud", "fraud models")
        assert (vs.name, vs.description) == ("fraud", "fraud models")
        with pytest.raises(InputError, match="already exists"):
            catalog.create_version_set("fraud")
        with pytest.raises(ModelNotFoundError):
            catalog.get_version_set("nope")
        with pytest.raises(InputError, match="version set name"):
            catalog.create_version_set("has space")

    # -- limits -------------------------------------------------------------------------
    def test_custom_value_limit_names_the_key(self, catalog: Catalog, make_zip: MakeZip) -> None:
        ok = [{"key": "fits", "value": "x" * 255, "category": "Other", "description": ""}]
        catalog.save(details("a", custom_metadata_list=ok), make_zip())
        bad = [{"key": "TrainingNotes", "value": "x" * 256, "category": "Other", "description": ""}]
        with pytest.raises(
            InputError,
            match=r"'TrainingNotes' is 256 characters.*allows 255.*"
            r"put it in a file inside the artifact",
        ):
            catalog.save(details("b", custom_metadata_list=bad), make_zip())
        assert [r.display_name for r in catalog.list()] == ["a"]

    def test_description_limit(self, catalog: Catalog, make_zip: MakeZip) -> None:
        catalog.save(details("a", description="d" * 255), make_zip())
        with pytest.raises(InputError, match=r"description is 256 characters.*--description"):
            catalog.save(details("b", description="d" * 256), make_zip())
        assert len(catalog.list()) == 1

    def test_all_metadata_limit(self, catalog: Catalog, make_zip: MakeZip) -> None:
        items = [
            {"key": f"k{i:03d}", "value": "v" * 250, "category": "Other", "description": ""}
            for i in range(130)
        ]  # each fits; together over 32,000 bytes
        with pytest.raises(InputError, match=r"metadata is \d+ bytes; the catalog allows 32000"):
            catalog.save(details("a", custom_metadata_list=items), make_zip())
        assert catalog.list() == []
