"""``GET|POST /external-task``, ``/count`` and ``GET /external-task/topic-names``: the runtime task
query on the wire, with Camunda's parameter names, value conversions and error messages."""

from __future__ import annotations

import pytest
from rest_support import assert_error

TASK_FIELDS = {
    "activityId", "activityInstanceId", "errorMessage", "executionId", "id", "lockExpirationTime", "createTime",
    "processDefinitionId", "processDefinitionKey", "processDefinitionVersionTag", "processInstanceId", "retries",
    "suspended", "workerId", "topicName", "tenantId", "priority", "businessKey",
}


@pytest.fixture
def tasks(api, clock):
    """Three tasks a second apart: invoice (pi-1, locked by w1, tenant a, priority 5, amount 10,
    region EU), invoice (pi-2, tenant b, amount 20.5, created 2025-01-01) and mail (pi-3, priority -1,
    amount the String "10")."""
    first = api.locked_task(
        "w1", processInstanceId="pi-1", activityId="charge", tenantId="a", priority=5,
        processDefinitionKey="billing", processDefinitionId="billing:1",
        variables={"amount": {"value": 10, "type": "Integer"}, "region": {"value": "EU"}},
    )
    clock.advance(1000)
    second = api.create_task(
        processInstanceId="pi-2", activityId="charge", tenantId="b", processDefinitionKey="billing",
        variables={"amount": {"value": 20.5}, "created": {"value": "2025-01-01T00:00:00.000+0000", "type": "Date"},
                   "region": {"value": "US"}, "vip": {"value": True}},
    )
    clock.advance(1000)
    third = api.create_task(
        "mail", processInstanceId="pi-3", activityId="send", priority=-1, variables={"amount": {"value": "10"}}
    )
    return first, second, third


