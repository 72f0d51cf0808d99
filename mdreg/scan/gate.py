"""The safety gate: whether a model file may be unpickled, and unpicklers that hold to it.

The scan reads the bytes; the gate turns its report into a ``Clearance``: the verdict,
whether ``--trust`` was needed, and the exact globals a load may import. The loaders
below enforce that set where the code runs: their ``find_class`` imports a global only
if the scan saw it (and judged it safe, or the user trusted the file). A walker fooled
by some future trick still cannot make a load import ``os.system``: the unpickler then
asks for a global the scan never reported, and is refused.

With ``--trust`` on a stream the walker could not parse, there is no list to hold a
load to: the clearance says so (``globals`` is None), and the load is unrestricted.

Two more verdicts are given here: ``clear_folder`` on an unpacked artifact (``load``),
and ``clear_nested`` on a file nested in a model file that a framework's loader
unpickles on its own (the members of a ``.pt2``), where there is no ``--trust``.
"""

from __future__ import annotations

import io
import pickle
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mdreg._text import with_article
from mdreg.errors import UnsafeModelError
from mdreg.scan.policy import Finding, Verdict, judge, worst
from mdreg.scan.report import PickleReport
from mdreg.scan.scanner import judge_report, scan_path

#: torch.load renames these modules before its find_class sees them
TORCH_MODULE_RENAMES = {"torch.tensor": "torch._tensor"}


@dataclass(frozen=True)
class Clearance:
    """What the gate let through."""

    verdict: str  # "safe", "unknown", "dangerous", or "not-pickle"
    trusted: bool  # loaded only because of --trust
    #: (module, name) pairs a load may import; None: unrestricted (no list to hold it to)
    globals: frozenset[tuple[str, str]] | None

    def listed(self) -> list[list[str]]:
        """The globals as sorted [module, name] pairs (JSON and score.py)."""
        return [list(g) for g in sorted(self.globals or ())]


NOT_PICKLE = Clearance("not-pickle", False, frozenset())


def clear(
    report: PickleReport | None,
    frameworks: Iterable[str] | None,
    *,
    trust: bool,
    subject: str | Path,
    admitted: frozenset[tuple[str, str]] = frozenset(),
) -> Clearance:
    """Judge a walked file for the given allow-lists; raise ``UnsafeModelError`` (exit 4)
    unless it is safe or ``trust`` is given. A stream that cannot be parsed is as unsafe
    as a dangerous global: two readers could read it two ways. ``admitted``: globals the
    user vouches for by shipping their code (``--model-code``); never a denied one."""
    if report is None:
        return NOT_PICKLE
    if report.error:
        if not trust:
            raise UnsafeModelError(
                f"{subject}: cannot be parsed ({report.error}); refusing to load what cannot "
                "be checked (pass --trust if you trust its author)"
            )
        return Clearance(Verdict.DANGEROUS.value, True, None)
    verdict, findings = admit(*judge_report(report, frameworks), admitted)
    if verdict is not Verdict.SAFE and not trust:
        names = ", ".join(sorted({f.ref.dotted for f in findings if f.ref}))
        why = f"references {names}" if names else findings[0].reason
        raise UnsafeModelError(
            f"{subject}: refusing to load {with_article(verdict.value)} pickle ({why}); "
            "pass --trust if you trust its author"
        )
    seen = frozenset((g.module, g.name) for g in report.globals)
    return Clearance(verdict.value, verdict is not Verdict.SAFE, seen)


def admit(
    verdict: Verdict, findings: list[Finding], admitted: frozenset[tuple[str, str]]
) -> tuple[Verdict, list[Finding]]:
    """Drop the findings on ``admitted`` globals that are merely unknown (a denied global
    stays dangerous, shipped or not); the verdict of what is left."""
    if not admitted:
        return verdict, findings
    left = [
        f
        for f in findings
        if not (f.severity is Verdict.UNKNOWN and f.ref and (f.ref.module, f.ref.name) in admitted)
    ]
    return worst(f.severity for f in left), left


def refuse_unclaimed(path: Path, report: PickleReport | None) -> None:
    """A file no plugin claims, but whose pickle names a dangerous global or cannot be
    parsed: that is the news (exit 4, as ``mdreg scan`` says), not which --framework to
    pass. An unclaimed file that is merely unknown goes on to detection's own error."""
    if report is None:
        return
    if report.error:
        raise UnsafeModelError(
            f"{path}: cannot be parsed ({report.error}); refusing to load what cannot be "
            "checked, and mdreg cannot tell its framework either"
        )
    verdict, findings = judge(report.globals, None)
    if verdict is Verdict.DANGEROUS:
        shown = ", ".join(
            sorted({f.ref.dotted for f in findings if f.ref and f.severity is Verdict.DANGEROUS})
        )
        raise UnsafeModelError(
            f"{path}: refusing to load a dangerous pickle (references {shown}); mdreg cannot "
            "tell its framework either"
        )


def clear_folder(
    folder: Path, frameworks: Iterable[str] | None, *, trust: bool, subject: str
) -> tuple[Verdict, list[str]]:
    """Scan every pickle in an unpacked artifact against the allow-lists of
    ``frameworks`` (None: every list): the verdict, and what made it unsafe as sorted
    ``file: global`` lines. Anything but safe raises ``UnsafeModelError`` (exit 4)
    unless ``trust`` is given."""
    report = scan_path(folder, frameworks)
    if report.verdict is Verdict.SAFE:
        return Verdict.SAFE, []
    findings = sorted({_finding_line(folder, f) for f in report.findings})
    if not trust:
        shown = "; ".join(findings[:5]) + ("; ..." if len(findings) > 5 else "")
        raise UnsafeModelError(
            f"{subject}: refusing to load an artifact with "
            f"{with_article(report.verdict.value)} pickle ({shown}); pass --trust if you "
            "trust its author"
        )
    return report.verdict, findings


