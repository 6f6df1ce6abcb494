"""The wire conventions every endpoint shares: root path, content types, error bodies, the
Authorization header, the version and the OpenAPI document."""

from __future__ import annotations

import psycopg
import pytest
from rest_support import BASE_URL, TestClient, assert_error, assert_no_content

from extask.application.errors import (
    BadRequest,
    ConcurrentModification,
    Conflict,
    NotFound,
    Suspended,
    Unavailable,
)
from extask.infrastructure.rest.app import create_app


class TestVersion:
    def test_reports_the_camunda_7_24_api_version(self, api):
        response = api.get("/version")
        assert response.status_code == 200
        assert response.json() == {"version": "7.24.0"}

    def test_everything_lives_under_engine_rest(self, api):
        assert api.get("http://localhost/version").status_code == 404


class TestContentType:
    """The JS client only parses JSON when the header is exactly ``application/json``."""

    def test_json_answers_have_no_charset(self, api):
        task = api.create_task()
        for response in (
            api.get("/version"),
            api.get(f"/external-task/{task['id']}"),
            api.post("/external-task/fetchAndLock", json={"workerId": "w", "maxTasks": 1, "topics": []}),
            api.get("/history/external-task-log/count"),
            api.get("/incident"),
        ):
            assert response.headers["content-type"] == "application/json"

    def test_error_answers_are_json_without_charset_too(self, api):
        for response in (
            api.get("/external-task/unknown"),
            api.post("/external-task/create", json={"priority": "high"}),
            api.get("/no-such-resource"),
        ):
            assert response.headers["content-type"] == "application/json"


