"""The checks every framework's tests run on the artifacts its plugin prepares.

A framework's test module adopts them in a few lines::

    SUITE = FrameworkSuite("lightgbm", version=lgb.__version__,
                           score_modules={"numpy", "pandas", "lightgbm"})

    @pytest.mark.parametrize("form", sorted(FORMS))
    def test_input_form_end_to_end(form, cli, tmp_path):
        SUITE.end_to_end(cli, MODELS / form, tmp_path, "--x-sample", SAMPLE,
                         payload=rows, expected=what_lightgbm_predicts(rows),
                         taxonomy={"Algorithm": "Booster(gbdt, binary)"}, model_file="model.txt")

``end_to_end`` is the whole chain: prepare → every introspection check passed → metadata
taxonomy → score.py imports only the inference environment → verify in a fresh interpreter,
answering what the framework itself answers (and what the model answered at prepare time,
on the kept sample) → zip. Each step is also here on its own, for tests that take the
chain apart (Spark prepares once per module and spends its one fresh JVM on verify).

``detect_in_fresh_interpreter`` is the other shared check: telling a model file's framework
reads bytes only, importing no framework.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mdreg.checks.introspect import introspect
from mdreg.checks.verify import VerifyResult, verify

#: What detection must not import: every framework mdreg knows, and what they pull in.
HEAVY = (
    "numpy",
    "pandas",
    "sklearn",
    "scipy",
    "joblib",
    "xgboost",
    "lightgbm",
    "torch",
    "tensorflow",
    "keras",
    "h5py",
    "pyspark",
    "py4j",
)

#: The one check introspection skips offline: whether the conda pack exists (network).
NETWORK_CHECK = "runtime_path_exist"


def metadata(art: Path) -> dict:
    return json.loads((art / ".mdreg/metadata.json").read_text())


def taxonomy(art: Path) -> dict:
    """The artifact's taxonomy metadata (Framework, Algorithm, UseCaseType, ...) by key."""
    return {i["key"]: i["value"] for i in metadata(art)["taxonomy"]}


def hyperparameters(art: Path) -> dict:
    """The model's hyperparameters: in the taxonomy, or in their own file when too long."""
    meta = metadata(art)
    if meta["mdreg"]["hyperparameters_file"]:
        return json.loads((art / meta["mdreg"]["hyperparameters_file"]).read_text())
    return taxonomy(art)["Hyperparameters"]


def assert_checks_pass(art: Path) -> None:
    """Every introspection check passed; only the network one is skipped."""
    results = {r.key: r for r in introspect(art).results}
    assert results.pop(NETWORK_CHECK).status.value == "skipped"
    failed = {
        k: (r.status.value, r.message) for k, r in results.items() if r.status.value != "passed"
    }
    assert results and not failed, failed


