"""Specification of a variable's ``valueInfo`` (extask.domain.variables) and of what a File's
metadata becomes in the headers of its download (extask.infrastructure.rest.variable_data).

Camunda's valueInfo is a flat map of scalars; a File's ``filename``, ``mimeType`` and
``encoding`` go into ``Content-Disposition`` and ``Content-Type``. Whatever is accepted must be
deliverable: nothing nested, nothing a header cannot carry.
"""

from __future__ import annotations

import json

import pytest

from extask.domain.variables import InvalidVariableValue, TypedValue, typed_value
from extask.infrastructure.rest.variable_data import binary_response

FLAT = (
    "valueInfo must be a flat object of strings, numbers, booleans and nulls: '{key}' is {kind}"
)


def nested(depth: int) -> dict:
    """``{"a": {"a": ... {}}}``, ``depth`` objects deep."""
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def refusal(call) -> str:
    with pytest.raises(InvalidVariableValue) as refused:
        call()
    assert refused.value.camunda_type == "InvalidRequestException"
    return refused.value.message


class TestValueInfoIsFlat:
    @pytest.mark.parametrize("type_name", [None, "String", "Integer", "Json", "Object", "File"])
    def test_a_value_info_nested_255_levels_deep_is_refused(self, type_name):
        value = {None: "x", "String": "x", "Integer": 1, "Json": "{}", "Object": "{}", "File": "aGk="}[type_name]
        message = refusal(lambda: typed_value(value, type_name, {"filename": "a", "a": nested(255)}))
        assert message == FLAT.format(key="a", kind="an object")

    def test_a_typed_value_made_elsewhere_is_checked_too(self):
        """An application embedding the engine may hand over TypedValues of its own."""
        message = refusal(lambda: typed_value(TypedValue("String", "x", {"a": nested(255)})))
        assert message == FLAT.format(key="a", kind="an object")
        assert refusal(lambda: typed_value(TypedValue("File", "aGk=", {"filename": "a\nb"}))).startswith(
            "The file name (valueInfo 'filename') must not hold control characters"
        )

    def test_a_typed_value_made_elsewhere_must_hold_a_converted_value(self):
        assert refusal(lambda: typed_value(TypedValue("String", nested(300)))) == (
            "The value of a String variable must be text, a finite number, a boolean or null, not an object"
        )
        assert refusal(lambda: typed_value(TypedValue("Double", float("nan")))).startswith(
            "The value of a Double variable must be"
        )
        assert typed_value(TypedValue("Json", '{"a":1}')) == TypedValue("Json", '{"a":1}')

    def test_an_array_is_refused(self):
        assert refusal(lambda: typed_value("x", "String", {"tags": ["a", "b"]})) == FLAT.format(
            key="tags", kind="an array"
        )

    def test_nesting_beyond_what_json_text_can_be_read_to_is_refused_too(self):
        deep: list = []
        for _ in range(100_000):
            deep = [deep]
        assert refusal(lambda: typed_value("x", "String", {"deep": deep})) == FLAT.format(key="deep", kind="an array")

    def test_keys_must_be_text(self):
        assert refusal(lambda: typed_value("x", "String", {1: "a"})) == (
            "valueInfo must be an object with text keys, got the key '1'"
        )

    def test_scalars_of_every_kind_and_keys_camunda_does_not_know_are_kept(self):
        info = {"objectTypeName": "com.example.Order", "serializationDataFormat": "application/json",
                "transient": False, "size": 12, "ratio": 0.5, "note": None, "mimetype": "text/plain"}
        assert typed_value("{}", "Object", info).value_info == info

    @pytest.mark.parametrize("key", ["objectTypeName", "serializationDataFormat", "filename", "mimeType", "encoding"])
    def test_the_keys_camunda_reads_as_text_must_be_text(self, key):
        assert refusal(lambda: typed_value("x", "String", {key: 7})) == f"valueInfo '{key}' must be a string, got '7'"

    def test_transient_must_be_a_boolean_as_camunda_says(self):
        assert refusal(lambda: typed_value("x", None, {"transient": "true"})) == (
            "The property 'transient' should have a value of type 'boolean'."
        )


