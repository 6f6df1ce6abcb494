"""``PUT /external-task/retries``, ``POST /external-task/retries-async`` and ``GET /batch/{id}``:
retries for many tasks, selected by ids, process instance ids and queries, now or in a batch."""

from __future__ import annotations

import pytest
from rest_support import assert_error, assert_no_content

BATCH_FIELDS = {
    "id", "type", "totalJobs", "jobsCreated", "batchJobsPerSeed", "invocationsPerBatchJob", "seedJobDefinitionId",
    "monitorJobDefinitionId", "batchJobDefinitionId", "suspended", "tenantId", "createUserId", "startTime",
    "executionStartTime", "retries", "completedJobs", "failedJobs", "ended", "endTime", "failures",
}


@pytest.fixture
def tasks(api):
    """Four tasks: pi-1 (business key k1, topic invoice), pi-2 (k2, invoice), pi-3 (two mail tasks)."""
    return [
        api.create_task(processInstanceId="pi-1", businessKey="k1"),
        api.create_task(processInstanceId="pi-2", businessKey="k2", processDefinitionKey="billing"),
        api.create_task("mail", processInstanceId="pi-3"),
        api.create_task("mail", processInstanceId="pi-3"),
    ]


def retries(api) -> dict[str, list]:
    found: dict[str, list] = {}
    for task in api.get("/external-task", params={"sortBy": "processInstanceId", "sortOrder": "asc"}).json():
        found.setdefault(task["processInstanceId"], []).append(task["retries"])
    return found


def wait(api, batch: dict) -> dict:
    api.engine.batches.wait_for(batch["id"], timeout=60)
    response = api.get(f"/batch/{batch['id']}")
    assert response.status_code == 200, response.text
    return response.json()


class TestSync:
    @pytest.mark.parametrize(
        ("selectors", "expected"),
        [
            ({"processInstanceIds": ["pi-1", "pi-3"]}, {"pi-1": [3], "pi-2": [None], "pi-3": [3, 3]}),
            ({"externalTaskQuery": {"topicName": "mail"}}, {"pi-1": [None], "pi-2": [None], "pi-3": [3, 3]}),
            ({"externalTaskQuery": {"processVariables": []}}, {"pi-1": [3], "pi-2": [3], "pi-3": [3, 3]}),
            ({"processInstanceQuery": {"businessKey": "k2"}}, {"pi-1": [None], "pi-2": [3], "pi-3": [None, None]}),
            ({"processInstanceQuery": {"processDefinitionKey": "billing"}},
             {"pi-1": [None], "pi-2": [3], "pi-3": [None, None]}),
            ({"historicProcessInstanceQuery": {"processInstanceId": "pi-1"}},
             {"pi-1": [3], "pi-2": [None], "pi-3": [None, None]}),
            ({"historicProcessInstanceQuery": {"processInstanceIds": ["pi-1", "pi-2"], "processInstanceId": "pi-2"}},
             {"pi-1": [None], "pi-2": [3], "pi-3": [None, None]}),
            ({"historicProcessInstanceQuery": {"processInstanceIds": ["pi-1"], "unfinished": True}},
             {"pi-1": [3], "pi-2": [None], "pi-3": [None, None]}),
        ],
    )
    def test_selectors(self, api, tasks, selectors, expected):
        assert_no_content(api.put("/external-task/retries", json={"retries": 3, **selectors}))

        assert retries(api) == expected

    def test_the_union_of_every_selector(self, api, tasks):
        body = {
            "retries": 4,
            "externalTaskIds": [tasks[0]["id"]],
            "externalTaskQuery": {"processInstanceId": "pi-2"},
            "processInstanceQuery": {"processInstanceIds": ["pi-3"]},
            "historicProcessInstanceQuery": {"processInstanceId": "pi-1"},
            "processInstanceIds": ["pi-1"],
        }
        assert_no_content(api.put("/external-task/retries", json=body))

        assert retries(api) == {"pi-1": [4], "pi-2": [4], "pi-3": [4, 4]}

    def test_raising_retries_resolves_incidents(self, api, tasks):
        for task in api.fetch("w", "mail"):
            api.post(f"/external-task/{task['id']}/failure", json={"workerId": "w", "errorMessage": "down"})
        assert len(api.get("/incident").json()) == 2

        body = {"retries": 1, "externalTaskQuery": {"noRetriesLeft": True}}
        assert_no_content(api.put("/external-task/retries", json=body))

        assert api.get("/incident").json() == []

    @pytest.mark.parametrize(
        ("body", "status", "message"),
        [
            ({"externalTaskIds": ["x"]}, 400, "The number of retries cannot be null."),
            ({"retries": 3}, 400, "externalTaskIds is empty"),
            ({"retries": 3, "externalTaskIds": [], "processInstanceIds": ["unknown"]}, 400, "externalTaskIds is empty"),
            ({"retries": 3, "externalTaskIds": [None]}, 400,
             "External task id cannot be null: externalTaskIds contains null value"),
            ({"retries": 3, "externalTaskIds": ["unknown"]}, 404,
             "Cannot find external task with id unknown: externalTask is null"),
            ({"retries": -3, "processInstanceIds": ["pi-1"]}, 400,
             "The number of retries cannot be negative: retries is not greater than or equal to 0"),
            ({"retries": 3, "externalTaskQuery": {"processVariables": [{"name": "a", "operator": "is", "value": 1}]}},
             400, "Invalid process variable comparator specified: is"),
        ],
    )
    def test_refusals(self, api, tasks, body, status, message):
        assert_error(api.put("/external-task/retries", json=body), status, "InvalidRequestException", message, code=None)

    def test_all_or_nothing(self, api, tasks):
        body = {"retries": 3, "externalTaskIds": [tasks[0]["id"], "unknown"]}
        assert api.put("/external-task/retries", json=body).status_code == 404

        assert retries(api) == {"pi-1": [None], "pi-2": [None], "pi-3": [None, None]}

    def test_an_unsupported_process_instance_filter_is_refused(self, api, tasks):
        """Ignoring it would set the retries of more tasks than asked for."""
        body = {"retries": 3, "processInstanceQuery": {"variables": [{"name": "x", "operator": "eq", "value": 1}]}}
        response = api.put("/external-task/retries", json=body)

        assert_error(response, 400, "InvalidRequestException")
        assert response.json()["message"].startswith(
            "extask does not support the processInstanceQuery field 'variables'"
        )
        assert retries(api)["pi-1"] == [None]

    def test_retries_must_be_a_json_integer(self, api, tasks):
        response = api.put("/external-task/retries", json={"retries": "3", "processInstanceIds": ["pi-1"]})
        assert_error(response, 400, "InvalidRequestException")


