"""Querying runtime tasks by their process instance's variables: the eight operators, case
insensitivity, type-agnostic numbers, dates and strings (spec 2.1 ``processVariables``).

Ported from the process variable scenarios of Camunda's ExternalTaskQueryTest.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from extask.application.errors import BadRequest
from extask.application.queries import ExternalTaskQuery, VariableCondition
from extask.domain.variables import typed_value

from .helpers import create_task, raises

MAX_DOUBLE_VALUE = 10e124
JAVA_LONG_MAX = 2**63 - 1


def count(service, name: str, operator: str, value, **flags) -> int:
    return service.count_tasks(ExternalTaskQuery(process_variables=[VariableCondition(name, operator, value)], **flags))


def start(service, **variables) -> None:
    create_task(service, variables=variables)


class TestEqualsAndNotEquals:
    DATE = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=timezone.utc)

    @pytest.fixture
    def instance(self, service):
        start(
            service, longVar=typed_value(928374, "Long"), shortVar=typed_value(123, "Short"), integerVar=1234,
            stringVar="stringValue", booleanVar=True, dateVar=self.DATE, nullVar=None,
        )

    @pytest.mark.parametrize(
        ("name", "value"),
        [("longVar", 928374), ("shortVar", 123), ("integerVar", 1234), ("stringVar", "stringValue"),
         ("booleanVar", True), ("dateVar", DATE), ("nullVar", None)],
    )
    def test_equals_matches_every_type(self, service, instance, name, value):
        assert count(service, name, "eq", value) == 1

    @pytest.mark.parametrize(
        ("name", "value"),
        [("longVar", 999), ("shortVar", 999), ("integerVar", 999), ("stringVar", "999"), ("booleanVar", False),
         ("dateVar", DATE + timedelta(days=365)), ("nullVar", "999")],
    )
    def test_equals_with_another_value_matches_nothing(self, service, instance, name, value):
        assert count(service, name, "eq", value) == 0

    @pytest.mark.parametrize(
        ("name", "value"),
        [("longVar", 999), ("shortVar", 999), ("integerVar", 999), ("stringVar", "999"), ("booleanVar", False)],
    )
    def test_not_equals_matches_another_value(self, service, instance, name, value):
        assert count(service, name, "neq", value) == 1

    def test_not_equals_with_the_value_itself_matches_nothing(self, service, instance):
        assert count(service, "longVar", "neq", 928374) == 0

    def test_a_condition_on_a_missing_variable_matches_nothing(self, service, instance):
        assert count(service, "nonExisting", "neq", 1) == 0
        assert count(service, "nonExisting", "lteq", 123) == 0

    def test_conditions_are_anded(self, service, instance):
        start(service, stringVar="stringValue")
        query = ExternalTaskQuery(
            process_variables=[VariableCondition("stringVar", "eq", "stringValue"), VariableCondition("integerVar", "eq", 1234)]
        )

        assert service.count_tasks(query) == 1


class TestIgnoreCase:
    @pytest.fixture
    def instance(self, service):
        start(service, someVariable="someCamelCaseValue")

    def test_variable_name_equals_ignore_case(self, service, instance):
        assert count(service, "somevariable", "eq", "someCamelCaseValue", variable_names_ignore_case=True) == 1
        assert count(service, "somevariable", "eq", "someCamelCaseValue") == 0

    def test_variable_value_equals_ignore_case(self, service, instance):
        assert count(service, "someVariable", "eq", "someCamelCaseValue") == 1
        assert count(service, "someVariable", "eq", "somecamelcasevalue", variable_values_ignore_case=True) == 1
        assert count(service, "nonExistentVariable", "eq", "somecamelcasevalue", variable_values_ignore_case=True) == 0
        assert count(service, "someVariable", "eq", "nonexistentvalue", variable_values_ignore_case=True) == 0
        assert count(service, "someVariable", "eq", "somecamelcasevalue") == 0

    def test_variable_value_not_equals_ignore_case(self, service, instance):
        assert count(service, "someVariable", "neq", "somecamelcasevalue") == 1
        assert count(service, "someVariable", "neq", "somecamelcasevalue", variable_values_ignore_case=True) == 0


class TestLike:
    @pytest.fixture
    def instance(self, service):
        start(service, stringVar="stringValue")

    @pytest.mark.parametrize(
        ("pattern", "like"),
        [("stringVal%", 1), ("%ngValue", 1), ("%ngVal%", 1), ("stringVar%", 0), ("%ngVar", 0), ("%ngVar%", 0),
         ("stringVal", 0), ("string_alue", 1), ("stringvalue", 0)],
    )
    def test_like_and_not_like(self, service, instance, pattern, like):
        assert count(service, "stringVar", "like", pattern) == like
        assert count(service, "stringVar", "notLike", pattern) == 1 - like

    def test_like_on_a_missing_variable_matches_nothing(self, service, instance):
        assert count(service, "nonExistingVar", "like", "string%") == 0
        assert count(service, "nonExistingVar", "notLike", "string%") == 0

    @pytest.mark.parametrize(
        ("pattern", "like"),
        [("stringval%", 1), ("%ngvalue", 1), ("%ngval%", 1), ("stringvar%", 0), ("%ngvar", 0), ("%ngvar%", 0),
         ("stringval", 0)],
    )
    def test_like_and_not_like_ignore_case(self, service, instance, pattern, like):
        assert count(service, "stringVar", "like", pattern, variable_values_ignore_case=True) == like
        assert count(service, "stringVar", "notLike", pattern, variable_values_ignore_case=True) == 1 - like

    def test_like_is_case_sensitive_on_both_backends(self, service, instance):
        assert count(service, "stringVar", "like", "STRING%") == 0

    def test_escaped_wildcards_and_glob_characters_are_literal(self, service):
        start(service, pattern="100%_done*[x]?")

        assert count(service, "pattern", "like", "100\\%\\_done*[x]?") == 1
        assert count(service, "pattern", "like", "100\\%\\_don_*%") == 1
        assert count(service, "pattern", "like", "100\\_%") == 0


class TestOrderingComparisons:
    DATE = datetime(2014, 3, 2, 2, 2, 2, tzinfo=timezone.utc)

    @pytest.fixture
    def instance(self, service):
        start(service, numericVar=928374, dateVar=self.DATE, stringVar="ab", nullVar=None)

    @pytest.mark.parametrize(
        ("operator", "expected"),
        [("gt", (1, 0, 0)), ("gteq", (1, 1, 0)), ("lt", (0, 0, 1)), ("lteq", (0, 1, 1))],
    )
    def test_compare_numbers_dates_and_strings(self, service, instance, operator, expected):
        """Each operator against a value below, equal to and above the variable's."""
        second = timedelta(seconds=1)
        for name, values in (
            ("numericVar", (928373, 928374, 928375)),
            ("dateVar", (self.DATE - second, self.DATE, self.DATE + second)),
            ("stringVar", ("aa", "ab", "ba")),
        ):
            assert tuple(count(service, name, operator, value) for value in values) == expected, name

    @pytest.mark.parametrize(
        ("operator", "label"),
        [("gt", "greater than"), ("gteq", "greater than or equal"), ("lt", "less than"),
         ("lteq", "less than or equal"), ("like", "like"), ("notLike", "not like")],
    )
    @pytest.mark.parametrize("value", [None, True, False])
    def test_booleans_and_null_only_compare_for_equality(self, service, instance, operator, label, value):
        with raises(BadRequest, f"Booleans and null cannot be used in '{label}' condition", "ProcessEngineException"):
            count(service, "nullVar", operator, value)

    def test_an_unknown_operator_is_refused(self, service, instance):
        with raises(BadRequest, "Invalid process variable comparator specified: equals", "InvalidRequestException"):
            count(service, "numericVar", "equals", 1)

    def test_a_variable_name_is_required(self, service, instance):
        with raises(BadRequest, "name is null", "NullValueException"):
            count(service, None, "eq", 1)


