""".model-ignore: which files of an artifact folder stay out of its zip.

The syntax is gitignore's, a superset of what ADS reads:

- one pattern a line; blank lines and lines starting with ``#`` are skipped;
  ``\\#`` and ``\\!`` start a pattern with a literal ``#`` or ``!``;
- ``!pattern`` re-includes what an earlier line excluded (the last matching line wins);
- a trailing ``/`` matches folders only (and so everything under them);
- a leading ``/``, or a ``/`` anywhere but at the end, anchors the pattern to the
  artifact root; otherwise it matches a name at any depth;
- ``*`` and ``?`` never match ``/``; ``[abc]``, ``[a-z]``, ``[!a-z]`` match one character;
- ``**/x`` matches ``x`` at any depth, ``x/**`` everything inside ``x``, ``a/**/b``
  zero or more folders between ``a`` and ``b``; other ``**`` act as ``*``.

Git's rule on re-including is kept: a file under an excluded folder cannot be
re-included, because git (and this walk) never looks inside an excluded folder.
Write ``logs/*`` then ``!logs/keep.txt`` rather than ``logs/`` then ``!logs/keep.txt``.

Differences from ADS, whose matcher is ``re.search(fnmatch.translate('/' + pattern),
full_path)`` on every path, applied line by line:

- ADS has no ``!``; in ADS a leading ``!`` is a literal character.
- In ADS ``*`` also matches ``/``: ``data/*.csv`` there drops ``x/data/a/b.csv``; here only
  ``data/a.csv`` (and ``data/a`` folders are not matched by ``*.csv``).
- ADS matches every pattern as a path suffix, so ``models/tmp.bin`` drops
  ``sub/models/tmp.bin`` too; here a pattern with an inner ``/`` is anchored to the
  root (write ``**/models/tmp.bin`` for the ADS meaning).
- ADS turns ``build/`` into ``build*``, which also drops a file named ``build.txt``;
  here ``build/`` matches folders named exactly ``build``.
- ADS does not prune folders: its ``.venv`` (no ``/``) drops the folder's own entry but
  still ships ``.venv/bin/python``; here a matched folder takes everything inside with it.
- ADS strips spaces at both ends of a line; so does this parser (git keeps leading
  spaces), except that a trailing space escaped as ``\\ `` is kept, as in git.

POSIX classes such as ``[[:digit:]]`` are not supported. Matching is case-sensitive.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mdreg.errors import ArtifactError

MODEL_IGNORE_NAME = ".model-ignore"

DEFAULT_MODEL_IGNORE = """\
# .model-ignore: files left out of the artifact zip (gitignore syntax).
# score.py, runtime.yaml, model_artifact_manifest.json and every file the manifest
# lists are always kept, even when a pattern below matches them.

# Python caches
__pycache__/
*.py[cod]
*$py.class
.mypy_cache/
.pytest_cache/
.ruff_cache/
.ipynb_checkpoints/

# Build and packaging output
build/
dist/
*.egg-info/
.eggs/

# Virtual environments
.venv/
venv/
env/
ENV/

# Secrets and credentials: never ship them
.env
.env.*
.oci/
*.pem
*.key
id_rsa*
id_dsa*
id_ecdsa*
id_ed25519*

# Logs
*.log
logs/

# Operating system and version-control clutter
.DS_Store
.git/

