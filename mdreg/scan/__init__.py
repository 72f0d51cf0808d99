"""Read a model file's pickles without loading them, and judge whether loading is safe.

Importing this package imports only the standard library.

    >>> report = scan_path(Path("model.joblib"), ["sklearn"])
    >>> report.verdict is Verdict.SAFE
"""

from mdreg.scan.containers import is_pickle_like, read_pickle_globals
from mdreg.scan.policy import (
    ALLOW,
    DENY_MODULES,
    DENY_NAMES,
    UNTRUSTED,
    Finding,
    Verdict,
    classify,
    judge,
)
from mdreg.scan.report import GlobalRef, PickleReport
from mdreg.scan.scanner import ScanReport, judge_report, scan_path

#: Everything that is always dangerous: module prefixes and ``module:name`` patterns.
DENY: dict[str, str] = {**{f"{m}:*": r for m, r in DENY_MODULES.items()}, **DENY_NAMES}

__all__ = [
    "ALLOW",
    "DENY",
    "DENY_MODULES",
    "DENY_NAMES",
    "UNTRUSTED",
    "Finding",
    "GlobalRef",
    "PickleReport",
    "ScanReport",
    "Verdict",
    "classify",
    "is_pickle_like",
    "judge",
    "judge_report",
    "read_pickle_globals",
    "scan_path",
]
