"""Faults the test server injects on request, by operation name (the SDK method's name:
``upload_part``, ``create_model``, ``get_work_request``, ...; ``*`` for any).

    server.faults.fail("create_model_artifact", status=503, times=2)   # an error reply
    server.faults.fail("list_models", status=429, retry_after=0)       # throttled
    server.faults.reset("put_object", after_bytes=1 << 20)             # TCP reset mid-body
    server.faults.truncate("get_object", after_bytes=1 << 20)          # reply cut mid-body
    server.faults.slow("get_model", seconds=0.5)                        # a slow reply
    server.faults.fail_parts(0.2, kinds=("status", "reset"))            # 20% of parts fail once
    server.faults.fail_work_requests("EXPORT_MODEL_ARTIFACT")          # the next export fails
    server.faults.corrupt("upload_part", part=2)                        # a body damaged in flight
    server.faults.omit_headers("put_object", ["opc-content-md5"])       # an emulator's replies
    server.faults.set_headers("put_object", {"opc-content-md5": "..."}, times=1)  # a proxy's

``corrupt`` flips one byte of the body the server received, as a bad link would: with a
``Content-MD5`` the service rejects it (400), without one it stores the damaged bytes
(and its ``opc-content-md5`` says so). ``omit_headers`` leaves headers out of the
Object Storage replies of an operation, as third-party emulators do (the headers a test
names: ``opc-content-md5``, ``opc-multipart-md5``, ``etag``, ``content-md5``...).

The same, over HTTP for a server in another process: ``POST /_admin/faults`` with
``{"method": "fail", "args": {...}}``; ``POST /_admin/faults/clear``.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

STATUS_CODES = {
    429: ("TooManyRequests", "Too many requests for the tenancy"),
    500: ("InternalError", "An internal server error occurred"),
    502: ("BadGateway", "Bad gateway"),
    503: ("ServiceUnavailable", "The service is currently unavailable"),
    504: ("GatewayTimeout", "The gateway timed out"),
}


@dataclass
class Action:
    kind: str  # "status", "reset", "truncate", "delay"
    status: int = 503
    code: str = ""
    message: str = ""
    retry_after: float | None = None
    seconds: float = 0.0
    after_bytes: int | None = None


@dataclass
class _Rule:
    op: str
    action: Action
    remaining: int | None  # None: every time


@dataclass
class _PartPlan:
    fraction: float
    kinds: tuple[str, ...]
    status: int
    attempts: int
    seed: int


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._parts: _PartPlan | None = None
        self._part_attempts: Counter[tuple[str, int]] = Counter()
        self._parts_failed = 0
        self._work_requests: list[list[Any]] = []  # [operation_type, code, message, remaining]
        self._corrupt: list[list[Any]] = []  # [op, part number or None, remaining or None]
        self._omit: list[tuple[str, frozenset[str]]] = []
        self._set: list[list[Any]] = []  # [op, headers, times left or None]
        self.injected: Counter[tuple[str, str]] = Counter()

    # -- arming ---------------------------------------------------------------------------
    def fail(
        self,
        op: str,
        status: int = 503,
        times: int | None = 1,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        default_code, default_message = STATUS_CODES.get(
            status, ("InternalError", "Injected failure")
        )
        self._add(
            op,
            Action(
                "status",
                status,
                code or default_code,
                message or default_message,
                retry_after=retry_after,
            ),
            times,
        )

    def reset(self, op: str, times: int | None = 1, after_bytes: int | None = None) -> None:
        self._add(op, Action("reset", after_bytes=after_bytes), times)

    def truncate(self, op: str, after_bytes: int, times: int | None = 1) -> None:
        """Send the reply's headers and ``after_bytes`` of its body, then reset."""
        self._add(op, Action("truncate", after_bytes=after_bytes), times)

    def slow(self, op: str, seconds: float, times: int | None = None) -> None:
        self._add(op, Action("delay", seconds=seconds), times)

    def fail_parts(
        self,
        fraction: float,
        kinds: tuple[str, ...] | list[str] = ("status", "reset"),
        status: int = 503,
        attempts: int = 1,
        seed: int = 0,
    ) -> None:
        """Fail the first ``attempts`` tries of a ``fraction`` of all part numbers (chosen
        by a hash of seed, upload id and part number), alternating between ``kinds``."""
        with self._lock:
            self._parts = _PartPlan(fraction, tuple(kinds), status, attempts, seed)
            self._parts_failed = 0

    def fail_work_requests(
        self,
        operation_type: str = "EXPORT_MODEL_ARTIFACT",
        times: int = 1,
        code: str = "InternalServerError",
        message: str = "Copying the artifact from Object Storage failed",
    ) -> None:
        with self._lock:
            self._work_requests.append([operation_type, code, message, times])

    def corrupt(self, op: str, times: int | None = 1, part: int | None = None) -> None:
        """Damage ``times`` bodies of ``op`` (None: every one) in flight: one byte flipped
        after the server read it; ``part``: only that part number's (``upload_part``)."""
        with self._lock:
            self._corrupt.append([op, part, times])

    def omit_headers(self, op: str, headers: list[str] | tuple[str, ...]) -> None:
        """Leave ``headers`` out of every reply to ``op`` (``*``: any), as an emulator."""
        with self._lock:
            self._omit.append((op, frozenset(h.lower() for h in headers)))

    def set_headers(self, op: str, headers: dict[str, str], times: int | None = 1) -> None:
        """Give the next ``times`` replies to ``op`` these header values (None: every
        reply), as a proxy that rewrites them would."""
        with self._lock:
            self._set.append([op, {k.lower(): v for k, v in headers.items()}, times])

    def clear(self) -> None:
        with self._lock:
            self._set.clear()
            self._rules.clear()
            self._parts = None
            self._part_attempts.clear()
            self._work_requests.clear()
            self._corrupt.clear()
            self._omit.clear()

    def _add(self, op: str, action: Action, times: int | None) -> None:
        with self._lock:
            self._rules.append(_Rule(op, action, times))

    # -- firing ---------------------------------------------------------------------------
    def actions(self, op: str, query: dict[str, str]) -> list[Action]:
        """What to do to this request, delays first."""
        found: list[Action] = []
        with self._lock:
            failing = False  # at most one failure per request; the next rule waits its turn
            for rule in self._rules:
                if rule.op not in (op, "*") or rule.remaining == 0:
                    continue
                if rule.action.kind != "delay":
                    if failing:
                        continue
                    failing = True
                if rule.remaining is not None:
                    rule.remaining -= 1
                found.append(rule.action)
            if op == "upload_part" and self._parts is not None and not failing:
                part = self._part_action(query)
                if part is not None:
                    found.append(part)
            for a in found:
                self.injected[(op, a.kind if a.kind != "status" else str(a.status))] += 1
        return sorted(found, key=lambda a: a.kind != "delay")

    def _part_action(self, query: dict[str, str]) -> Action | None:
        plan = self._parts
        assert plan is not None
        upload, number = query.get("uploadId", ""), int(query.get("uploadPartNum", "0") or 0)
        self._part_attempts[(upload, number)] += 1
        if self._part_attempts[(upload, number)] > plan.attempts:
            return None
        # Every (1/fraction)-th part number, shifted by the seed: exactly the fraction asked
        # for, whatever the upload id, so a test of a 5-part upload always sees a failure.
        n = number + plan.seed
        if int(n * plan.fraction) == int((n - 1) * plan.fraction):
            return None
        kind = plan.kinds[self._parts_failed % len(plan.kinds)]  # alternate, in arrival order
        self._parts_failed += 1
        if kind == "reset":
            return Action("reset")
        code, message = STATUS_CODES.get(plan.status, ("InternalError", "Injected failure"))
        return Action("status", plan.status, code, message)

    def corrupts(self, op: str, query: dict[str, str]) -> bool:
        """Whether to damage this request's body (counted in ``injected``)."""
        with self._lock:
            for entry in self._corrupt:
                if entry[0] not in (op, "*") or entry[2] == 0:
                    continue
                if entry[1] is not None and str(entry[1]) != query.get("uploadPartNum"):
                    continue
                if entry[2] is not None:
                    entry[2] -= 1
                self.injected[(op, "corrupt")] += 1
                return True
        return False

    def replaced(self, op: str) -> dict[str, str]:
        """The header values to put in this reply to ``op`` (each use counts once)."""
        out: dict[str, str] = {}
        with self._lock:
            for rule in self._set:
                if rule[0] in (op, "*") and rule[2] != 0:
                    out.update(rule[1])
                    if rule[2] is not None:
                        rule[2] -= 1
        return out

    def omitted(self, op: str) -> frozenset[str]:
        """The headers to leave out of the reply to ``op``."""
        with self._lock:
            return frozenset().union(*(h for o, h in self._omit if o in (op, "*")))

    def work_request_failure(self, operation_type: str) -> tuple[str, str] | None:
        with self._lock:
            for entry in self._work_requests:
                if entry[0] == operation_type and entry[3] > 0:
                    entry[3] -= 1
                    self.injected[("work_request", operation_type)] += 1
                    return entry[1], entry[2]
        return None
