"""The pure parts of the task query translation: LIKE patterns as GLOB patterns (SQLite) and the
typed copies of a variable's value that conditions compare."""

from __future__ import annotations

import pytest

from extask.infrastructure.persistence.like import like_to_glob
from extask.infrastructure.persistence.task_query import variable_search_columns


@pytest.mark.parametrize(
    ("like", "glob"),
    [
        ("abc", "abc"),
        ("a%c_", "a*c?"),
        ("100\\%", "100%"),
        ("a\\_b", "a_b"),
        ("a\\\\b", "a\\b"),
        ("*?[", "[*][?][[]"),
        ("%]%", "*]*"),
    ],
)
def test_like_to_glob(like, glob):
    assert like_to_glob(like) == glob


@pytest.mark.parametrize(
    ("variable", "columns"),
    [
        ({"type": "String", "value": "x"}, ("x", None, None)),
        ({"type": "Integer", "value": 5}, (None, 5, None)),
        ({"type": "Long", "value": 2**63 - 1}, (None, 2**63 - 1, None)),
        ({"type": "Short", "value": -3}, (None, -3, None)),
        ({"type": "Double", "value": 2.5}, (None, None, 2.5)),
        ({"type": "Boolean", "value": False}, (None, 0, None)),
        ({"type": "Date", "value": "1970-01-01T00:00:01.234+0000"}, (None, 1234, None)),
        ({"type": "Json", "value": "{}"}, (None, None, None)),
        ({"type": "String", "value": None}, (None, None, None)),
        ({"type": "Null", "value": None}, (None, None, None)),
    ],
)
def test_variable_search_columns(variable, columns):
    assert variable_search_columns({**variable, "valueInfo": {}}) == columns
