"""What operators do to one task: set its retries and its priority."""

from __future__ import annotations

import pytest
from rest_support import assert_error, assert_no_content


class TestSetRetries:
    def test_answers_204_and_sets_them(self, api):
        task = api.create_task()
        assert_no_content(api.put(f"/external-task/{task['id']}/retries", json={"retries": 4}))
        assert api.task(task["id"])["retries"] == 4

    def test_zero_makes_an_incident_and_the_task_unavailable(self, api):
        task = api.create_task()
        assert_no_content(api.put(f"/external-task/{task['id']}/retries", json={"retries": 0}))
        assert len(api.get("/incident").json()) == 1
        assert api.fetch() == []

    @pytest.mark.parametrize("body", [{"retries": None}, {}, None])
    def test_retries_null(self, api, body):
        task = api.create_task()
        assert_error(
            api.put(f"/external-task/{task['id']}/retries", json=body), 400, "InvalidRequestException",
            "The number of retries cannot be null.", code=None,
        )

    def test_negative_retries(self, api):
        task = api.create_task()
        assert_error(
            api.put(f"/external-task/{task['id']}/retries", json={"retries": -1}), 400, "BadUserRequestException",
            "The number of retries cannot be negative: retries is not greater than or equal to 0",
        )

    def test_an_unknown_task(self, api):
        assert_error(
            api.put("/external-task/nope/retries", json={"retries": 1}), 404, "RestException",
            "External task with id nope does not exist",
        )


class TestSetPriority:
    def test_answers_204_and_sets_it(self, api):
        task = api.create_task()
        assert_no_content(api.put(f"/external-task/{task['id']}/priority", json={"priority": -3}))
        assert api.task(task["id"])["priority"] == -3

    def test_a_priority_that_is_not_a_number(self, api):
        task = api.create_task()
        response = api.put(f"/external-task/{task['id']}/priority", json={"priority": "high"})
        assert_error(response, 400, "InvalidRequestException")
        assert api.task(task["id"])["priority"] == 0

    def test_an_unknown_task(self, api):
        assert_error(api.put("/external-task/nope/priority", json={"priority": 1}), 404, "RestException")
