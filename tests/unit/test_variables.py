"""Specification of typed variable values (extask.domain.variables)."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from extask.domain.variables import (
    TYPE_NAMES,
    InvalidVariableValue,
    TypedValue,
    typed_value,
    typed_variables,
)

UTC = timezone.utc


def conversion_error(value_text: str, type_name: str, java_class: str) -> str:
    return f"Cannot convert value '{value_text}' of type '{type_name}' to java type {java_class}"


def assert_invalid(call, camunda_type: str, message: str) -> None:
    with pytest.raises(InvalidVariableValue) as info:
        call()
    assert info.value.camunda_type == camunda_type
    assert info.value.message == message
    assert str(info.value) == message


class TestTypeNames:
    def test_canonical_names_are_the_camunda_engine_type_names(self):
        assert set(TYPE_NAMES) == {
            "String", "Integer", "Long", "Short", "Double", "Boolean", "Date",
            "Null", "Json", "Xml", "Object", "Bytes", "File",
        }

    @pytest.mark.parametrize("name", TYPE_NAMES)
    def test_lower_case_and_capitalised_names_resolve_to_the_canonical_name(self, name):
        assert typed_value(None, name.lower()).type == name
        assert typed_value(None, name).type == name

    def test_names_match_case_insensitively_throughout(self):
        assert typed_value("x", "STRING").type == "String"
        assert typed_value(1, "iNtEgEr").type == "Integer"

    def test_unknown_type_name_is_a_rest_exception(self):
        assert_invalid(lambda: typed_value(1, "Float"), "RestException", "Unsupported value type 'Float'")

    def test_empty_type_name_is_unknown_not_untyped(self):
        assert_invalid(lambda: typed_value(1, ""), "RestException", "Unsupported value type ''")

    def test_invalid_variable_value_is_a_value_error(self):
        assert issubclass(InvalidVariableValue, ValueError)


class TestInference:
    def test_str_is_string(self):
        assert typed_value("hello") == TypedValue("String", "hello", {})

    def test_bool_is_boolean_not_integer(self):
        assert typed_value(True) == TypedValue("Boolean", True, {})
        assert typed_value(False) == TypedValue("Boolean", False, {})

    def test_int_within_32_bits_is_integer(self):
        assert typed_value(42) == TypedValue("Integer", 42, {})
        assert typed_value(2**31 - 1).type == "Integer"
        assert typed_value(-(2**31)).type == "Integer"

    def test_int_outside_32_bits_is_long(self):
        assert typed_value(2**31) == TypedValue("Long", 2**31, {})
        assert typed_value(-(2**31) - 1).type == "Long"
        assert typed_value(2**63 - 1).type == "Long"

    def test_int_outside_64_bits_is_rejected(self):
        assert_invalid(
            lambda: typed_value(2**63),
            "InvalidRequestException",
            conversion_error(str(2**63), "Long", "java.lang.Long"),
        )

    def test_float_is_double(self):
        assert typed_value(1.5) == TypedValue("Double", 1.5, {})

    def test_none_is_null(self):
        assert typed_value(None) == TypedValue("Null", None, {})

    def test_dict_and_list_are_compact_json_text(self):
        assert typed_value({"a": 1, "b": [1, 2]}) == TypedValue("Json", '{"a":1,"b":[1,2]}', {})
        assert typed_value([1, "x"]) == TypedValue("Json", '[1,"x"]', {})

    def test_datetime_is_date_in_utc(self):
        value = datetime(2025, 1, 2, 4, 4, 5, 678000, tzinfo=timezone(timedelta(hours=1)))
        assert typed_value(value) == TypedValue("Date", "2025-01-02T03:04:05.678+0000", {})

    def test_bytes_are_base64(self):
        assert typed_value(b"hi") == TypedValue("Bytes", "aGk=", {})

    def test_typed_value_passes_through_unchanged(self):
        original = TypedValue("Short", 3, {"k": "v"})
        assert typed_value(original) is original

    def test_value_info_is_attached_to_inferred_values(self):
        assert typed_value("x", None, {"transient": True}).value_info == {"transient": True}

    def test_other_python_types_are_rejected(self):
        with pytest.raises(InvalidVariableValue) as info:
            typed_value({1, 2})
        assert info.value.camunda_type == "InvalidRequestException"


class TestIntegerTypes:
    @pytest.mark.parametrize("value, expected", [(42, 42), ("42", 42), ("-7", -7), (42.0, 42)])
    def test_integer_accepts_ints_digit_strings_and_integral_floats(self, value, expected):
        assert typed_value(value, "Integer") == TypedValue("Integer", expected, {})

    @pytest.mark.parametrize("value, text", [(42.5, "42.5"), ("abc", "abc"), ("4.0", "4.0"), (True, "true"), ([1], "[1]")])
    def test_integer_rejects_other_values(self, value, text):
        assert_invalid(
            lambda: typed_value(value, "integer"),
            "InvalidRequestException",
            conversion_error(text, "Integer", "java.lang.Integer"),
        )

    def test_integer_range_is_signed_32_bit(self):
        assert typed_value(2**31 - 1, "Integer").value == 2**31 - 1
        assert typed_value(-(2**31), "Integer").value == -(2**31)
        assert_invalid(
            lambda: typed_value(2**31, "Integer"),
            "InvalidRequestException",
            conversion_error("2147483648", "Integer", "java.lang.Integer"),
        )

    def test_long_range_is_signed_64_bit(self):
        assert typed_value("9223372036854775807", "Long") == TypedValue("Long", 2**63 - 1, {})
        assert typed_value(5, "long") == TypedValue("Long", 5, {})
        assert_invalid(
            lambda: typed_value(2**63, "Long"),
            "InvalidRequestException",
            conversion_error("9223372036854775808", "Long", "java.lang.Long"),
        )

    def test_short_range_is_signed_16_bit(self):
        assert typed_value(-32768, "short") == TypedValue("Short", -32768, {})
        assert typed_value("32767", "Short").value == 32767
        assert_invalid(
            lambda: typed_value(32768, "Short"),
            "InvalidRequestException",
            conversion_error("32768", "Short", "java.lang.Short"),
        )


class TestDouble:
    @pytest.mark.parametrize("value, expected", [(1.5, 1.5), (2, 2.0), ("3.25", 3.25), ("-1e3", -1000.0), ("7", 7.0)])
    def test_double_accepts_numbers_and_numeric_strings(self, value, expected):
        result = typed_value(value, "double")
        assert result == TypedValue("Double", expected, {})
        assert isinstance(result.value, float)

    @pytest.mark.parametrize("value, text", [("abc", "abc"), (True, "true"), ("nan", "nan"), (float("inf"), "inf")])
    def test_double_rejects_non_numbers_and_non_finite_values(self, value, text):
        assert_invalid(
            lambda: typed_value(value, "Double"),
            "InvalidRequestException",
            conversion_error(text, "Double", "java.lang.Double"),
        )


class TestBoolean:
    @pytest.mark.parametrize("value, expected", [(True, True), (False, False), ("true", True), ("FALSE", False), ("True", True)])
    def test_boolean_accepts_bools_and_true_false_strings(self, value, expected):
        assert typed_value(value, "boolean") == TypedValue("Boolean", expected, {})

    @pytest.mark.parametrize("value, text", [(1, "1"), ("yes", "yes"), (0.0, "0.0")])
    def test_boolean_rejects_anything_else(self, value, text):
        assert_invalid(
            lambda: typed_value(value, "Boolean"),
            "InvalidRequestException",
            conversion_error(text, "Boolean", "java.lang.Boolean"),
        )


class TestString:
    @pytest.mark.parametrize("value, expected", [("x", "x"), ("", ""), (42, "42"), (1.5, "1.5"), (True, "true"), (False, "false")])
    def test_string_keeps_text_and_converts_scalars_json_style(self, value, expected):
        assert typed_value(value, "string") == TypedValue("String", expected, {})

    def test_string_rejects_structured_values(self):
        assert_invalid(
            lambda: typed_value({"a": 1}, "String"),
            "InvalidRequestException",
            conversion_error("{'a': 1}", "String", "java.lang.String"),
        )


class TestNullValues:
    @pytest.mark.parametrize("name", TYPE_NAMES)
    def test_every_type_accepts_a_null_value(self, name):
        assert typed_value(None, name) == TypedValue(name, None, {})

    def test_null_type_rejects_a_non_null_value(self):
        assert_invalid(
            lambda: typed_value("x", "null"),
            "InvalidRequestException",
            conversion_error("x", "Null", "java.lang.Object"),
        )


class TestDate:
    @pytest.mark.parametrize(
        "text",
        [
            "2025-01-02T03:04:05.678+0000",
            "2025-01-02T03:04:05.678+00:00",
            "2025-01-02T03:04:05.678Z",
            "2025-01-02T04:04:05.678+0100",
            "2025-01-01T22:04:05.678-05:00",
        ],
    )
    def test_date_strings_in_any_accepted_offset_form_become_utc(self, text):
        assert typed_value(text, "date") == TypedValue("Date", "2025-01-02T03:04:05.678+0000", {})

    def test_missing_milliseconds_are_filled_with_zeros(self):
        assert typed_value("2025-01-02T03:04:05+0000", "Date").value == "2025-01-02T03:04:05.000+0000"
        assert typed_value("2025-01-02T03:04:05Z", "Date").value == "2025-01-02T03:04:05.000+0000"

    def test_aware_datetime_is_converted_to_utc(self):
        value = datetime(2025, 1, 2, 3, 4, 5, 678999, tzinfo=timezone(timedelta(hours=-2)))
        assert typed_value(value, "Date").value == "2025-01-02T05:04:05.678+0000"

    def test_naive_datetime_is_taken_as_utc(self):
        assert typed_value(datetime(2025, 1, 2, 3, 4, 5), "Date").value == "2025-01-02T03:04:05.000+0000"

    @pytest.mark.parametrize("value", ["2025-01-02", "2025-01-02T03:04:05", "2025-13-02T03:04:05.000+0000", "yesterday", 1735787045678])
    def test_other_values_are_rejected(self, value):
        assert_invalid(
            lambda: typed_value(value, "Date"),
            "InvalidRequestException",
            conversion_error(str(value), "Date", "java.util.Date"),
        )


class TestJsonAndXml:
    def test_json_text_is_kept_as_is(self):
        assert typed_value('{"a": 1}', "json") == TypedValue("Json", '{"a": 1}', {})

    def test_json_structures_are_serialized_compactly(self):
        assert typed_value({"a": [1, 2]}, "Json").value == '{"a":[1,2]}'
        assert typed_value([], "Json").value == "[]"

    def test_json_text_must_parse(self):
        assert_invalid(
            lambda: typed_value("{not json", "Json"),
            "InvalidRequestException",
            conversion_error("{not json", "Json", "java.lang.String"),
        )

    def test_json_rejects_values_that_are_neither_text_nor_structures(self):
        assert_invalid(
            lambda: typed_value(5, "Json"),
            "InvalidRequestException",
            "Must provide 'null' or String value for value of SerializableValue type 'Json'.",
        )

    def test_xml_text_is_kept_as_is(self):
        assert typed_value("<a/>", "xml") == TypedValue("Xml", "<a/>", {})

    def test_xml_requires_text(self):
        assert_invalid(
            lambda: typed_value({"a": 1}, "Xml"),
            "InvalidRequestException",
            "Must provide 'null' or String value for value of SerializableValue type 'Xml'.",
        )


class TestObject:
    def test_serialized_object_and_its_value_info_are_kept(self):
        info = {"objectTypeName": "com.example.Order", "serializationDataFormat": "application/json"}
        assert typed_value('{"id":1}', "object", info) == TypedValue("Object", '{"id":1}', info)

    @pytest.mark.parametrize("value", [{"id": 1}, 5, True])
    def test_object_value_must_be_serialized_text(self, value):
        assert_invalid(
            lambda: typed_value(value, "Object"),
            "InvalidRequestException",
            "Must provide 'null' or String value for value of SerializableValue type 'Object'.",
        )


class TestBinary:
    def test_bytes_from_base64_text(self):
        assert typed_value("aGk=", "bytes") == TypedValue("Bytes", "aGk=", {})

    def test_bytes_from_python_bytes(self):
        assert typed_value(b"\x00\xff", "Bytes").value == "AP8="

    def test_bytes_reject_invalid_base64(self):
        assert_invalid(
            lambda: typed_value("not base64!", "Bytes"),
            "InvalidRequestException",
            conversion_error("not base64!", "Bytes", "[B"),
        )

    def test_file_keeps_its_metadata(self):
        info = {"filename": "a.txt", "mimeType": "text/plain", "encoding": "UTF-8"}
        assert typed_value("aGk=", "file", info) == TypedValue("File", "aGk=", info)
        assert typed_value(b"hi", "File", info).value == "aGk="

    def test_file_rejects_invalid_base64(self):
        assert_invalid(
            lambda: typed_value("%%%", "File"),
            "InvalidRequestException",
            conversion_error("%%%", "File", "[B"),
        )


class TestValueInfo:
    def test_value_info_is_copied_to_a_plain_dict(self):
        info = {"transient": True}
        result = typed_value("x", "String", info)
        info["other"] = 1
        assert result.value_info == {"transient": True}
        assert type(result.value_info) is dict

    def test_missing_value_info_is_empty(self):
        assert typed_value("x", "String").value_info == {}
        assert typed_value("x", "String", None).value_info == {}

    def test_typed_values_are_hashable_despite_the_dict_field(self):
        assert hash(TypedValue("String", "x", {"a": 1})) == hash(TypedValue("String", "x", {"b": 2}))

    def test_must_be_an_object(self):
        assert_invalid(lambda: typed_value("x", "String", ["a"]), "InvalidRequestException", "valueInfo must be an object, got '['a']'")

    @pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
    def test_cannot_hold_numbers_json_has_not(self, number):
        """They would be stored as null in the events while the runtime tables kept them."""
        assert_invalid(
            lambda: typed_value("x", "String", {"filename": "a", "size": {"bytes": number}}),
            "InvalidRequestException",
            f"valueInfo must be a JSON object of finite numbers, got '{{'filename': 'a', 'size': {{'bytes': {number}}}}}'",
        )

    def test_cannot_hold_values_json_has_not(self):
        with pytest.raises(InvalidVariableValue, match="valueInfo must be a JSON object"):
            typed_value("x", None, {"when": datetime(2025, 1, 1)})

    def test_holds_what_camunda_puts_there(self):
        info = {"objectTypeName": "java.util.ArrayList", "serializationDataFormat": "application/json", "transient": False}
        assert typed_value("[]", "Object", info).value_info == info


class TestTypedVariables:
    def test_none_is_empty(self):
        assert typed_variables(None) == {}

    def test_values_are_inferred_and_typed_values_kept(self):
        kept = TypedValue("Short", 1, {})
        assert typed_variables({"a": "x", "b": kept, "c": {"k": 1}, "d": None}) == {
            "a": TypedValue("String", "x", {}),
            "b": kept,
            "c": TypedValue("Json", '{"k":1}', {}),
            "d": TypedValue("Null", None, {}),
        }

    def test_bad_value_raises(self):
        with pytest.raises(InvalidVariableValue):
            typed_variables({"a": 2**64})


class TestSerialization:
    @pytest.mark.parametrize(
        "variable",
        [
            TypedValue("String", "x", {}),
            TypedValue("Integer", 1, {}),
            TypedValue("Double", 1.5, {}),
            TypedValue("Null", None, {}),
            TypedValue("Date", "2025-01-02T03:04:05.678+0000", {}),
            TypedValue("Object", "{}", {"objectTypeName": "X", "serializationDataFormat": "application/json"}),
            TypedValue("File", "aGk=", {"filename": "a.txt"}),
        ],
    )
    def test_to_dict_and_from_dict_round_trip_through_json(self, variable):
        stored = json.loads(json.dumps(variable.to_dict()))
        assert TypedValue.from_dict(stored) == variable

    def test_to_dict_shape(self):
        assert TypedValue("Long", 5, {"a": 1}).to_dict() == {"type": "Long", "value": 5, "valueInfo": {"a": 1}}

    def test_from_dict_tolerates_missing_value_and_value_info(self):
        assert TypedValue.from_dict({"type": "Null"}) == TypedValue("Null", None, {})
        assert TypedValue.from_dict({"type": "String", "value": "x", "valueInfo": None}) == TypedValue("String", "x", {})

    def test_to_dict_returns_a_copy_of_value_info(self):
        variable = TypedValue("String", "x", {"a": 1})
        variable.to_dict()["valueInfo"]["b"] = 2
        assert variable.value_info == {"a": 1}


class TestToPython:
    def test_scalars_come_back_as_stored(self):
        assert typed_value("x").to_python() == "x"
        assert typed_value(7, "Long").to_python() == 7
        assert typed_value(1.5).to_python() == 1.5
        assert typed_value(True).to_python() is True
        assert typed_value(None).to_python() is None

    def test_date_is_an_aware_utc_datetime(self):
        result = typed_value("2025-01-02T04:04:05.678+0100", "Date").to_python()
        assert result == datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
        assert result.utcoffset() == timedelta(0)

    def test_json_is_parsed(self):
        assert typed_value({"a": [1, 2]}).to_python() == {"a": [1, 2]}

    def test_bytes_and_file_are_bytes(self):
        assert typed_value(b"hi").to_python() == b"hi"
        assert typed_value("aGk=", "File", {"filename": "a"}).to_python() == b"hi"

    def test_object_and_xml_are_the_serialized_text(self):
        assert typed_value('{"id":1}', "Object").to_python() == '{"id":1}'
        assert typed_value("<a/>", "Xml").to_python() == "<a/>"

    def test_null_of_any_type_is_none(self):
        assert typed_value(None, "Date").to_python() is None
        assert typed_value(None, "Json").to_python() is None
