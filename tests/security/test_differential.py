"""Differential fuzzing of the walker against the C and pure-Python unpicklers (see
``fuzz.py``): every global an unpickler asks find_class for, reading the case from a
real file or from io.BytesIO, is reported by the walker, or the walker calls the file
dangerous. 6,000 fixed seeds, in chunks so a failure names its seeds; ``make fuzz``
runs 100,000 and more."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest

from mdreg.scan import PickleReport
from tests.security import fuzz, straddle

pytestmark = pytest.mark.security

SEED = 20_141_000  # the first case's seed; case n is SEED + n
CHUNKS = 12
PER_CHUNK = 500


@pytest.fixture(scope="session")
def bases() -> dict[str, bytes]:
    return fuzz.real_pickles()


@pytest.mark.parametrize(
    "chunk", range(CHUNKS), ids=[f"seeds-{SEED + c * PER_CHUNK}" for c in range(CHUNKS)]
)
def test_walker_reports_every_global_an_unpickler_imports(
    chunk: int, bases: dict[str, bytes], tmp_path: Path
) -> None:
    first = SEED + chunk * PER_CHUNK
    stats = fuzz.fuzz(range(first, first + PER_CHUNK), bases, tmp_path)
    assert stats.findings == [], "\n\n".join(f.describe() for f in stats.findings)
    # the cases reach the unpicklers' find_class, and often the two unpicklers disagree
    assert stats.asked > PER_CHUNK // 2 and stats.split > PER_CHUNK // 20, stats


def test_the_oracle_sees_the_issue_14_differential(tmp_path: Path) -> None:
    """The C unpickler from io.BytesIO asks for os.system, the in-order readings do not."""
    data = straddle.small_straddle(Path("/nonexistent/canary"))
    path = tmp_path / "case.pkl"
    path.write_bytes(data)
    asked = fuzz.unpickled_globals(path, data)
    assert asked["c-bytesio"] == [("os", "system")]
    assert asked["c-file"] == asked["py-file"] == asked["py-bytesio"] == []


def test_a_walker_miss_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A walker that read the gadget in order (no FRAME checks: one bytes value, no
    globals, no error) is caught, and the case shrinks to the bytes that matter."""
    monkeypatch.setattr(fuzz, "read_pickle_globals", lambda p: PickleReport(p, "pickle"))
    data = b"\x80\x05N0" + straddle.gadget(Path("/nonexistent/canary")) + b"K\x01."
    finding, _ = fuzz.check(data, tmp_path / "case.pkl")
    assert finding is not None and finding.missed == [("os", "system")]
    assert finding.readers == ["c-bytesio"] and finding.verdict == "safe"

    def misses_os_system(d: bytes) -> bool:
        found, _ = fuzz.check(d, tmp_path / "case.pkl")
        return found is not None and ("os", "system") in found.missed

    small = fuzz.minimize(data, misses_os_system)
    assert len(small) < 40 and b"cos\nsystem\n" in small, small


def test_cases_are_reproducible(bases: dict[str, bytes]) -> None:
    assert [fuzz.make_case(s, bases) for s in range(SEED, SEED + 50)] == [
        fuzz.make_case(s, bases) for s in range(SEED, SEED + 50)
    ]


def test_inert_stand_in_takes_any_load() -> None:
    """The stand-in survives every way a load calls, builds and fills an object."""
    data = pickle.dumps([fuzz.Inert()], protocol=2).replace(b"tests.security.fuzz", b"os")
    found: list[tuple[str, str]] = []
    assert isinstance(fuzz.UNPICKLERS["c"](io.BytesIO(data), found).load()[0], fuzz.Inert)
    assert ("os", "Inert") in found
    calls = (b"cx\ny\n)R}b(Ne(NNuNa.", b"cx\ny\n)\x81.", b"cx\ny\n)}\x92.", b"(cx\ny\nNo.")
    for data in calls:  # REDUCE BUILD APPENDS SETITEMS APPEND; NEWOBJ; NEWOBJ_EX; OBJ
        for unpickler in fuzz.UNPICKLERS.values():
            assert isinstance(unpickler(io.BytesIO(data), []).load(), fuzz.Inert)
