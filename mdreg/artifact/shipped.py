"""Which files of an artifact folder ship (in its zip), and how each is stored.

Which: everything under the folder but what ``.model-ignore`` leaves out (default rules
when the file is absent); score.py, runtime.yaml, the manifest and every file it lists are
kept even when a pattern matches them; ``test_json_output.json`` is never shipped, at any
depth. Empty folders are not stored.

Symlinks: a link that is ignored is skipped without being followed. A link to a file
inside the folder ships as that file's content (the service unpacks no links). A link
that leaves the folder, a dangling link, a link to a folder, and anything that is not a
regular file (FIFO, socket, device) are refused with ArtifactError.

How: stored or deflated, from the file's name, first bytes and size (``compression_for``).
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import Any

from mdreg.artifact import layout
from mdreg.artifact.ignore import IgnoreRules
from mdreg.artifact.manifest import attested, read_manifest
from mdreg.errors import ArtifactError, InputError

ALWAYS_KEEP = (layout.SCORE_PY, layout.RUNTIME_YAML)
NEVER_SHIP = frozenset({layout.ADS_TEST_RESULTS})


def keep_set(root: Path) -> set[str]:
    """Paths kept whatever .model-ignore says: score.py, runtime.yaml, the manifest, its files."""
    return keep_set_of(read_manifest(Path(root)))


def keep_set_of(manifest: dict[str, Any] | None) -> set[str]:
    """``keep_set`` for a folder whose manifest (or None) was read already."""
    keep = set(ALWAYS_KEEP)
    if manifest is not None:
        keep.add(layout.MANIFEST)
        keep.update(clean_rel(str(name)) for name in attested(manifest))
    return keep


def iter_artifact_files(
    root: Path, rules: IgnoreRules, keep: set[str]
) -> tuple[list[str], list[str]]:
    """(included, skipped) relative posix paths under ``root``, both sorted.

    Ignored folders are pruned and reported once as ``"folder/"`` unless a kept path lies
    below them. Raises ArtifactError for a link leaving the folder, a dangling link, a
    link to a folder, or a special file, among the files that would be included.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"not a folder: {root}")
    walk = _Walk(os.path.realpath(root), rules, keep)
    walk.visit("")
    return sorted(walk.included), sorted(walk.skipped)


class _Walk:
    def __init__(self, real_root: str, rules: IgnoreRules, keep: set[str]) -> None:
        self.real_root = real_root
        self.rules = rules
        self.keep = keep
        self.keep_dirs = {p.rsplit("/", i)[0] for p in keep for i in range(1, p.count("/") + 1)}
        self.included: list[str] = []
        self.skipped: list[str] = []

    def visit(self, rel_dir: str) -> None:
        with os.scandir(os.path.join(self.real_root, rel_dir)) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            self._visit_entry(entry, rel)

    def _visit_entry(self, entry: os.DirEntry[str], rel: str) -> None:
        is_link = entry.is_symlink()
        is_dir = entry.is_dir(follow_symlinks=True)  # a stat, not a read: safe for any link
        ignored = self.rules.is_ignored(rel, is_dir) and rel not in self.keep
        if is_dir:
            if ignored and rel not in self.keep_dirs:
                self.skipped.append(rel + "/")
            elif is_link:
                raise ArtifactError(
                    f"{rel} is a symlink to a folder: copy the folder into the artifact "
                    "or add the link to .model-ignore"
                )
            else:
                self.visit(rel)
        elif ignored or entry.name in NEVER_SHIP:
            self.skipped.append(rel)
        else:
            real = resolve_member(self.real_root, rel)
            if is_link:
                self._check_link_target(rel, real)
            self.included.append(rel)

    def _check_link_target(self, rel: str, real: str) -> None:
        # a link must not smuggle in a file the rules leave out, such as .env or a key
        target = os.path.relpath(real, self.real_root).replace(os.sep, "/")
        if self.rules.is_ignored(target) and target not in self.keep:
            raise ArtifactError(
                f"{rel} is a symlink to {target}, which .model-ignore leaves out: refused"
            )


