"""``prepare``: a model file in, a complete model artifact out.

Everything is validated and loaded before the first write; the artifact is built in a
temporary folder beside the destination and renamed into place, so a failure leaves
nothing half-written and an existing artifact is replaced only by a complete one. The
output schema is the last thing learned: score.py, once written and scanned with the rest,
is asked for its answer to --x-sample (``mdreg.artifact.scoring``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mdreg import __version__
from mdreg._files import move_into_place, temp_name
from mdreg._text import with_article
from mdreg.artifact import conda, layout
from mdreg.artifact.ignore import DEFAULT_MODEL_IGNORE
from mdreg.artifact.manifest import write_manifest
from mdreg.artifact.metadata import (
    check_use_case,
    limit_problems,
    write_metadata,
)
from mdreg.artifact.model_metadata import model_metadata
from mdreg.artifact.runtime import build_runtime, dump_runtime
from mdreg.artifact.schema_facts import (
    SAMPLE_ROWS,
    as_output,
    by_input,
    check_sample_columns,
    input_schema,
    output_schema,
    sample_prediction,
)
from mdreg.artifact.secrets import secret_warnings
from mdreg.errors import (
    DestinationExistsError,
    InputError,
    MdregError,
    UnsafeModelError,
    UsageError,
)
from mdreg.frameworks.base import Detection, Framework, LoadOptions, ModelFacts
from mdreg.frameworks.code import ModelCode
from mdreg.frameworks.registry import Registry, default_registry
from mdreg.scan.gate import NOT_PICKLE, admit, clear
from mdreg.scan.scanner import ReadOnce

MAX_INLINE_HYPERPARAMETERS = 255  # chars; larger sets go to a file inside the artifact


@dataclass
class PrepareResult:
    artifact_dir: Path
    framework: str
    detection: Detection
    verdict: str
    files: list[str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact_dir": str(self.artifact_dir),
            "framework": self.framework,
            "evidence": self.detection.evidence,
            "scan_verdict": self.verdict,
            "files": self.files,
            "warnings": self.warnings,
        }


def prepare(
    model_path: str | Path,
    artifact_dir: str | Path | None = None,
    *,
    framework: str | None = None,
    x_sample: str | Path | None = None,
    y_sample: str | Path | None = None,
    use_case_type: str | None = None,
    inference_conda_env: str | None = None,
    inference_python_version: str | None = None,
    score_py: str | Path | None = None,
    model_code: str | Path | None = None,
    model_class: str | None = None,
    training_script: str | Path | None = None,
    trust: bool = False,
    force: bool = False,
    registry: Registry | None = None,
) -> PrepareResult:
    """Write an OCI Data Science model artifact for ``model_path`` into ``artifact_dir``."""
    from mdreg.artifact.sample import read_sample  # pulls in pandas

    model_path = Path(model_path)
    dest = Path(artifact_dir) if artifact_dir else Path(f"{model_path.stem}-artifact")
    _check_destination(dest, model_path, force)
    if use_case_type:
        check_use_case(use_case_type)
    if score_py and not Path(score_py).is_file():
        raise InputError(f"{score_py}: --score-py must name an existing file")
    if model_code and not (Path(model_code).is_file() and str(model_code).endswith(".py")):
        raise InputError(f"{model_code}: --model-code must name an existing .py file")
    if model_class and ":" not in model_class:
        raise InputError(f"--model-class {model_class!r}: write it as module:Class")
    if training_script and not Path(training_script).is_file():
        raise InputError(f"{training_script}: --training-script must name an existing file")

    reg = registry or default_registry()
    plugin, detection, probe = reg.detect(model_path, framework)
    _check_code_options(plugin, model_code, model_class)
    code = ModelCode.load(Path(model_code)) if model_code else None
    admitted = code.admitted() if code else frozenset()
    clearance = (
        clear(probe.pickle, plugin.allow, trust=trust, subject=probe.path, admitted=admitted)
        if plugin.unpickles
        else NOT_PICKLE
    )
    options = LoadOptions(
        Path(model_code) if model_code else None, model_class, trust, clearance.globals, code
    )
    env = conda.resolve(inference_conda_env or plugin.default_conda_env, inference_python_version)
    X = read_sample(Path(x_sample)) if x_sample else None
    y = read_sample(Path(y_sample)) if y_sample else None

    plugin.require()
    with code.importable() if code else contextlib.nullcontext():
        model = _load(plugin, model_path, options)
        facts = _describe(plugin, model, model_path)
        X = by_input(X, facts) if X is not None else None
        if X is not None:
            check_sample_columns(X, facts, plugin)
    warnings: list[str] = []
    inputs = input_schema(facts, X, warnings)

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(dest, "tmp")
    os.mkdir(tmp, 0o700)  # as private as mkdtemp's while it is built
    try:
        walks = ReadOnce()  # the saved model file is walked once, for score.py and the scan
        with code.importable() if code else contextlib.nullcontext():
            model_file = plugin.save(model, model_path, tmp, options)
        if code and not (tmp / f"{code.name}.py").exists():
            shutil.copyfile(code.path, tmp / f"{code.name}.py")  # importable beside score.py
        _write_score_py(
            tmp, plugin, model, model_path, facts, model_file, score_py, trust, admitted, walks
        )
        del model  # score.py loads its own copy, from the saved file: one in memory at a time
        (tmp / layout.RUNTIME_YAML).write_text(
            dump_runtime(build_runtime(env, dest.resolve())), encoding="utf-8"
        )
        _write_json(tmp / layout.INPUT_SCHEMA, inputs)
        (tmp / layout.MODEL_IGNORE).write_text(DEFAULT_MODEL_IGNORE, encoding="utf-8")
        (tmp / layout.MDREG_DIR).mkdir()
        if X is not None:
            from mdreg.artifact.sample import head_rows, to_json_payload

            _write_json(tmp / layout.SAMPLE, to_json_payload(head_rows(X, SAMPLE_ROWS)))
        hyperparameters = _hyperparameters(tmp, facts)
        shipped = _scan_artifact(tmp, plugin, trust, dest, admitted, walks)
        verdict = clearance.verdict if plugin.unpickles else shipped
        # Only now, every file cleared by the scan, does score.py load anything from here.
        with code.importable() if code else contextlib.nullcontext():
            predicted = _predict(tmp, plugin, facts, X, bool(score_py), warnings)
        _write_json(tmp / layout.OUTPUT_SCHEMA, output_schema(facts, X, y, predicted, warnings))
        expected = sample_prediction(predicted) if predicted is not None else None
        if expected is not None:
            _write_json(tmp / layout.SAMPLE_PREDICTION, expected)
        write_manifest(tmp, f"mdreg {__version__}")
        meta = model_metadata(
            plugin,
            detection,
            facts,
            model_file,
            env,
            use_case_type,
            hyperparameters,
            trust,
            verdict,
            training_script,
        )
        if code:  # the user vouched for this code by shipping it: say so, and what it admitted
            used = admitted & (clearance.globals or frozenset())
            meta["mdreg"]["model_code"] = {
                "module": code.name,
                "file": f"{code.name}.py",
                "admitted": sorted(n for _, n in used),
            }
        warnings += limit_problems(meta)
        write_metadata(tmp, meta)
        move_into_place(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    if plugin.guessed and not score_py:
        warnings.append(
            "the model's framework is not one mdreg knows: check that score.py's "
            "predict() calls it the way it expects"
        )
    if plugin.template_only and not score_py:
        warnings.append(
            "score.py is a template: fill in load_model() and predict() for your "
            "framework, then run `mdreg verify`"
        )
    warnings += secret_warnings(dest)  # keys or tokens that came in with the user's files
    return PrepareResult(dest, plugin.name, detection, verdict, files, warnings)


def _check_destination(dest: Path, model_path: Path, force: bool) -> None:
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise DestinationExistsError(f"{dest}: folder is not empty; use --force to replace it")
    src = model_path.resolve()
    if dest.resolve() == src or dest.resolve() in src.parents:
        raise InputError(
            f"{dest}: the artifact folder would contain or replace the model file "
            "itself; choose another -o"
        )


def _check_code_options(
    plugin: Framework, model_code: str | Path | None, model_class: str | None
) -> None:
    """--model-code and --model-class where they mean something; elsewhere a usage error."""
    if model_class and not plugin.takes_model_class:
        raise UsageError(
            f"--model-class names the class to build before loading weights "
            f"into it; {with_article(plugin.display_name)} model does not take one"
        )
    if model_code and not plugin.unpickles:
        raise UsageError(
            f"--model-code ships the code a pickled model needs; mdreg does not "
            f"load {with_article(plugin.display_name)} model, so it has no use for it"
        )


def _unpickling(
    plugin: Framework,
    model_file: Path,
    loader: str,
    trust: bool,
    admitted: frozenset[tuple[str, str]],
    read: ReadOnce,
) -> dict[str, Any]:
    """For a score.py that unpickles the model file (``loader``: "joblib" or "pickle"):
    the globals its unpickler may import. The file as saved into the artifact is the one
    score.py loads, so that is the one read."""
    clearance = clear(
        read(model_file),
        plugin.allow,
        trust=trust,
        subject=model_file.name,
        admitted=admitted,
    )
    return {"loader": loader, "globals": None if clearance.globals is None else clearance.listed()}


def _scan_artifact(
    tmp: Path,
    plugin: Framework,
    trust: bool,
    dest: Path,
    admitted: frozenset[tuple[str, str]],
    read: ReadOnce,
) -> str:
    """Every file that ships is scanned, whatever the framework: a pickle (or a container
    holding one) that the model's allow-lists do not clear is refused unless trusted.
    Returns the verdict."""
    from mdreg.scan import Verdict, scan_path

    report = scan_path(tmp, plugin.allow, read=read)
    verdict, findings = admit(report.verdict, report.findings, admitted)
    if verdict is Verdict.SAFE or trust:
        return verdict.value
    first = findings[0]
    where = first.path.relative_to(tmp).as_posix() if first.path else dest.name
    if first.ref and first.ref.where:
        where += f" > {first.ref.where}"
    what = f"{first.ref.dotted}: {first.reason}" if first.ref else first.reason
    raise UnsafeModelError(
        f"{dest}/{where}: {verdict.value} ({what}); refusing to "
        "package it; pass --trust if you trust its author"
    )


def _load(plugin: Framework, path: Path, options: LoadOptions) -> Any:
    try:
        return plugin.load(path, options)
    except MdregError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure is bad input to the user
        raise InputError(
            f"{path}: {plugin.display_name} could not load it: {type(exc).__name__}: {exc}"
        ) from exc


def _describe(plugin: Framework, model: Any, path: Path) -> ModelFacts:
    try:
        return plugin.describe(model)
    except MdregError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. a pickle of something that is not a model
        raise InputError(
            f"{path}: loaded, but it is not {with_article(plugin.display_name)} model mdreg "
            f"can describe ({type(exc).__name__}: {exc})"
        ) from exc


def _predict(
    tmp: Path, plugin: Framework, facts: ModelFacts, X: Any, own: bool, warnings: list[str]
) -> Any:
    """score.py's answer to --x-sample (``X``), as the output schema describes it: the
    score.py in ``tmp`` imported here and asked, so there is one implementation of how a
    request becomes a prediction. None without a sample, for a template score.py (it
    cannot load the model), and for the user's own score.py (``own``) when it cannot
    answer here: a warning then, where a generated score.py that fails is an error."""
    from mdreg.artifact.scoring import ScoreError, answer_sample

    if X is None or (plugin.template_only and not own):
        return None
    try:
        return as_output(answer_sample(tmp, X), facts)
    except (ScoreError, InputError) as exc:
        what = "load the model" if getattr(exc, "stage", None) == "load" else "answer --x-sample"
        if own:
            warnings.append(f"score.py (--score-py) could not {what} here: {exc}")
            return None
        if isinstance(exc, InputError):
            raise
        raise InputError(f"score.py could not {what}: {exc}") from exc


def _write_score_py(
    tmp: Path,
    plugin: Framework,
    model: Any,
    source: Path,
    facts: ModelFacts,
    model_file: str,
    score_py: str | Path | None,
    trust: bool,
    admitted: frozenset[tuple[str, str]],
    read: ReadOnce,
) -> None:
    if score_py:
        shutil.copyfile(score_py, tmp / layout.SCORE_PY)
        return
    from mdreg.templates import render

    context = plugin.template_context(model, source)
    loader = context.get("loader")  # how score.py reads the model file
    unpickle = (
        _unpickling(plugin, tmp / model_file, loader, trust, admitted, read)
        if loader in ("joblib", "pickle")
        else None
    )
    text = render(
        plugin.template,
        plugin.template_package,
        mdreg_version=__version__,
        display_name=plugin.display_name,
        algorithm=facts.algorithm,
        model_file_name=model_file,
        unpickle=unpickle,
        **context,
    )
    (tmp / layout.SCORE_PY).write_text(text, encoding="utf-8")


def _hyperparameters(tmp: Path, facts: ModelFacts) -> Any:
    text = json.dumps(facts.hyperparameters, sort_keys=True)
    if len(text) <= MAX_INLINE_HYPERPARAMETERS:
        return facts.hyperparameters
    _write_json(tmp / layout.HYPERPARAMETERS, facts.hyperparameters)
    return None


def _write_json(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
