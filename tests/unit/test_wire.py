"""Specification of the Camunda wire format (extask.infrastructure.rest.wire)."""

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

from extask.domain.variables import InvalidVariableValue, TypedValue
from extask.infrastructure.rest.wire import (
    CamundaJSONResponse,
    error_body,
    error_response,
    format_date,
    parse_date,
    variables_from_wire,
    variables_to_wire,
)

UTC = timezone.utc


class TestFormatDate:
    def test_utc_with_mandatory_milliseconds_and_rfc822_offset(self):
        assert format_date(datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)) == "2025-01-02T03:04:05.678+0000"

    def test_whole_seconds_still_have_three_millisecond_digits(self):
        assert format_date(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2025-01-02T03:04:05.000+0000"

    def test_other_offsets_are_converted_to_utc(self):
        value = datetime(2025, 1, 2, 0, 30, 0, 1000, tzinfo=timezone(timedelta(hours=2)))
        assert format_date(value) == "2025-01-01T22:30:00.001+0000"

    def test_microseconds_are_truncated_not_rounded(self):
        assert format_date(datetime(2025, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)) == "2025-01-02T03:04:05.999+0000"

    def test_naive_datetimes_are_taken_as_utc(self):
        assert format_date(datetime(2025, 1, 2, 3, 4, 5)) == "2025-01-02T03:04:05.000+0000"

    def test_none_is_none(self):
        assert format_date(None) is None


class TestParseDate:
    EXPECTED = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

    @pytest.mark.parametrize(
        "text",
        [
            "2025-01-02T03:04:05.678+0000",
            "2025-01-02T03:04:05.678+00:00",
            "2025-01-02T03:04:05.678Z",
            "2025-01-02T05:04:05.678+0200",
            "2025-01-01T23:04:05.678-04:00",
        ],
    )
    def test_accepted_offset_forms(self, text):
        result = parse_date(text)
        assert result == self.EXPECTED
        assert result.tzinfo is not None and result.utcoffset() == timedelta(0)

    def test_milliseconds_are_optional(self):
        assert parse_date("2025-01-02T03:04:05Z") == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert parse_date("2025-01-02T03:04:05+0000") == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

    def test_longer_fractions_are_read_as_fractions_of_a_second(self):
        assert parse_date("2025-01-02T03:04:05.123456+00:00").microsecond == 123456

    def test_round_trip_with_format_date(self):
        assert parse_date(format_date(self.EXPECTED)) == self.EXPECTED

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "2025-01-02",
            "2025-01-02T03:04:05.678",  # no offset
            "2025-01-02 03:04:05.678+0000",
            "2025-02-30T03:04:05.678+0000",
            "2025-01-02T03:04:05.678+2500",
            '"2025-01-02T03:04:05.678+0000"',
        ],
    )
    def test_bad_input_raises_value_error(self, text):
        with pytest.raises(ValueError):
            parse_date(text)


class TestVariablesFromWire:
    def test_null_or_absent_map_is_empty(self):
        assert variables_from_wire(None) == {}
        assert variables_from_wire({}) == {}

    def test_typed_values_are_converted(self):
        raw = {
            "amount": {"value": "12", "type": "integer", "valueInfo": {}},
            "when": {"value": "2025-01-02T03:04:05.678+00:00", "type": "Date"},
            "doc": {"value": '{"a":1}', "type": "json", "valueInfo": None},
        }
        assert variables_from_wire(raw) == {
            "amount": TypedValue("Integer", 12, {}),
            "when": TypedValue("Date", "2025-01-02T03:04:05.678+0000", {}),
            "doc": TypedValue("Json", '{"a":1}', {}),
        }

    @pytest.mark.parametrize(
        "value, expected",
        [
            ("x", TypedValue("String", "x", {})),
            (5, TypedValue("Integer", 5, {})),
            (2**40, TypedValue("Long", 2**40, {})),
            (1.5, TypedValue("Double", 1.5, {})),
            (True, TypedValue("Boolean", True, {})),
            (None, TypedValue("Null", None, {})),
            ({"a": 1}, TypedValue("Json", '{"a":1}', {})),
            ([1, 2], TypedValue("Json", "[1,2]", {})),
        ],
    )
    def test_untyped_values_are_inferred_from_the_json_value(self, value, expected):
        assert variables_from_wire({"v": {"value": value, "type": None, "valueInfo": None}}) == {"v": expected}
        assert variables_from_wire({"v": {"value": value}}) == {"v": expected}

    def test_missing_value_is_null(self):
        assert variables_from_wire({"v": {"type": "String"}}) == {"v": TypedValue("String", None, {})}

    def test_value_info_is_kept(self):
        info = {"filename": "a.txt", "mimeType": "text/plain", "encoding": "UTF-8"}
        raw = {"f": {"value": "aGk=", "type": "file", "valueInfo": info}}
        assert variables_from_wire(raw) == {"f": TypedValue("File", "aGk=", info)}

    def test_transient_variables_are_dropped(self):
        raw = {
            "keep": {"value": 1, "type": "Integer", "valueInfo": {"transient": False}},
            "typed": {"value": 2, "type": "Integer", "valueInfo": {"transient": True}},
            "untyped": {"value": 3, "valueInfo": {"transient": True}},
        }
        assert variables_from_wire(raw) == {"keep": TypedValue("Integer", 1, {"transient": False})}

    def test_transient_variables_are_still_validated(self):
        with pytest.raises(InvalidVariableValue):
            variables_from_wire({"t": {"value": "x", "type": "Integer", "valueInfo": {"transient": True}}})

    @pytest.mark.parametrize("entry", ["plain", 5, None, [1]])
    def test_an_entry_that_is_not_an_object_is_an_invalid_request(self, entry):
        with pytest.raises(InvalidVariableValue) as info:
            variables_from_wire({"v": entry})
        assert info.value.camunda_type == "InvalidRequestException"

    def test_a_map_that_is_not_an_object_is_an_invalid_request(self):
        with pytest.raises(InvalidVariableValue) as info:
            variables_from_wire([{"value": 1}])
        assert info.value.camunda_type == "InvalidRequestException"

    def test_conversion_errors_carry_the_camunda_message(self):
        with pytest.raises(InvalidVariableValue) as info:
            variables_from_wire({"n": {"value": "abc", "type": "Integer"}})
        assert info.value.camunda_type == "InvalidRequestException"
        assert info.value.message == "Cannot convert value 'abc' of type 'Integer' to java type java.lang.Integer"

    def test_unknown_types_are_rest_exceptions(self):
        with pytest.raises(InvalidVariableValue) as info:
            variables_from_wire({"n": {"value": 1, "type": "Float"}})
        assert info.value.camunda_type == "RestException"
        assert info.value.message == "Unsupported value type 'Float'"


