"""``GET|POST /history/external-task-log`` and ``/count``: every filter and sort key of spec 2.16,
the POST body (arrays as JSON arrays, ``sorting: [{sortBy, sortOrder}]``, paging in the query
string) and Camunda's refusals of a sorting that its query API cannot apply."""

from __future__ import annotations

import pytest
from rest_support import assert_error

LOG = "/history/external-task-log"
SORT_KEYS = (
    "timestamp", "externalTaskId", "retries", "priority", "topicName", "workerId", "activityId",
    "activityInstanceId", "executionId", "processInstanceId", "processDefinitionId", "processDefinitionKey",
    "tenantId",
)


@pytest.fixture
def two_tasks(api, clock):
    """Task A (invoice, tenant t1): created, failed once, completed. Task B (mail, no tenant): created,
    then deleted with its process instance. Five log entries."""
    a = api.locked_task(
        "w", processInstanceId="pi-a", priority=5, tenantId="t1", activityId="charge",
        processDefinitionId="invoice:1:1", processDefinitionKey="invoice",
    )
    clock.advance(1000)
    api.post(f"/external-task/{a['id']}/failure", json={"workerId": "w", "errorMessage": "boom", "retries": 1})
    clock.advance(1000)
    api.post(f"/external-task/{a['id']}/complete", json={"workerId": "w"})
    b = api.create_task(
        "mail", processInstanceId="pi-b", priority=1, activityId="send", processDefinitionKey="mailing",
    )
    clock.advance(1000)
    api.delete("/process-instance/pi-b")
    return a, b


