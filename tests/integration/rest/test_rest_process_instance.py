"""``/process-instance/{id}``: the variables tasks share, suspension and deletion."""

from __future__ import annotations

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