class TestAsync:
    def test_answers_a_batch_at_once(self, api, tasks, clock):
        response = api.post("/external-task/retries-async", json={"retries": 5, "processInstanceIds": ["pi-3"]})

        assert response.status_code == 200, response.text
        batch = response.json()
        assert set(batch) == BATCH_FIELDS
        assert batch == {
            **batch,
            "type": "set-external-task-retries", "totalJobs": 2, "batchJobsPerSeed": 100,
            "invocationsPerBatchJob": 1, "seedJobDefinitionId": None, "monitorJobDefinitionId": None,
            "batchJobDefinitionId": None, "suspended": False, "tenantId": None, "createUserId": None,
            "startTime": "2025-01-02T03:04:05.000+0000", "retries": 5,
        }
        wait(api, batch)

    def test_the_batch_sets_the_retries_in_the_background(self, api, tasks):
        batch = api.post("/external-task/retries-async", json={"retries": 5, "externalTaskQuery": {}}).json()

        done = wait(api, batch)

        assert done == {
            **done, "jobsCreated": 4, "completedJobs": 4, "failedJobs": 0, "ended": True, "failures": [],
            "executionStartTime": "2025-01-02T03:04:05.000+0000", "endTime": "2025-01-02T03:04:05.000+0000",
        }
        assert retries(api) == {"pi-1": [5], "pi-2": [5], "pi-3": [5, 5]}

    def test_unknown_tasks_and_negative_retries_fail_in_the_batch(self, api, tasks):
        """As in Camunda, they are found when the batch runs, not when it is asked for."""
        response = api.post("/external-task/retries-async", json={"retries": 5, "externalTaskIds": ["unknown"]})
        assert response.status_code == 200
        assert wait(api, response.json())["failures"] == [
            {"externalTaskId": "unknown", "type": "NotFoundException",
             "message": "Cannot find external task with id unknown: externalTask is null"}
        ]

        response = api.post("/external-task/retries-async", json={"retries": -1, "processInstanceIds": ["pi-1"]})
        assert response.status_code == 200
        done = wait(api, response.json())
        assert (done["completedJobs"], done["failedJobs"]) == (0, 1)
        assert done["failures"][0]["message"] == (
            "The number of retries cannot be negative: retries is not greater than or equal to 0"
        )

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"externalTaskIds": ["x"]}, "The number of retries cannot be null."),
            ({"retries": 3}, "externalTaskIds is empty"),
            ({"retries": 3, "externalTaskIds": ["x", None]},
             "External task id cannot be null: externalTaskIds contains null value"),
        ],
    )
    def test_refusals(self, api, tasks, body, message):
        assert_error(api.post("/external-task/retries-async", json=body), 400, "InvalidRequestException", message)

    def test_an_unknown_batch(self, api):
        assert_error(api.get("/batch/nope"), 404, "InvalidRequestException", "Batch with id 'nope' does not exist",
                     code=None)


def test_bulk_retries_on_both_backends(lifecycle_api):
    api = lifecycle_api
    api.create_task(processInstanceId="pi-1")
    api.create_task(processInstanceId="pi-2")

    assert_no_content(api.put("/external-task/retries", json={"retries": 2, "processInstanceIds": ["pi-1"]}))
    body = {"retries": 7, "externalTaskQuery": {"withRetriesLeft": True}}
    batch = api.post("/external-task/retries-async", json=body)
    assert wait(api, batch.json())["completedJobs"] == 2
    assert {task["retries"] for task in api.get("/external-task").json()} == {7}