class TestBadInput:
    """Malformed or mistyped input is a 400 InvalidRequestException with a readable message."""

    def test_malformed_json(self, api):
        response = api.post(
            "/external-task/fetchAndLock", content=b'{"workerId": ', headers={"Content-Type": "application/json"}
        )
        assert_error(response, 400, "InvalidRequestException", code=None)
        assert response.json()["message"].startswith("The request body is not valid JSON")

    def test_a_json_value_of_the_wrong_type_names_the_field(self, api):
        response = api.post(
            "/external-task/fetchAndLock",
            json={"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "t", "lockDuration": "long"}]},
        )
        assert_error(
            response, 400, "InvalidRequestException",
            "Invalid value for 'topics[0].lockDuration': Input should be a valid integer",
        )

    def test_a_body_that_is_not_an_object(self, api):
        response = api.post("/external-task/fetchAndLock", json=[1, 2])
        assert_error(response, 400, "InvalidRequestException", "The request body must be a JSON object")

    def test_a_body_that_is_not_json(self, api):
        response = api.post(
            "/external-task/x/complete", content=b"workerId=w", headers={"Content-Type": "text/plain"}
        )
        assert_error(
            response, 400, "InvalidRequestException",
            "The request body must be JSON, sent with Content-Type application/json",
        )

    def test_integers_beyond_java_int_are_refused(self, api):
        response = api.post("/external-task/fetchAndLock", json={"workerId": "w", "maxTasks": 2**31, "topics": []})
        assert_error(response, 400, "InvalidRequestException")
        assert "maxTasks" in response.json()["message"]

    def test_unknown_fields_are_ignored(self, api):
        response = api.post("/external-task/create", json={"topicName": "t", "somethingNew": {"x": 1}})
        assert response.status_code == 200

    def test_an_unknown_path_is_a_404_error_body(self, api):
        assert_error(api.get("/no-such-resource"), 404, "NotFoundException", code=None)

    def test_a_wrong_method_is_a_405_error_body(self, api):
        assert_error(api.delete("/version"), 405, "NotAllowedException", code=None)


class TestAuthorizationHeader:
    """Authentication is off; clients configured with credentials must still work."""

    @pytest.mark.parametrize("value", ["Basic ZGVtbzpkZW1v", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"])
    def test_is_tolerated_on_reads_and_commands(self, api, value):
        headers = {"Authorization": value}
        task = api.locked_task()
        assert api.get(f"/external-task/{task['id']}", headers=headers).status_code == 200
        assert_no_content(api.post(f"/external-task/{task['id']}/unlock", headers=headers))
        response = api.post(
            "/external-task/fetchAndLock",
            json={"workerId": "w", "maxTasks": 1, "topics": [{"topicName": "invoice", "lockDuration": 1000}]},
            headers=headers,
        )
        assert [t["id"] for t in response.json()] == [task["id"]]


class TestOpenApi:
    def test_the_document_is_served_under_the_rest_root(self, api):
        response = api.get("/openapi.json")
        assert response.status_code == 200
        paths = response.json()["paths"]
        assert "/engine-rest/external-task/fetchAndLock" in paths
        assert "/engine-rest/history/external-task-log" in paths

    def test_the_interactive_docs_are_served_at_docs(self, api):
        response = api.get("http://localhost/docs")
        assert response.status_code == 200
        assert "/engine-rest/openapi.json" in response.text

    def test_query_parameters_and_body_fields_are_documented_in_camel_case(self, api):
        document = api.get("/openapi.json").json()
        parameters = document["paths"]["/engine-rest/history/external-task-log"]["get"]["parameters"]
        log_params = {p["name"] for p in parameters}
        assert {"externalTaskId", "failureLog", "sortBy", "firstResult"} <= log_params
        assert "workerId" in document["components"]["schemas"]["FetchAndLockBody"]["properties"]

    def test_bad_input_is_documented_as_400_with_the_camunda_error_body(self, api):
        document = api.get("/openapi.json").json()
        responses = document["paths"]["/engine-rest/external-task/{task_id}/complete"]["post"]["responses"]
        assert "422" not in responses
        schema = responses["400"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/CamundaError"}


class _FailingService:
    """Stands in for the service: ``get_task`` raises whatever the test gives it."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_task(self, task_id: str):
        raise self.error


class TestErrorStatusMapping:
    @pytest.mark.parametrize(
        ("error", "status", "camunda_type", "code"),
        [
            (NotFound("gone"), 404, "RestException", None),
            (BadRequest("bad"), 400, "InvalidRequestException", None),
            (BadRequest("bad", "NullValueException"), 400, "NullValueException", 0),
            (Conflict("held"), 400, "RestException", None),
            (Suspended("paused"), 400, "RestException", None),
            (ConcurrentModification("ENGINE-03005 raced"), 500, "OptimisticLockingException", 1),
            (Unavailable("every connection for queries is busy"), 503, "ProcessEngineException", 0),
        ],
    )
    def test_each_error_class_has_its_status_and_camunda_body(self, error, status, camunda_type, code):
        app = create_app(_FailingService(error))
        with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as client:
            response = client.get("/external-task/any")
        assert_error(response, status, camunda_type, str(error), code=code)
        assert ("retry-after" in response.headers) == (status == 503)


class TestUnexpectedErrors:
    """An unexpected error answers nothing of itself, only a correlation id the log has it under."""

    SECRET = 'relation "ext_task" violates something; password=hunter2'

    @pytest.mark.parametrize("method, path", [("GET", "/external-task/any"), ("POST", "/external-task/any/unlock")])
    def test_answer_a_generic_500_whose_correlation_id_is_in_the_log(self, caplog, method, path):
        service = _FailingService(psycopg.errors.DataError(self.SECRET))
        service.unlock = service.get_task
        with TestClient(create_app(service), base_url=BASE_URL, raise_server_exceptions=False) as client:
            response = client.request(method, path)
        assert_error(response, 500, "ProcessEngineException", code=None)
        message = response.json()["message"]
        assert self.SECRET not in message and "DataError" not in message
        correlation_id = message.rsplit(" ", 1)[-1]
        logged = [record for record in caplog.records if correlation_id in record.getMessage()]
        assert len(logged) == 1
        assert self.SECRET in str(logged[0].exc_info[1])
        assert path in logged[0].getMessage()
