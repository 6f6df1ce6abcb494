"""``POST /external-task/create`` and ``/create/batch``: extask's own way in for tasks, and
``GET /external-task/{id}`` showing them as Camunda's ExternalTask object."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from rest_support import assert_error

from extask.infrastructure.rest.schemas import MOST_ITEMS

EXTERNAL_TASK_FIELDS = {
    "activityId", "activityInstanceId", "errorMessage", "executionId", "id", "lockExpirationTime",
    "createTime", "processDefinitionId", "processDefinitionKey", "processDefinitionVersionTag",
    "processInstanceId", "retries", "suspended", "workerId", "topicName", "tenantId", "priority",
    "businessKey",
}

FULL_TASK = {
    "topicName": "invoice",
    "processInstanceId": "pi-1",
    "processDefinitionId": "invoice:1",
    "processDefinitionKey": "invoice",
    "activityId": "charge",
    "businessKey": "order-17",
    "tenantId": None,
    "priority": 5,
    "retries": None,
    "variables": {"amount": {"value": 12.5, "type": "Double"}},
    "localVariables": {},
    "extensionProperties": {"sla": "high"},
}


def creation_log_count(api) -> int:
    return api.get("/history/external-task-log/count", params={"creationLog": "true"}).json()["count"]


class TestCreate:
    def test_answers_the_new_task_as_an_external_task_object(self, api, clock):
        clock.now = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
        response = api.post("/external-task/create", json=FULL_TASK)

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        task = response.json()
        assert set(task) == EXTERNAL_TASK_FIELDS
        assert task["id"]
        assert task == {
            **task,
            "topicName": "invoice",
            "processInstanceId": "pi-1",
            "processDefinitionId": "invoice:1",
            "processDefinitionKey": "invoice",
            "processDefinitionVersionTag": None,
            "activityId": "charge",
            "businessKey": "order-17",
            "tenantId": None,
            "priority": 5,
            "retries": None,
            "suspended": False,
            "workerId": None,
            "lockExpirationTime": None,
            "errorMessage": None,
            "createTime": "2025-01-02T03:04:05.678+0000",
        }

    def test_the_task_reads_back_the_same(self, api):
        created = api.create_task(**{k: v for k, v in FULL_TASK.items() if k != "topicName"})
        assert api.task(created["id"]) == created

    def test_only_the_topic_is_required(self, api):
        task = api.create_task("mail")
        assert task["topicName"] == "mail"
        assert task["priority"] == 0
        assert task["retries"] is None
        assert task["processInstanceId"]

    def test_nulls_mean_defaults(self, api):
        task = api.create_task(
            "mail", priority=None, variables=None, localVariables=None, extensionProperties=None,
            processInstanceId=None,
        )
        assert task["priority"] == 0

    def test_initial_retries_may_be_given(self, api):
        assert api.create_task(retries=3)["retries"] == 3

    def test_tasks_of_one_process_instance_share_its_business_key(self, api):
        first = api.create_task(processInstanceId="pi-9", businessKey="order-9")
        second = api.create_task("ship", processInstanceId="pi-9")
        assert second["businessKey"] == first["businessKey"] == "order-9"


class TestCreateRejectsBadInput:
    """Refused input creates nothing."""

    def test_a_missing_topic(self, api):
        response = api.post("/external-task/create", json={})
        assert_error(response, 400, "NullValueException", "topicName is null", code=0)
        assert_error(api.post("/external-task/create"), 400, "NullValueException", "topicName is null")
        assert creation_log_count(api) == 0

    @pytest.mark.parametrize("priority", ["high", 1.5, True, "5", 2**63])
    def test_a_priority_that_is_not_a_java_long(self, api, priority):
        response = api.post("/external-task/create", json={"topicName": "invoice", "priority": priority})
        assert_error(response, 400, "InvalidRequestException", code=None)
        assert "priority" in response.json()["message"]
        assert creation_log_count(api) == 0

    def test_negative_retries(self, api):
        response = api.post("/external-task/create", json={"topicName": "invoice", "retries": -1})
        assert_error(response, 400, "ProcessEngineException", "retries is not greater than or equal to 0")
        assert creation_log_count(api) == 0

    def test_a_variable_that_does_not_convert(self, api):
        response = api.post(
            "/external-task/create",
            json={"topicName": "invoice", "variables": {"amount": {"value": "twelve", "type": "Double"}}},
        )
        assert_error(
            response, 400, "InvalidRequestException",
            "Cannot convert value 'twelve' of type 'Double' to java type java.lang.Double", code=None,
        )
        assert creation_log_count(api) == 0

    def test_a_variable_of_an_unknown_type(self, api):
        response = api.post(
            "/external-task/create",
            json={"topicName": "invoice", "localVariables": {"x": {"value": 1, "type": "Money"}}},
        )
        assert_error(response, 400, "RestException", "Unsupported value type 'Money'")
        assert creation_log_count(api) == 0

    def test_a_variable_that_is_not_a_variable_value_object(self, api):
        response = api.post("/external-task/create", json={"topicName": "invoice", "variables": {"amount": 12.5}})
        assert_error(response, 400, "InvalidRequestException")
        assert creation_log_count(api) == 0

    def test_an_extension_property_that_is_not_a_string(self, api):
        # A number would be read as its string, as Jackson does; an object cannot be.
        response = api.post(
            "/external-task/create", json={"topicName": "invoice", "extensionProperties": {"sla": {"level": 1}}}
        )
        assert_error(response, 400, "InvalidRequestException")
        assert creation_log_count(api) == 0


class TestCreateBatch:
    def test_creates_every_task_in_order(self, api):
        response = api.post(
            "/external-task/create/batch",
            json={"tasks": [{"topicName": "a"}, {"topicName": "b", "priority": 7}, FULL_TASK]},
        )
        assert response.status_code == 200
        tasks = response.json()
        assert [t["topicName"] for t in tasks] == ["a", "b", "invoice"]
        assert all(set(t) == EXTERNAL_TASK_FIELDS for t in tasks)
        assert len({t["id"] for t in tasks}) == 3
        assert api.task(tasks[1]["id"])["priority"] == 7

    def test_no_tasks_creates_nothing(self, api):
        assert api.post("/external-task/create/batch", json={"tasks": []}).json() == []
        assert api.post("/external-task/create/batch", json={}).json() == []

    @pytest.mark.parametrize(
        "bad",
        [
            {"topicName": None},
            {"topicName": "c", "priority": "high"},
            {"topicName": "c", "variables": {"n": {"value": "x", "type": "Integer"}}},
        ],
    )
    def test_is_all_or_nothing(self, api, bad):
        response = api.post("/external-task/create/batch", json={"tasks": [{"topicName": "a"}, bad]})
        assert response.status_code == 400
        assert creation_log_count(api) == 0

    def test_a_list_of_more_items_than_a_request_model_reads_is_refused_before_they_are_read(self, api):
        # Reading each item would take some fifty times its JSON in memory: the engine's own
        # limit on tasks (items_per_batch) would only come after.
        tasks = [{"topicName": "a"}] * (MOST_ITEMS + 1)
        response = api.post("/external-task/create/batch", json={"tasks": tasks})
        assert_error(
            response, 400, "InvalidRequestException",
            f"Invalid value for 'tasks': List should have at most {MOST_ITEMS} items after validation, not {MOST_ITEMS + 1}",
        )
        assert creation_log_count(api) == 0


class TestGetTask:
    def test_an_unknown_task_is_a_404(self, api):
        assert_error(
            api.get("/external-task/no-such-task"), 404, "RestException",
            "External task with id no-such-task does not exist", code=None,
        )
