"""Sample files: every accepted format, every refusal, the kept rows and the JSON payload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mdreg.artifact.sample as sample_module
from mdreg.artifact.sample import head_rows, read_sample, to_json_payload
from mdreg.artifact.schema import infer_schema
from mdreg.errors import EXIT_INPUT, FrameworkNotInstalledError, InputError


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- reading -----------------------------------------------------------------------------


def test_csv_keeps_strings_and_reads_iso_dates_as_datetimes(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", "age,city,joined\n31,Oslo,2024-01-05\n45,,2023-11-30\n")
    frame = read_sample(path)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["age", "city", "joined"]
    assert str(frame["age"].dtype) == "int64"
    assert frame["joined"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2023-11-30")]
    assert frame["city"].iloc[0] == "Oslo" and pd.isna(frame["city"].iloc[1])
    schema = infer_schema(frame)
    assert [c["feature_type"] for c in schema["schema"]] == ["Integer", "String", "DateTime"]


def test_csv_dates_are_typed_as_parquet_types_them(tmp_path: Path) -> None:
    """The same table as CSV and as Parquet: one input schema (dtype and feature type)."""
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(["2024-01-05", "2023-11-30", None]),
            "at": pd.to_datetime(
                ["2024-01-05T10:00:00", "2024-01-05T10:00:01.250", "2024-02-29 23:59"],
                format="ISO8601",
            ),
            "utc": pd.to_datetime(
                ["2024-01-05T10:00:00Z", "2024-01-06T10:00:00Z", "2024-01-07T00:00Z"],
                format="ISO8601",
            ),
            "n": [1.5, 2.0, 3.0],
        }
    )
    frame.to_parquet(tmp_path / "s.parquet")
    frame.to_csv(tmp_path / "s.csv", index=False)

    def types(path: Path) -> list[tuple[str, str, str, bool]]:
        return [
            (c["name"], c["dtype"], c["feature_type"], c["required"])
            for c in infer_schema(read_sample(path))["schema"]
        ]

    assert types(tmp_path / "s.csv") == types(tmp_path / "s.parquet")
    assert [t[2] for t in types(tmp_path / "s.csv")] == [
        "DateTime",
        "DateTime",
        "DateTime",
        "Continuous",
    ]
    assert types(tmp_path / "s.csv")[0][3] is False  # the missing day


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        (["2024-01-05", "2024-13-01"], "text"),  # not a date: the column stays text
        (["2024-01-05", "soon"], "text"),
        (["2024", "2025-01-01"], "text"),  # a bare year is a number to pandas, not a date here
        (["2024-01", "2024-02"], "text"),  # year-month: not a date
        (["2024-01-05T10:00:00+01:00", "2024-01-05T10:00:00+02:00"], "text"),  # mixed offsets
        (["05/01/2024", "06/01/2024"], "text"),  # not ISO 8601: ambiguous, left as text
        (["2024", "2025"], "int64"),  # numbers stay numbers
        (["20240105", "20240106"], "int64"),
        (["1.5", "2e3"], "float64"),
    ],
)
def test_csv_columns_that_stay_as_they_are(tmp_path: Path, values: list[str], dtype: str) -> None:
    frame = read_sample(_write(tmp_path / "s.csv", "x\n" + "\n".join(values) + "\n"))
    have = str(frame["x"].dtype)
    assert have == dtype or (dtype == "text" and have in ("object", "str"))  # pandas 2, pandas 3
    assert infer_schema(frame)["schema"][0]["feature_type"] != "DateTime"


def test_tsv_and_upper_case_extension(tmp_path: Path) -> None:
    frame = read_sample(_write(tmp_path / "s.TSV", "a\tb\n1\t2.5\n"))
    assert frame.to_dict("records") == [{"a": 1, "b": 2.5}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[{"a": 1, "b": "x"}, {"a": 2, "b": null}]', [{"a": 1, "b": "x"}, {"a": 2, "b": None}]),
        ('{"a": [1, 2], "b": ["x", "y"]}', [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]),
        ('{"columns": ["a", "b"], "data": [[1, "x"]]}', [{"a": 1, "b": "x"}]),
        ('{"a": 1, "b": "x"}', [{"a": 1, "b": "x"}]),
        ('{"data": [{"a": 3}]}', [{"a": 3}]),
    ],
    ids=["records", "dict-of-columns", "split", "one-record", "data-key"],
)
def test_json_tables(tmp_path: Path, text: str, expected: list) -> None:
    frame = read_sample(_write(tmp_path / "s.json", text))
    assert isinstance(frame, pd.DataFrame)
    assert to_json_payload(frame) == expected


def test_json_rows_of_numbers_are_an_array(tmp_path: Path) -> None:
    rows = read_sample(_write(tmp_path / "s.json", "[[5.1, 3.5], [4.9, 3.0]]"))
    assert isinstance(rows, np.ndarray) and rows.shape == (2, 2) and rows.dtype == np.float64
    wrapped = read_sample(_write(tmp_path / "w.json", '{"data": [[1, 2], [3, 4]]}'))
    assert isinstance(wrapped, np.ndarray) and wrapped.tolist() == [[1, 2], [3, 4]]


def test_json_rows_of_mixed_values_are_a_frame_with_integer_columns(tmp_path: Path) -> None:
    frame = read_sample(_write(tmp_path / "s.json", '[[1, "x"], [2, null]]'))
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == [0, 1]
    assert to_json_payload(frame) == [[1, "x"], [2, None]]  # rows again, not records


def test_json_list_of_values_is_a_one_dimensional_array(tmp_path: Path) -> None:
    numbers = read_sample(_write(tmp_path / "n.json", "[1, 2.5, 3]"))
    assert numbers.shape == (3,) and numbers.dtype == np.float64
    texts = read_sample(_write(tmp_path / "t.json", '["great film", "dull"]'))
    assert texts.shape == (2,) and to_json_payload(texts) == ["great film", "dull"]


def test_jsonl_records_and_rows(tmp_path: Path) -> None:
    records = read_sample(_write(tmp_path / "r.jsonl", '{"a": 1}\n\n{"a": 2, "b": "y"}\n'))
    assert to_json_payload(records) == [{"a": 1, "b": None}, {"a": 2, "b": "y"}]
    rows = read_sample(_write(tmp_path / "w.ndjson", "[1, 2]\n[3, 4]\n"))
    assert isinstance(rows, np.ndarray) and rows.tolist() == [[1, 2], [3, 4]]


def test_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    source = pd.DataFrame({"x": [1.5, 2.5], "label": ["a", "b"], "n": [1, 2]})
    source.to_parquet(tmp_path / "s.parquet")
    (tmp_path / "s.parquet").rename(tmp_path / "s.pq")
    frame = read_sample(tmp_path / "s.pq")
    assert to_json_payload(frame) == to_json_payload(source)


def test_npy_and_npz(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.arange(6.0).reshape(3, 2))
    array = read_sample(tmp_path / "s.npy")
    assert array.tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    np.savez(tmp_path / "s.npz", features=np.arange(4).reshape(2, 2))
    assert read_sample(tmp_path / "s.npz").tolist() == [[0, 1], [2, 3]]
    structured = np.array([(1.5, 2)], dtype=[("x", "f8"), ("n", "i4")])
    np.save(tmp_path / "rec.npy", structured)
    assert to_json_payload(read_sample(tmp_path / "rec.npy")) == [{"x": 1.5, "n": 2}]


# -- refusals ----------------------------------------------------------------------------


def _refused(path: Path, message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_sample(path)
    text = str(caught.value)
    assert message in text, text
    assert str(path) in text and "\n" not in text
    assert caught.value.exit_code == EXIT_INPUT


def test_missing_file_directory_and_empty_file(tmp_path: Path) -> None:
    _refused(tmp_path / "nope.csv", "does not exist")
    (tmp_path / "folder.csv").mkdir()
    _refused(tmp_path / "folder.csv", "is a folder")
    _refused(_write(tmp_path / "zero.json", ""), "is empty")


def test_unknown_extension(tmp_path: Path) -> None:
    _refused(_write(tmp_path / "s.xlsx", "x"), "unknown extension '.xlsx': use one of .csv")
    _refused(_write(tmp_path / "noext", "x"), "unknown extension '(none)'")


def test_malformed_csv(tmp_path: Path) -> None:
    _refused(_write(tmp_path / "a.csv", "a,b\n1,2\n3,4,5,6\n"), "is not valid CSV: ")
    _refused(_write(tmp_path / "b.csv", "\n\n"), "has no header and no rows")
    _refused(_write(tmp_path / "c.csv", "a,b\n"), "has no rows")
    (tmp_path / "d.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    _refused(tmp_path / "d.csv", "is not UTF-8 text")


def test_malformed_json(tmp_path: Path) -> None:
    _refused(_write(tmp_path / "a.json", '{"a": [1, 2'), "is not valid JSON: ")
    _refused(_write(tmp_path / "b.json", "3"), "found a number")
    _refused(_write(tmp_path / "c.json", "null"), "found null")
    _refused(_write(tmp_path / "d.json", "[]"), "has no rows")
    _refused(_write(tmp_path / "e.json", '{"a": [1, 2], "b": [1]}'), "cannot read it as a table")
    _refused(_write(tmp_path / "f.json", '[{"a": 1}, 2]'), "mixes records")
    _refused(_write(tmp_path / "g.json", "[[1, 2], 3]"), "mixes rows with single values")


def test_malformed_jsonl(tmp_path: Path) -> None:
    _refused(_write(tmp_path / "a.jsonl", '{"a": 1}\n{oops\n'), "line 2: not valid JSON")
    _refused(_write(tmp_path / "b.jsonl", '{"a": 1}\n[1]\n'), "every line must be a JSON object")
    _refused(_write(tmp_path / "c.jsonl", "\n  \n"), "has no rows")


def test_object_npy_is_refused_without_unpickling(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _refused(tmp_path / "o.npy", "holds Python objects, which mdreg does not unpickle")
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}], dtype=object))
    _refused(tmp_path / "o.npz", "holds Python objects")


def test_bad_numpy_files(tmp_path: Path) -> None:
    _refused(_write(tmp_path / "g.npy", "garbage"), "is not a numpy .npy/.npz file")
    np.save(tmp_path / "s.npy", np.float64(3.0))
    _refused(tmp_path / "s.npy", "holds a single value, not rows")
    np.savez(tmp_path / "two.npz", x=np.arange(2), y=np.arange(3))
    _refused(tmp_path / "two.npz", "its arrays have different numbers of items")
    np.save(tmp_path / "t.npy", np.arange(100.0))
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:200])
    _refused(tmp_path / "t.npy", "is not a valid numpy file")


def test_bad_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    _refused(_write(tmp_path / "b.parquet", "not parquet"), "is not valid Parquet")


def test_parquet_without_pyarrow_names_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sample_module.importlib.util.find_spec
    monkeypatch.setattr(
        sample_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyarrow" else real(name, *a),
    )
    with pytest.raises(FrameworkNotInstalledError) as caught:
        read_sample(_write(tmp_path / "s.parquet", "PAR1"))
    assert str(caught.value) == "Parquet support needs the 'pyarrow' package: pip install pyarrow"
    assert caught.value.exit_code == EXIT_INPUT


# -- rows kept and the payload ------------------------------------------------------------


def test_head_rows_keeps_the_type_and_copies() -> None:
    frame = pd.DataFrame({"a": range(10)})
    head = head_rows(frame, 3)
    assert isinstance(head, pd.DataFrame) and head["a"].tolist() == [0, 1, 2]
    head.iloc[0, 0] = 99
    assert frame.iloc[0, 0] == 0
    array = np.arange(20).reshape(10, 2)
    assert head_rows(array).shape == (5, 2)
    assert head_rows(array, 50).shape == (10, 2)
    assert head_rows(pd.Series([1, 2, 3]), 2).tolist() == [1, 2]
    assert head_rows([[1], [2], [3]], 1) == [[1]]
    assert head_rows(array, 0).shape == (0, 2)
    with pytest.raises(ValueError):
        head_rows(array, -1)


def test_payload_of_a_frame_is_records_with_json_values() -> None:
    frame = pd.DataFrame(
        {
            "f": [1.5, np.nan, np.inf],
            "i": pd.array([1, None, 3], dtype="Int64"),
            "s": ["x", None, "z"],
            "t": pd.to_datetime(["2024-01-02 03:04:05", None, "2024-12-31 00:00:00"]),
            "c": pd.Categorical(["a", "b", None]),
            "b": [True, False, True],
            "n32": np.array([1, 2, 3], dtype=np.int32),
        }
    )
    payload = to_json_payload(frame)
    json.dumps(payload, allow_nan=False)
    assert payload == [
        {"f": 1.5, "i": 1, "s": "x", "t": "2024-01-02T03:04:05", "c": "a", "b": True, "n32": 1},
        {"f": None, "i": None, "s": None, "t": None, "c": "b", "b": False, "n32": 2},
        {"f": None, "i": 3, "s": "z", "t": "2024-12-31T00:00:00", "c": None, "b": True, "n32": 3},
    ]
    assert type(payload[0]["n32"]) is int
    rebuilt = pd.DataFrame(payload)
    assert list(rebuilt.columns) == list(frame.columns)


def test_payload_of_arrays_and_series_is_nested_lists() -> None:
    assert to_json_payload(np.array([[1.0, np.nan], [np.inf, 2.0]])) == [[1.0, None], [None, 2.0]]
    assert to_json_payload(pd.Series([1, 2], name="y")) == [1, 2]
    stamps = np.array(["2024-01-01T01:02:03.123456789", "NaT"], dtype="datetime64[ns]")
    assert to_json_payload(stamps) == ["2024-01-01T01:02:03.123456789", None]
    assert to_json_payload(stamps.reshape(2, 1)) == [["2024-01-01T01:02:03.123456789"], [None]]
    assert to_json_payload(np.array([True, False])) == [True, False]
    assert to_json_payload([np.float32(0.5), {"k": np.int64(2)}]) == [0.5, {"k": 2}]
    json.dumps(to_json_payload(np.array([[np.nan]])), allow_nan=False)


def test_sample_file_to_schema_and_payload(tmp_path: Path) -> None:
    path = _write(tmp_path / "iris.csv", "sepal,petal,species\n5.1,1.4,setosa\n6.2,4.5,\n")
    data = read_sample(path)
    schema = infer_schema(data)
    assert [c["name"] for c in schema["schema"]] == ["sepal", "petal", "species"]
    assert schema["schema"][2]["required"] is False
    assert json.loads(json.dumps(to_json_payload(head_rows(data, 1)), allow_nan=False)) == [
        {"sepal": 5.1, "petal": 1.4, "species": "setosa"}
    ]


def test_arrays_by_input_name_round_trip(tmp_path: Path) -> None:
    """An .npz of several arrays is one array per input of a model of several inputs; the
    kept sample is its JSON form, which reads back as the same arrays."""
    from mdreg.artifact.sample import from_json

    x, ids = np.arange(12.0, dtype=np.float32).reshape(4, 3), np.array([3, 1, 4, 1])
    np.savez(tmp_path / "two.npz", x=x, ids=ids)
    arrays = read_sample(tmp_path / "two.npz")
    assert list(arrays) == ["x", "ids"]
    kept = head_rows(arrays, 2)
    assert kept["x"].tolist() == x[:2].tolist() and kept["ids"].tolist() == [3, 1]
    doc = json.loads(json.dumps(to_json_payload(kept)))
    assert doc == {"x": x[:2].tolist(), "ids": [3, 1]}
    back = from_json(doc)
    assert back["x"].tolist() == x[:2].tolist() and back["ids"].dtype.kind == "i"
    with pytest.raises(InputError, match="input 'x' is not an array of numbers"):
        from_json({"x": [[1, 2], [3]], "ids": [1, 2]})
    # A dict of plain columns is still a table.
    assert isinstance(from_json({"a": [1, 2], "b": [3, 4]}), pd.DataFrame)
