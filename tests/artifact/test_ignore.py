"""The .model-ignore matcher: gitignore semantics, ADS patterns, the default file."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from mdreg.artifact.ignore import DEFAULT_MODEL_IGNORE, IgnoreRules
from mdreg.errors import ArtifactError

# (patterns, relpath, is_dir, ignored)
CASES = [
    # a pattern without "/" matches a name at any depth
    (["*.log"], "a.log", False, True),
    (["*.log"], "x/y/a.log", False, True),
    (["*.log"], "a.log.txt", False, False),
    (["model.bin"], "sub/model.bin", False, True),
    # "*" and "?" stop at "/"
    (["data/*.csv"], "data/a.csv", False, True),
    (["data/*.csv"], "data/sub/a.csv", False, False),
    (["?.txt"], "a.txt", False, True),
    (["?.txt"], "ab.txt", False, False),
    # a leading or inner "/" anchors to the root
    (["/model.bin"], "model.bin", False, True),
    (["/model.bin"], "sub/model.bin", False, False),
    (["models/tmp.bin"], "models/tmp.bin", False, True),
    (["models/tmp.bin"], "sub/models/tmp.bin", False, False),
    (["data/*.csv"], "x/data/a.csv", False, False),
    # a trailing "/" matches folders only, and so everything under them
    (["build/"], "build", True, True),
    (["build/"], "build", False, False),
    (["build/"], "build/lib/x.py", False, True),
    (["build/"], "src/build/x.py", False, True),
    (["build/"], "build.txt", False, False),
    (["sub"], "sub/x.py", False, True),
    # negation: the last matching line wins
    (["*.json", "!keep.json"], "a.json", False, True),
    (["*.json", "!keep.json"], "keep.json", False, False),
    (["*.json", "!keep.json"], "sub/keep.json", False, False),
    (["!a.txt", "a.txt"], "a.txt", False, True),
    # ...but nothing under an excluded folder comes back (git's rule)
    (["logs/", "!logs/keep.txt"], "logs/keep.txt", False, True),
    (["logs/*", "!logs/keep.txt"], "logs/keep.txt", False, False),
    (["logs/*", "!logs/keep.txt"], "logs/other.txt", False, True),
    (["logs/*", "!logs/keep.txt"], "logs/deep/keep.txt", False, True),
    # "**"
    (["**/cache"], "cache", True, True),
    (["**/cache"], "a/b/cache", False, True),
    (["tmp/**"], "tmp/a", False, True),
    (["tmp/**"], "tmp/a/b", False, True),
    (["tmp/**"], "tmp", True, False),
    (["a/**/b"], "a/b", False, True),
    (["a/**/b"], "a/x/b", False, True),
    (["a/**/b"], "a/x/y/b", False, True),
    (["a/**/b"], "a/x/c", False, False),
    (["a/**/b"], "z/a/b", False, False),
    (["**"], "anything/at/all", False, True),
    (["a**b"], "x/aqqb", False, True),  # "**" inside a name is a plain "*"
    (["a**b"], "a/b", False, False),
    # character classes
    (["*.py[cod]"], "x.pyc", False, True),
    (["*.py[cod]"], "x.pyd", False, True),
    (["*.py[cod]"], "x.py", False, False),
    (["[!a]*.txt"], "b.txt", False, True),
    (["[!a]*.txt"], "a.txt", False, False),
    (["file[0-9].txt"], "file5.txt", False, True),
    (["file[0-9].txt"], "filex.txt", False, False),
    (["a[b"], "a[b", False, True),  # unclosed "[" is literal
    (["[]]x"], "]x", False, True),
    # comments, blanks, escapes, whitespace
    (["# a comment", "", "   "], "# a comment", False, False),
    (["\\#notes.txt"], "#notes.txt", False, True),
    (["\\!important"], "!important", False, True),
    (["*.log   "], "a.log", False, True),
    (["  *.log"], "a.log", False, True),
    (["trail\\ "], "trail ", False, True),
    (["a.b"], "axb", False, False),  # "." is literal, not a regex dot
    # path spellings the caller may pass
    (["*.log"], "./a.log", False, True),
    (["build/"], "build/", True, True),
    # ADS-style patterns from its default file
    ([".venv"], ".venv", True, True),
    (["*$py.class"], "m$py.class", False, True),
    (["*.egg-info/"], "pkg.egg-info", True, True),
    (["*.egg-info/"], "pkg.egg-info/PKG-INFO", False, True),
]


@pytest.mark.parametrize(("patterns", "relpath", "is_dir", "ignored"), CASES)
def test_pattern_semantics(patterns: list[str], relpath: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules(patterns).is_ignored(relpath, is_dir) is ignored


@pytest.mark.parametrize(
    ("relpath", "is_dir"),
    [
        (".env", False),
        (".env.production", False),
        (".git", True),
        (".git/config", False),
        ("key.pem", False),
        ("certs/server.key", False),
        ("id_rsa", False),
        ("id_rsa.pub", False),
        (".oci/config", False),
        ("__pycache__", True),
        ("sub/__pycache__/score.cpython-311.pyc", False),
        ("score.pyc", False),
        (".ipynb_checkpoints/x.ipynb", False),
        ("build/x", False),
        ("dist/x.whl", False),
        ("mdreg.egg-info/PKG-INFO", False),
        (".venv/bin/python", False),
        ("venv", True),
        ("env/lib/x.py", False),
        ("train.log", False),
        ("logs/today.txt", False),
        (".DS_Store", False),
        ("sub/.DS_Store", False),
        ("test_json_output.json", False),
    ],
)
def test_default_rules_leave_out(relpath: str, is_dir: bool) -> None:
    assert IgnoreRules.default().is_ignored(relpath, is_dir)


@pytest.mark.parametrize(
    "relpath",
    [
        "score.py",
        "runtime.yaml",
        "input_schema.json",
        "output_schema.json",
        "model.joblib",
        "model.txt",
        "model.keras",
        ".model-ignore",
        "model_artifact_manifest.json",
        ".mdreg/metadata.json",
        "variables/variables.data-00000-of-00001",
        "env.py",
        ".envrc",
        "keyring.json",
    ],
)
def test_default_rules_keep(relpath: str) -> None:
    assert not IgnoreRules.default().is_ignored(relpath, False)


# ADS's default .model-ignore lines, and ADS's matcher, as ADS 2.x applies them
ADS_DEFAULT = [
    "__pycache__/",
    "*.py[cod]",
    "*$py.class",
    "*.so",
    ".Python",
    "env/",
    "build/",
    "develop-eggs/",
    "dist/",
    "downloads/",
    "eggs/",
    ".eggs/",
    "lib/",
    "lib64/",
    "parts/",
    "sdist/",
    "var/",
    "wheels/",
    "*.egg-info/",
    ".installed.cfg",
    "*.egg",
    "*.manifest",
    "*.spec",
    "pip-log.txt",
    "pip-delete-this-directory.txt",
    ".python-version",
    ".env",
    ".venv",
    "venv/",
    "ENV/",
    ".mypy_cache",
    ".pytest_cache",
    "logs/",
    "*.log",
]


def ads_ignored(patterns: list[str], relpath: str) -> bool:
    full = "/home/user/artifact/" + relpath
    for pattern in patterns:
        pattern = pattern[:-1] + "*" if pattern.endswith("/") else pattern
        if re.search(fnmatch.translate("/" + pattern.strip()), full):
            return True
    return False


@pytest.mark.parametrize(
    "relpath",
    [
        "score.py",
        "runtime.yaml",
        "model.joblib",
        "a.pyc",
        "sub/b.pyo",
        "x$py.class",
        "ext.so",
        "__pycache__/a.pyc",
        "sub/__pycache__/a.pyc",
        "build/x",
        "dist/y.whl",
        "pkg.egg-info/PKG-INFO",
        ".env",
        ".venv",
        "venv/x",
        "logs/a.txt",
        "sub/logs/a.txt",
        "train.log",
        "sub/train.log",
        ".mypy_cache",
        "app.spec",
        "lib/x.py",
        "input_schema.json",
        "model.txt",
    ],
)
def test_ads_default_file_means_the_same_here(relpath: str) -> None:
    ours = IgnoreRules(ADS_DEFAULT).is_ignored(relpath, False)
    assert ours == ads_ignored(ADS_DEFAULT, relpath)


@pytest.mark.parametrize(
    ("pattern", "relpath", "ads", "ours"),
    [
        # documented differences: inner "/" anchors here, "*" crosses "/" in ADS,
        # ADS turns "build/" into "build*", and ADS does not drop the files inside a
        # folder that a pattern without "/" names
        ("models/tmp.bin", "sub/models/tmp.bin", True, False),
        ("data/*.csv", "data/a/b.csv", True, False),
        ("build/", "build.txt", True, False),
        (".venv", ".venv/bin/python", False, True),
    ],
)
def test_documented_differences_from_ads(pattern: str, relpath: str, ads: bool, ours: bool) -> None:
    assert ads_ignored([pattern], relpath) is ads
    assert IgnoreRules([pattern]).is_ignored(relpath, False) is ours


def test_from_file_reads_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / ".model-ignore"
    path.write_bytes("\ufeff# comment\r\n*.csv\r\n!keep.csv\r\n".encode())
    rules = IgnoreRules.from_file(path)
    assert rules.patterns == ["*.csv", "!keep.csv"]
    assert rules.is_ignored("a.csv", False)
    assert not rules.is_ignored("keep.csv", False)


def test_bad_pattern_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / ".model-ignore"
    path.write_text("*.log\n[z-a].txt\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"line 2: bad pattern '\[z-a\]\.txt'"):
        IgnoreRules.from_file(path)


def test_unreadable_file_is_an_artifact_error(tmp_path: Path) -> None:
    path = tmp_path / ".model-ignore"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ArtifactError, match="cannot read ignore file"):
        IgnoreRules.from_file(path)


def test_for_artifact_uses_own_file_or_default(tmp_path: Path) -> None:
    assert IgnoreRules.for_artifact(tmp_path).patterns == IgnoreRules.default().patterns
    (tmp_path / ".model-ignore").write_text("*.csv\n", encoding="utf-8")
    rules = IgnoreRules.for_artifact(tmp_path)
    assert rules.patterns == ["*.csv"]
    assert not rules.is_ignored(".env", False)


def test_default_text_is_commented_and_parses() -> None:
    lines = DEFAULT_MODEL_IGNORE.splitlines()
    assert lines[0].startswith("#")
    assert len(IgnoreRules.default().patterns) == len(
        [line for line in lines if line.strip() and not line.startswith("#")]
    )
