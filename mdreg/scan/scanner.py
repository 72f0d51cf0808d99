"""Scan a model file or an artifact folder and judge whether unpickling it is safe."""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.scan.archive_members import archive_kind
from mdreg.scan.containers import HEAD_BYTES, is_pickle_like, open_regular, read_pickle_globals
from mdreg.scan.policy import Finding, Verdict, judge, worst
from mdreg.scan.report import PickleReport

#: Containers that may hold no pickle at all: skipped in folders when they hold none.
_NO_PICKLE_NEEDED = frozenset({"zip", "keras-zip", "npy", "tar", "7z"})

#: Files a loader would try to unpickle whatever their first bytes say.
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".sav"})


@dataclass
class ScanReport:
    """The verdict on a file or folder, the findings behind it and what was walked."""

    path: Path
    verdict: Verdict
    findings: list[Finding]
    reports: list[PickleReport]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: globals are listed once per (name, where) with a count."""
        return {
            "path": str(self.path),
            "verdict": self.verdict.value,
            "findings": [
                {
                    "path": str(f.path) if f.path else None,
                    "global": f.ref.dotted if f.ref else None,
                    "offset": f.ref.offset if f.ref else None,
                    "where": f.ref.where if f.ref else None,
                    "severity": f.severity.value,
                    "reason": f.reason,
                }
                for f in self.findings
            ],
            "reports": [_report_dict(r) for r in self.reports],
        }


def _report_dict(report: PickleReport) -> dict[str, Any]:
    counts = Counter((g.module, g.name, g.where) for g in report.globals)
    first: dict[tuple[str, str, str], int] = {}
    for g in report.globals:
        first.setdefault((g.module, g.name, g.where), g.offset)
    return {
        "path": str(report.path),
        "container": report.container,
        "protocol": report.protocol,
        "streams": report.streams,
        "error": report.error,
        "incomplete": report.incomplete,
        "globals": [
            {"global": f"{m}.{n}", "where": w, "offset": first[(m, n, w)], "count": c}
            for (m, n, w), c in counts.items()
        ],
    }


def judge_report(
    report: PickleReport, frameworks: Iterable[str] | None
) -> tuple[Verdict, list[Finding]]:
    """Verdict on one file: its globals, DANGEROUS when it could not be parsed, and at
    least UNKNOWN when part of it could not be read (see ``PickleReport.incomplete``)."""
    verdict, findings = judge(report.globals, frameworks)
    if report.incomplete is not None:
        findings.append(
            Finding(None, Verdict.UNKNOWN, f"could not be read fully: {report.incomplete}")
        )
        verdict = worst([verdict, Verdict.UNKNOWN])
    if report.error is not None:
        findings.append(Finding(None, Verdict.DANGEROUS, f"could not be parsed: {report.error}"))
        verdict = Verdict.DANGEROUS
    for finding in findings:
        finding.path = report.path
    return verdict, findings


#: How a file's pickles are read: ``read_pickle_globals`` or a cache in front of it.
Reader = Callable[..., PickleReport]


class ReadOnce:
    """A Reader that walks each file (per ``max_bytes``) once: the steps of one run
    (introspect's checks, prepare's gate and its scan of what ships) share the walks."""

    def __init__(self) -> None:
        self._reports: dict[tuple[Path, int | None], PickleReport] = {}

    def __call__(self, path: Path, *, max_bytes: int | None = None) -> PickleReport:
        key = (Path(path), max_bytes)
        if key not in self._reports:
            self._reports[key] = read_pickle_globals(path, max_bytes=max_bytes)
        return self._reports[key]


def scan_path(
    path: Path,
    frameworks: Iterable[str] | None = None,
    *,
    max_bytes: int | None = None,
    read: Reader = read_pickle_globals,
) -> ScanReport:
    """Scan a file, or every pickle in a folder (zip members included), without loading.

    ``frameworks`` picks the allow-lists (e.g. ``["sklearn"]``; "generic" is
    always in); None allows every list. In a folder, files count when their
    first bytes look like a pickle, a joblib compression or an archive (zip, tar,
    7z), or their suffix is a pickle one (.pkl, .joblib, .pt ...); a folder
    without any is SAFE. Archives are opened, nested ones too, within the depth
    and size budgets of ``read_pickle_globals``: a file not read fully is UNKNOWN.
    A single file is always walked: not being a pickle (or an archive) is an error
    (DANGEROUS).
    ``read(path, max_bytes=...)`` walks one file (introspect passes a cache, so that a
    file its other checks walked already is not walked again).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"cannot scan {path}: no such file or folder")
    frameworks = None if frameworks is None else list(frameworks)
    if path.is_dir():
        reports = [
            r for r in (_scan_member(p, max_bytes, read) for p in _files(path)) if r is not None
        ]
    else:
        reports = [read(path, max_bytes=max_bytes)]
    findings: list[Finding] = []
    verdicts = []
    for report in reports:
        verdict, found = judge_report(report, frameworks)
        verdicts.append(verdict)
        findings.extend(found)
    return ScanReport(path, worst(verdicts), findings, reports)


def _files(folder: Path) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):  # does not follow links to folders
        dirs.sort()
        for name in sorted(files):
            yield Path(root, name)


def _scan_member(path: Path, max_bytes: int | None, read: Reader) -> PickleReport | None:
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return None  # a FIFO, socket or device (or a link to one): nothing a loader reads
    except OSError:
        return None  # a dangling link
    with open_regular(path) as f:
        try:
            head = f.read(HEAD_BYTES)
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    by_suffix = path.suffix.lower() in PICKLE_SUFFIXES
    if not by_suffix and not is_pickle_like(head) and not archive_kind(head):
        return None
    report = read(path, max_bytes=max_bytes)
    if not by_suffix and report.container == "not-pickle":
        return None  # e.g. a .csv.gz: compressed, but no pickle inside
    holds_none = report.container in _NO_PICKLE_NEEDED and not (report.streams or report.globals)
    if not by_suffix and holds_none and not report.error and not report.incomplete:
        return None  # an archive or array file without pickles, read fully
    return report
