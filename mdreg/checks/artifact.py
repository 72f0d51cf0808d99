"""mdreg's own checks, run after the service's: the manifest, the schemas, runtime.yaml's
full key set, the model file's framework, and what score.py imports."""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from mdreg.artifact import layout
from mdreg.artifact.ignore import IgnoreRules
from mdreg.artifact.manifest import verify_manifest
from mdreg.artifact.runtime import missing_keys
from mdreg.checks.base import CheckList, Outcome, failed, passed, skipped
from mdreg.checks.context import ArtifactContext, Unavailable

if TYPE_CHECKING:
    from mdreg.frameworks.base import Framework

ARTIFACT_CHECKS = CheckList()
check = ARTIFACT_CHECKS

MAX_SCHEMA_READ = 16 << 20  # a bigger schema file is refused unread: far over the catalog's limit
MODEL_SUFFIXES = (
    ".pkl",
    ".pickle",
    ".joblib",
    ".pt",
    ".pth",
    ".pt2",
    ".onnx",
    ".h5",
    ".hdf5",
    ".keras",
    ".ubj",
    ".bst",
    ".cbm",
    ".safetensors",
    ".sav",
    ".bin",
    ".model",
)
INFERENCE_BASE_MODULES = frozenset({"numpy", "pandas"})


@check(
    "manifest",
    "mdreg",
    "Check that every file in the manifest is present with a matching sha256, and no model file is unlisted",
)
def _manifest(ctx: ArtifactContext) -> Outcome:
    try:
        manifest = ctx.manifest
    except Unavailable as exc:
        return failed(str(exc))
    if manifest is None:
        return skipped(f"no {layout.MANIFEST}: the files cannot be checked against their hashes")
    result = verify_manifest(ctx.root, manifest)
    rules = IgnoreRules.for_artifact(ctx.root)
    shipped = [f for f in result.unlisted if not rules.is_ignored(f, is_dir=False)]
    models = [f for f in shipped if f.lower().endswith(MODEL_SUFFIXES)]
    problems = []
    if result.missing:
        problems.append(f"missing: {', '.join(result.missing)}")
    if result.mismatched:
        problems.append(f"changed since prepare (sha256 differs): {', '.join(result.mismatched)}")
    if models:
        problems.append(f"model files not in the manifest: {', '.join(models)}")
    if problems:
        return failed("; ".join(problems) + ": restore the files or prepare the artifact again")
    others = sorted(set(shipped) - set(models))
    return passed(f"unlisted files that will ship: {', '.join(others)}" if others else "")


def _schema_check(rel: str) -> Callable[[ArtifactContext], Outcome]:
    def run(ctx: ArtifactContext) -> Outcome:
        from mdreg.artifact.schema import MAX_SCHEMA_BYTES
        from mdreg.artifact.schema_validation import validate_schema

        path = ctx.path(rel)
        if not path.is_file():
            return skipped(f"no {rel} (optional for the service; the catalog shows no schema)")
        size = path.stat().st_size
        if size > MAX_SCHEMA_READ:
            return failed(
                f"{rel} is {size:,} bytes: not read (mdreg reads schemas up to "
                f"{MAX_SCHEMA_READ:,} bytes; the catalog takes {MAX_SCHEMA_BYTES:,}); "
                "describe fewer columns or leave out the statistics"
            )
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return failed(f"{rel} is not valid JSON: {exc}")
        problems = validate_schema(doc)
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            return failed(f"{rel}: " + "; ".join(problems[:3]) + more)
        return passed()

    return run


check(
    "input_schema", "mdreg", "Check that input_schema.json follows the schema format version 1.1"
)(_schema_check(layout.INPUT_SCHEMA))
check(
    "output_schema", "mdreg", "Check that output_schema.json follows the schema format version 1.1"
)(_schema_check(layout.OUTPUT_SCHEMA))


@check("runtime_keys", "mdreg", "Check that runtime.yaml parses and has every key of the format")
def _runtime_keys(ctx: ArtifactContext) -> Outcome:
    if not ctx.path(layout.RUNTIME_YAML).is_file():
        return skipped("runtime.yaml is missing")
    try:
        runtime = ctx.runtime
    except Unavailable as exc:
        return failed(str(exc))
    missing = missing_keys(runtime)
    if missing:
        return failed(f"runtime.yaml lacks {', '.join(missing)}")
    return passed()