def get_logs(api, **params):
    response = api.get(LOG, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def post_logs(api, body, **params):
    response = api.post(LOG, json=body, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def post_count(api, body):
    response = api.post(f"{LOG}/count", json=body)
    assert response.status_code == 200, response.text
    return response.json()["count"]


def kinds(logs):
    return [next(k for k in ("creationLog", "failureLog", "successLog", "deletionLog") if log[k]) for log in logs]


# Each filter of spec 2.16, as GET parameters and as the POST body; expected: (task, kind) pairs.
FILTERS = [
    ({"topicName": "mail"}, {"topicName": "mail"}, [("b", "creationLog"), ("b", "deletionLog")]),
    ({"workerId": "w"}, {"workerId": "w"}, [("a", "failureLog"), ("a", "successLog")]),
    ({"errorMessage": "boom"}, {"errorMessage": "boom"}, [("a", "failureLog")]),
    ({"activityIdIn": "send,other"}, {"activityIdIn": ["send", "other"]}, [("b", "creationLog"), ("b", "deletionLog")]),
    ({"processInstanceId": "pi-b"}, {"processInstanceId": "pi-b"}, [("b", "creationLog"), ("b", "deletionLog")]),
    ({"processDefinitionId": "invoice:1:1"}, {"processDefinitionId": "invoice:1:1"},
     [("a", "creationLog"), ("a", "failureLog"), ("a", "successLog")]),
    ({"processDefinitionKey": "mailing"}, {"processDefinitionKey": "mailing"},
     [("b", "creationLog"), ("b", "deletionLog")]),
    ({"priorityHigherThanOrEquals": "5"}, {"priorityHigherThanOrEquals": 5},
     [("a", "creationLog"), ("a", "failureLog"), ("a", "successLog")]),
    ({"priorityLowerThanOrEquals": "1"}, {"priorityLowerThanOrEquals": 1}, [("b", "creationLog"), ("b", "deletionLog")]),
    ({"priorityHigherThanOrEquals": "2", "priorityLowerThanOrEquals": "4"},
     {"priorityHigherThanOrEquals": 2, "priorityLowerThanOrEquals": 4}, []),
    ({"tenantIdIn": "t1,t9"}, {"tenantIdIn": ["t1", "t9"]},
     [("a", "creationLog"), ("a", "failureLog"), ("a", "successLog")]),
    ({"withoutTenantId": "true"}, {"withoutTenantId": True}, [("b", "creationLog"), ("b", "deletionLog")]),
    ({"creationLog": "true"}, {"creationLog": True}, [("a", "creationLog"), ("b", "creationLog")]),
    ({"failureLog": "true"}, {"failureLog": True}, [("a", "failureLog")]),
    ({"successLog": "true"}, {"successLog": True}, [("a", "successLog")]),
    ({"deletionLog": "true"}, {"deletionLog": True}, [("b", "deletionLog")]),
    ({"creationLog": "true", "deletionLog": "true"}, {"creationLog": True, "deletionLog": True},
     [("b", "deletionLog")]),  # the last flag wins
    ({"creationLog": "false"}, {"creationLog": False}, "all"),  # only true filters
    ({"activityIdIn": ""}, {"activityIdIn": []}, "all"),  # an empty list is skipped
    ({}, {"sorting": None, "activityIdIn": None, "creationLog": None}, "all"),  # nulls everywhere
]


class TestFilters:
    @pytest.mark.parametrize(("params", "body", "expected"), FILTERS)
    def test_by_get_and_by_post(self, api, two_tasks, params, body, expected):
        a, b = two_tasks
        names = {a["id"]: "a", b["id"]: "b"}
        every = get_logs(api)
        wanted = every if expected == "all" else [
            log for log in every if (names[log["externalTaskId"]], kinds([log])[0]) in expected
        ]
        if expected != "all":
            assert len(wanted) == len(expected)

        assert get_logs(api, **params) == wanted
        assert api.get(f"{LOG}/count", params=params).json() == {"count": len(wanted)}
        assert post_logs(api, body) == wanted
        assert post_count(api, body) == len(wanted)

    def test_by_ids(self, api, two_tasks):
        a, _ = two_tasks
        failure = get_logs(api, failureLog="true")[0]
        for params, body in [
            ({"logId": failure["id"]}, {"logId": failure["id"]}),
            ({"externalTaskId": a["id"], "failureLog": "true"}, {"externalTaskId": a["id"], "failureLog": True}),
            ({"executionIdIn": a["executionId"], "failureLog": "true"},
             {"executionIdIn": [a["executionId"]], "failureLog": True}),
            ({"activityInstanceIdIn": a["activityInstanceId"], "failureLog": "true"},
             {"activityInstanceIdIn": [a["activityInstanceId"]], "failureLog": True}),
        ]:
            assert get_logs(api, **params) == [failure], params
            assert post_logs(api, body) == [failure], body

    def test_no_body_and_an_empty_body_are_no_filter(self, api, two_tasks):
        every = get_logs(api)
        assert len(every) == 5
        assert post_logs(api, {}) == every
        response = api.post(LOG)
        assert response.status_code == 200
        assert response.json() == every
        assert api.post(f"{LOG}/count").json() == {"count": 5}

    def test_every_entry_names_its_process_instance_as_root(self, api, two_tasks):
        assert all(log["rootProcessInstanceId"] == log["processInstanceId"] for log in get_logs(api))

    @pytest.mark.parametrize("field", ["activityIdIn", "activityInstanceIdIn", "executionIdIn"])
    def test_a_null_or_empty_id_in_a_list_is_refused(self, api, field):
        name = {"activityIdIn": "activityIds", "activityInstanceIdIn": "activityInstanceIds",
                "executionIdIn": "executionIds"}[field]
        for path in (LOG, f"{LOG}/count"):
            assert_error(api.post(path, json={field: ["a", None]}), 400, "NotValidException",
                         f"{name} contains null value", code=0)
            assert_error(api.post(path, json={field: ["a", ""]}), 400, "NotValidException",
                         f"{name} contains empty string", code=0)

    @pytest.mark.parametrize("body", [{"priorityHigherThanOrEquals": "5"}, {"activityIdIn": "a"},
                                      {"creationLog": [True]}, [1, 2]])
    def test_a_json_type_mismatch(self, api, body):
        assert_error(api.post(LOG, json=body), 400, "InvalidRequestException")


class TestSorting:
    @pytest.mark.parametrize("key", SORT_KEYS)
    @pytest.mark.parametrize("order", ["asc", "desc"])
    def test_every_key_by_get_and_by_post(self, api, two_tasks, key, order):
        by_get = get_logs(api, sortBy=key, sortOrder=order)
        by_post = post_logs(api, {"sorting": [{"sortBy": key, "sortOrder": order}]})
        by_post_pair = post_logs(api, {"sortBy": key, "sortOrder": order})

        assert by_get == by_post == by_post_pair
        # Dates are all written in UTC, so their text sorts as the times do.
        values = [log[key] for log in by_get if log[key] is not None]
        assert values == sorted(values, reverse=order == "desc")

    def test_several_levels_in_order(self, api, two_tasks):
        logs = post_logs(api, {"sorting": [{"sortBy": "topicName", "sortOrder": "desc"},
                                           {"sortBy": "timestamp", "sortOrder": "desc"}]})
        assert [(log["topicName"], kinds([log])[0]) for log in logs] == [
            ("mail", "deletionLog"), ("mail", "creationLog"),
            ("invoice", "successLog"), ("invoice", "failureLog"), ("invoice", "creationLog"),
        ]

    def test_the_sorting_array_follows_the_body_pair(self, api, two_tasks):
        logs = post_logs(api, {"sortBy": "priority", "sortOrder": "asc",
                               "sorting": [{"sortBy": "timestamp", "sortOrder": "desc"}]})
        assert [log["priority"] for log in logs] == [1, 1, 5, 5, 5]
        assert kinds(logs)[:2] == ["deletionLog", "creationLog"]

    @pytest.mark.parametrize(
        ("sorting", "message"),
        [
            ([{"sortBy": "timestamp"}],
             "Invalid query: call asc() or desc() after using orderByXX(): direction is null"),
            ([{"sortBy": "timestamp", "sortOrder": "up"}],  # an unknown direction is skipped
             "Invalid query: call asc() or desc() after using orderByXX(): direction is null"),
            ([{"sortOrder": "asc"}],
             "You should call any of the orderBy methods first before specifying a direction: "
             "currentOrderingProperty is null"),
            ([{"sortBy": "color", "sortOrder": "asc"}],  # an unknown key is skipped
             "You should call any of the orderBy methods first before specifying a direction: "
             "currentOrderingProperty is null"),
            ([{"sortBy": "timestamp", "sortOrder": "asc"}, {"sortBy": "color", "sortOrder": "desc"}],
             "Invalid query: can specify only one direction desc() or asc() for an ordering constraint: "
             "direction is not null"),
        ],
    )
    def test_a_sorting_the_query_cannot_apply(self, api, sorting, message):
        for path in (LOG, f"{LOG}/count"):
            assert_error(api.post(path, json={"sorting": sorting}), 400, "NotValidException", message, code=0)

    def test_skipped_entries_are_harmless_when_the_rest_fits(self, api, two_tasks):
        logs = post_logs(api, {"sorting": [{"sortBy": "color"}, {"sortBy": "priority", "sortOrder": "desc"}]})
        assert [log["priority"] for log in logs] == [5, 5, 5, 1, 1]

    def test_half_a_pair_in_the_body(self, api):
        assert_error(api.post(LOG, json={"sortBy": "timestamp"}), 400, "InvalidRequestException",
                     "Only a single sorting parameter specified. sortBy and sortOrder required")

    def test_an_invalid_pair_in_the_body(self, api):
        assert_error(api.post(LOG, json={"sortBy": "color", "sortOrder": "asc"}), 400, "InvalidRequestException",
                     "Cannot set query parameter 'sortBy' to value 'color'")


class TestPaging:
    def test_post_pages_with_query_parameters(self, api, two_tasks):
        every = get_logs(api)
        assert post_logs(api, {}, firstResult=1, maxResults=2) == every[1:3]
        assert post_logs(api, {}, firstResult=4) == every[4:]
        assert post_logs(api, {}, maxResults=1) == every[:1]
        assert get_logs(api, firstResult=2, maxResults=3) == every[2:5]

    def test_post_with_a_bad_page_bound(self, api):
        response = api.post(LOG, json={}, params={"maxResults": "-1"})
        assert_error(response, 400, "InvalidRequestException")
        assert response.json()["message"].startswith("Cannot set query parameter 'maxResults' to value '-1'")