def listed(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [task["processInstanceId"] for task in response.json()]


def counted(response) -> int:
    assert response.status_code == 200, response.text
    return response.json()["count"]


class TestList:
    def test_every_task_with_every_field_in_id_order(self, api, tasks):
        found = api.get("/external-task").json()

        assert len(found) == 3 and all(set(task) == TASK_FIELDS for task in found)
        assert [task["id"] for task in found] == sorted(task["id"] for task in found)
        first = next(task for task in found if task["processInstanceId"] == "pi-1")
        assert first == {**api.task(tasks[0]["id"]), "workerId": "w1"}

    def test_count(self, api, tasks):
        assert counted(api.get("/external-task/count")) == 3
        assert counted(api.post("/external-task/count", json={})) == 3
        assert counted(api.post("/external-task/count")) == 3

    def test_count_and_topic_names_are_not_task_ids(self, api, tasks):
        assert api.get("/external-task/count").json() == {"count": 3}
        assert api.get("/external-task/topic-names").json() == ["invoice", "mail"]
        assert api.get(f"/external-task/{tasks[0]['id']}").status_code == 200


class TestFilters:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"topicName": "invoice"}, ["pi-1", "pi-2"]),
            ({"workerId": "w1"}, ["pi-1"]),
            ({"locked": "true"}, ["pi-1"]),
            ({"notLocked": "true"}, ["pi-2", "pi-3"]),
            ({"locked": "false"}, ["pi-1", "pi-2", "pi-3"]),
            ({"activityId": "send"}, ["pi-3"]),
            ({"activityIdIn": "charge,send"}, ["pi-1", "pi-2", "pi-3"]),
            ({"processInstanceId": "pi-2"}, ["pi-2"]),
            ({"processInstanceIdIn": "pi-1,pi-3"}, ["pi-1", "pi-3"]),
            ({"processDefinitionId": "billing:1"}, ["pi-1"]),
            ({"processDefinitionKey": "billing"}, ["pi-1", "pi-2"]),
            ({"processDefinitionKeyIn": "billing,other"}, ["pi-1", "pi-2"]),
            ({"processDefinitionName": "Billing"}, []),
            ({"processDefinitionNameLike": "%"}, []),
            ({"tenantIdIn": "a,b"}, ["pi-1", "pi-2"]),
            ({"priorityHigherThanOrEquals": "1"}, ["pi-1"]),
            ({"priorityLowerThanOrEquals": "0"}, ["pi-2", "pi-3"]),
            ({"withRetriesLeft": "true"}, ["pi-1", "pi-2", "pi-3"]),
            ({"noRetriesLeft": "true"}, []),
            ({"active": "true"}, ["pi-1", "pi-2", "pi-3"]),
            ({"suspended": "true"}, []),
            ({"lockExpirationAfter": "2025-01-02T03:04:05.000+0000"}, ["pi-1"]),
            ({"lockExpirationBefore": "2025-01-02T03:05:05.000+0000"}, []),
            ({"lockExpirationBefore": "2025-01-02T03:05:05.001+0000"}, ["pi-1"]),
            ({"activityIdIn": ""}, ["pi-1", "pi-2", "pi-3"]),
        ],
    )
    def test_get_filters(self, api, tasks, params, expected):
        assert sorted(listed(api.get("/external-task", params=params))) == expected
        assert counted(api.get("/external-task/count", params=params)) == len(expected)

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({"topicName": "invoice", "locked": True}, ["pi-1"]),
            ({"notLocked": True, "tenantIdIn": ["a", "b"]}, ["pi-2"]),
            ({"activityIdIn": ["send"], "activityId": "send"}, ["pi-3"]),
            ({"processInstanceIdIn": [], "priorityHigherThanOrEquals": 5}, ["pi-1"]),
            ({"lockExpirationAfter": "2025-01-02T03:04:05Z"}, ["pi-1"]),
            ({"processDefinitionKeyIn": ["billing"], "suspended": False}, ["pi-1", "pi-2"]),
        ],
    )
    def test_post_filters(self, api, tasks, body, expected):
        assert sorted(listed(api.post("/external-task", json=body))) == expected
        assert counted(api.post("/external-task/count", json=body)) == len(expected)

    def test_filter_by_ids(self, api, tasks):
        first, second, _ = tasks

        assert listed(api.get("/external-task", params={"externalTaskId": first["id"]})) == ["pi-1"]
        ids = f"{first['id']},{second['id']}"
        assert sorted(listed(api.get("/external-task", params={"externalTaskIdIn": ids}))) == ["pi-1", "pi-2"]
        body = {"externalTaskIdIn": [first["id"], second["id"]]}
        assert sorted(listed(api.post("/external-task", json=body))) == ["pi-1", "pi-2"]

    def test_more_than_a_thousand_process_instance_ids(self, api, tasks):
        ids = [f"pi-{i}" for i in range(1, 1200)]

        assert counted(api.post("/external-task/count", json={"processInstanceIdIn": ids})) == 3

    def test_a_null_member_is_refused(self, api, tasks):
        assert_error(
            api.post("/external-task", json={"activityIdIn": ["charge", None]}),
            400, "NullValueException", "activityIdIn contains null value", code=0,
        )

    def test_an_invalid_date(self, api, tasks):
        assert_error(
            api.get("/external-task", params={"lockExpirationBefore": "anInvalidDate"}),
            400, "InvalidRequestException",
            "Cannot set query parameter 'lockExpirationBefore' to value 'anInvalidDate': "
            'Cannot convert value "anInvalidDate" to java type java.util.Date',
        )
        response = api.post("/external-task", json={"lockExpirationAfter": "soon"})
        assert_error(response, 400, "InvalidRequestException")
        assert "lockExpirationAfter" in response.json()["message"]

    def test_an_invalid_number(self, api, tasks):
        assert_error(
            api.get("/external-task/count", params={"priorityHigherThanOrEquals": "high"}),
            400, "InvalidRequestException",
            "Cannot set query parameter 'priorityHigherThanOrEquals' to value 'high': "
            "Cannot convert value high to java type java.lang.Long",
        )