class TestVariablesToWire:
    def test_every_variable_has_capitalised_type_value_and_value_info(self):
        variables = {
            "s": TypedValue("String", "x", {}),
            "d": TypedValue("Double", 12.5, {}),
            "n": TypedValue("Null", None, {}),
            "j": TypedValue("Json", '{"a":1}', {}),
            "o": TypedValue("Object", "{}", {"objectTypeName": "X", "serializationDataFormat": "application/json"}),
            "t": TypedValue("Date", "2025-01-02T03:04:05.678+0000", {}),
        }
        assert variables_to_wire(variables) == {
            "s": {"type": "String", "value": "x", "valueInfo": {}},
            "d": {"type": "Double", "value": 12.5, "valueInfo": {}},
            "n": {"type": "Null", "value": None, "valueInfo": {}},
            "j": {"type": "Json", "value": '{"a":1}', "valueInfo": {}},
            "o": {
                "type": "Object",
                "value": "{}",
                "valueInfo": {"objectTypeName": "X", "serializationDataFormat": "application/json"},
            },
            "t": {"type": "Date", "value": "2025-01-02T03:04:05.678+0000", "valueInfo": {}},
        }

    def test_file_values_are_sent_without_value(self):
        info = {"filename": "a.txt", "mimeType": "text/plain", "encoding": "UTF-8"}
        assert variables_to_wire({"f": TypedValue("File", "aGk=", info)}) == {"f": {"type": "File", "valueInfo": info}}

    def test_round_trip_from_wire(self):
        raw = {"a": {"value": 7, "type": "long", "valueInfo": {}}, "b": {"value": "x"}}
        assert variables_to_wire(variables_from_wire(raw)) == {
            "a": {"type": "Long", "value": 7, "valueInfo": {}},
            "b": {"type": "String", "value": "x", "valueInfo": {}},
        }


class TestCamundaJSONResponse:
    def test_content_type_is_exactly_application_json(self):
        response = CamundaJSONResponse({"a": 1})
        assert response.headers["content-type"] == "application/json"
        assert response.body == b'{"a":1}'

    def test_content_type_stays_exact_even_if_a_charset_is_supplied(self):
        response = CamundaJSONResponse({}, headers={"Content-Type": "application/json; charset=utf-8"})
        assert response.headers.getlist("content-type") == ["application/json"]

    def test_content_type_on_the_wire_has_no_charset(self):
        messages = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            messages.append(message)

        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        asyncio.run(CamundaJSONResponse([{"x": "é"}])(scope, receive, send))
        start, body = messages[0], messages[1]
        assert [v for k, v in start["headers"] if k == b"content-type"] == [b"application/json"]
        assert json.loads(body["body"]) == [{"x": "é"}]


class TestErrors:
    def test_error_body_shape(self):
        assert error_body("RestException", "not found") == {"type": "RestException", "message": "not found", "code": None}
        assert error_body("OptimisticLockingException", "conflict", 1) == {
            "type": "OptimisticLockingException",
            "message": "conflict",
            "code": 1,
        }

    def test_error_response_has_status_body_and_exact_content_type(self):
        response = error_response(404, "RestException", "External task with id x does not exist")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert response.body == b'{"type":"RestException","message":"External task with id x does not exist","code":null}'
