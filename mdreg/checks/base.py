"""A check is a small named unit: key, category, description, and a function that
returns passed / failed / skipped with a message saying how to fix a failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: str = ""


def passed(message: str = "") -> Outcome:
    return Outcome(Status.PASSED, message)


def failed(message: str) -> Outcome:
    return Outcome(Status.FAILED, message)


def skipped(message: str) -> Outcome:
    return Outcome(Status.SKIPPED, message)


@dataclass(frozen=True)
class Check:
    key: str
    category: str
    description: str
    run: Callable[[Any], Outcome]


@dataclass(frozen=True)
class CheckResult:
    key: str
    category: str
    description: str
    status: Status
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "category": self.category,
            "description": self.description,
            "status": self.status.value,
            "message": self.message,
        }

    def to_ads(self) -> dict[str, Any]:
        """The shape ADS stores in ``ArtifactTestResults``: success is true/false/null."""
        success = {Status.PASSED: True, Status.FAILED: False, Status.SKIPPED: None}[self.status]
        return {
            "category": self.category,
            "description": self.description,
            "error_msg": self.message if self.status is not Status.PASSED else "",
            "success": success,
        }


class CheckList:
    """Checks in the order they run and are reported."""

    def __init__(self) -> None:
        self.checks: list[Check] = []

    def __call__(
        self, key: str, category: str, description: str
    ) -> Callable[[Callable[[Any], Outcome]], Callable[[Any], Outcome]]:
        def register(fn: Callable[[Any], Outcome]) -> Callable[[Any], Outcome]:
            self.checks.append(Check(key, category, description, fn))
            return fn

        return register

    def run(self, ctx: Any) -> list[CheckResult]:
        results = []
        for c in self.checks:
            try:
                outcome = c.run(ctx)
            except Exception as exc:  # noqa: BLE001 - a broken artifact must not crash the report
                outcome = failed(f"could not be checked: {type(exc).__name__}: {exc}")
            results.append(
                CheckResult(c.key, c.category, c.description, outcome.status, outcome.message)
            )
        return results
