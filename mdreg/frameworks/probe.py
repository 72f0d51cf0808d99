"""What can be learned about a model file without running it, computed once and shared
by every plugin's ``sniff``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from mdreg.errors import InputError
from mdreg.frameworks.detection import Detection
from mdreg.scan import PickleReport, is_pickle_like, read_pickle_globals
from mdreg.scan.containers import ZIP_MAGIC

HEAD_BYTES = 4096


@dataclass
class Probe:
    path: Path
    is_dir: bool = False
    size: int = 0
    head: bytes = b""
    names: list[str] = field(default_factory=list)  # entries of a folder, sorted
    #: walks the file's pickles: read_pickle_globals, or a cache in front of it
    read: Callable[[Path], PickleReport] = field(
        default=read_pickle_globals, repr=False, compare=False
    )

    @classmethod
    def of(cls, path: Path, read: Callable[[Path], PickleReport] | None = None) -> Probe:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir():
            return cls(path, is_dir=True, names=sorted(p.name for p in path.iterdir()))
        from mdreg.scan.containers import open_regular

        with open_regular(path) as f:  # a FIFO named like a model would block a plain open
            head = f.read(HEAD_BYTES)
        return cls(path, size=path.stat().st_size, head=head, read=read or read_pickle_globals)

    @cached_property
    def pickle(self) -> PickleReport | None:
        """Globals referenced by the file's pickle streams (opcodes walked, nothing run).

        A tar or 7z file, or a compressed archive, is no model file a loader reads: what
        its members hold is for ``mdreg scan``; here it is "not-pickle" with an error, so
        that no plugin claims it and the safety gate refuses to hand it to a loader."""
        if self.is_dir or not self.head or not is_pickle_like(self.head):
            return None
        report = self.read(self.path)
        if report.container in ("tar", "7z") or (
            report.container == "zip" and not self.head.startswith(ZIP_MAGIC)
        ):
            return PickleReport(
                self.path, "not-pickle", error=f"a {report.container} archive, not a pickle"
            )
        return report

    def global_names(self) -> list[str]:
        return [g.dotted for g in self.pickle.globals] if self.pickle else []

    def first_global(self, *prefixes: str) -> str | None:
        """The first referenced global under one of the module prefixes."""
        for name in self.global_names():
            if name.split(".", 1)[0] in prefixes:
                return name
        return None

    def claim_pickle(self, framework: str, module: str) -> Detection | None:
        """A pickle referencing ``module``: sure when the pickled object is the framework's
        own (its class is the stream's first global), a little less when it only holds one
        (a scikit-learn Pipeline around it): still above the sklearn plugin, whose
        allow-list would not cover the framework's classes."""
        report = self.pickle
        if report is None or not report.container.startswith(("pickle", "joblib")):
            return None
        found = self.first_global(module)
        if found is None:
            return None
        names = [n for n in self.global_names() if not n.startswith(("builtins.", "copyreg."))]
        outer = names[0] if names else found
        if outer.split(".", 1)[0] == module:
            return Detection(framework, 0.95, f"{report.container} stream pickles {found}")
        return Detection(
            framework, 0.92, f"{report.container} stream pickles {outer} holding {found}"
        )

    def describe(self) -> str:
        """One line on what was found, for 'cannot tell the framework' errors."""
        if self.is_dir:
            shown = ", ".join(self.names[:6]) + (", ..." if len(self.names) > 6 else "")
            return f"a folder holding {shown or 'nothing'}"
        if self.size == 0:
            return "an empty file"
        report = self.pickle
        if report is not None and report.container != "not-pickle":
            names = sorted({g.dotted for g in report.globals})
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            state = f" (damaged: {report.error})" if report.error else ""
            return f"a {report.container} file{state} referencing {shown or 'no globals'}"
        return f"a {self.size}-byte file starting with {self.head[:16]!r}"
