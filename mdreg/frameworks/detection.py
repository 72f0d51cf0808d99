"""A plugin's claim on a model file.

Its own module so that ``probe`` (which builds claims) and ``base`` (the plugin
interface, whose ``sniff`` returns one) both import it, and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Detection:
    """A plugin's claim on a model file: how sure it is, and why."""

    framework: str
    confidence: float  # 0 (no claim) .. 1 (certain)
    evidence: str  # one line a user can check, e.g. "pickle references sklearn.ensemble...."
