"""Entry points of one group, read the way ``importlib.metadata.entry_points(group=...)``
reads them, without importing ``importlib.metadata``.

``importlib.metadata`` pulls in ``email``, ``zipfile``, ``csv`` and friends (~25 ms here)
and builds a Distribution object per installed package (~15 ms for a hundred); every
command that detects a framework pays that. This reader lists each ``sys.path`` folder
once, keeps the first ``*.dist-info`` / ``*.egg-info`` per normalized project name (the
same de-duplication and order as ``importlib.metadata``) and parses only the
``entry_points.txt`` files that exist. Anything it does not handle exactly as
``importlib.metadata`` does (a zip or egg on ``sys.path``, another distribution finder
on ``sys.meta_path``, a metadata folder whose name does not give the project name, a
malformed file) sends the whole lookup to ``importlib.metadata`` instead.
"""

from __future__ import annotations

import os
import re  # already imported by pathlib: free here
import sys
from dataclasses import dataclass
from typing import Any


class _Unsupported(Exception):
    """This environment needs the real importlib.metadata."""


@dataclass(frozen=True)
class EntryPoint:
    """The part of ``importlib.metadata.EntryPoint`` the registry uses."""

    name: str
    value: str
    group: str

    def load(self) -> Any:
        import functools
        from importlib import import_module

        # importlib.metadata.EntryPoint.pattern
        match = re.match(
            r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$", self.value
        )
        if match is None:
            raise ValueError(f"malformed entry point value {self.value!r}")
        module = import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return functools.reduce(getattr, attrs, module)


def entry_points(group: str) -> list[Any]:
    """The entry points of ``group`` from every installed distribution, in
    ``importlib.metadata``'s order."""
    try:
        return _read(group)
    except _Unsupported:
        import importlib.metadata

        return list(importlib.metadata.entry_points(group=group))


def _normalize(name: str) -> str:
    """importlib.metadata.Prepared.normalize (PEP 503, dashes as underscores)."""
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _read(group: str) -> list[EntryPoint]:
    import importlib.machinery  # already imported by the import system

    for finder in sys.meta_path:
        if finder is not importlib.machinery.PathFinder and hasattr(finder, "find_distributions"):
            raise _Unsupported
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for entry in sys.path:
        root = entry or "."
        try:
            children = os.listdir(root)
        except NotADirectoryError:
            raise _Unsupported from None  # a zip on sys.path
        except OSError:
            continue
        if os.path.basename(root).lower().endswith(".egg"):
            raise _Unsupported
        by_name: dict[str, list[str]] = {}  # Lookup.infos: grouped, in listing order
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                if not child.endswith((".dist-info", ".egg-info")):
                    raise _Unsupported  # the name would come from the METADATA file
                by_name.setdefault(_normalize(low.rpartition(".")[0].partition("-")[0]), []).append(
                    child
                )
        for children_of_name in by_name.values():
            for child in children_of_name:
                name = _normalize(child.rpartition(".")[0].partition("-")[0])
                if name in seen:
                    continue
                seen.add(name)
                found += _from_file(os.path.join(root, child, "entry_points.txt"), group)
    return found


def _from_file(path: str, group: str) -> list[EntryPoint]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return []
    except (OSError, UnicodeDecodeError):
        raise _Unsupported from None
    section, out = None, []
    for line in map(str.strip, text.splitlines()):  # importlib.metadata.Sectioned.read
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
            continue
        if section is None:
            continue
        if "=" not in line:
            raise _Unsupported  # importlib.metadata raises here: let it say so
        if section == group:
            name, value = line.split("=", 1)
            out.append(EntryPoint(name.strip(), value.strip(), group))
    return out
