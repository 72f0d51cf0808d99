"""The `py` filter: the one way a template writes a Python value into score.py."""

from __future__ import annotations

import ast
import math

import pytest

from mdreg.templates import _environment, py_literal

VALUES = [
    None,
    True,
    False,
    0,
    -7,
    2**70,
    1.5,
    1e-300,
    "",
    "plain",
    'quote " and \\ backslash',
    "it's",
    "tab\tnewline\nnul\x00 bell\x07",
    "unicode é 中 \U0001f600",
    "\u2028line sep",
    (),
    ("one",),
    ("a", 1),
    [],
    [1, [2, [3]]],
    {},
    {"b": 1, "a": [None, True]},
    {("m", "n"), ("a", "b")},
    frozenset(),
    frozenset({"z", "y"}),
    set(),
    ["x" * 50, "y" * 50],
    {"key": "v" * 120},
    "line one\nline two\n" * 8,
    [("input_layer", [None, 4], "float32")],
]


def _evaluate(text: str):
    """The value of a literal, with the few calls py_literal writes (frozenset, set, float)."""
    names = {"frozenset": frozenset, "set": set, "float": float}
    return eval(compile(ast.parse(text, mode="eval"), "<literal>", "eval"), {"__builtins__": names})  # noqa: S307


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:30])
def test_py_literal_reads_back_as_the_value(value) -> None:
    text = py_literal(value)
    assert _evaluate(text) == value
    assert "'" not in text.replace("it's", "")  # strings in double quotes


def test_non_finite_floats_and_unknown_types() -> None:
    assert math.isnan(_evaluate(py_literal(float("nan"))))
    assert _evaluate(py_literal([float("inf"), -float("inf")])) == [math.inf, -math.inf]
    with pytest.raises(TypeError, match="Python literals only"):
        py_literal(object())


def test_sets_do_not_depend_on_hash_order() -> None:
    assert py_literal({"b", "a", "c"}) == '{"a", "b", "c"}'


def test_long_containers_get_one_item_per_line() -> None:
    text = py_literal({"spark.master": "local[1]", "options": "-X" * 60})
    assert text == '{\n    "spark.master": "local[1]",\n    "options": "' + "-X" * 60 + '",\n}'
    nested = py_literal([["a" * 30, "b" * 30], ["c" * 50, "d" * 50]])
    assert nested.splitlines()[1] == f'    ["{"a" * 30}", "{"b" * 30}"],'
    assert nested.splitlines()[2] == "    ["


def test_plugin_literals_are_rewritten_the_same_way() -> None:
    """A plugin's repr/pprint text and JSON go through literal_eval / from_json, then py."""
    env_text = "{{ a | literal_eval | py }} {{ b | from_json | py }}"
    env = _environment(None)  # the environment render() uses
    out = env.from_string(env_text).render(a="['x', None, (1,)]", b='[true, null, "y"]')
    assert out == '["x", None, (1,)] [True, None, "y"]'
