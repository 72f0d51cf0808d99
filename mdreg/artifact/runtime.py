"""runtime.yaml: the inference environment and the training provenance."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mdreg.artifact.conda import CondaEnv
from mdreg.errors import ArtifactError

MODEL_ARTIFACT_VERSION = "3.0"

# Every key path runtime.yaml carries; introspection checks them all.
REQUIRED_KEYS: tuple[tuple[str, ...], ...] = (
    ("MODEL_ARTIFACT_VERSION",),
    ("MODEL_DEPLOYMENT", "INFERENCE_CONDA_ENV", "INFERENCE_ENV_PATH"),
    ("MODEL_DEPLOYMENT", "INFERENCE_CONDA_ENV", "INFERENCE_ENV_SLUG"),
    ("MODEL_DEPLOYMENT", "INFERENCE_CONDA_ENV", "INFERENCE_ENV_TYPE"),
    ("MODEL_DEPLOYMENT", "INFERENCE_CONDA_ENV", "INFERENCE_PYTHON_VERSION"),
    ("MODEL_PROVENANCE", "PROJECT_OCID"),
    ("MODEL_PROVENANCE", "TENANCY_OCID"),
    ("MODEL_PROVENANCE", "TRAINING_CODE", "ARTIFACT_DIRECTORY"),
    ("MODEL_PROVENANCE", "TRAINING_COMPARTMENT_OCID"),
    ("MODEL_PROVENANCE", "TRAINING_CONDA_ENV", "TRAINING_ENV_PATH"),
    ("MODEL_PROVENANCE", "TRAINING_CONDA_ENV", "TRAINING_ENV_SLUG"),
    ("MODEL_PROVENANCE", "TRAINING_CONDA_ENV", "TRAINING_ENV_TYPE"),
    ("MODEL_PROVENANCE", "TRAINING_CONDA_ENV", "TRAINING_PYTHON_VERSION"),
    ("MODEL_PROVENANCE", "TRAINING_REGION"),
    ("MODEL_PROVENANCE", "TRAINING_RESOURCE_OCID"),
    ("MODEL_PROVENANCE", "USER_OCID"),
    ("MODEL_PROVENANCE", "VM_IMAGE_INTERNAL_ID"),
)

# Variables OCI notebook sessions and jobs set, and the provenance keys they fill.
_PROVENANCE_ENV = {
    "PROJECT_OCID": ("PROJECT_OCID",),
    "TENANCY_OCID": ("TENANCY_OCID",),
    "TRAINING_COMPARTMENT_OCID": ("NB_SESSION_COMPARTMENT_OCID", "JOB_RUN_COMPARTMENT_OCID"),
    "TRAINING_REGION": ("NB_REGION", "OCI_RESOURCE_REGION"),
    "TRAINING_RESOURCE_OCID": ("NB_SESSION_OCID", "JOB_RUN_OCID"),
    "USER_OCID": ("USER_OCID",),
}


def build_runtime(
    inference: CondaEnv, artifact_dir: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    prov = {
        key: next((env[v] for v in names if env.get(v)), "")
        for key, names in _PROVENANCE_ENV.items()
    }
    training_env = env.get("CONDA_PREFIX", "")
    return {
        "MODEL_ARTIFACT_VERSION": MODEL_ARTIFACT_VERSION,
        "MODEL_DEPLOYMENT": {
            "INFERENCE_CONDA_ENV": {
                "INFERENCE_ENV_PATH": inference.path,
                "INFERENCE_ENV_SLUG": inference.slug,
                "INFERENCE_ENV_TYPE": inference.env_type,
                "INFERENCE_PYTHON_VERSION": inference.python_version,
            }
        },
        "MODEL_PROVENANCE": {
            **prov,
            "TRAINING_CODE": {"ARTIFACT_DIRECTORY": str(artifact_dir)},
            "TRAINING_CONDA_ENV": {
                "TRAINING_ENV_PATH": training_env,
                "TRAINING_ENV_SLUG": env.get("CONDA_ENV_SLUG", ""),
                "TRAINING_ENV_TYPE": "",
                "TRAINING_PYTHON_VERSION": "",
            },
            "VM_IMAGE_INTERNAL_ID": env.get("VM_IMAGE_INTERNAL_ID", ""),
        },
    }


def dump_runtime(runtime: dict[str, Any]) -> str:
    # Upper-case keys in alphabetical order, block style: what the service and ADS write.
    text = _simple_yaml_dump(runtime)
    if text is not None:
        return text
    import yaml  # kept out of `import mdreg`; ~20 ms

    return yaml.safe_dump(runtime, sort_keys=True, default_flow_style=False)


def read_runtime(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return parse_runtime(text, path)


def parse_runtime(text: str, path: Path | str) -> dict[str, Any]:
    """runtime.yaml's text as a mapping (``path`` names it in errors)."""
    doc = _simple_yaml(text)
    if doc is None:
        import yaml  # ~20 ms: only for what _simple_yaml leaves to it

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ArtifactError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(doc, dict):
        raise ArtifactError(f"{path}: expected a mapping at the top level")
    return doc