class TestNumbers:
    """Numbers compare by value whatever their type: 123 equals a Long, Short, Integer or Double 123."""

    @pytest.fixture
    def instances(self, service):
        for value in (typed_value(123, "Long"), typed_value(12345, "Long"), typed_value(123, "Short"), 123.0, 123,
                      None, typed_value(None, "Long"), "123"):
            start(service, var=value)

    @pytest.mark.parametrize("value", [123, 123.0])
    def test_equals_matches_every_numeric_type(self, service, instances, value):
        assert count(service, "var", "eq", value) == 4

    @pytest.mark.parametrize(
        ("operator", "expected"), [("neq", 4), ("gt", 1), ("gteq", 5), ("lt", 0), ("lteq", 4)]
    )
    def test_number_comparison(self, service, instances, operator, expected):
        assert count(service, "var", operator, 123) == expected

    def test_equals_number_max(self, service):
        start(service, var=MAX_DOUBLE_VALUE)
        start(service, var=typed_value(JAVA_LONG_MAX, "Long"))

        assert count(service, "var", "eq", MAX_DOUBLE_VALUE) == 1
        assert count(service, "var", "eq", JAVA_LONG_MAX) == 1

    def test_equals_number_long_value_overflow(self, service):
        """A double beyond Java's long range is not compared with Long variables."""
        start(service, var=MAX_DOUBLE_VALUE)
        start(service, var=typed_value(JAVA_LONG_MAX, "Long"))  # what (long) MAX_DOUBLE_VALUE gives in Java

        assert count(service, "var", "eq", MAX_DOUBLE_VALUE) == 1

    def test_a_non_integer_double_does_not_match_an_integer(self, service):
        start(service, var=42, var2=52.4)

        assert count(service, "var", "eq", 42.4) == 0

        start(service, var=42.4)
        assert count(service, "var", "eq", 52) == 0
        assert count(service, "var", "eq", 42.4) == 1

    def test_a_fractional_value_compares_with_double_variables_only(self, service):
        """Camunda compares a number only with the numeric types that hold it exactly: 42.5 is no
        Integer, so it is not compared with the Integer 42."""
        start(service, var=42)
        start(service, var=42.0)

        assert count(service, "var", "lt", 42.5) == 1
        assert count(service, "var", "lt", 43) == 2

    def test_a_number_beyond_every_numeric_type_matches_nothing(self, service):
        start(service, var=typed_value(JAVA_LONG_MAX, "Long"))

        assert count(service, "var", "eq", 10**400) == 0
        assert count(service, "var", "neq", 10**400) == 1
