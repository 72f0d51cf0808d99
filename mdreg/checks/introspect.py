"""``introspect``: check an artifact folder or zip as the service would, then mdreg's way.

Results are recorded in the artifact's metadata (taxonomy ``ArtifactTestResults``) when
the artifact is a folder; a zip is never modified, so no stray results file ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdreg.artifact import layout
from mdreg.artifact.metadata import read_metadata, set_taxonomy, write_metadata
from mdreg.checks.artifact import ARTIFACT_CHECKS
from mdreg.checks.base import CheckResult, Status
from mdreg.checks.context import ArtifactContext
from mdreg.checks.service import SERVICE_CHECKS
from mdreg.errors import ArtifactError


@dataclass
class IntrospectionReport:
    artifact: Path
    results: list[CheckResult]
    recorded: bool

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status is Status.FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        counts = {s.value: sum(r.status is s for r in self.results) for s in Status}
        return {
            "artifact": str(self.artifact),
            "ok": self.ok,
            "counts": counts,
            "recorded": self.recorded,
            "checks": [r.to_dict() for r in self.results],
        }

    def to_ads(self) -> dict[str, Any]:
        return {r.key: r.to_ads() for r in self.results}


def introspect(
    artifact: str | Path, *, online: bool = False, record: bool = True
) -> IntrospectionReport:
    """Run every check on ``artifact`` (a folder or a .zip)."""
    artifact = layout.existing_artifact(artifact)
    if artifact.is_dir():
        results = run_checks(artifact, online=online)
        recorded = record and _record(artifact, results)
        return IntrospectionReport(artifact, results, recorded)
    from mdreg.artifact.unzipping import extracted

    # safe_extract flattens a zip whose score.py sits one folder deep, as the service accepts it
    with extracted(artifact, "introspect") as root:
        return IntrospectionReport(artifact, run_checks(root, online=online), recorded=False)


def run_checks(root: Path, *, online: bool = False) -> list[CheckResult]:
    ctx = ArtifactContext(root, online=online)
    return SERVICE_CHECKS.run(ctx) + ARTIFACT_CHECKS.run(ctx)


def _record(root: Path, results: list[CheckResult]) -> bool:
    try:
        meta = read_metadata(root)
    except ArtifactError:
        return False  # a damaged metadata file is reported elsewhere; don't overwrite it
    if meta is None:
        return False  # not an mdreg artifact: leave the user's folder as it is
    set_taxonomy(meta, "ArtifactTestResults", {r.key: r.to_ads() for r in results})
    write_metadata(root, meta)
    return True
