"""Where the scanner and the real loaders could disagree: if a loader reads bytes the
scanner calls "not a pickle", the safety gate is skipped. Each test pins one such seam
against the real unpickler (C and pure Python) or joblib's own format detection."""

from __future__ import annotations

import io
import lzma
import pickle
import random
import zlib
from pathlib import Path

import pytest

from mdreg.scan import GlobalRef, read_pickle_globals
from mdreg.scan.containers import compression_of, is_pickle_like
from mdreg.scan.opcodes import Walker, probe
from mdreg.scan.stream import PickleParseError, Source, StreamState

pytestmark = pytest.mark.security

GLOBAL = b"cos\nsystem\n"  # never called below: REDUCE is left out


def _loads(data: bytes) -> bool:
    """Whether the C or the pure-Python unpickler reads ``data`` to its end."""
    for loads in (pickle.loads, pickle._loads):  # type: ignore[attr-defined]
        try:
            loads(data)
            return True
        except Exception:  # noqa: BLE001, S110 - any failure means "does not load"
            pass
    return False


def _walks(data: bytes) -> bool:
    walker = Walker(Source(io.BytesIO(data), size=len(data)))
    try:
        walker.walk_stream(StreamState(joblib=False))
        return True
    except PickleParseError:
        return False


TRICKY = [
    b"010",
    b"0777",
    b"-010",
    b"+5",
    b" 7",
    b"\t7",
    b"0x1F",
    b"0X1f",
    b"1_000",
    b"5\x00junk",
    b"\x00",
    b"\x00abc",
    b"00",
    b"01",
    b"1.5\x00x",
    b"inf",
    b"nan",
    b"-0",
    b"0b101",
    b"0o17",
    b"99999999999999999999999",
    b"012345670123456701234567",
]


@pytest.mark.parametrize("op", [b"I", b"L", b"F"])
def test_text_numbers_read_like_the_c_unpickler(op: bytes) -> None:
    """Any INT/LONG/FLOAT line an unpickler accepts, the walker accepts too, and the
    cheap head check still calls the file a pickle (it once refused INT '010')."""
    rng = random.Random(op)
    alphabet = b"0123456789xXabcdefABCDEF+-_ .\t\x00Llei"
    lines = TRICKY + [
        bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(1500)
    ]
    missed = []
    for line in lines:
        data = op + line + b"\n0" + GLOBAL + b"."
        if _loads(op + line + b"\n.") and not (
            _walks(data) and probe(data, whole=True) and is_pickle_like(data)
        ):
            missed.append(line)
    assert missed == []


def test_memo_keys_read_like_the_c_unpickler() -> None:
    rng = random.Random(7)
    alphabet = b"0123456789_ \t\x00x+-"
    missed = []
    for line in [b"1_0", b" 3", b"3\x00x", b"+2"] + [
        bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(1500)
    ]:
        data = b"Np" + line + b"\n0g" + line + b"\n."
        if _loads(data) and not _walks(data):
            missed.append(line)
    assert missed == []


@pytest.mark.parametrize("dict_size", [0x1000, 0x1800, 0x10000, 0x123400, 1 << 20, 1 << 24])
def test_lzma_alone_any_dictionary_size(dict_size: int) -> None:
    """joblib decompresses every file starting 5d 00, whatever the dictionary size."""
    from joblib.numpy_pickle_utils import _detect_compressor

    comp = lzma.LZMACompressor(
        format=lzma.FORMAT_ALONE, filters=[{"id": lzma.FILTER_LZMA1, "dict_size": dict_size}]
    )
    blob = comp.compress(b"\x80\x04" + GLOBAL + b".") + comp.flush()
    assert _detect_compressor(io.BytesIO(blob)) == "lzma"
    assert compression_of(blob[:512]) == "lzma"


@pytest.mark.parametrize("field", ["0x%017x", "%019x", "%-19x", "%019X"])
def test_joblib_compat_length_field(tmp_path: Path, field: str) -> None:
    """The 'ZF' format: joblib takes any int(field, 16) as the length."""
    data = b"\x80\x02" + GLOBAL + b"."
    path = tmp_path / "old.joblib"
    path.write_bytes(b"ZF" + (field % len(data)).encode() + zlib.compress(data))
    report = read_pickle_globals(path)
    assert report.container == "joblib-compat"
    assert [g.dotted for g in report.globals] == ["os.system"]


def test_text_that_starts_with_zf_is_not_compressed() -> None:
    assert compression_of(b"ZFS pool notes: resilver finished\n") is None


def test_names_from_the_file_cannot_break_a_message_line() -> None:
    ref = GlobalRef("os", "system\nerror: fake\x1b[2J" + "x" * 500, 0)
    assert ref.dotted.isprintable() and "\n" not in ref.dotted and len(ref.dotted) <= 200
