"""What ``mdreg deploy`` refuses before it calls anything: the documented limits of a model
deployment (name, instances, bandwidth, flex shapes, logs, environment variables, the
10 MB predict body), a model that is not OCI's, and a conda pack other than the one the
model's runtime.yaml names (read with ranged GETs: no deployment is created). Run in this
process against the OCI test server, which counts every call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.catalog.test_cli import one_error_line
from tests.oci_server.fixtures import cli_env

pytestmark = pytest.mark.usefixtures("clean_oci_env")
MODEL = "ocid1.datasciencemodel.oc1.iad.nosuchmodel"
DEPLOYMENT = "ocid1.datasciencemodeldeployment.oc1.iad.nosuchdeployment"


@pytest.fixture
def here(
    oci_server: Any, oci_files: Any, mdreg_home: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> Any:
    for name, value in cli_env(oci_server, oci_files, mdreg_home).items():
        monkeypatch.setenv(name, value)
    return cli


def _calls(server: Any) -> int:
    return sum(n for op, n in server.calls.items() if not op.startswith("admin"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mdl-01JABCDEFGHJKMNPQRSTVWXYZ0"], "is not an OCI model id"),
        (["--display-name", "x" * 256], "takes at most 255"),
        (["--instance-count", "0"], "runs at least 1 instance"),
        (["--bandwidth-mbps", "9"], "takes 10 to 8000 Mbps"),
        (["--bandwidth-mbps", "8001"], "takes 10 to 8000 Mbps"),
        (["--shape", "VM.Standard2.1", "--ocpus", "2"], "apply to flex shapes"),
        (["--ocpus", "65"], "VM.Standard.E4.Flex takes 1 to 64 OCPUs"),
        (["--shape", "VM.Optimized3.Flex", "--ocpus", "19"], "takes 1 to 18 OCPUs"),
        (["--ocpus", "2", "--memory-gb", "129"], "takes 6 to 128 GB (at most 64 GB per OCPU)"),
        (["--memory-gb", "4"], "takes 6 to 64 GB"),
        (["--access-log-id", "ocid1.log.oc1..a"], "add --access-log-group-id"),
        (["--predict-log-group-id", "ocid1.loggroup.oc1..g"], "add --predict-log-id"),
        (["--access-log-id", "log", "--access-log-group-id", "g"], "is not a log OCID"),
        (["--env", "1BAD=x"], "a key is 2 to 31 letters"),
        (["--env", "BAD_=x"], "a key is 2 to 31 letters"),
        (["--env", "TENANCY_OCID=x"], "the service sets TENANCY_OCID itself"),
        (["--env", f"BIG={'x' * 2046}"], "a deployment takes at most 2048"),
        (["--env", "NOEQUALS"], "write KEY=VALUE"),
    ],
)
def test_limits_are_refused_before_any_call(
    here: Any, oci_server: Any, args: list[str], message: str
) -> None:
    model = [] if args[0].startswith("mdl-") else [MODEL]
    r = here("deploy", *model, *args)
    assert r.code == 2 and message in one_error_line(r)
    assert _calls(oci_server) == 0


def test_update_and_save_deploy_refuse_before_any_call(
    here: Any, oci_server: Any, art: Path, tmp_path: Path
) -> None:
    r = here("deployments", "update", DEPLOYMENT)
    assert r.code == 2 and "nothing to update" in one_error_line(r)
    r = here("deployments", "update", DEPLOYMENT, "--bandwidth-mbps", "9000")
    assert r.code == 2 and "takes 10 to 8000 Mbps" in one_error_line(r)
    r = here("deployments", "update", DEPLOYMENT, "--model-id", "mdl-x")
    assert r.code == 2 and "is not an OCI model id" in one_error_line(r)
    r = here("save", art, "--catalog", "oci", "--deploy", "--instance-count", "0")
    assert r.code == 2 and "runs at least 1 instance" in one_error_line(r)
    r = here("save", art, "--catalog", "oci", "--deploy", "--conda-env", "generalml_p38_cpu_v1")
    assert r.code == 2 and "the pack its runtime.yaml names" in one_error_line(r)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"x": ["y" * 100] * 110_000}))
    r = here("predict", DEPLOYMENT, "-d", big)
    assert r.code == 3 and "refuses bodies above 10,485,760 (10 MB)" in one_error_line(r)
    assert _calls(oci_server) == 0


def test_the_conda_pack_is_read_from_runtime_yaml_before_creating(
    here: Any, oci_server: Any, art: Path, make_zip: Any
) -> None:
    r = here("save", art, "--catalog", "oci", "--no-verify")
    assert r.code == 0, r.err
    model = r.out.strip()
    r = here("deploy", model, "--conda-env", "generalml_p38_cpu_v1")
    line = one_error_line(r)
    assert r.code == 2 and "deploys with oci://service-conda-packs@id19sfcrra6z/" in line
    assert "generalml_p311_cpu_x86_64_v1, the pack its runtime.yaml names" in line
    assert oci_server.calls["get_model_artifact_content"] <= 4
    assert oci_server.statuses("get_model_artifact_content") == [206] * len(
        oci_server.statuses("get_model_artifact_content")
    )
    assert oci_server.calls["create_model_deployment"] == 0

    # the same pack, by slug: created (not waited for, so no model server starts)
    slug = "generalml_p311_cpu_x86_64_v1"
    r = here("deploy", model, "--conda-env", slug, "--no-wait", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["lifecycle_state"] == "CREATING" and doc["conda_env"].endswith(slug)
    assert doc["display_name"] == "rf-artifact" and doc["work_request_id"]
    r = here("deployments", "list", "--state", "CREATING")
    assert r.out.splitlines()[1].split()[0] == doc["id"]

    # an artifact whose runtime.yaml names no pack (a hand-made zip) is refused
    r = here("save", make_zip(), "--catalog", "oci", "--no-verify", "--ignore-introspection")
    assert r.code == 0, r.err
    r = here("deploy", r.out.strip())
    assert r.code == 3 and "runtime.yaml names no inference conda pack" in one_error_line(r)
    assert oci_server.calls["create_model_deployment"] == 1
    r = here("deploy", MODEL)
    assert r.code == 3 and f"no model {MODEL} in the OCI catalog" in one_error_line(r)
