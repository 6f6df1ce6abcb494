"""``/process-instance/{id}``: the instance, the variables tasks share (all, or one by name),
suspension and deletion, and what they do to the instance's tasks."""

from __future__ import annotations

import pytest
from rest_support import assert_error, assert_no_content


class TestVariables:
    def test_reads_the_process_variables_as_variable_values(self, api):
        api.create_task(
            processInstanceId="pi-1",
            variables={"amount": {"value": 12.5, "type": "Double"}, "customer": {"value": "ACME"}},
            localVariables={"local": {"value": 1}},
        )
        response = api.get("/process-instance/pi-1/variables")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "amount": {"type": "Double", "value": 12.5, "valueInfo": {}},
            "customer": {"type": "String", "value": "ACME", "valueInfo": {}},
        }

    def test_an_unknown_instance(self, api):
        assert_error(api.get("/process-instance/nope/variables"), 404, "InvalidRequestException")

    def test_modifications_and_deletions_as_the_java_client_sends_them(self, api):
        api.create_task(processInstanceId="pi-1", variables={"a": {"value": 1}, "b": {"value": 2}})
        response = api.post(
            "/process-instance/pi-1/variables",
            json={"modifications": {"a": {"value": "one", "type": "String"}}, "deletions": ["b"]},
        )
        assert_no_content(response)
        assert api.get("/process-instance/pi-1/variables").json() == {
            "a": {"type": "String", "value": "one", "valueInfo": {}}
        }

    def test_fetched_tasks_see_the_modified_variables(self, api):
        api.create_task(processInstanceId="pi-1")
        api.post("/process-instance/pi-1/variables", json={"modifications": {"x": {"value": True}}})
        [task] = api.fetch()
        assert task["variables"] == {"x": {"type": "Boolean", "value": True, "valueInfo": {}}}


class TestSuspension:
    def test_suspended_tasks_are_not_fetched_until_activated(self, api):
        task = api.create_task(processInstanceId="pi-1")
        assert_no_content(api.put("/process-instance/pi-1/suspended", json={"suspended": True}))
        assert api.fetch() == []
        assert_no_content(api.put("/process-instance/pi-1/suspended", json={"suspended": False}))
        assert [t["id"] for t in api.fetch()] == [task["id"]]


class TestDeletion:
    def test_ends_its_tasks_with_deletion_logs(self, api):
        task = api.create_task(processInstanceId="pi-1")
        assert_no_content(api.delete("/process-instance/pi-1"))
        assert api.get(f"/external-task/{task['id']}").status_code == 404
        assert len(api.history(externalTaskId=task["id"], deletionLog="true")) == 1

    def test_an_unknown_instance(self, api):
        assert_error(api.delete("/process-instance/nope"), 404, "InvalidRequestException")


class TestTheInstance:
    def test_camundas_process_instance_dto(self, api):
        api.create_task(
            processInstanceId="pi-1", businessKey="order-17", processDefinitionId="invoice:1:1", tenantId="t1"
        )
        response = api.get("/process-instance/pi-1")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "id": "pi-1", "definitionId": "invoice:1:1", "businessKey": "order-17", "caseInstanceId": None,
            "ended": False, "suspended": False, "tenantId": "t1", "links": [],
        }

    def test_shows_its_suspension(self, api):
        api.create_task(processInstanceId="pi-1")
        api.put("/process-instance/pi-1/suspended", json={"suspended": True})
        assert api.get("/process-instance/pi-1").json()["suspended"] is True

    @pytest.mark.parametrize("delete_first", [False, True])
    def test_an_unknown_or_deleted_instance(self, api, delete_first):
        if delete_first:
            api.create_task(processInstanceId="nope")
            api.delete("/process-instance/nope")
        assert_error(
            api.get("/process-instance/nope"), 404, "InvalidRequestException",
            "Process instance with id nope does not exist",
        )


