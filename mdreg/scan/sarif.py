"""Scan findings as SARIF 2.1.0, the format CI systems (GitHub code scanning, GitLab,
Azure DevOps) show as annotations."""

from __future__ import annotations

from typing import Any

from mdreg.scan.policy import Verdict
from mdreg.scan.scanner import ScanReport

_LEVEL = {Verdict.DANGEROUS: "error", Verdict.UNKNOWN: "warning", Verdict.SAFE: "note"}
_RULES = {
    Verdict.DANGEROUS: (
        "MDREG001",
        "dangerous-pickle-global",
        "The pickle references code that can run commands, read files or load more code.",
    ),
    Verdict.UNKNOWN: (
        "MDREG002",
        "unknown-pickle-global",
        "The pickle references code outside the framework's allow-list.",
    ),
}


def to_sarif(reports: list[ScanReport], tool_version: str) -> dict[str, Any]:
    results = []
    for report in reports:
        for f in report.findings:
            rule_id = _RULES[f.severity][0] if f.severity in _RULES else "MDREG000"
            where = f" in {f.ref.where}" if f.ref and f.ref.where else ""
            what = f"{f.ref.dotted} at byte {f.ref.offset}{where}: " if f.ref else ""
            results.append(
                {
                    "ruleId": rule_id,
                    "level": _LEVEL[f.severity],
                    "message": {"text": f"{what}{f.reason}"},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": str(f.path or report.path)},
                                "region": {
                                    "byteOffset": f.ref.offset if f.ref else 0,
                                    "byteLength": 1,
                                },
                            }
                        }
                    ],
                }
            )
    rules = [
        {"id": rid, "name": name, "shortDescription": {"text": text}}
        for rid, name, text in _RULES.values()
    ]
    return {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mdreg scan",
                        "version": tool_version,
                        "informationUri": "https://github.com/mdreg/mdreg",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
