"""Every variable type over REST, and the raw content of Bytes and File variables.

A table of Camunda's types, each sent in and read back every way extask offers: set on a process
instance (PUT and POST), read one by one and all at once, handed to a worker by fetchAndLock.
Bytes and File content is downloaded from ``/process-instance/{id}/variables/{name}/data`` and,
as the JavaScript client does, from ``/execution/{id}/localVariables/{name}/data``.
"""

from __future__ import annotations

import base64

import pytest
from rest_support import assert_error

PDF = b"%PDF-1.4 \x00\xff binary"
B64 = base64.b64encode(PDF).decode()

FILE_INFO = {"filename": "invoice 17.pdf", "mimeType": "application/pdf", "encoding": None}
OBJECT_INFO = {"objectTypeName": "com.example.Customer", "serializationDataFormat": "application/json"}

# (type as sent, value sent, valueInfo sent) -> what comes back ("value" absent for File).
TYPES = [
    ("String", "text", {}, {"type": "String", "value": "text", "valueInfo": {}}),
    ("Integer", 42, {}, {"type": "Integer", "value": 42, "valueInfo": {}}),
    ("Long", 2**40, {}, {"type": "Long", "value": 2**40, "valueInfo": {}}),
    ("Short", -7, {}, {"type": "Short", "value": -7, "valueInfo": {}}),
    ("Double", 1.5, {}, {"type": "Double", "value": 1.5, "valueInfo": {}}),
    ("Boolean", True, {}, {"type": "Boolean", "value": True, "valueInfo": {}}),
    ("Date", "2025-01-02T04:04:05.678+0100", {},
     {"type": "Date", "value": "2025-01-02T03:04:05.678+0000", "valueInfo": {}}),
    ("Null", None, {}, {"type": "Null", "value": None, "valueInfo": {}}),
    ("Json", '{"a":[1,2]}', {}, {"type": "Json", "value": '{"a":[1,2]}', "valueInfo": {}}),
    ("Xml", "<a>1</a>", {}, {"type": "Xml", "value": "<a>1</a>", "valueInfo": {}}),
    ("Object", '{"name":"ACME"}', OBJECT_INFO, {"type": "Object", "value": '{"name":"ACME"}', "valueInfo": OBJECT_INFO}),
    ("Bytes", B64, {}, {"type": "Bytes", "value": B64, "valueInfo": {}}),
    ("File", B64, FILE_INFO, {"type": "File", "valueInfo": FILE_INFO}),
]
TYPE_IDS = [row[0] for row in TYPES]


def variable(type_name, value, info):
    return {"type": type_name, "value": value, "valueInfo": info}


class TestEveryTypeRoundTrips:
    @pytest.mark.parametrize(("type_name", "value", "info", "expected"), TYPES, ids=TYPE_IDS)
    def test_put_then_get_by_name(self, api, type_name, value, info, expected):
        api.create_task(processInstanceId="pi-1")
        response = api.put("/process-instance/pi-1/variables/v", json=variable(type_name, value, info))
        assert response.status_code == 204, response.text
        assert api.get("/process-instance/pi-1/variables/v").json() == expected

    @pytest.mark.parametrize(("type_name", "value", "info", "expected"), TYPES, ids=TYPE_IDS)
    def test_lower_case_type_names_as_the_js_client_sends_them(self, api, type_name, value, info, expected):
        api.create_task(processInstanceId="pi-1")
        body = {"modifications": {"v": variable(type_name.lower(), value, info)}}
        assert api.post("/process-instance/pi-1/variables", json=body).status_code == 204
        assert api.get("/process-instance/pi-1/variables").json() == {"v": expected}

    @pytest.mark.parametrize(("type_name", "value", "info", "expected"), TYPES, ids=TYPE_IDS)
    def test_created_with_the_task_and_fetched_by_a_worker(self, api, type_name, value, info, expected):
        api.create_task(processInstanceId="pi-1", variables={"v": variable(type_name, value, info)})
        [task] = api.fetch()
        assert task["variables"] == {"v": expected}

    @pytest.mark.parametrize(("type_name", "value", "info", "expected"), TYPES, ids=TYPE_IDS)
    def test_completed_by_a_worker(self, api, type_name, value, info, expected):
        task = api.locked_task(processInstanceId="pi-1")
        body = {"workerId": "worker-1", "variables": {"v": variable(type_name, value, info)}}
        assert api.post(f"/external-task/{task['id']}/complete", json=body).status_code == 204
        assert api.get("/process-instance/pi-1/variables/v").json() == expected