def score_imports(art: Path) -> set[str]:
    """The top-level modules score.py imports, anywhere in it (optional imports included)."""
    names = set()
    for node in ast.walk(ast.parse((art / "score.py").read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def assert_same(
    got: Any, expected: Any, *, labels: bool = False, rtol: float = 1e-5, atol: float = 1e-8
) -> None:
    """score.py's answer is the framework's own: the same shape, the same labels (strings,
    bools: as they are) or the same numbers within the tolerance."""
    expected = np.asarray(expected)
    assert np.asarray(got).shape == expected.shape, (np.asarray(got).shape, expected.shape)
    if labels:
        assert got == expected.tolist()
    else:
        np.testing.assert_allclose(np.asarray(got, dtype=float), expected, rtol=rtol, atol=atol)


def verified(art: Path, payload: Any = None, **kw: Any) -> VerifyResult:
    """verify(): score.py in a fresh interpreter, which must answer. Without a payload it
    is sent the kept sample, and must answer as the model did at prepare time (parity)."""
    if payload is not None and not isinstance(payload, (str, bytes)):
        payload = json.dumps(payload)
    result = verify(art, payload, **kw)
    assert result.ok, (result.stage, result.error, result.traceback, result.stderr[-2000:])
    if payload is None and (art / ".mdreg/sample_prediction.json").is_file():
        assert result.parity == "matches", result.parity
    return result


def detect_in_fresh_interpreter(paths: Mapping[str, Path] | Iterable[Path]) -> dict[str, list]:
    """Each model file's detection, done in a new interpreter that must not import any
    framework: {key (a name, or the file's name): [framework, confidence, evidence]}; a
    file nothing claims gives [the error's class name, 0, its message]."""
    named = dict(paths) if isinstance(paths, Mapping) else {Path(p).name: p for p in paths}
    files = {key: str(path) for key, path in named.items()}
    code = f"""
import json, sys
from pathlib import Path
from mdreg.frameworks.registry import default_registry
reg = default_registry()
found = {{}}
for key, path in {files!r}.items():
    try:
        plugin, det, probe = reg.detect(Path(path))
        found[key] = [det.framework, det.confidence, det.evidence]
    except Exception as exc:
        found[key] = [type(exc).__name__, 0, str(exc)]
print(json.dumps({{"found": found, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["heavy"] == [], f"detection imported {doc['heavy']}"
    return doc["found"]


@dataclass
class EndToEnd:
    """What ``FrameworkSuite.end_to_end`` made, for the framework's own further checks."""

    art: Path
    prepared: Any  # the prepare command's Run (code, out, err)
    taxonomy: dict
    imports: set[str]
    result: VerifyResult
    zipped: set[str] = field(default_factory=set)  # the zip's member names


@dataclass(frozen=True)
class FrameworkSuite:
    """One framework's shared checks: what prepare names it, the taxonomy it records and
    what its score.py may import."""

    name: str  # as prepare reports it: "framework: NAME"
    score_modules: frozenset[str] | set[str]  # besides the stdlib and the artifact's own .py
    version: str | None = None  # FrameworkVersion, when it is known exactly
    taxonomy_name: str | None = None  # Framework in the taxonomy, where not ``name``
    score_module: str | None = None  # the module score.py always imports, if there is one

    def prepare(self, cli: Callable[..., Any], model: Path, art: Path, *flags: Any) -> Any:
        run = cli("prepare", model, "-o", art, *flags)
        assert run.code == 0, run.err
        assert f"framework: {self.name}" in run.err, run.err
        return run

    def assert_taxonomy(self, art: Path, **expected: Any) -> dict:
        """Framework and FrameworkVersion as this framework records them, and ``expected``."""
        tax = taxonomy(art)
        assert tax["Framework"] == (self.taxonomy_name or self.name)
        if self.version is not None:
            assert tax["FrameworkVersion"] == self.version
        assert {k: tax[k] for k in expected} == expected
        return tax

    def assert_score_imports(self, art: Path) -> set[str]:
        """score.py imports only the inference environment: the stdlib, this framework's
        modules and the model code shipped beside it. Returns what it imports."""
        names = score_imports(art)
        allowed = set(sys.stdlib_module_names) | set(self.score_modules)
        allowed |= {p.stem for p in art.glob("*.py")}
        assert names <= allowed, names - allowed
        assert self.score_module is None or self.score_module in names, names
        return names

    def assert_zip(
        self, cli: Callable[..., Any], art: Path, zipped: Path, model_file: str | None = None
    ) -> set[str]:
        """``mdreg zip`` writes an artifact that introspects ok, with score.py, runtime.yaml
        and every file of the model (a file or a folder) the manifest lists."""
        run = cli("zip", art, "-o", zipped, "--json")
        assert run.code == 0, run.err
        names = set(zipfile.ZipFile(zipped).namelist())
        assert {"score.py", "runtime.yaml"} <= names
        if model_file is not None:
            manifest = json.loads((art / "model_artifact_manifest.json").read_text())["files"]
            model = {n for n in manifest if n == model_file or n.startswith(model_file + "/")}
            assert model and model <= names, (model_file, sorted(model - names))
        assert introspect(zipped).ok
        return names

    def assert_refuses_a_sklearn_pickle(
        self, cli: Callable[..., Any], tmp_path: Path, says: str
    ) -> None:
        """``--framework NAME`` on a plain scikit-learn pickle: bad input, said clearly (not
        a crash), and no artifact."""
        import joblib
        from sklearn.linear_model import LinearRegression

        from mdreg.errors import EXIT_INPUT

        path = tmp_path / "lr.joblib"
        joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), path)
        run = cli("prepare", path, "-o", tmp_path / "art", "--framework", self.name)
        assert run.code == EXIT_INPUT, run.err
        assert says in run.err, run.err
        assert not (tmp_path / "art").exists()

    def end_to_end(
        self,
        cli: Callable[..., Any],
        model: Path,
        tmp_path: Path,
        *flags: Any,
        expected: Any,
        payload: Any = None,
        model_file: str | None = None,
        taxonomy: Mapping[str, Any] | None = None,
        labels: bool = False,
        rtol: float = 1e-5,
        atol: float = 1e-8,
        unzipped: bool = False,
    ) -> EndToEnd:
        """The whole chain on one model file: prepared into ``tmp_path/art`` with ``flags``;
        every check passed; the taxonomy; score.py's imports; verified with ``payload``
        (None: the kept sample) to answer ``expected``; zipped. ``unzipped``: verify the
        zip's extracted copy (what the service runs) rather than the folder."""
        art = tmp_path / "art"
        prepared = self.prepare(cli, model, art, *flags)
        if model_file is not None:
            assert (art / model_file).exists(), sorted(p.name for p in art.iterdir())
            assert metadata(art)["mdreg"]["model_file"] == model_file
        assert_checks_pass(art)
        tax = self.assert_taxonomy(art, **(taxonomy or {}))
        imports = self.assert_score_imports(art)
        if unzipped:
            from mdreg.artifact.unzipping import safe_extract

            names = self.assert_zip(cli, art, tmp_path / "art.zip", model_file)
            result = verified(safe_extract(tmp_path / "art.zip", tmp_path / "deployed"), payload)
        else:
            result = verified(art, payload)
            names = self.assert_zip(cli, art, tmp_path / "art.zip", model_file)
        assert_same(result.prediction["prediction"], expected, labels=labels, rtol=rtol, atol=atol)
        return EndToEnd(art, prepared, tax, imports, result, names)
