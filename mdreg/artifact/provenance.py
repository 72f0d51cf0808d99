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


def _git(cwd: Path, *args: str) -> subprocess.Popen[str] | None:
    """Start ``git -C cwd ARGS``; None when git cannot be run."""
    try:
        return subprocess.Popen(
            ["git", "-C", str(cwd), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    except OSError:
        return None


def _output(proc: subprocess.Popen[str] | None) -> str | None:
    """What a started git printed (stripped), or None when it failed or took over 10 s."""
    if proc is None:
        return None
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    return out.strip() if proc.returncode == 0 else None


def git_provenance(where: Path, training_script: Path | None = None) -> dict[str, Any]:
    """Repository URL (credentials removed), branch, commit and whether the tree had
    uncommitted changes. Empty values when ``where`` is not in a git work tree.

    Two git processes, run side by side: ``status --porcelain=v2 --branch`` says the
    commit, the branch and the changes at once (and fails outside a work tree, as
    ``rev-parse --show-toplevel`` does), ``config`` says the remote.
    """
    status_proc = _git(where, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    remote_proc = _git(where, "config", "--get", "remote.origin.url")
    status, remote = _output(status_proc), _output(remote_proc) or ""
    prov: dict[str, Any] = {
        "repository_url": "",
        "git_branch": "",
        "git_commit": "",
        "uncommitted_changes": None,
        "script_dir": str(where.resolve()),
        "training_script": str(training_script.resolve()) if training_script else "",
    }
    if status is None:
        return prov
    headers = dict(
        line[2:].split(" ", 1)
        for line in status.splitlines()
        if line.startswith("# ") and " " in line[2:]
    )
    commit = headers.get("branch.oid", "")
    branch = headers.get("branch.head", "")
    prov.update(
        repository_url=strip_credentials(remote),
        # a repository with no commit yet still names its branch; a detached HEAD names none
        git_branch="" if branch == "(detached)" else branch,
        git_commit="" if commit == "(initial)" else commit,
        uncommitted_changes=any(not line.startswith("#") for line in status.splitlines()),
    )
    return prov