class TestOneVariable:
    def test_read_by_name(self, api):
        api.create_task(processInstanceId="pi-1", variables={"amount": {"value": 12.5, "type": "Double"}})
        response = api.get("/process-instance/pi-1/variables/amount", params={"deserializeValues": "false"})
        assert response.status_code == 200
        assert response.json() == {"type": "Double", "value": 12.5, "valueInfo": {}}

    def test_an_unknown_name(self, api):
        api.create_task(processInstanceId="pi-1")
        assert_error(
            api.get("/process-instance/pi-1/variables/nope"), 404, "InvalidRequestException",
            "process instance variable with name nope does not exist",
        )

    def test_put_creates_and_overwrites(self, api):
        api.create_task(processInstanceId="pi-1", variables={"a": {"value": 1}})
        assert_no_content(api.put("/process-instance/pi-1/variables/a", json={"value": "one", "type": "String"}))
        assert_no_content(api.put("/process-instance/pi-1/variables/b", json={"value": 2}))
        assert api.get("/process-instance/pi-1/variables").json() == {
            "a": {"type": "String", "value": "one", "valueInfo": {}},
            "b": {"type": "Integer", "value": 2, "valueInfo": {}},
        }

    def test_put_a_transient_variable_stores_nothing(self, api):
        api.create_task(processInstanceId="pi-1")
        body = {"value": 1, "type": "Integer", "valueInfo": {"transient": True}}
        assert_no_content(api.put("/process-instance/pi-1/variables/t", json=body))
        assert api.get("/process-instance/pi-1/variables").json() == {}

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"value": "abc", "type": "Integer"},
             "Cannot put process instance variable x: Cannot convert value 'abc' of type 'Integer' to java type "
             "java.lang.Integer"),
            ({"value": 1, "type": "Money"}, "Cannot put process instance variable x: Unsupported value type 'Money'"),
            ({"value": {"a": 1}, "type": "Object"},
             "Cannot put process instance variable x: Must provide 'null' or String value for value of "
             "SerializableValue type 'Object'."),
        ],
    )
    def test_put_a_malformed_variable(self, api, body, message):
        api.create_task(processInstanceId="pi-1")
        assert_error(api.put("/process-instance/pi-1/variables/x", json=body), 400, "InvalidRequestException", message)
        assert api.get("/process-instance/pi-1/variables").json() == {}

    def test_put_without_a_body(self, api):
        api.create_task(processInstanceId="pi-1")
        assert_error(api.put("/process-instance/pi-1/variables/x"), 400, "InvalidRequestException")

    def test_delete(self, api):
        api.create_task(processInstanceId="pi-1", variables={"a": {"value": 1}, "b": {"value": 2}})
        assert_no_content(api.delete("/process-instance/pi-1/variables/a"))
        assert_no_content(api.delete("/process-instance/pi-1/variables/never-there"))
        assert list(api.get("/process-instance/pi-1/variables").json()) == ["b"]

    @pytest.mark.parametrize(
        "call",
        [
            lambda api: api.get("/process-instance/nope/variables/a"),
            lambda api: api.put("/process-instance/nope/variables/a", json={"value": 1}),
            lambda api: api.delete("/process-instance/nope/variables/a"),
            lambda api: api.get("/process-instance/nope/variables/a/data"),
            lambda api: api.post("/process-instance/nope/variables", json={"modifications": {"a": {"value": 1}}}),
        ],
    )
    def test_an_unknown_instance(self, api, call):
        assert_error(call(api), 404, "InvalidRequestException", "Process instance with id nope does not exist")


class TestModificationErrors:
    @pytest.mark.parametrize(
        ("modifications", "message"),
        [
            ({"n": {"value": "abc", "type": "Integer"}},
             "Cannot modify variables for process instance: Cannot convert value 'abc' of type 'Integer' to "
             "java type java.lang.Integer"),
            ({"n": {"value": 1, "type": "Money"}},
             "Cannot modify variables for process instance: Unsupported value type 'Money'"),
        ],
    )
    def test_a_malformed_variable_changes_nothing(self, api, modifications, message):
        api.create_task(processInstanceId="pi-1", variables={"a": {"value": 1}})
        response = api.post("/process-instance/pi-1/variables", json={"modifications": modifications, "deletions": ["a"]})
        assert_error(response, 400, "InvalidRequestException", message)
        assert list(api.get("/process-instance/pi-1/variables").json()) == ["a"]

    def test_a_body_of_the_wrong_shape(self, api):
        api.create_task(processInstanceId="pi-1")
        response = api.post("/process-instance/pi-1/variables", json={"modifications": [1], "deletions": "a"})
        assert_error(response, 400, "InvalidRequestException")


class TestSuspensionOfTasks:
    def test_tasks_show_it_and_refuse_worker_commands(self, api):
        task = api.locked_task(processInstanceId="pi-1")
        other = api.create_task(processInstanceId="pi-2")

        assert_no_content(api.put("/process-instance/pi-1/suspended", json={"suspended": True}))

        assert api.task(task["id"])["suspended"] is True
        assert api.task(other["id"])["suspended"] is False
        assert_error(
            api.post(f"/external-task/{task['id']}/complete", json={"workerId": "worker-1"}), 400, "RestException",
            f"ENGINE-03043 ExternalTask with id '{task['id']}' is suspended.",
        )
        assert_no_content(api.put("/process-instance/pi-1/suspended", json={"suspended": False}))
        assert api.task(task["id"])["suspended"] is False
        assert_no_content(api.post(f"/external-task/{task['id']}/complete", json={"workerId": "worker-1"}))

    def test_an_unknown_instance(self, api):
        assert_error(
            api.put("/process-instance/nope/suspended", json={"suspended": True}), 404, "InvalidRequestException",
            "Process instance with id nope does not exist",
        )


class TestDeletionOfTasks:
    def test_every_task_gets_a_deletion_log_and_its_incident_is_deleted(self, lifecycle_api):
        api = lifecycle_api
        failed = api.locked_task("w", processInstanceId="pi-1")
        api.post(f"/external-task/{failed['id']}/failure", json={"workerId": "w", "retries": 0})
        fresh = api.create_task("mail", processInstanceId="pi-1")
        kept = api.create_task("mail", processInstanceId="pi-2")

        assert_no_content(api.delete("/process-instance/pi-1"))

        deletions = api.history(deletionLog="true", sortBy="externalTaskId", sortOrder="asc")
        assert sorted(log["externalTaskId"] for log in deletions) == sorted([failed["id"], fresh["id"]])
        assert {log["workerId"] for log in deletions} == {"w", None}
        assert api.get("/incident").json() == []
        [incident] = api.get("/history/incident", params={"deleted": "true"}).json()
        assert incident["configuration"] == failed["id"]
        assert api.get(f"/external-task/{kept['id']}").status_code == 200
        assert api.get("/process-instance/pi-1/variables").status_code == 404