# ADS writes its introspection results here; they describe a run, not the model
test_json_output.json
"""


@dataclass(frozen=True)
class _Rule:
    line: str
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


class IgnoreRules:
    """Compiled .model-ignore patterns; ask ``is_ignored(relpath, is_dir)``."""

    def __init__(self, lines: Iterable[str] = ()) -> None:
        self._rules: list[_Rule] = []
        for number, line in enumerate(lines, start=1):
            rule = _parse_line(line, number)
            if rule is not None:
                self._rules.append(rule)
        self._dir_cache: dict[str, bool] = {}

    @classmethod
    def from_text(cls, text: str) -> IgnoreRules:
        return cls(text.lstrip("\ufeff").splitlines())

    @classmethod
    def from_file(cls, path: Path | str) -> IgnoreRules:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"cannot read ignore file {path}: {exc}") from exc
        try:
            return cls.from_text(text)
        except ArtifactError as exc:
            raise ArtifactError(f"{path}: {exc}") from exc

    @classmethod
    def default(cls) -> IgnoreRules:
        return cls.from_text(DEFAULT_MODEL_IGNORE)

    @classmethod
    def for_artifact(cls, root: Path | str) -> IgnoreRules:
        """The artifact's own .model-ignore, or the default rules when it has none."""
        path = Path(root) / MODEL_IGNORE_NAME
        return cls.from_file(path) if path.is_file() else cls.default()

    @property
    def patterns(self) -> list[str]:
        return [rule.line for rule in self._rules]

    def is_ignored(self, relpath: str, is_dir: bool = False) -> bool:
        """Whether ``relpath`` (relative to the artifact root, ``/`` or os.sep) is left out.

        A path under an ignored folder is ignored whatever later lines say (git's rule).
        """
        rel = _normalize(relpath)
        if not rel:
            return False
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            if self._dir_ignored("/".join(parts[:depth])):
                return True
        return self._last_match(rel, is_dir)

    def _dir_ignored(self, rel: str) -> bool:
        # Folders are asked about once per file below them: remember the answer.
        cached = self._dir_cache.get(rel)
        if cached is None:
            cached = self._dir_cache[rel] = self._last_match(rel, True)
        return cached

    def _last_match(self, rel: str, is_dir: bool) -> bool:
        for rule in reversed(self._rules):
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.fullmatch(rel):
                return not rule.negate
        return False


def _normalize(relpath: str) -> str:
    rel = relpath.replace(os.sep, "/") if os.sep != "/" else relpath
    while rel.startswith("./"):
        rel = rel[2:]
    return rel.strip("/")


def _parse_line(line: str, number: int) -> _Rule | None:
    text = _strip_line(line)
    if not text or text.startswith("#"):
        return None
    negate = text.startswith("!")
    if negate or text.startswith(("\\#", "\\!")):  # drop the "!" or the escaping backslash
        text = text[1:]
    dir_only = text.endswith("/") and not text.endswith("\\/")
    body = text.rstrip("/") if dir_only else text
    anchored = "/" in body
    body = body.lstrip("/")
    if not body:
        return None
    source = _translate(body, anchored)
    try:
        regex = re.compile(source, re.DOTALL)
    except re.error as exc:
        raise ArtifactError(f"line {number}: bad pattern {line.strip()!r} ({exc})") from exc
    return _Rule(line.strip(), regex, negate, dir_only)


def _strip_line(line: str) -> str:
    text = line.rstrip("\r\n").lstrip()
    stripped = text.rstrip(" \t")
    # git keeps a trailing space that is escaped with a backslash
    if len(stripped) < len(text) and stripped.endswith("\\") and not stripped.endswith("\\\\"):
        return stripped[:-1] + text[len(stripped)]
    return stripped


def _translate(body: str, anchored: bool) -> str:
    out = "" if anchored else "(?:.*/)?"
    segments = body.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "**":
            out += ".*" if last else "(?:.*/)?"
        else:
            out += _glob_segment(segment) + ("" if last else "/")
    return out


def _glob_segment(segment: str) -> str:
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        c = segment[i]
        if c == "*":
            while i < n and segment[i] == "*":  # "**" inside a name is a plain "*"
                i += 1
            out.append("[^/]*")
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[":
            bracket = _bracket(segment, i)
            if bracket is not None:
                out.append(bracket[0])
                i = bracket[1]
                continue
            out.append(re.escape(c))
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(segment[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _bracket(segment: str, start: int) -> tuple[str, int] | None:
    """Regex for the character class opening at ``start`` and the index after it, or None."""
    j = start + 1
    negate = j < len(segment) and segment[j] in "!^"
    if negate:
        j += 1
    body_start = j
    if j < len(segment) and segment[j] == "]":  # a "]" right after "[" is literal
        j += 1
    while j < len(segment) and segment[j] != "]":
        j += 2 if segment[j] == "\\" else 1
    if j >= len(segment):
        return None  # unclosed: the "[" is a literal character
    chars: list[str] = []
    k = body_start
    while k < j:
        c = segment[k]
        if c == "\\" and k + 1 < j:
            k += 1
            chars.append(re.escape(segment[k]))
        elif c in "\\[]^":
            chars.append("\\" + c)
        else:
            chars.append(c)
        k += 1
    return "[" + ("^/" if negate else "") + "".join(chars) + "]", j + 1
