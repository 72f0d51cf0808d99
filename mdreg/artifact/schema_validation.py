"""Check a loaded input_schema.json / output_schema.json: the problems that would stop ADS
(or the catalog) from reading it, one message each. The document's form is described in
``mdreg.artifact.schema``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from mdreg.artifact.schema import COLUMN_KEYS, FEATURE_TYPES, SCHEMA_VERSION

#: Every feature type ADS knows (files made by ADS may use any of them).
ADS_FEATURE_TYPES = frozenset((
    *FEATURE_TYPES,
    "Address", "Constant", "CreditCard", "Discrete", "Document", "GIS", "IpAddress",
    "IpAddressV4", "IpAddressV6", "LatLong", "Object", "Ordinal", "PhoneNumber", "Text",
    "Unknown", "ZipCode",
))  # fmt: skip
KNOWN_VERSIONS = ("1.0", "1.1")
_DOMAIN_KEYS = ("values", "stats", "constraints")
_CONSTRAINT_KEYS = ("expression", "language")


def validate_schema(doc: Any) -> list[str]:
    """Problems in a loaded schema document, one message each; ``[]`` when valid.

    Checks the version-1.1 form (what ADS can load): a missing ``version`` means
    "1.0" and is accepted; every column must then have ``dtype``, ``name`` and
    ``required``, and a "1.1" column every key in ``COLUMN_KEYS``. Orders must be
    0..n-1 in any sequence (ADS lists columns in no fixed order).
    """
    if not isinstance(doc, dict):
        return [f"the schema document must be a JSON object, not {_json_type(doc)}"]
    problems: list[str] = []
    version = doc.get("version", "1.0")
    if version not in KNOWN_VERSIONS:
        problems.append(f'unknown schema version {version!r}: use "{SCHEMA_VERSION}"')
    columns = doc.get("schema")
    if not isinstance(columns, list):
        found = "missing" if "schema" not in doc else _json_type(columns)
        return [*problems, f"'schema' must be a list of columns, but it is {found}"]
    needed = COLUMN_KEYS if version == "1.1" else ("dtype", "name", "required")
    names: list[Any] = []
    owner_of_order: dict[int, str] = {}
    for i, column in enumerate(columns):
        if not isinstance(column, dict):
            problems.append(f"column #{i}: must be a JSON object, not {_json_type(column)}")
            continue
        label = _label(column, i)
        problems += [f"{label}: missing key {k!r}" for k in needed if k not in column]
        problems += [
            f"{label}: unknown key {k!r} (ADS cannot load it): remove it"
            for k in column
            if k not in COLUMN_KEYS
        ]
        problems += _check_column(column, label)
        if _is_name(column.get("name")):
            names.append(column["name"])
        order = column.get("order")
        if isinstance(order, int) and not isinstance(order, bool) and order >= 0:
            if order >= len(columns):
                problems.append(
                    f"{label}: 'order' {order} is past the last column: "
                    f"use 0..{len(columns) - 1}, each once"
                )
            elif order in owner_of_order:
                problems.append(
                    f"{label}: 'order' {order} is also used by {owner_of_order[order]}: "
                    "give each column its own position"
                )
            else:
                owner_of_order[order] = label
    dupes = sorted(repr(n) for n, count in Counter(names).items() if count > 1)
    problems += [
        f"column {d}: the name appears more than once: names must be unique" for d in dupes
    ]
    return problems


def _check_column(column: dict[str, Any], label: str) -> list[str]:
    problems = []
    if "dtype" in column and not (isinstance(column["dtype"], str) and column["dtype"]):
        problems.append(f"{label}: 'dtype' must be a pandas dtype string such as \"float64\"")
    if "name" in column and not _is_name(column["name"]):
        problems.append(f"{label}: 'name' must be a string or an integer")
    if "required" in column and not isinstance(column["required"], bool):
        problems.append(f"{label}: 'required' must be true or false")
    feature_type = column.get("feature_type")
    if feature_type is not None and feature_type not in ADS_FEATURE_TYPES:
        problems.append(
            f"{label}: 'feature_type' {feature_type!r} is not a feature type: "
            f"use one of {', '.join(FEATURE_TYPES)}"
        )
    description = column.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(f"{label}: 'description' must be a string")
    order = column.get("order")
    if order is not None and (not isinstance(order, int) or isinstance(order, bool) or order < 0):
        problems.append(f"{label}: 'order' must be a whole number from 0")
    if column.get("domain") is not None:
        problems += _check_domain(column["domain"], label)
    return problems


def _check_domain(domain: Any, label: str) -> list[str]:
    if not isinstance(domain, dict):
        return [f"{label}: 'domain' must be an object with values, stats and constraints"]
    problems = [
        f"{label}: unknown key {k!r} in 'domain': keep only values, stats, constraints"
        for k in domain
        if k not in _DOMAIN_KEYS
    ]
    if domain.get("values") is not None and not isinstance(domain["values"], str):
        problems.append(f"{label}: 'domain.values' must be a string")
    stats = domain.get("stats")
    if stats is not None and not isinstance(stats, dict):
        problems.append(f"{label}: 'domain.stats' must be an object")
    elif stats:
        bad = [k for k, v in stats.items() if isinstance(v, float) and not math.isfinite(v)]
        problems += [f"{label}: stat {k!r} is NaN or infinite (not JSON): use null" for k in bad]
    constraints = domain.get("constraints")
    if constraints is None:
        if "constraints" not in domain:
            problems.append(f"{label}: missing key 'domain.constraints' (use [])")
        return problems
    if not isinstance(constraints, list):
        return [*problems, f"{label}: 'domain.constraints' must be a list"]
    for c in constraints:
        if not (
            isinstance(c, dict)
            and set(c) <= set(_CONSTRAINT_KEYS)
            and isinstance(c.get("expression"), str)
            and c["expression"]
            and isinstance(c.get("language", "python"), str)
        ):
            problems.append(
                f'{label}: each constraint must be {{"expression": "<text>", "language": "python"}}'
            )
    return problems


# -- checking helpers ---------------------------------------------------------------------


def _label(column: dict[str, Any], index: int) -> str:
    name = column.get("name")
    return f"column {name!r}" if _is_name(name) else f"column #{index}"


def _is_name(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
