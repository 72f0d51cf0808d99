"""Secrets never enter an artifact unnoticed: prepare warns about files that look like keys
or tokens, and the default .model-ignore keeps credentials out of the zip."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from mdreg.artifact.secrets import find_secrets, secret_warnings
from tests.security.conftest import EXIT, Sandbox

pytestmark = pytest.mark.security

# Built from parts so that no secret scanner flags this test file itself.
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
PEM = "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
OCI_CONFIG = (
    "[DEFAULT]\nuser=ocid1.user.oc1..aaaa\nfingerprint=12:34:56:78:9a:bc:de:f0:12:34:"
    "56:78:9a:bc:de:f0\nkey_file=~/.oci/oci_api_key.pem\ntenancy=ocid1.tenancy.oc1..aaaa\n"
)
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"

FILES = {
    # path: (content, flagged)
    ".env": (f"DEBUG=1\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n", True),
    "config/.env.production": ("export DB_PASSWORD=hunter22\n", True),
    ".env.example": ("API_KEY=\nDEBUG=true\n", False),  # no value: a template
    ".oci/config": (OCI_CONFIG, True),
    "keys/deploy.pem": ("certificate or key\n", True),
    "ssh/id_rsa": (PEM, True),
    "ssh/id_rsa.pub": ("ssh-rsa AAAAB3NzaC1yc2E user@host\n", False),
    "helpers.py": (f"TOKEN = '{GITHUB}'\n", True),
    "settings.yaml": (f"aws_access_key_id: {AWS_ID}\n", True),
    "notes.txt": (f"the key:\n{PEM}", True),
    "score.py": ("import os\n\ndef load_model():\n    return os.environ['MODEL_KEY']\n", False),
    "weights.bin": (b"\x00\x01" + AWS_ID.encode() + b"\x00" * 64, False),  # binary: skipped
    "README.md": ("Set KEY=... in your .env before running.\n", False),
}


def _tree(root: Path) -> Path:
    for rel, (content, _) in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def test_detector(tmp_path: Path) -> None:
    found = {f.path: f.what for f in find_secrets(_tree(tmp_path))}
    assert set(found) == {rel for rel, (_, flagged) in FILES.items() if flagged}
    assert found[".env"] == "a .env file setting AWS_SECRET_ACCESS_KEY"
    assert "PEM private key" in found["notes.txt"] and "SSH" in found["ssh/id_rsa"]
    assert "AWS access key id" in found["settings.yaml"] and "GitHub" in found["helpers.py"]
    text = " ".join(secret_warnings(tmp_path))
    for secret in (AWS_SECRET, AWS_ID, GITHUB, "hunter22", "MIIEowIBAAKCAQEA"):
        assert secret not in text  # the warning names files, never their secrets


def test_prepared_artifact_has_no_false_alarm(tiny_artifact: Path) -> None:
    assert find_secrets(tiny_artifact) == []


def test_prepare_warns_about_a_token_in_score_py(sandbox: Sandbox, tiny_model: Path) -> None:
    score = sandbox.file(
        "my_score.py",
        f"KEY_ID = '{AWS_ID}'\n\ndef load_model():\n    return 1\n\n"
        "def predict(data, model=load_model()):\n    return data\n",
    )
    r = sandbox.run("prepare", tiny_model, "-o", sandbox.work / "art", "--score-py", score)
    assert r.code == 0, r.err
    assert "score.py (an AWS access key id)" in r.err and AWS_ID not in r.err
    clean = sandbox.run("prepare", tiny_model, "-o", sandbox.work / "clean")
    assert clean.code == 0 and "look like keys or tokens" not in clean.err


def test_prepare_warns_about_keys_in_a_model_folder(sandbox: Sandbox) -> None:
    """A model that is a folder is copied as it is (--framework other here; SavedModel and
    Spark folders alike): the warning names each key file and says which stay out of the zip."""
    model = sandbox.root / "in" / "model_dir"
    (model / ".oci").mkdir(parents=True)
    (model / "weights.bin").write_bytes(bytes(32))
    (model / ".env").write_text(f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n")
    (model / ".oci" / "config").write_text(OCI_CONFIG)
    (model / "id_rsa").write_text(PEM)
    r = sandbox.run("prepare", model, "-o", sandbox.work / "art", "--framework", "other", "--json")
    assert r.code == 0, r.err

    warnings = [w for w in json.loads(r.out)["warnings"] if "keys or tokens" in w]
    assert len(warnings) == 1
    for rel in ("model_dir/.env", "model_dir/.oci/config", "model_dir/id_rsa"):
        assert rel in warnings[0]
    assert warnings[0].count(".model-ignore leaves it out of the zip") == 3
    assert AWS_SECRET not in r.out


IGNORED = [
    ".env",
    ".env.local",
    ".oci/config",
    ".oci/key.pem",
    "server.pem",
    "id_rsa",
    "id_rsa.pub",
    "id_ed25519",
    ".git/config",
    ".git/objects/ab/cdef",
    "sub/.env",
    "sub/.git/HEAD",
]


def test_default_model_ignore_keeps_credentials_out_of_the_zip(
    sandbox: Sandbox, artifact_copy: Path
) -> None:
    for rel in IGNORED:
        path = artifact_copy / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("secret\n")
    zipped = sandbox.root / "in" / "art.zip"
    r = sandbox.run("zip", artifact_copy, "-o", zipped, "--json")
    assert r.code == EXIT["ok"], r.err
    with zipfile.ZipFile(zipped) as zf:
        names = set(zf.namelist())
    assert not names & set(IGNORED), names & set(IGNORED)
    assert {"score.py", "runtime.yaml", "model.joblib"} <= names


def _add_keys_after_prepare(artifact: Path) -> None:
    """Keys that arrive after prepare: nobody warned about them then."""
    (artifact / "notes.txt").write_text(f"deploy key:\n{PEM}")
    (artifact / "conf").mkdir()
    (artifact / "conf" / "settings.yaml").write_text(f"aws_access_key_id: {AWS_ID}\n")
    (artifact / "server.pem").write_text(PEM)  # the default .model-ignore leaves it out


def _shipped_warning(text: str) -> None:
    assert "look like keys or tokens" in text
    assert "notes.txt (a PEM private key)" in text
    assert "conf/settings.yaml (an AWS access key id)" in text
    assert "server.pem" not in text  # not shipped: not warned about
    assert AWS_ID not in text and "MIIEowIBAAKCAQEA" not in text


def test_zip_warns_about_keys_added_after_prepare(sandbox: Sandbox, artifact_copy: Path) -> None:
    clean = sandbox.run("zip", artifact_copy, "-o", sandbox.root / "in" / "clean.zip", "--json")
    assert clean.code == 0 and json.loads(clean.out)["warnings"] == []
    _add_keys_after_prepare(artifact_copy)
    r = sandbox.run("zip", artifact_copy, "-o", sandbox.root / "in" / "a.zip")
    assert r.code == EXIT["ok"], r.err
    (line,) = [line for line in r.err.splitlines() if line.startswith("warning:")]
    _shipped_warning(line)
    assert "remove them or add them to .model-ignore" in line
    r = sandbox.run("zip", artifact_copy, "-o", sandbox.root / "in" / "b.zip", "--json")
    (warning,) = json.loads(r.out)["warnings"]
    _shipped_warning(warning)


def test_save_and_upload_warn_about_what_ships(sandbox: Sandbox, artifact_copy: Path) -> None:
    _add_keys_after_prepare(artifact_copy)
    r = sandbox.run("save", artifact_copy, "--no-verify", "-q")
    assert r.code == EXIT["ok"], r.err
    _shipped_warning(r.err)
    r = sandbox.run("save", artifact_copy, "--no-verify", "--json")
    (warning,) = json.loads(r.out)["warnings"]
    _shipped_warning(warning)
    bucket = (sandbox.root / "bucket").as_uri() + "/"
    r = sandbox.run("upload", artifact_copy, bucket, "--json")
    assert r.code == EXIT["ok"], r.err
    (warning,) = json.loads(r.out)["warnings"]
    _shipped_warning(warning)


def test_a_zip_handed_to_save_or_upload_is_looked_at_too(
    sandbox: Sandbox, artifact_copy: Path
) -> None:
    zipped = sandbox.root / "in" / "hand-made.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for p in sorted(artifact_copy.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(artifact_copy).as_posix())
        zf.writestr("keys/deploy.txt", PEM)
    r = sandbox.run("upload", zipped, (sandbox.root / "bucket").as_uri() + "/", "--json")
    assert r.code == EXIT["ok"], r.err
    (warning,) = json.loads(r.out)["warnings"]
    assert (
        f"files in the zip {zipped}" in warning and "keys/deploy.txt (a PEM private key)" in warning
    )
    r = sandbox.run("save", zipped, "--no-verify", "--ignore-introspection", "-q")
    assert r.code == EXIT["ok"], r.err
    assert "keys/deploy.txt (a PEM private key)" in r.err