def lookup(doc: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The value at a key path, or KeyError naming the first missing key."""
    node: Any = doc
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            raise KeyError(".".join(keys))
        node = node[key]
    return node


def missing_keys(doc: dict[str, Any]) -> list[str]:
    out = []
    for keys in REQUIRED_KEYS:
        try:
            lookup(doc, keys)
        except KeyError:
            out.append(".".join(keys))
    return out


# -- the YAML that runtime.yaml files are made of, read without PyYAML ---------------------

_KEY_LINE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?")
_QUOTED = re.compile(r"'((?:[^']|'')*)'")
# Plain scalars that PyYAML's SafeLoader reads as strings whatever they say: its bool,
# int, float, null, timestamp, merge and value resolvers all need another first character.
# Words are split by single spaces (a folder name with a space in ARTIFACT_DIRECTORY).
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@:+-]*(?: [A-Za-z0-9_./@+-][A-Za-z0-9_./@:+-]*)*")
_NOT_STRINGS = frozenset(["yes", "no", "true", "false", "on", "off", "null"])


def _simple_yaml(text: str) -> dict[str, Any] | None:
    """``yaml.safe_load(text)`` for the block mappings mdreg, ADS and the service write
    (keys, nested mappings, single-quoted or plain strings), or None for anything else:
    the caller then asks PyYAML. Importing PyYAML costs more than the rest of reading."""
    if (
        not text.isascii()
        or not text.strip()
        or any(not (c == "\n" or " " <= c <= "~") for c in text)
    ):
        return None  # PyYAML's own reader rejects control characters: let it say so
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(0, root)]
    pending: tuple[int, dict[str, Any], str] | None = None  # "KEY:" awaiting its mapping
    for line in text.splitlines():
        m = _KEY_LINE.fullmatch(line)
        if m is None:
            return None
        indent, key, raw = len(m.group(1)), m.group(2), m.group(3)
        if key.lower() in _NOT_STRINGS:
            return None
        if pending is not None:
            if indent > pending[0]:
                child: dict[str, Any] = {}
                pending[1][pending[2]] = child
                stack.append((indent, child))
            pending = None
        while stack[-1][0] > indent:
            stack.pop()
        level, mapping = stack[-1]
        if level != indent or key in mapping:
            return None
        if raw is None:
            mapping[key] = None
            pending = (indent, mapping, key)
            continue
        q = _QUOTED.fullmatch(raw)
        if q is not None:
            mapping[key] = q.group(1).replace("''", "'")
        elif (
            _PLAIN.fullmatch(raw)
            and raw.lower() not in _NOT_STRINGS
            and not raw.endswith(":")
            and ": " not in raw
        ):
            mapping[key] = raw
        else:
            return None
    return root


# Strings PyYAML quotes because, plain, they would read as an int or a float ('3', '3.11');
# other digit strings ('09', '00', '1_0') are left to PyYAML.
_NUMBER = re.compile(r"0|[1-9][0-9]*|[0-9]+\.[0-9]+")


def _simple_yaml_dump(doc: dict[str, Any], indent: int = 0) -> str | None:
    """``yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)``, byte for byte,
    for nested mappings of strings that PyYAML writes plain (``_PLAIN`` without spaces),
    as '' (empty) or single-quoted (digits that would read as numbers); None for
    anything else, which the caller hands to PyYAML."""
    out = []
    for key in sorted(doc):
        if (
            not isinstance(key, str)
            or not _KEY_LINE.fullmatch(f"{key}:")
            or key.lower() in _NOT_STRINGS
        ):
            return None
        value = doc[key]
        pad = " " * indent
        if isinstance(value, dict) and value:
            nested = _simple_yaml_dump(value, indent + 2)
            if nested is None:
                return None
            out.append(f"{pad}{key}:\n{nested}")
        elif not isinstance(value, str):
            return None
        elif value == "":
            out.append(f"{pad}{key}: ''\n")
        elif _NUMBER.fullmatch(value):
            out.append(f"{pad}{key}: '{value}'\n")
        elif (
            " " not in value
            and _PLAIN.fullmatch(value)
            and not value.endswith(":")
            and value.lower() not in _NOT_STRINGS
        ):
            out.append(f"{pad}{key}: {value}\n")
        else:
            return None
    return "".join(out)
