"""Find files in an artifact that look like keys or tokens, so ``prepare`` can warn,
and ``zip``, ``save`` and ``upload`` again about what actually ships.

An artifact is shared: it goes to a catalog, a bucket, a deployment. Keys reach it
through ``--score-py``, ``--model-code``, or model formats that are folders (SavedModel,
Spark, ``--framework other``), which are copied as they are. This looks at names
(``id_rsa``, ``*.pem``, ``.env``, ``.oci/config``, ``.aws/credentials`` ...) and at
the text of small files (PEM private key blocks, AWS and OCI key patterns, provider
tokens, ``KEY=...`` lines in ``.env`` files). Only files up to ``MAX_READ`` bytes are read
(bigger ones are weights or data: their names are still checked), ``MAX_TOTAL`` bytes in
all; binary files and symlinks are skipped, and no message ever holds the secret itself.

Files are added to an artifact after prepare too, so the zip writer looks again at the
files going into the zip (``shipped_secret_warnings``: .model-ignore applied, links
inside the folder read as the zip stores them), and a zip handed to save or upload is
looked at member by member (``zip_secret_warnings``).

    >>> find_secrets(Path("my-artifact"))
    [SecretFinding(path='.env', what='a .env file setting AWS_SECRET_ACCESS_KEY')]
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import partial
from pathlib import Path

from mdreg.artifact.ignore import IgnoreRules
from mdreg.errors import MdregError

MAX_READ = 1 << 20  # files bigger than this are data or weights: only their names are checked
MAX_TOTAL = 64 << 20  # bytes read in one folder, at most
MAX_FILES = 20_000  # files looked at in one folder
MAX_SHOWN = 5  # files named in the warning

#: File names (any depth) that hold keys or credentials by convention.
_KEY_NAMES: tuple[tuple[str, str], ...] = (
    ("id_rsa", "an SSH private key"),
    ("id_dsa", "an SSH private key"),
    ("id_ecdsa", "an SSH private key"),
    ("id_ed25519", "an SSH private key"),
    ("id_ecdsa_sk", "an SSH private key"),
    ("id_ed25519_sk", "an SSH private key"),
    ("*.pem", "a PEM key or certificate file"),
    ("*.key", "a key file"),
    ("*.p12", "a PKCS#12 key store"),
    ("*.pfx", "a PKCS#12 key store"),
    ("*.jks", "a Java key store"),
    (".netrc", "a .netrc file (login passwords)"),
    (".pgpass", "a .pgpass file (database passwords)"),
    (".git-credentials", "a git credential store"),
    (".pypirc", "a .pypirc file (package index passwords)"),
    (".npmrc", "an .npmrc file (registry tokens)"),
)

#: Paths (relative, posix) that are credential files wherever they sit.
_KEY_PATHS: tuple[tuple[str, str], ...] = (
    (".oci/config", "an OCI CLI config (names the API key and its fingerprint)"),
    (".oci/*", "a file from an OCI CLI config folder"),
    (".aws/credentials", "an AWS credentials file"),
    (".ssh/*", "a file from an SSH folder"),
    (".docker/config.json", "a Docker config (registry credentials)"),
    (".kube/config", "a Kubernetes config (cluster credentials)"),
)

#: Text patterns: (regex, what it is). Applied to the first MAX_READ bytes.
_PATTERNS: tuple[tuple[re.Pattern[bytes], str], ...] = (
    (re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), "a PEM private key"),
    (
        re.compile(
            rb"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])"
        ),
        "an AWS access key id",
    ),
    (
        re.compile(rb"(?i)aws_secret_access_key[ \t]*[=:][ \t]*[\"']?[A-Za-z0-9/+=]{40}"),
        "an AWS secret access key",
    ),
    (
        re.compile(rb"(?im)^[ \t]*fingerprint[ \t]*=[ \t]*(?:[0-9a-f]{2}:){15}[0-9a-f]{2}[ \t]*$"),
        "an OCI API key fingerprint",
    ),
    (
        re.compile(rb"(?im)^[ \t]*(?:key_file|security_token_file|pass_phrase)[ \t]*="),
        "an OCI CLI config entry",
    ),
    (
        re.compile(rb"ocid1\.credential\.oc[0-9]\.[a-z0-9.-]*\.[a-z0-9]{20,}"),
        "an OCI credential OCID",
    ),
    (re.compile(rb"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,}"), "a GitHub token"),
    (re.compile(rb"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{60,}"), "a GitHub token"),
    (re.compile(rb"(?<![A-Za-z0-9_-])xox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (
        re.compile(rb"(?<![A-Za-z0-9_-])sk-(?:proj-)?[A-Za-z0-9_-]{32,}"),
        "an API secret key (sk-...)",
    ),
    (re.compile(rb"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}"), "a Google API key"),
    (re.compile(rb"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}"), "a GitLab token"),
    (re.compile(rb"(?<![A-Za-z0-9_-])hf_[A-Za-z]{34}(?![A-Za-z0-9])"), "a Hugging Face token"),
)

#: ``NAME=value`` lines of a .env file whose name says they are secret.
_ENV_SECRET = re.compile(
    rb"(?im)^[ \t]*(?:export[ \t]+)?([A-Z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|"
    rb"CREDENTIALS?|AUTH)[A-Z0-9_]*)[ \t]*=[ \t]*[\"']?[^\s#\"']"
)


@dataclass(frozen=True)
class SecretFinding:
    path: str  # relative to the folder, posix
    what: str  # what it looks like (never the secret itself)


def find_secrets(root: Path) -> list[SecretFinding]:
    """Files under ``root`` that look like keys or tokens, one finding per file, sorted."""
    return _find((rel, size, partial(_read_file, path)) for path, rel, size in _walk(Path(root)))


def find_shipped_secrets(real_root: str, files: list[str]) -> list[SecretFinding]:
    """Like ``find_secrets``, for the files (relative posix paths under the real path
    ``real_root``) going into a zip; a link is read through, as the zip stores it."""

    def items() -> Iterator[tuple[str, int, _Reader]]:
        for rel in files:
            path = os.path.join(real_root, *rel.split("/"))
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield rel, st.st_size, partial(_read_file, path)

    return _find(items())


def find_secrets_in_zip(zip_path: Path) -> list[SecretFinding]:
    """Like ``find_secrets``, for the members of a zip (named as in the zip). An
    unreadable zip gives no findings: whoever reads it next reports why."""
    try:
        with zipfile.ZipFile(zip_path) as zf:

            def read(info: zipfile.ZipInfo) -> bytes | None:
                try:
                    with zf.open(info) as f:
                        return f.read(MAX_READ)
                except (OSError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError):
                    return None  # encrypted, corrupt, unknown compression

            return _find(
                (info.filename, info.file_size, partial(read, info))
                for info in zf.infolist()
                if not info.is_dir()
            )
    except (OSError, zipfile.BadZipFile, ValueError):
        return []


_Reader = Callable[[], "bytes | None"]


def _find(items: Iterable[tuple[str, int, _Reader]]) -> list[SecretFinding]:
    found: list[SecretFinding] = []
    budget = MAX_TOTAL
    for count, (rel, size, read) in enumerate(items):
        if count >= MAX_FILES:
            break
        what = _by_name(rel)
        if what is None and size <= min(MAX_READ, budget):
            budget -= size
            data = read()
            what = _by_content(data, rel) if data is not None else None
        if what:
            found.append(SecretFinding(rel, what))
    return sorted(found, key=lambda f: f.path)


def secret_warnings(root: Path) -> list[str]:
    """The warning ``prepare`` shows (empty when nothing looks secret)."""
    found = find_secrets(root)
    if not found:
        return []
    try:
        rules: IgnoreRules | None = IgnoreRules.for_artifact(root)
    except MdregError:  # a broken .model-ignore is reported by zip; warn anyway
        rules = None
    shown = []
    for f in found[:MAX_SHOWN]:
        left_out = rules is not None and _ignored(rules, f.path)
        note = "; .model-ignore leaves it out of the zip" if left_out else ""
        shown.append(f"{_printable(f.path)} ({f.what}{note})")
    more = f" and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else ""
    message = (
        f"files in {root} look like keys or tokens: {', '.join(shown)}{more}; "
        "remove them and rotate the secrets if the artifact was shared"
    )
    return [message]


def shipped_secret_warnings(root: Path, real_root: str, files: list[str]) -> list[str]:
    """The warning the zip writer gives about the files it is about to zip."""
    return _shipped_warning(
        f"files going into the zip of {root}",
        find_shipped_secrets(real_root, files),
        "remove them or add them to .model-ignore",
    )


def zip_secret_warnings(zip_path: Path) -> list[str]:
    """The warning save and upload give about a zip they were handed."""
    return _shipped_warning(
        f"files in the zip {zip_path}",
        find_secrets_in_zip(zip_path),
        "rebuild the zip without them",
    )


def _shipped_warning(where: str, found: list[SecretFinding], fix: str) -> list[str]:
    if not found:
        return []
    shown = ", ".join(f"{_printable(f.path)} ({f.what})" for f in found[:MAX_SHOWN])
    more = f" and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else ""
    return [
        f"{where} look like keys or tokens: {shown}{more}; {fix}, and rotate the "
        "secrets if the artifact was shared"
    ]


def _ignored(rules: IgnoreRules, rel: str) -> bool:
    return rules.is_ignored(rel, is_dir=False)  # an ignored folder takes what it holds


def _walk(root: Path) -> Iterator[tuple[Path, str, int]]:
    """(path, relative posix path, size) of every regular file; links are not followed."""
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(dirpath, name)
            try:
                st = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield path, path.relative_to(root).as_posix(), st.st_size


def _by_name(rel: str) -> str | None:
    name = rel.rsplit("/", 1)[-1]
    if name.endswith(".pub"):
        return None  # a public key is not a secret
    for pattern, what in _KEY_NAMES:
        if fnmatchcase(name, pattern):
            return what
    for pattern, what in _KEY_PATHS:
        if rel == pattern or fnmatchcase(rel, pattern) or fnmatchcase(rel, "*/" + pattern):
            return what
    return None


def _read_file(path: Path | str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_READ)
    except OSError:
        return None


def _by_content(data: bytes, rel: str) -> str | None:
    if b"\0" in data[:8192]:
        return None  # binary: model weights, arrays, archives
    name = rel.rsplit("/", 1)[-1]
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        m = _ENV_SECRET.search(data)
        if m:
            return f"a .env file setting {m.group(1).decode('ascii', 'replace')}"
    for pattern, what in _PATTERNS:
        if pattern.search(data):
            return what
    return None


def _printable(text: str) -> str:
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