def _finding_line(root: Path, finding: Finding) -> str:
    """``file: global`` (or ``file: why``) on one printable line."""
    try:
        where = finding.path.relative_to(root).as_posix() if finding.path else "?"
    except ValueError:
        where = str(finding.path)
    what = finding.ref.dotted if finding.ref else finding.reason
    text = f"{where}: {what}"
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def clear_nested(
    report: PickleReport,
    frameworks: Iterable[str] | None,
    *,
    subject: str,
    loader: str,
    unpickled: bool,
) -> None:
    """Judge a file nested in a model file that ``loader`` unpickles on its own, with no
    ``--trust`` to fall back on: a global the allow-lists do not clear raises
    ``UnsafeModelError`` (exit 4), and so does a stream that cannot be parsed when
    ``unpickled`` (the loader reads it); one the loader does not unpickle may be raw
    bytes that merely start like a pickle, and passes. ``subject`` names the file."""
    if report.error:
        if unpickled:
            raise UnsafeModelError(
                f"{subject} cannot be checked ({report.error}); refusing to load it"
            )
        return
    verdict, findings = judge(report.globals, frameworks)
    if verdict is not Verdict.SAFE:
        names = ", ".join(sorted({f.ref.dotted for f in findings if f.ref}))
        raise UnsafeModelError(
            f"{subject} references {names}, which {loader} would unpickle; refusing to load it"
        )


# -- loaders that hold to a clearance ---------------------------------------------------


def _guarded(base: type, allowed: frozenset[tuple[str, str]] | None) -> type:
    """``base`` (an Unpickler class) with a find_class that admits ``allowed`` only."""
    if allowed is None:
        return base
    cls: type[Any]  # defined below, once find_class exists

    def find_class(self: Any, module: str, name: str) -> Any:
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(
                f"refusing to import {module}.{name}: mdreg's scan did not clear it"
            )
        return super(cls, self).find_class(module, name)

    cls = type(f"Guarded{base.__name__}", (base,), {"find_class": find_class})
    return cls


def load_pickle(file: BinaryIO, allowed: frozenset[tuple[str, str]] | None) -> Any:
    """``pickle.load(file)``, importing only ``allowed`` globals."""
    return _guarded(pickle.Unpickler, allowed)(file).load()


def load_joblib(path: Path, allowed: frozenset[tuple[str, str]] | None) -> Any:
    """``joblib.load(path)`` (plain or compressed, plain pickles too), importing only
    ``allowed`` globals: joblib's own NumpyUnpickler with the guarded find_class."""
    import joblib  # a framework dependency, imported to load only
    from joblib import numpy_pickle as jp

    if allowed is None:
        return joblib.load(path)
    unpickler = _guarded(jp.NumpyUnpickler, allowed)
    with open(path, "rb") as f:
        opener = getattr(jp, "_validate_fileobject_and_memmap", None)
        if opener is not None:  # joblib >= 1.5
            with opener(f, str(path), None) as (fobj, _):
                _refuse_side_files(fobj, path)
                return unpickler(str(path), fobj, True, mmap_mode=None).load()
        with jp._read_fileobject(f, str(path), None) as fobj:
            _refuse_side_files(fobj, path)
            return unpickler(str(path), fobj, mmap_mode=None).load()


def _refuse_side_files(fobj: Any, path: Path) -> None:
    if isinstance(fobj, str):  # joblib < 0.10: arrays in side files, read by another loader
        raise UnsafeModelError(
            f"{path}: a joblib < 0.10 file cannot be loaded under the scan's "
            "allow-list; re-save it with a current joblib"
        )


def torch_pickle_module(
    allowed: frozenset[tuple[str, str]] | None, targets: Mapping[str, Any] | None = None
) -> Any:
    """A ``pickle_module`` for ``torch.load(weights_only=False)``: its Unpickler imports only
    ``allowed`` globals (with torch's module renames), finding them in ``targets``
    (``"module.name"`` -> object) first, e.g. a class pickled from ``__main__``."""
    found_in: Mapping[str, Any] = targets or {}
    if allowed is not None:
        allowed = allowed | {
            (TORCH_MODULE_RENAMES[m], n) for m, n in allowed if m in TORCH_MODULE_RENAMES
        }
    base = _guarded(pickle.Unpickler, allowed)

    class Unpickler(base):  # type: ignore[valid-type, misc]
        def find_class(self, module: str, name: str) -> Any:
            found = found_in.get(f"{module}.{name}")
            if found is not None and (allowed is None or (module, name) in allowed):
                return found
            return super().find_class(module, name)

    def load(file: BinaryIO, **kwargs: Any) -> Any:
        return Unpickler(file, **kwargs).load()

    def loads(data: bytes, **kwargs: Any) -> Any:
        return load(io.BytesIO(data), **kwargs)

    # torch's legacy format reads its first streams with load(), the object with Unpickler
    return types.SimpleNamespace(
        Unpickler=Unpickler, load=load, loads=loads, __name__="mdreg_guarded_pickle"
    )
