"""input_schema.json / output_schema.json: inference, the reduced wide form, validation.

The golden file pins the whole document for a mixed-type frame. After a deliberate
change, rewrite it with ``MDREG_UPDATE_GOLDEN=1 pytest tests/artifact/test_schema.py``
and review the diff before committing it.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mdreg.artifact.schema import (
    COLUMN_KEYS,
    MAX_COLUMNS,
    MAX_SCHEMA_BYTES,
    SCHEMA_VERSION,
    fits_in_catalog,
    infer_schema,
    schema_dtypes,
    schema_from_count,
    schema_from_feature_names,
    schema_json,
    schema_notes,
    schema_size,
)
from mdreg.artifact.schema_validation import validate_schema
from mdreg.errors import InputError

GOLDEN = Path(__file__).parent / "golden"
NUMERIC_KEYS = [
    "count", "mean", "standard deviation", "sample minimum", "lower quartile", "median",
    "upper quartile", "sample maximum",
]  # fmt: skip


def _dump(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _by_name(doc: dict) -> dict:
    return {c["name"]: c for c in doc["schema"]}


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "length": [5.1, 4.9, 4.7, 4.6, 5.0, 5.4],
            "count": [3, 1, 4, 1, 5, 9],
            "colour": pd.Categorical(
                ["red", "green", "red", "blue", "green", "red"],
                categories=["blue", "green", "red", "unused"],
            ),
            "flag": [True, False, True, True, False, True],
            "city": ["Paris", "Oslo", "Paris", "Rome", "Lima", "Oslo"],
            "when": pd.to_datetime(
                [
                    "2024-01-01 00:00:00",
                    "2024-02-15 00:00:00",
                    "2024-03-01 12:30:00",
                    None,
                    "2023-12-31 00:00:00",
                    "2024-06-30 00:00:00",
                ]
            ).astype("datetime64[ns]"),
            "gaps": [1.5, np.nan, 2.5, None, 3.5, 4.0],
            "note": pd.Series(["a", None, "b", "a", None, "c"], dtype=object),
            "rank": pd.array([1, 2, None, 4, 5, 6], dtype="Int64"),
            "answered": pd.Series([True, None, False, True, True, False], dtype=object),
            "constant": [2.0] * 6,
        }
    )


# -- the mixed frame, pinned -----------------------------------------------------------


def test_mixed_frame_matches_golden(mixed: pd.DataFrame) -> None:
    text = _dump(infer_schema(mixed))
    golden = GOLDEN / "mixed_input_schema.json"
    if os.environ.get("MDREG_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_mixed_frame_follows_the_format_rules(mixed: pd.DataFrame) -> None:
    doc = infer_schema(mixed)
    assert list(doc) == ["schema", "version"] and doc["version"] == "1.1" == SCHEMA_VERSION
    json.dumps(doc, allow_nan=False)  # no NaN, no infinity, nothing JSON cannot hold
    assert validate_schema(doc) == []
    columns = _by_name(doc)
    for order, column in enumerate(doc["schema"]):
        assert tuple(column) == COLUMN_KEYS
        assert list(column["domain"]) == ["values", "stats", "constraints"]
        assert column["order"] == order
        assert column["description"] == str(column["name"])
        assert column["domain"]["values"] == column["feature_type"]
        assert column["required"] is ("missing" not in column["domain"]["stats"])
    kinds = {name: (c["dtype"], c["feature_type"]) for name, c in columns.items()}
    assert kinds == {
        "length": ("float64", "Continuous"),
        "count": ("int64", "Integer"),
        "colour": ("category", "Category"),
        "flag": ("bool", "Boolean"),
        "city": ("object", "String"),
        "when": ("datetime64[ns]", "DateTime"),
        "gaps": ("float64", "Continuous"),
        "note": ("object", "String"),
        "rank": ("Int64", "Integer"),
        "answered": ("object", "Boolean"),
        "constant": ("float64", "Continuous"),
    }
    length = columns["length"]["domain"]["stats"]
    assert list(length) == [*NUMERIC_KEYS, "skew"]
    values = mixed["length"]
    assert length["count"] == 6.0
    assert length["mean"] == round(values.mean(), 3)
    assert length["standard deviation"] == round(values.std(), 3)
    assert length["upper quartile"] == round(values.quantile(0.75), 3)
    assert length["skew"] == round(values.skew(), 3)
    assert list(columns["count"]["domain"]["stats"]) == NUMERIC_KEYS  # Integer: no skew
    assert list(columns["constant"]["domain"]["stats"]) == NUMERIC_KEYS  # std 0: no skew
    gaps = columns["gaps"]["domain"]["stats"]  # NaN and None both count as missing
    assert (gaps["count"], gaps["missing"], gaps["mean"]) == (6.0, 2.0, 2.875)
    assert columns["note"]["domain"]["stats"] == {"count": 6, "unique": 3, "missing": 2}
    assert columns["rank"]["domain"]["stats"]["missing"] == 1.0
    assert columns["colour"]["domain"]["stats"] == {"count": 6, "unique": 3}
    assert columns["colour"]["domain"]["constraints"] == [
        {"expression": "$x in ['blue', 'green', 'red', 'unused']", "language": "python"}
    ]
    for name in ("flag", "answered"):
        assert columns[name]["domain"]["constraints"] == [
            {"expression": "$x in [True, False]", "language": "python"}
        ]
    assert columns["city"]["domain"]["constraints"] == []
    assert columns["when"]["domain"]["stats"] == {
        "count": 6,
        "unique": 5,
        "sample minimum": "2023-12-31T00:00:00",
        "sample maximum": "2024-06-30T00:00:00",
        "missing": 1,
    }


def test_golden_file_is_what_validate_accepts() -> None:
    doc = json.loads((GOLDEN / "mixed_input_schema.json").read_text(encoding="utf-8"))
    assert validate_schema(doc) == []
    assert fits_in_catalog(doc)


# -- array input, Series, targets --------------------------------------------------------


def test_iris_like_array_gets_integer_names() -> None:
    rng = np.random.default_rng(7)
    features = rng.normal(loc=[5.8, 3.0, 3.8, 1.2], scale=[0.8, 0.4, 1.8, 0.8], size=(150, 4))
    doc = infer_schema(features)
    assert [c["name"] for c in doc["schema"]] == [0, 1, 2, 3]
    assert [c["description"] for c in doc["schema"]] == ["0", "1", "2", "3"]
    assert {(c["dtype"], c["feature_type"], c["required"]) for c in doc["schema"]} == {
        ("float64", "Continuous", True)
    }
    third = doc["schema"][2]["domain"]["stats"]
    column = pd.Series(features[:, 2])
    assert third["count"] == 150.0
    assert third["mean"] == round(column.mean(), 3)
    assert third["sample minimum"] == round(column.min(), 3)
    assert third["median"] == round(column.median(), 3)
    assert third["skew"] == round(column.skew(), 3)
    assert schema_dtypes(doc) == {0: "float64", 1: "float64", 2: "float64", 3: "float64"}


def test_named_series_keeps_its_name_and_unnamed_gets_0() -> None:
    named = infer_schema(pd.Series([0.5, 1.5, 2.5], name="price"))
    assert [c["name"] for c in named["schema"]] == ["price"]
    unnamed = infer_schema(pd.Series(["a", "b", "a"]))
    assert [(c["name"], c["feature_type"]) for c in unnamed["schema"]] == [(0, "String")]
    assert unnamed["schema"][0]["domain"]["stats"] == {"count": 3, "unique": 2}


def test_one_dimensional_target_is_one_column() -> None:
    doc = infer_schema(np.array([0, 1, 1, 2, 0]))
    (column,) = doc["schema"]
    assert (column["name"], column["dtype"], column["feature_type"]) == (0, "int64", "Integer")
    assert column["domain"]["stats"]["sample maximum"] == 2.0
    labels = infer_schema(np.array(["setosa", "virginica", "setosa"]))
    assert [(c["name"], c["dtype"], c["feature_type"]) for c in labels["schema"]] == [
        (0, "object", "String")
    ]


def test_lists_of_rows_records_and_values() -> None:
    rows = infer_schema([[1.0, 2.0], [3.0, 4.0]])
    assert [c["name"] for c in rows["schema"]] == [0, 1]
    records = infer_schema([{"a": 1, "b": "x"}, {"a": 2}])
    assert [(c["name"], c["required"]) for c in records["schema"]] == [("a", True), ("b", False)]
    values = infer_schema([0.1, 0.2, 0.3])
    assert [c["name"] for c in values["schema"]] == [0]


def test_names_replace_the_column_names_by_position() -> None:
    doc = infer_schema(np.ones((3, 2)), names=np.array(["width", "height"], dtype=object))
    assert [c["name"] for c in doc["schema"]] == ["width", "height"]
    assert all(type(c["name"]) is str for c in doc["schema"])
    with pytest.raises(InputError, match="3 column names were given for data with 2 columns"):
        infer_schema(np.ones((3, 2)), names=["a", "b", "c"])


def test_data_that_is_not_a_table_is_an_input_error() -> None:
    with pytest.raises(InputError, match="3 dimensions"):
        infer_schema(np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="duplicate column names: a"):
        infer_schema(pd.DataFrame([[1, 2]], columns=["a", "a"]))


def test_undefined_statistics_are_null_never_nan() -> None:
    frame = pd.DataFrame(
        {"spiky": [1.0, np.inf, 2.0], "empty": [np.nan] * 3, "single": [4.0, None, None]}
    )
    doc = infer_schema(frame)
    text = schema_json(doc)  # raises on NaN or infinity
    columns = _by_name(json.loads(text))
    assert columns["spiky"]["domain"]["stats"]["mean"] is None
    assert columns["spiky"]["domain"]["stats"]["sample minimum"] == 1.0
    empty = columns["empty"]["domain"]["stats"]
    assert empty["count"] == 3.0 and empty["missing"] == 3.0 and empty["mean"] is None
    assert "skew" not in empty
    single = columns["single"]["domain"]["stats"]
    assert single["standard deviation"] is None and "skew" not in single
    assert validate_schema(doc) == []


def test_datetime_stats_are_iso_strings_with_the_zone() -> None:
    when = pd.Series(pd.to_datetime(["2024-05-01 10:00", None, "2024-04-01 09:30"]), name="t")
    doc = infer_schema(when.dt.tz_localize("Europe/Paris"))
    stats = doc["schema"][0]["domain"]["stats"]
    assert doc["schema"][0]["feature_type"] == "DateTime"
    assert stats["sample minimum"] == "2024-04-01T09:30:00+02:00"
    assert stats["sample maximum"] == "2024-05-01T10:00:00+02:00"
    assert (stats["unique"], stats["missing"]) == (2, 1)


def test_empty_frame_still_describes_its_columns() -> None:
    frame = pd.DataFrame({"x": pd.Series([], dtype="float64"), "s": pd.Series([], dtype=object)})
    doc = infer_schema(frame)
    assert [c["domain"]["stats"]["count"] for c in doc["schema"]] == [0.0, 0]
    json.dumps(doc, allow_nan=False)


# -- wide data and the catalog's size limit ----------------------------------------------


def test_more_than_max_columns_gives_the_reduced_form() -> None:
    wide = np.random.default_rng(0).normal(size=(20, MAX_COLUMNS + 1))
    wide[3, 5] = np.nan
    doc = infer_schema(wide)
    assert len(doc["schema"]) == MAX_COLUMNS + 1
    assert validate_schema(doc) == []
    json.loads(schema_json(doc))
    for column in doc["schema"]:
        assert tuple(column) == COLUMN_KEYS
        assert column["domain"] == {"values": "Continuous", "stats": {}, "constraints": []}
    assert doc["schema"][5]["required"] is False and doc["schema"][4]["required"] is True
    notes = schema_notes(doc)
    assert notes[0] == (
        f"the data has {MAX_COLUMNS + 1} columns (more than {MAX_COLUMNS}): "
        "the schema lists them without statistics"
    )
    assert "over the catalog's 32,000-byte limit" in notes[1]
    assert not fits_in_catalog(doc)


def test_exactly_max_columns_still_has_statistics() -> None:
    doc = infer_schema(np.ones((3, MAX_COLUMNS)))
    assert all(c["domain"]["stats"]["count"] == 3.0 for c in doc["schema"])
    assert len(schema_notes(doc)) == 1  # only the size


def test_size_is_utf8_bytes_of_the_json_and_small_schemas_fit() -> None:
    doc = infer_schema(pd.DataFrame({"größe": [1.0, 2.0]}))
    assert schema_size(doc) == len(schema_json(doc).encode("utf-8"))
    assert "größe" in schema_json(doc)
    assert fits_in_catalog(doc) and schema_notes(doc) == []
    many = schema_from_count(400)
    assert schema_size(many) > MAX_SCHEMA_BYTES and not fits_in_catalog(many)


# -- no sample ------------------------------------------------------------------------


def test_schema_from_feature_names_without_dtypes() -> None:
    doc = schema_from_feature_names(np.array(["sepal", "petal"], dtype=object))
    assert doc == {
        "schema": [
            {
                "dtype": "float64",
                "feature_type": "Continuous",
                "name": name,
                "domain": {"values": "Continuous", "stats": {}, "constraints": []},
                "required": True,
                "description": name,
                "order": order,
            }
            for order, name in enumerate(["sepal", "petal"])
        ],
        "version": "1.1",
    }
    assert validate_schema(doc) == []


def test_schema_from_feature_names_with_dtypes() -> None:
    dtypes = ["int64", "category", "bool", "datetime64[ns]", "object", "float32"]
    doc = schema_from_feature_names(list("abcdef"), dtypes)
    assert [(c["dtype"], c["feature_type"]) for c in doc["schema"]] == [
        ("int64", "Integer"),
        ("category", "Category"),
        ("bool", "Boolean"),
        ("datetime64[ns]", "DateTime"),
        ("object", "String"),
        ("float32", "Continuous"),
    ]
    with pytest.raises(ValueError, match="2 dtypes given for 3 names"):
        schema_from_feature_names(["a", "b", "c"], ["int64", "int64"])


def test_schema_from_count() -> None:
    doc = schema_from_count(4)
    assert [(c["name"], c["order"], c["description"]) for c in doc["schema"]] == [
        (0, 0, "0"), (1, 1, "1"), (2, 2, "2"), (3, 3, "3"),
    ]  # fmt: skip
    assert schema_from_count(0) == {"schema": [], "version": "1.1"}
    with pytest.raises(ValueError):
        schema_from_count(-1)


def test_schema_dtypes_follow_order_not_list_position() -> None:
    doc = infer_schema(pd.DataFrame({"a": [1], "b": [1.5], "c": ["x"]}))
    doc["schema"].reverse()  # ADS lists columns in no fixed order
    assert list(schema_dtypes(doc).items()) == [("a", "int64"), ("b", "float64"), ("c", "object")]


# -- validation -------------------------------------------------------------------------


@pytest.fixture
def good() -> dict:
    return infer_schema(pd.DataFrame({"x": [1.0, 2.0, 4.0], "y": ["a", "b", "a"]}))


def test_missing_version_means_1_0_and_needs_only_the_core_keys() -> None:
    doc = {"schema": [{"dtype": "int64", "name": "age", "required": True}]}
    assert validate_schema(doc) == []
    assert validate_schema({**doc, "version": "1.0"}) == []
    assert validate_schema({**doc, "version": "1.1"}) == [
        "column 'age': missing key 'feature_type'",
        "column 'age': missing key 'domain'",
        "column 'age': missing key 'description'",
        "column 'age': missing key 'order'",
    ]
    assert validate_schema({"schema": [{"name": "age"}]}) == [
        "column 'age': missing key 'dtype'",
        "column 'age': missing key 'required'",
    ]


def test_document_shape_problems() -> None:
    assert validate_schema([]) == ["the schema document must be a JSON object, not a list"]
    assert validate_schema({"version": "1.1"}) == [
        "'schema' must be a list of columns, but it is missing"
    ]
    assert validate_schema({"schema": {"x": 1}, "version": "1.1"}) == [
        "'schema' must be a list of columns, but it is an object"
    ]
    assert validate_schema({"schema": [], "version": "2.0"}) == [
        "unknown schema version '2.0': use \"1.1\""
    ]
    assert validate_schema({"schema": ["x"], "version": "1.1"}) == [
        "column #0: must be a JSON object, not a string"
    ]


def test_bad_feature_type_names_the_column_and_the_choices(good: dict) -> None:
    good["schema"][1]["feature_type"] = "Floaty"
    assert validate_schema(good) == [
        (
            "column 'y': 'feature_type' 'Floaty' is not a feature type: "
            "use one of Continuous, Integer, String, Category, Boolean, DateTime"
        )
    ]
    good["schema"][1]["feature_type"] = "Ordinal"  # ADS knows it: files made by ADS pass
    assert validate_schema(good) == []


def test_wrong_order_numbers_name_the_column(good: dict) -> None:
    bad = copy.deepcopy(good)
    bad["schema"][1]["order"] = 0
    assert validate_schema(bad) == [
        "column 'y': 'order' 0 is also used by column 'x': give each column its own position"
    ]
    bad["schema"][1]["order"] = 7
    assert validate_schema(bad) == [
        "column 'y': 'order' 7 is past the last column: use 0..1, each once"
    ]
    bad["schema"][1]["order"] = "1"
    assert validate_schema(bad) == ["column 'y': 'order' must be a whole number from 0"]
    good["schema"].reverse()  # any listing order is fine
    assert validate_schema(good) == []


def test_bad_json_types_name_the_column(good: dict) -> None:
    x = good["schema"][0]
    x.update(dtype=3, required="yes", description=5)
    x["domain"]["stats"]["mean"] = float("nan")
    x["domain"]["constraints"] = [{"expr": "$x > 0"}]
    y = good["schema"][1]
    y["domain"] = ["String"]
    assert validate_schema(good) == [
        "column 'x': 'dtype' must be a pandas dtype string such as \"float64\"",
        "column 'x': 'required' must be true or false",
        "column 'x': 'description' must be a string",
        "column 'x': stat 'mean' is NaN or infinite (not JSON): use null",
        'column \'x\': each constraint must be {"expression": "<text>", "language": "python"}',
        "column 'y': 'domain' must be an object with values, stats and constraints",
    ]


def test_bad_names_unknown_and_duplicate_keys(good: dict) -> None:
    good["schema"][0]["name"] = True
    good["schema"][0]["comment"] = "added by hand"
    good["schema"][1]["domain"]["extra"] = 1
    assert validate_schema(good) == [
        "column #0: unknown key 'comment' (ADS cannot load it): remove it",
        "column #0: 'name' must be a string or an integer",
        "column 'y': unknown key 'extra' in 'domain': keep only values, stats, constraints",
    ]
    good["schema"][0]["name"] = "y"
    del good["schema"][0]["comment"], good["schema"][1]["domain"]["extra"]
    assert validate_schema(good) == [
        "column 'y': the name appears more than once: names must be unique"
    ]


def test_schema_json_round_trips_and_refuses_nan(good: dict) -> None:
    assert json.loads(schema_json(good)) == good
    good["schema"][0]["domain"]["stats"]["mean"] = float("nan")
    with pytest.raises(ValueError):
        schema_json(good)


# -- import cost -------------------------------------------------------------------------


def test_importing_schema_and_sample_loads_neither_numpy_nor_pandas() -> None:
    code = (
        "import sys, mdreg.artifact.schema, mdreg.artifact.schema_validation\n"
        "import mdreg.artifact.sample\n"
        "heavy = sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert done.stdout.strip() == ""