class TestProcessVariables:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("region_eq_EU", ["pi-1"]),
            ("region_neq_EU", ["pi-2"]),
            ("region_like_E%", ["pi-1"]),
            ("region_notLike_E%", ["pi-2"]),
            ("region_gt_EU", ["pi-2"]),
            ("region_eq_EU,amount_eq_10", []),  # GET values are text: 10 is the String "10"
            ("amount_eq_10", ["pi-3"]),
            ("created_lt_2025-06-01T00:00:00.000+0000", ["pi-2"]),  # text that reads as a date is a date
            ("created_gteq_2025-01-01T00:00:00.000+0000", ["pi-2"]),
            ("vip_eq_true", []),
        ],
    )
    def test_get_syntax(self, api, tasks, expression, expected):
        assert sorted(listed(api.get("/external-task", params={"processVariables": expression}))) == expected

    def test_get_ignore_case_flags(self, api, tasks):
        params = {"processVariables": "REGION_eq_eu", "variableNamesIgnoreCase": "true"}
        assert listed(api.get("/external-task", params=params)) == []
        assert listed(api.get("/external-task", params={**params, "variableValuesIgnoreCase": "true"})) == ["pi-1"]

    @pytest.mark.parametrize(
        ("conditions", "expected"),
        [
            ([{"name": "amount", "operator": "eq", "value": 10}], ["pi-1"]),
            ([{"name": "amount", "operator": "eq", "value": 10.0}], ["pi-1"]),
            ([{"name": "amount", "operator": "gteq", "value": 10}], ["pi-1", "pi-2"]),
            ([{"name": "amount", "operator": "lt", "value": 21}], ["pi-1", "pi-2"]),
            # As in Camunda, a fractional value is compared with Double variables only.
            ([{"name": "amount", "operator": "lt", "value": 20.5}], []),
            ([{"name": "amount", "operator": "eq", "value": "10"}], ["pi-3"]),
            ([{"name": "amount", "operator": "neq", "value": 10}], ["pi-2", "pi-3"]),
            ([{"name": "amount", "operator": "like", "value": 10}], ["pi-3"]),  # like takes the text
            ([{"name": "vip", "operator": "eq", "value": True}], ["pi-2"]),
            ([{"name": "vip", "operator": "neq", "value": None}], ["pi-2"]),
            ([{"name": "created", "operator": "eq", "value": "2025-01-01T00:00:00.000+0000"}], ["pi-2"]),
            ([{"name": "region", "operator": "eq", "value": "EU"}, {"name": "amount", "operator": "gt", "value": 5}],
             ["pi-1"]),
        ],
    )
    def test_post_syntax(self, api, tasks, conditions, expected):
        assert sorted(listed(api.post("/external-task", json={"processVariables": conditions}))) == expected
        assert counted(api.post("/external-task/count", json={"processVariables": conditions})) == len(expected)

    def test_post_ignore_case_flags(self, api, tasks):
        body = {"processVariables": [{"name": "Region", "operator": "like", "value": "e%"}],
                "variableNamesIgnoreCase": True, "variableValuesIgnoreCase": True}
        assert listed(api.post("/external-task", json=body)) == ["pi-1"]

    def test_a_malformed_get_expression(self, api, tasks):
        assert_error(
            api.get("/external-task", params={"processVariables": "region_eq"}),
            400, "InvalidRequestException",
            "Cannot set query parameter 'processVariables' to value 'region_eq': "
            "variable query parameter has to have format KEY_OPERATOR_VALUE.",
        )

    def test_an_invalid_operator(self, api, tasks):
        assert_error(
            api.get("/external-task", params={"processVariables": "region_equals_EU"}),
            400, "InvalidRequestException", "Invalid process variable comparator specified: equals", code=None,
        )
        body = {"processVariables": [{"name": "region", "operator": "in", "value": "EU"}]}
        assert_error(api.post("/external-task/count", json=body), 400, "InvalidRequestException",
                     "Invalid process variable comparator specified: in")

    def test_booleans_and_null_only_compare_for_equality(self, api, tasks):
        """Camunda answers 500 ProcessEngineException; extask 400 with the same body."""
        body = {"processVariables": [{"name": "vip", "operator": "gt", "value": True}]}
        assert_error(api.post("/external-task", json=body), 400, "ProcessEngineException",
                     "Booleans and null cannot be used in 'greater than' condition", code=0)


