"""Reading a PyTorch file: what kind it is (TorchScript, a ``.pt2`` archive, a
``torch.save`` pickle), the nested files of a ``.pt2`` judged before ``torch.export.load``
unpickles them, and TorchScript loaded."""

from __future__ import annotations

import contextlib
import shutil
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mdreg.errors import InputError
from mdreg.frameworks.pytorch.model import EXPORT, MODULE, TORCHSCRIPT


def file_kind(path: Path) -> str:
    from mdreg.scan import read_pickle_globals

    report = read_pickle_globals(path)
    if report.container == "torchscript-zip":
        return TORCHSCRIPT
    if report.container in ("torch-zip", "torch-legacy"):
        return MODULE
    if report.container == "zip" and pt2_kind(path):
        return EXPORT
    raise InputError(f"{path}: not a PyTorch file (TorchScript, .pt2, or torch.save output)")


def pt2_kind(path: Path) -> str | None:
    """What a zip that ``torch.export.save`` (or AOTInductor) wrote is, from its names."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            marker = next((n for n in names if n.rsplit("/", 1)[-1] == "archive_format"), None)
            if marker is None or zf.getinfo(marker).file_size > 64:
                return None
            if zf.read(marker).strip() != b"pt2":
                return None
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    if any("/data/aotinductor/" in f"/{n}" for n in names):
        return "AOTInductor .pt2 package"
    return "torch.export .pt2 archive"


def scan_pt2_members(path: Path) -> None:
    """Judge the torch.save files nested in a .pt2 before torch.export.load unpickles them.

    ``torch.export.load`` reads the sample inputs, and weights or constants stored "pickled",
    with ``torch.load`` -- falling back to ``weights_only=False``. mdreg's scan of the outer
    zip does not look inside those members, so each member that starts like a zip or a
    pickle is written out and scanned here: one that references anything outside the torch
    allow-list is refused; one that cannot be parsed is refused if torch would load it
    (and skipped otherwise: raw tensor bytes can start with any byte). The gate
    (``mdreg.scan.gate.clear_nested``) decides.
    """
    from mdreg.scan import read_pickle_globals
    from mdreg.scan.gate import clear_nested

    if pt2_kind(path) != "torch.export .pt2 archive":
        raise InputError(
            f"{path}: an AOTInductor package holds compiled code mdreg does not "
            "load; save the ExportedProgram with torch.export.save instead"
        )
    import tempfile  # not needed to sniff

    with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory(prefix="mdreg-pt2-") as tmp:
        loaded = _pt2_pickled_members(zf)
        for info in zf.infolist():
            if info.is_dir():
                continue
            with zf.open(info) as member:
                head = member.read(4)
            zip_or_pickle = head.startswith(b"PK\x03\x04") or (
                head[:1] == b"\x80" and head[1:2] < b"\x06"
            )
            if not zip_or_pickle:
                continue  # raw tensor bytes, JSON, text
            nested = Path(tmp, "member")
            with zf.open(info) as member, nested.open("wb") as out:
                shutil.copyfileobj(member, out)
            clear_nested(
                read_pickle_globals(nested),
                ["torch"],
                subject=f"{path}: the nested file {info.filename}",
                loader="torch.export.load",
                unpickled=info.filename in loaded,
            )


def _pt2_pickled_members(zf: zipfile.ZipFile) -> set[str]:
    """The members of a .pt2 that torch.export.load passes to torch.load."""
    import json

    names = zf.namelist()
    loaded = {n for n in names if "/data/sample_inputs/" in f"/{n}"}
    for name in names:
        folder, _, base = name.rpartition("/")
        if folder.endswith(("data/weights", "data/constants")):
            if base.endswith(".pt"):  # the legacy layout: one pickled file per model
                loaded.add(name)
            if base.endswith("_config.json"):
                try:
                    config = json.loads(zf.read(name)).get("config", {})
                    loaded |= {
                        f"{folder}/{entry['path_name']}"
                        for entry in config.values()
                        if isinstance(entry, dict) and entry.get("use_pickle")
                    }
                except (ValueError, AttributeError, KeyError, TypeError):
                    continue
    return loaded


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    # torch 2.13 marks torch.jit deprecated; the warning is for authors, not for loading.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def load_torchscript(path: Path) -> Any:
    import torch

    with _quiet_jit():
        module = torch.jit.load(str(path), map_location="cpu")
    return module.eval()