class TestFileMetadata:
    """What a File's download puts in its headers must be fit for them."""

    @pytest.mark.parametrize(
        "filename", ["a\r\nX-Injected: 1", "tab\there", "nul\x00", "bell\x07", "del\x7f", "c1\x85"]
    )
    def test_a_file_name_with_control_characters_or_line_breaks_is_refused(self, filename):
        message = refusal(lambda: typed_value("aGk=", "File", {"filename": filename}))
        assert message.startswith(
            "The file name (valueInfo 'filename') must not hold control characters or line breaks, got '"
        )
        assert "\r" not in message and "\n" not in message  # written out as \u000d

    def test_a_file_name_of_any_script_is_kept(self):
        info = {"filename": "größe 17 — 发票.pdf", "mimeType": "application/pdf"}
        assert typed_value("aGk=", "File", info).value_info == info

    def test_a_file_name_longer_than_camunda_keeps_is_refused(self):
        message = refusal(lambda: typed_value("aGk=", "File", {"filename": "a" * 4001}))
        assert message.startswith("The file name (valueInfo 'filename') must be at most 4000 characters long, got 4001")

    @pytest.mark.parametrize(
        "mime_type",
        ["text/plain\r\nX-Injected: 1", "текст/plain", "text", "text/", "/plain", "text/plain extra",
         "text/pläin", "text/plain; charset", "a/" + "b" * 300],
    )
    def test_a_mime_type_that_is_not_type_slash_subtype_is_refused(self, mime_type):
        assert refusal(lambda: typed_value("aGk=", "File", {"filename": "a", "mimeType": mime_type})).startswith(
            "The mime type (valueInfo 'mimeType') must be a media type such as 'text/plain'"
        )

    @pytest.mark.parametrize(
        "mime_type",
        ["application/pdf", "image/svg+xml", "application/vnd.ms-excel", "text/plain; charset=UTF-8",
         'multipart/form-data; boundary="a b"'],
    )
    def test_media_types_with_or_without_parameters_are_kept(self, mime_type):
        assert typed_value("aGk=", "File", {"filename": "a", "mimeType": mime_type}).value_info["mimeType"] == mime_type

    @pytest.mark.parametrize("encoding", ["no-such-charset", "base64", "rot13", "zlib", "UTF-8\r\n", "ü"])
    def test_an_encoding_that_is_no_charset_python_knows_is_refused(self, encoding):
        assert refusal(lambda: typed_value("aGk=", "File", {"filename": "a", "encoding": encoding})).startswith(
            "The encoding (valueInfo 'encoding') is not a known charset: '"
        )

    @pytest.mark.parametrize("encoding", ["UTF-8", "utf8", "ISO-8859-1", "windows-1252", "US-ASCII", "Shift_JIS"])
    def test_charsets_in_any_of_their_names_are_kept(self, encoding):
        assert typed_value("aGk=", "File", {"filename": "a", "encoding": encoding}).value_info["encoding"] == encoding

    def test_absent_null_and_empty_metadata_mean_none(self):
        info = {"filename": None, "mimeType": "", "encoding": None}
        assert typed_value("aGk=", "File", info).value_info == info

    def test_other_types_are_not_held_to_a_files_rules(self):
        """Only a File's metadata reaches headers."""
        info = {"mimeType": "not a media type", "encoding": "no-such-charset"}
        assert typed_value("x", "String", info).value_info == info


class TestDeeplyNestedValues:
    """A Json value is text: however deep, it is delivered as a string; what cannot be read is refused."""

    def test_an_untyped_object_nested_deeply_is_kept_as_json_text(self):
        variable = typed_value(nested(300))
        assert variable.type == "Json" and json.loads(variable.value) == nested(300)

    def test_an_untyped_value_nested_beyond_what_json_can_write_is_refused(self):
        deep: list = []
        for _ in range(100_000):
            deep = [deep]
        assert refusal(lambda: typed_value(deep)) == "Cannot convert a value of type 'Json': it is nested too deeply"

    def test_json_text_nested_beyond_what_can_be_read_is_refused(self):
        text = "[" * 100_000 + "]" * 100_000
        assert refusal(lambda: typed_value(text, "Json")) == (
            "Cannot convert a value of type 'Json': it is nested too deeply"
        )


class TestDownloadHeadersOfMetadataStoredBeforeTheCheck:
    """A File stored before its metadata was checked still downloads, with headers made fit."""

    def download(self, info: dict):
        return binary_response(TypedValue("File", "aGk=", info), "doc")

    def test_a_mime_type_with_a_line_break_or_non_latin_text_is_left_out(self):
        for mime_type in ("text/plain\r\nX-Injected: 1", "текст/plain", 7):
            response = self.download({"filename": "a.txt", "mimeType": mime_type})
            assert response.headers["content-type"] == "application/octet-stream"

    def test_an_unknown_encoding_is_left_out(self):
        response = self.download({"filename": "a.txt", "mimeType": "text/plain", "encoding": "x\r\ny"})
        assert response.headers["content-type"] == "text/plain"

    def test_a_file_name_with_line_breaks_keeps_to_one_header(self):
        response = self.download({"filename": "a\r\nX-Injected: 1", "mimeType": "text/plain"})
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"a__X-Injected: 1\"; filename*=UTF-8''a%0D%0AX-Injected%3A%201"
        )

    def test_a_file_name_that_is_not_text_is_left_out(self):
        assert self.download({"filename": 5}).headers["content-disposition"] == "attachment"

    def test_checked_metadata_is_used_as_it_is(self):
        response = self.download({"filename": "a.txt", "mimeType": "text/plain", "encoding": "UTF-8"})
        assert response.headers["content-type"] == "text/plain; charset=UTF-8"
        assert response.body == b"hi"