class TestSortingAndPaging:
    @pytest.mark.parametrize(
        ("sort_by", "order", "expected"),
        [
            ("createTime", "desc", ["pi-3", "pi-2", "pi-1"]),
            ("taskPriority", "desc", ["pi-1", "pi-2", "pi-3"]),
            ("processInstanceId", "desc", ["pi-3", "pi-2", "pi-1"]),
            ("tenantId", "desc", ["pi-3", "pi-2", "pi-1"]),  # no tenant sorts after every tenant
        ],
    )
    def test_get_sorting(self, api, tasks, sort_by, order, expected):
        assert listed(api.get("/external-task", params={"sortBy": sort_by, "sortOrder": order})) == expected

    @pytest.mark.parametrize(("order", "position"), [("asc", 0), ("desc", -1)])
    def test_tasks_without_a_lock_sort_after_locked_ones(self, api, tasks, order, position):
        params = {"sortBy": "lockExpirationTime", "sortOrder": order}
        assert listed(api.get("/external-task", params=params))[position] == "pi-1"

    def test_post_sorting_is_multi_level(self, api, tasks):
        body = {"sorting": [{"sortBy": "processDefinitionKey", "sortOrder": "asc"},
                            {"sortBy": "createTime", "sortOrder": "desc"}]}
        assert listed(api.post("/external-task", json=body)) == ["pi-2", "pi-1", "pi-3"]

    @pytest.mark.parametrize("path", ["/external-task", "/external-task/count"])
    @pytest.mark.parametrize("params", [{"sortBy": "createTime"}, {"sortOrder": "asc"}])
    def test_half_a_sorting_pair(self, api, tasks, path, params):
        assert_error(api.get(path, params=params), 400, "InvalidRequestException",
                     "Only a single sorting parameter specified. sortBy and sortOrder required")

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({"sortBy": "priority", "sortOrder": "asc"}, "Cannot set query parameter 'sortBy' to value 'priority'"),
            ({"sortBy": "id", "sortOrder": "DESC"}, "Cannot set query parameter 'sortOrder' to value 'DESC'"),
        ],
    )
    def test_invalid_get_sorting(self, api, tasks, params, message):
        assert_error(api.get("/external-task", params=params), 400, "InvalidRequestException", message)

    @pytest.mark.parametrize(
        ("sorting", "message"),
        [
            ([{"sortBy": "createTime"}], "Invalid query: call asc() or desc() after using orderByXX(): direction is null"),
            ([{"sortBy": "unknown", "sortOrder": "asc"}],
             ("You should call any of the orderBy methods first before specifying a direction: "
              "currentOrderingProperty is null")),
        ],
    )
    def test_invalid_post_sorting(self, api, tasks, sorting, message):
        assert_error(api.post("/external-task", json={"sorting": sorting}), 400, "NotValidException", message, code=0)

    def test_paging_on_get_and_post(self, api, tasks):
        params = {"sortBy": "createTime", "sortOrder": "asc", "firstResult": "1", "maxResults": "1"}
        assert listed(api.get("/external-task", params=params)) == ["pi-2"]
        body = {"sorting": [{"sortBy": "createTime", "sortOrder": "asc"}]}
        assert listed(api.post("/external-task", params={"firstResult": 1}, json=body)) == ["pi-2", "pi-3"]
        assert listed(api.post("/external-task", params={"maxResults": 2}, json=body)) == ["pi-1", "pi-2"]

    def test_invalid_paging(self, api, tasks):
        response = api.post("/external-task", params={"firstResult": "-1"}, json={})
        assert_error(response, 400, "InvalidRequestException")
        assert response.json()["message"].startswith("Cannot set query parameter 'firstResult' to value '-1'")


class TestTopicNames:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({}, ["invoice", "mail"]),
            ({"withLockedTasks": "true"}, ["invoice"]),
            ({"withUnlockedTasks": "true"}, ["invoice", "mail"]),
            ({"withLockedTasks": "true", "withUnlockedTasks": "true"}, []),
            ({"withRetriesLeft": "true"}, ["invoice", "mail"]),
            ({"withLockedTasks": "false"}, ["invoice", "mail"]),
        ],
    )
    def test_topic_names(self, api, tasks, params, expected):
        response = api.get("/external-task/topic-names", params=params)
        assert response.status_code == 200
        assert response.json() == expected

    def test_no_retries_left(self, api, tasks):
        api.post(f"/external-task/{tasks[0]['id']}/failure", json={"workerId": "w1", "retries": 0})

        assert api.get("/external-task/topic-names", params={"withRetriesLeft": "true"}).json() == [
            "invoice", "mail"
        ]
        api.put(f"/external-task/{tasks[1]['id']}/retries", json={"retries": 0})
        assert api.get("/external-task/topic-names", params={"withRetriesLeft": "true"}).json() == ["mail"]


def test_queries_on_both_backends(lifecycle_api):
    """The same answers from PostgreSQL as from SQLite."""
    api = lifecycle_api
    api.locked_task("w", processInstanceId="pi-1", variables={"n": {"value": 5, "type": "Long"}})
    api.create_task(processInstanceId="pi-2", variables={"n": {"value": 5.0}})

    body = {"processVariables": [{"name": "n", "operator": "eq", "value": 5}], "notLocked": True}
    assert listed(api.post("/external-task", json=body)) == ["pi-2"]
    assert counted(api.get("/external-task/count", params={"processVariables": "n_eq_5"})) == 0
    assert api.get("/external-task/topic-names", params={"withLockedTasks": "true"}).json() == ["invoice"]