@check(
    "model_framework",
    "mdreg",
    "Check that the model file is of the framework the metadata names (sniffed, not loaded)",
)
def _model_framework(ctx: ArtifactContext) -> Outcome:
    facts = ctx.mdreg_facts()
    name, model_file = facts.get("framework"), facts.get("model_file")
    if not name or not model_file:
        return skipped("no mdreg metadata naming the framework and model file")
    path = ctx.path(model_file)
    if not path.exists():
        return failed(f"the model file {model_file} named in the metadata is missing")
    from mdreg.errors import DetectionError
    from mdreg.frameworks.probe import Probe
    from mdreg.frameworks.registry import default_registry

    reg = default_registry()
    if name not in reg.plugins:
        return skipped(f"no framework plugin {name!r} is installed to recognise {model_file}")
    if not reg.plugins[name].detectable:
        return skipped(f"framework {name!r} is chosen by name, never recognised from bytes")
    try:
        _, detection, _ = reg.detect(path, probe=Probe.of(path, ctx.pickle_report))
    except DetectionError as exc:
        return failed(str(exc))
    if detection.framework != name:
        return failed(
            f"{model_file} looks like {detection.framework} ({detection.evidence}), "
            f"but the metadata says {name}"
        )
    return passed(detection.evidence)


@check(
    "score_imports",
    "mdreg",
    "Check that score.py imports only what the inference environment provides",
)
def _score_imports(ctx: ArtifactContext) -> Outcome:
    try:
        tree = ctx.score_tree
    except Unavailable as exc:
        return skipped(str(exc))
    allowed = set(sys.stdlib_module_names) | INFERENCE_BASE_MODULES | _framework_modules(ctx)
    local = {p.stem for p in ctx.root.glob("*.py")} | {
        p.name for p in ctx.root.iterdir() if p.is_dir()
    }
    unknown = sorted({m for m in _imported(tree) if m not in allowed and m not in local})
    if unknown:
        return failed(
            f"score.py imports {', '.join(unknown)}, which the inference environment "
            "may lack: add the module's file to the artifact or use a conda pack with it"
        )
    return passed()


def _framework_modules(ctx: ArtifactContext) -> set[str]:
    from mdreg.frameworks.registry import default_registry

    plugins = default_registry().plugins
    name = ctx.mdreg_facts().get("framework")
    chosen = [plugins[name]] if name in plugins else list(plugins.values())
    return {m for p in chosen for m in (*p.inference_modules, p.module) if m}


# Where statements nest: imports are statements, so expressions (most of a tree, which
# ast.walk would visit too) need no look.
_STATEMENT_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def _imported(tree: ast.Module) -> set[str]:
    names = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        for field in _STATEMENT_FIELDS:
            pending.extend(getattr(node, field, None) or ())
    return names


@check(
    "model_scan",
    "mdreg",
    "Check that the artifact's pickles reference only what the framework's allow-list permits",
)
def _model_scan(ctx: ArtifactContext) -> Outcome:
    from mdreg.scan import Verdict, scan_path

    facts = ctx.mdreg_facts()
    plugin = _plugin(ctx)
    report = scan_path(ctx.root, list(plugin.allow) if plugin else None, read=ctx.pickle_report)
    if report.verdict is Verdict.SAFE:
        return passed()
    names = sorted(
        {f"{f.ref.dotted}" if f.ref else f"{f.path}: {f.reason}" for f in report.findings}
    )
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    if report.verdict is Verdict.UNKNOWN and facts.get("trusted"):
        return passed(f"references {shown}, trusted with --trust at prepare")
    return failed(
        f"{report.verdict.value} pickle: references {shown}; loading it runs that code "
        "(`mdreg scan` shows where)"
    )


def _plugin(ctx: ArtifactContext) -> Framework | None:
    from mdreg.frameworks.registry import default_registry

    return default_registry().plugins.get(ctx.mdreg_facts().get("framework", ""))
