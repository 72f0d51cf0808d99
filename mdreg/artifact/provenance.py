"""Where a model came from: the git state of the training code."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def strip_credentials(url: str) -> str:
    """Remove user and password from a remote URL (``https://user:token@host/x`` -> ``https://host/x``).

    scp-like remotes (``git@host:org/repo``) carry a user name, not a secret, and stay.
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_provenance(where: Path, training_script: Path | None = None) -> dict[str, Any]:
    """Repository URL (credentials removed), branch, commit and whether the tree had
    uncommitted changes. Empty values when ``where`` is not in a git work tree."""
    top = _git(where, "rev-parse", "--show-toplevel")
    prov: dict[str, Any] = {
        "repository_url": "",
        "git_branch": "",
        "git_commit": "",
        "uncommitted_changes": None,
        "script_dir": str(where.resolve()),
        "training_script": str(training_script.resolve()) if training_script else "",
    }
    if top is None:
        return prov
    remote = _git(where, "config", "--get", "remote.origin.url") or ""
    status = _git(where, "status", "--porcelain", "--untracked-files=no")
    prov.update(
        repository_url=strip_credentials(remote),
        # symbolic-ref also names the branch of a repository with no commit yet
        git_branch=_git(where, "symbolic-ref", "--short", "-q", "HEAD") or "",
        git_commit=_git(where, "rev-parse", "HEAD") or "",
        uncommitted_changes=bool(status) if status is not None else None,
    )
    return prov
