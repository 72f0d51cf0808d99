"""The large-artifact route: an artifact zip (and an artifact folder, zipped straight into
the bucket with no zip file) forced through an Object Storage bucket in 8 MiB parts while
a fifth of the part uploads fail (503 or a connection reset), exported into the catalog,
and downloaded back byte-identical.

Both sizes run by default (300 MB: about 15 s and 1.2 GB of temporary disk on a busy
two-core machine); the 300 MB one is marked ``slow`` so that ``-m "not slow"`` leaves the
40 MB one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from mdreg.artifact.zipping import zip_artifact
from mdreg.catalog.oci import OciCatalog
from mdreg.flows.save import SaveOptions, save_model
from mdreg.oci.settings import MIB, OciOptions, using
from tests.catalog.conftest import RUNTIME_YAML, SCORE_PY
from tests.oci_server.fixtures import NAMESPACE, settings_for

pytestmark = pytest.mark.usefixtures("clean_oci_env")


def _big_zip(folder: Path, megabytes: int) -> Path:
    art = folder / "big-artifact"
    art.mkdir()
    (art / "score.py").write_text(SCORE_PY)
    (art / "runtime.yaml").write_text(RUNTIME_YAML)
    with open(art / "weights.bin", "wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(1_000_000))  # incompressible: the zip is as large
    zipped = zip_artifact(art, folder / "big.zip").path
    (art / "weights.bin").unlink()
    return zipped


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


@pytest.mark.parametrize("megabytes", [40, pytest.param(300, marks=pytest.mark.slow)])
def test_a_large_artifact_survives_failing_parts(
    megabytes: int, oci_server: Any, oci_files: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("MDREG_OCI_MIN_PART_SIZE", str(oci_server.min_part_size))  # 8 MiB parts
    z = _big_zip(tmp_path, megabytes)
    settings = settings_for(oci_server, oci_files, part_size="8MiB", parallelism=4)
    oci_server.faults.fail_parts(0.2, kinds=("status", "reset"), seed=megabytes)
    staging = f"oci://staging@{NAMESPACE}/mdreg-tmp/"
    with (
        using(
            OciOptions(
                config_file=settings.config_file,
                data_science_endpoint=oci_server.url,
                object_storage_endpoint=oci_server.url,
                part_size="8MiB",
                parallelism=4,
            )
        ),
        OciCatalog(settings) as cat,
    ):
        result = save_model(z, SaveOptions(bucket=staging, ignore_introspection=True), catalog=cat)
        parts = -(-z.stat().st_size // (8 * MIB))
        failed = sum(v for (op, _), v in oci_server.faults.injected.items() if op == "upload_part")
        assert failed >= max(1, parts // 10)  # about a fifth of the parts failed once
        assert oci_server.calls["upload_part"] == parts + failed
        assert result.route == "bucket" and oci_server.store.buckets[(NAMESPACE, "staging")] == {}
        assert result.record.artifact_sha256 == _sha256(z)
        cat.download_artifact(result.record.id, tmp_path / "back.zip")
    assert _sha256(tmp_path / "back.zip") == _sha256(z)
    assert oci_server.store.uploads == {}


@pytest.mark.parametrize("megabytes", [40, pytest.param(300, marks=pytest.mark.slow)])
def test_a_large_folder_is_zipped_straight_into_the_bucket(
    megabytes: int, oci_server: Any, oci_files: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """save --bucket of a folder: no zip written (zip_artifact is never called), the zip
    streamed in 8 MiB parts while a fifth of them fail, its sha256 recorded; the artifact
    downloaded back is the zip ``mdreg zip`` writes, byte for byte."""
    art = tmp_path / "big-artifact"
    art.mkdir()
    (art / "score.py").write_text(SCORE_PY)
    (art / "runtime.yaml").write_text(RUNTIME_YAML)
    with open(art / "weights.bin", "wb") as f:
        for _ in range(megabytes):
            f.write(os.urandom(1_000_000))
    reference = zip_artifact(art, tmp_path / "reference.zip")

    def no_zip_file(*a: Any, **k: Any) -> Any:
        raise AssertionError("the folder was zipped to a file")

    monkeypatch.setattr("mdreg.artifact.zipping.zip_artifact", no_zip_file)
    monkeypatch.setenv("MDREG_OCI_MIN_PART_SIZE", str(oci_server.min_part_size))  # 8 MiB parts
    settings = settings_for(oci_server, oci_files, part_size="8MiB", parallelism=4)
    oci_server.faults.fail_parts(0.2, kinds=("status", "reset"), seed=megabytes)
    staging = f"oci://staging@{NAMESPACE}/mdreg-tmp/"
    with (
        using(
            OciOptions(
                config_file=settings.config_file,
                data_science_endpoint=oci_server.url,
                object_storage_endpoint=oci_server.url,
                part_size="8MiB",
                parallelism=4,
            )
        ),
        OciCatalog(settings) as cat,
    ):
        result = save_model(
            art, SaveOptions(bucket=staging, ignore_introspection=True, no_verify=True), catalog=cat
        )
        failed = sum(v for (op, _), v in oci_server.faults.injected.items() if op == "upload_part")
        assert failed >= 1 and oci_server.calls["abort_multipart_upload"] == 0
        assert result.route == "bucket" and oci_server.store.buckets[(NAMESPACE, "staging")] == {}
        assert result.record.artifact_sha256 == reference.sha256
        cat.download_artifact(result.record.id, tmp_path / "back.zip")
    assert _sha256(tmp_path / "back.zip") == reference.sha256
    assert oci_server.store.uploads == {}
