"""The one LIKE helper: what each backend is sent for a pattern (the matching itself is tested on
both databases in tests/integration/test_like_patterns.py)."""

from __future__ import annotations

import pytest

from extask.infrastructure.persistence.like import like
from extask.infrastructure.persistence.sql import Dialect

POSTGRES = Dialect("postgres", "s")
SQLITE = Dialect("sqlite")


@pytest.mark.parametrize(
    ("pattern", "sent"),
    [("a%b_", "a%b_"), ("a\\%", "a\\%"), ("ends\\", "ends\\\\"), ("ends\\\\", "ends\\\\"), ("ends\\\\\\", "ends\\\\\\\\")],
)
def test_postgres_gets_the_pattern_with_its_escape_character_and_a_trailing_lone_one_escaped(pattern, sent):
    assert like(POSTGRES, "c", pattern) == ("c LIKE ? ESCAPE '\\'", sent)


@pytest.mark.parametrize(
    ("pattern", "sent"),
    [("a%b_", "a*b?"), ("a\\%", "a%"), ("ends\\", "ends\\"), ("ends\\\\", "ends\\"), ("*?[", "[*][?][[]")],
)
def test_sqlite_gets_the_case_sensitive_glob_pattern_that_matches_the_same(pattern, sent):
    assert like(SQLITE, "c", pattern) == ("c GLOB ?", sent)


def test_the_operand_may_wrap_the_parameter():
    assert like(POSTGRES, "UPPER(c)", "x", operand="UPPER(?)")[0] == "UPPER(c) LIKE UPPER(?) ESCAPE '\\'"
    assert like(SQLITE, "UPPER(c)", "x", operand="UPPER(?)")[0] == "UPPER(c) GLOB UPPER(?)"