class TestProcessVariableData:
    def test_a_file(self, api):
        api.create_task(processInstanceId="pi-1", variables={"doc": variable("File", B64, FILE_INFO)})

        response = api.get("/process-instance/pi-1/variables/doc/data")

        assert response.status_code == 200
        assert response.content == PDF
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"invoice 17.pdf\"; filename*=UTF-8''invoice%2017.pdf"
        )

    def test_a_text_file_with_an_encoding_and_a_name_beyond_ascii(self, api):
        info = {"filename": "größe.txt", "mimeType": "text/plain", "encoding": "UTF-8"}
        text = "Größe".encode()
        api.create_task(
            processInstanceId="pi-1", variables={"doc": variable("File", base64.b64encode(text).decode(), info)}
        )

        response = api.get("/process-instance/pi-1/variables/doc/data")

        assert response.content == text
        assert response.headers["content-type"] == "text/plain; charset=UTF-8"
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"gr??e.txt\"; filename*=UTF-8''gr%C3%B6%C3%9Fe.txt"
        )

    def test_a_file_without_a_mime_type(self, api):
        api.create_task(processInstanceId="pi-1", variables={"doc": variable("File", B64, {"filename": "x"})})
        assert api.get("/process-instance/pi-1/variables/doc/data").headers["content-type"] == (
            "application/octet-stream"
        )

    def test_bytes(self, api):
        api.create_task(processInstanceId="pi-1", variables={"raw": variable("Bytes", B64, {})})

        response = api.get("/process-instance/pi-1/variables/raw/data")

        assert response.status_code == 200
        assert response.content == PDF
        assert response.headers["content-type"] == "application/octet-stream"
        assert "content-disposition" not in response.headers

    def test_null_bytes_are_empty(self, api):
        api.create_task(processInstanceId="pi-1", variables={"raw": variable("Bytes", None, {})})
        response = api.get("/process-instance/pi-1/variables/raw/data")
        assert (response.status_code, response.content) == (200, b"")

    @pytest.mark.parametrize("type_name", ["String", "Json", "Object", "Integer", "Null"])
    def test_a_variable_that_is_not_binary(self, api, type_name):
        value = {"String": "s", "Json": "{}", "Object": "{}", "Integer": 1, "Null": None}[type_name]
        api.create_task(processInstanceId="pi-1", variables={"v": variable(type_name, value, {})})
        assert_error(
            api.get("/process-instance/pi-1/variables/v/data"), 400, "InvalidRequestException",
            "Value of variable with id v is not a binary value.", code=None,
        )

    def test_an_unknown_variable(self, api):
        api.create_task(processInstanceId="pi-1")
        assert_error(
            api.get("/process-instance/pi-1/variables/nope/data"), 404, "InvalidRequestException",
            "process instance variable with name nope does not exist",
        )


class TestExecutionLocalVariableData:
    def test_a_process_file_by_the_process_instance_id_as_the_js_client_asks(self, api):
        api.create_task(processInstanceId="pi-1", variables={"doc": variable("File", B64, FILE_INFO)})
        response = api.get("/execution/pi-1/localVariables/doc/data")
        assert response.status_code == 200
        assert response.content == PDF
        assert response.headers["content-type"] == "application/pdf"

    def test_a_local_file_of_a_task_by_its_execution_id(self, lifecycle_api):
        api = lifecycle_api
        api.create_task(
            processInstanceId="pi-1", executionId="exec-1",
            localVariables={"scan": variable("File", B64, {"filename": "scan.png", "mimeType": "image/png"})},
        )
        response = api.get("/execution/exec-1/localVariables/scan/data")
        assert response.status_code == 200
        assert response.content == PDF
        assert response.headers["content-type"] == "image/png"
        assert_error(
            api.get("/execution/pi-1/localVariables/scan/data"), 404, "InvalidRequestException",
            "execution variable with name scan does not exist",
        )

    def test_local_variables_a_failure_added(self, lifecycle_api):
        api = lifecycle_api
        task = api.locked_task(processInstanceId="pi-1", executionId="exec-1")
        body = {"workerId": "worker-1", "retries": 1, "localVariables": {"trace": variable("Bytes", B64, {})}}
        assert api.post(f"/external-task/{task['id']}/failure", json=body).status_code == 204
        assert api.get("/execution/exec-1/localVariables/trace/data").content == PDF

    def test_local_variables_end_with_their_task(self, lifecycle_api):
        api = lifecycle_api
        task = api.locked_task(
            processInstanceId="pi-1", executionId="exec-1", localVariables={"raw": variable("Bytes", B64, {})}
        )
        api.post(f"/external-task/{task['id']}/complete", json={"workerId": "worker-1"})
        assert_error(
            api.get("/execution/exec-1/localVariables/raw/data"), 404, "InvalidRequestException",
            "Execution with id exec-1 does not exist",
        )

    def test_a_task_local_variable_wins_over_a_process_variable_of_the_same_name(self, api):
        api.create_task(
            processInstanceId="pi-1", executionId="pi-1",
            variables={"raw": variable("Bytes", base64.b64encode(b"process").decode(), {})},
            localVariables={"raw": variable("Bytes", base64.b64encode(b"local").decode(), {})},
        )
        assert api.get("/execution/pi-1/localVariables/raw/data").content == b"local"

    def test_not_binary(self, api):
        api.create_task(processInstanceId="pi-1", variables={"s": {"value": "text"}})
        assert_error(
            api.get("/execution/pi-1/localVariables/s/data"), 400, "InvalidRequestException",
            "Value of variable with id s is not a binary value.",
        )

    def test_an_unknown_execution(self, api):
        assert_error(
            api.get("/execution/nope/localVariables/doc/data"), 404, "InvalidRequestException",
            "Execution with id nope does not exist",
        )