def resolve_member(real_root: str, rel: str) -> str:
    """Real path of the regular file ``rel``, refusing links out of the artifact folder."""
    path = os.path.join(real_root, *rel.split("/"))
    real = os.path.realpath(path)
    if real != path:  # a link, somewhere on the way
        if not os.path.exists(real):
            raise ArtifactError(f"{rel} is a broken symlink")
        if os.path.commonpath([real_root, real]) != real_root:
            raise ArtifactError(
                f"{rel} is a symlink to {real}, outside the artifact folder: "
                "copy the file into the artifact or add the link to .model-ignore"
            )
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        raise ArtifactError(f"cannot read {rel}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(mode):
        raise ArtifactError(f"{rel} is not a regular file (FIFO, socket or device): remove it")
    return real


def clean_rel(name: str) -> str:
    rel = name.replace("\\", "/")
    while rel.startswith("./"):
        rel = rel[2:]
    return rel.strip("/")


# ---------------------------------------------------------------------------------------
# Stored or deflated

_STORED_SUFFIXES = frozenset(
    {
        # zip containers and compressed streams
        ".zip",
        ".keras",
        ".pt",
        ".pth",
        ".pt2",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".lzma",
        ".zst",
        ".lz4",
        ".7z",
        ".jar",
        ".whl",
        # float weights and columnar data barely deflate, and deflating them is slow
        ".h5",
        ".hdf5",
        ".npy",
        ".npz",
        ".safetensors",
        ".bin",
        ".ubj",
        ".onnx",
        ".tflite",
        ".parquet",
        ".orc",
        ".avro",
        ".arrow",
        ".feather",
        ".ckpt",
        ".gguf",
        # media
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".mp3",
        ".mp4",
    }
)
_DEFLATED_SUFFIXES = frozenset(
    {
        ".py",
        ".json",
        ".yaml",
        ".yml",
        ".txt",
        ".csv",
        ".tsv",
        ".md",
        ".rst",
        ".cfg",
        ".ini",
        ".toml",
        ".xml",
        ".html",
        ".pbtxt",
        ".ipynb",
        ".sql",
        ".r",
        ".sh",
        ".pkl",
        ".pickle",
        ".joblib",
        ".sav",
        ".model",
        ".pb",
        ".index",
        ".proto",
    }
)
_COMPRESSED_MAGIC = (
    b"PK\x03\x04",  # zip (torch .pt, .keras, .pt2)
    b"\x1f\x8b",  # gzip (joblib compress=gzip)
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz / lzma joblib
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\x04\x22\x4d\x18",  # lz4 frame
    b"\x89HDF\r\n\x1a\n",  # HDF5 (Keras .h5)
    b"\x93NUMPY",  # .npy
    b"PAR1",  # parquet
    b"\x89PNG",
    b"\xff\xd8\xff",  # jpeg
)
_BINARY_STORE_FROM = 1 << 20


def compression_for(name: str, head: bytes, size: int) -> int:
    """ZIP_STORED or ZIP_DEFLATED for a file, from its name, first bytes and size.

    In order: empty -> stored; content that is already compressed (zip, gzip, bzip2, xz,
    zstd, lz4, zlib streams) or HDF5/npy/parquet by magic bytes -> stored; a known binary
    suffix (.keras .pt .pth .pt2 .h5 .npy .safetensors .bin .ubj .onnx ...) -> stored; a
    known text or pickle suffix (.py .json .yaml .txt .csv .md .pkl .joblib ...) ->
    deflated (LightGBM .txt and XGBoost .json shrink 3-5x, pickled trees 2-4x);
    anything else -> stored when it is binary (a NUL in its first bytes) and over
    1 MiB, otherwise deflated.
    """
    if size == 0:
        return zipfile.ZIP_STORED
    if head.startswith(_COMPRESSED_MAGIC) or _is_zlib_stream(head):
        return zipfile.ZIP_STORED
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _STORED_SUFFIXES:
        return zipfile.ZIP_STORED
    if suffix in _DEFLATED_SUFFIXES:
        return zipfile.ZIP_DEFLATED
    if b"\x00" in head and size >= _BINARY_STORE_FROM:
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def _is_zlib_stream(head: bytes) -> bool:
    # joblib's compress=zlib writes a bare zlib stream: CMF=0x78 and a valid header checksum
    return len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0
