"""The worker commands on one task: complete, failure, bpmnError, extendLock, lock, unlock.

Each answers 204 with an empty body; refusals carry Camunda's type and message.
"""

from __future__ import annotations

import pytest
from rest_support import assert_error, assert_no_content


def command(api, task_id, name, **body):
    return api.post(f"/external-task/{task_id}/{name}", json=body)


def raw_command(api, task_id, name, body: bytes):
    """The body as written, for JSON that a Python dict would not carry (NaN, escaped surrogates)."""
    return api.post(f"/external-task/{task_id}/{name}", content=body, headers={"Content-Type": "application/json"})


class TestComplete:
    def test_answers_204_and_the_task_is_gone(self, api):
        task = api.locked_task("w")
        assert_no_content(command(api, task["id"], "complete", workerId="w"))
        assert_error(api.get(f"/external-task/{task['id']}"), 404, "RestException")

    def test_variables_go_to_the_process_instance_and_local_variables_do_not(self, api):
        task = api.locked_task("w", processInstanceId="pi-1")
        response = command(
            api, task["id"], "complete", workerId="w",
            variables={"approved": {"value": True, "type": "Boolean"}},
            localVariables={"scratch": {"value": "x"}},
        )
        assert_no_content(response)
        assert api.get("/process-instance/pi-1/variables").json() == {
            "approved": {"type": "Boolean", "value": True, "valueInfo": {}}
        }

    def test_nulls_are_accepted(self, api):
        task = api.locked_task("w")
        assert_no_content(command(api, task["id"], "complete", workerId="w", variables=None, localVariables=None))

    def test_by_another_worker(self, api):
        task = api.locked_task("w")
        assert_error(
            command(api, task["id"], "complete", workerId="intruder"), 400, "RestException",
            f"External Task {task['id']} cannot be completed by worker 'intruder'. It is locked by worker 'w'.",
        )

    def test_without_worker_id(self, api):
        task = api.locked_task("w")
        assert_error(command(api, task["id"], "complete"), 400, "NullValueException", "workerId is null", code=0)

    def test_an_unknown_task(self, api):
        assert_error(
            command(api, "nope", "complete", workerId="w"), 404, "RestException",
            "External task with id nope does not exist",
        )

    def test_a_bad_variable_completes_nothing(self, api):
        task = api.locked_task("w")
        response = command(api, task["id"], "complete", workerId="w", variables={"n": {"value": "x", "type": "Long"}})
        message = "Cannot convert value 'x' of type 'Long' to java type java.lang.Long"
        assert_error(response, 400, "InvalidRequestException", message)
        assert api.task(task["id"])["workerId"] == "w"

    def test_a_value_info_holding_nan_completes_nothing(self, api):
        task = api.locked_task("w")
        body = b'{"workerId": "w", "variables": {"x": {"value": "a", "type": "String", "valueInfo": {"n": NaN}}}}'
        response = raw_command(api, task["id"], "complete", body)
        message = "valueInfo must be a JSON object of finite numbers, got '{'n': nan}'"
        assert_error(response, 400, "InvalidRequestException", message)
        assert api.task(task["id"])["workerId"] == "w"

    def test_after_the_lock_expired_the_same_worker_still_may(self, api, clock):
        task = api.locked_task("w")
        clock.advance(minutes=5)
        assert_no_content(command(api, task["id"], "complete", workerId="w"))


class TestFailure:
    def test_with_retries_left_keeps_the_worker_and_pushes_the_lock(self, api, clock):
        task = api.locked_task("w")
        response = command(
            api, task["id"], "failure", workerId="w", errorMessage="gateway timeout",
            errorDetails="Traceback ...", retries=2, retryTimeout=30_000,
        )
        assert_no_content(response)
        after = api.task(task["id"])
        assert after["retries"] == 2
        assert after["workerId"] == "w"
        assert after["errorMessage"] == "gateway timeout"
        assert after["lockExpirationTime"] == "2025-01-02T03:04:35.000+0000"
        assert api.get("/incident").json() == []

    @pytest.mark.parametrize("retries", [None, "absent"])
    def test_retries_null_or_absent_mean_zero_and_an_incident(self, api, retries):
        task = api.locked_task("w")
        body = {"workerId": "w", "errorMessage": "boom", "errorDetails": None, "retryTimeout": None}
        if retries is None:
            body["retries"] = None
        assert_no_content(api.post(f"/external-task/{task['id']}/failure", json=body))
        assert api.task(task["id"])["retries"] == 0
        [incident] = api.get("/incident").json()
        assert incident["configuration"] == task["id"]

    def test_negative_retries(self, api):
        task = api.locked_task("w")
        assert_error(
            command(api, task["id"], "failure", workerId="w", retries=-1), 400, "ProcessEngineException",
            "retries is not greater than or equal to 0", code=0,
        )

    def test_negative_retry_timeout(self, api):
        task = api.locked_task("w")
        assert_error(
            command(api, task["id"], "failure", workerId="w", retries=1, retryTimeout=-1), 400,
            "ProcessEngineException", "retryDuration is not greater than or equal to 0",
        )

    def test_by_another_worker(self, api):
        task = api.locked_task("w")
        assert_error(
            command(api, task["id"], "failure", workerId="x", retries=1), 400, "RestException",
            f"Failure of External Task {task['id']} cannot be reported by worker 'x'. It is locked by worker 'w'.",
        )

    def test_an_error_message_postgresql_cannot_store_is_a_400_on_postgresql(self, lifecycle_api):
        task = lifecycle_api.locked_task("w")
        response = command(lifecycle_api, task["id"], "failure", workerId="w", errorMessage="a\x00b", retries=1)
        if lifecycle_api.engine.event_store.recorder.dialect.name == "postgres":
            assert_error(
                response, 400, "InvalidRequestException",
                "PostgreSQL cannot store the character U+0000 (NUL) in text; it was found in the request's values",
            )
            assert lifecycle_api.task(task["id"])["errorMessage"] is None
        else:
            assert_no_content(response)
            assert lifecycle_api.task(task["id"])["errorMessage"] == "a\x00b"

    def test_an_error_message_with_an_unpaired_surrogate_is_a_400(self, lifecycle_api):
        task = lifecycle_api.locked_task("w")
        body = b'{"workerId": "w", "errorMessage": "x\\ud800y", "retries": 1}'
        response = raw_command(lifecycle_api, task["id"], "failure", body)
        assert_error(
            response, 400, "InvalidRequestException",
            "Text in the request is not valid Unicode: it holds an unpaired surrogate (U+D800 to U+DFFF)",
        )
        assert lifecycle_api.task(task["id"])["errorMessage"] is None


class TestErrorDetails:
    def test_are_plain_text(self, api):
        task = api.locked_task("w")
        details = "Traceback (most recent call last):\n  ünïcode\n"
        command(api, task["id"], "failure", workerId="w", errorDetails=details, retries=1)
        response = api.get(f"/external-task/{task['id']}/errorDetails")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain"
        assert response.content.decode() == details

    def test_none_is_204(self, api):
        task = api.create_task()
        assert_no_content(api.get(f"/external-task/{task['id']}/errorDetails"))

    def test_an_unknown_task(self, api):
        # Camunda answers 500 here; extask answers 404 with Camunda's type and message.
        assert_error(
            api.get("/external-task/nope/errorDetails"), 404, "NullValueException",
            "No external task found with id nope: externalTask is null",
        )


class TestBpmnError:
    def test_answers_204_and_ends_the_task(self, api):
        task = api.locked_task("w")
        response = command(
            api, task["id"], "bpmnError", workerId="w", errorCode="card-declined", errorMessage="declined",
            variables={"reason": {"value": "limit"}},
        )
        assert_no_content(response)
        assert api.get(f"/external-task/{task['id']}").status_code == 404
        assert api.history(externalTaskId=task["id"], deletionLog="true") != []

    def test_without_error_code(self, api):
        task = api.locked_task("w")
        response = command(api, task["id"], "bpmnError", workerId="w")
        assert_error(response, 400, "NullValueException", "errorCode is null")

    def test_by_another_worker(self, api):
        task = api.locked_task("w")
        assert_error(
            command(api, task["id"], "bpmnError", workerId="x", errorCode="e"), 400, "RestException",
            f"Bpmn error of External Task {task['id']} cannot be reported by worker 'x'. It is locked by worker 'w'.",
        )


class TestExtendLock:
    def test_sets_the_expiry_to_now_plus_the_new_duration(self, api, clock):
        task = api.locked_task("w")
        clock.advance(10_000)
        assert_no_content(command(api, task["id"], "extendLock", workerId="w", newDuration=5_000))
        assert api.task(task["id"])["lockExpirationTime"] == "2025-01-02T03:04:20.000+0000"

    @pytest.mark.parametrize("duration", [None, 0])
    def test_new_duration_missing_or_zero(self, api, duration):
        task = api.locked_task("w")
        assert_error(
            command(api, task["id"], "extendLock", workerId="w", newDuration=duration), 400, "RestException",
            "lockTime is not greater than 0",
        )

    def test_an_expired_lock(self, api, clock):
        task = api.locked_task("w")
        clock.advance(60_001)
        assert_error(
            command(api, task["id"], "extendLock", workerId="w", newDuration=1000), 400, "RestException",
            "Cannot extend a lock that expired: lockExpirationTime is not greater than or equal to "
            f"{int(clock.now.timestamp() * 1000)}",
        )

    def test_by_another_worker(self, api):
        task = api.locked_task("w")
        assert_error(
            command(api, task["id"], "extendLock", workerId="x", newDuration=1000), 400, "RestException",
            f"The lock of the External Task {task['id']} cannot be extended by worker 'x''. "
            "It is locked by worker 'w'.",
        )


class TestLock:
    def test_locks_an_available_task(self, api):
        task = api.create_task()
        assert_no_content(command(api, task["id"], "lock", workerId="w", lockDuration=1000))
        assert api.task(task["id"])["lockExpirationTime"] == "2025-01-02T03:04:06.000+0000"

    @pytest.mark.parametrize("duration", [None, 0, -1])
    def test_lock_duration_missing_or_not_positive(self, api, duration):
        task = api.create_task()
        assert_error(
            command(api, task["id"], "lock", workerId="w", lockDuration=duration), 400, "RestException",
            "lockDuration is not greater than 0",
        )

    def test_held_by_another_worker(self, api):
        task = api.locked_task("w")
        assert_error(
            command(api, task["id"], "lock", workerId="x", lockDuration=1000), 400, "RestException",
            f"External Task {task['id']} cannot be locked by worker 'x'. It is locked by worker 'w'.",
        )

    def test_an_unknown_task(self, api):
        assert_error(command(api, "nope", "lock", workerId="w", lockDuration=1), 404, "RestException")


class TestUnlock:
    """Clients send unlock with no body (JS), ``{}`` (pycamunda) or an empty JSON body (camunda-client)."""

    @pytest.mark.parametrize(
        "request_kwargs",
        [{}, {"json": {}}, {"content": b"", "headers": {"Content-Type": "application/json"}}],
        ids=["no body", "empty object", "empty body with JSON content type"],
    )
    def test_clears_worker_and_lock_whatever_the_body(self, api, request_kwargs):
        task = api.locked_task("w")
        assert_no_content(api.post(f"/external-task/{task['id']}/unlock", **request_kwargs))
        after = api.task(task["id"])
        assert after["workerId"] is None and after["lockExpirationTime"] is None
        assert len(api.fetch("other")) == 1

    def test_then_the_former_worker_cannot_complete(self, api):
        task = api.locked_task("w")
        api.post(f"/external-task/{task['id']}/unlock")
        assert_error(
            command(api, task["id"], "complete", workerId="w"), 400, "RestException",
            f"External Task {task['id']} cannot be completed by worker 'w'. It is locked by worker 'null'.",
        )

    def test_an_unknown_task(self, api):
        assert_error(
            api.post("/external-task/nope/unlock"), 404, "RestException", "External task with id nope does not exist"
        )


class TestSuspendedTasks:
    def test_refuse_worker_commands(self, api):
        task = api.locked_task("w", processInstanceId="pi-s")
        assert_no_content(api.put("/process-instance/pi-s/suspended", json={"suspended": True}))
        assert_error(
            command(api, task["id"], "complete", workerId="w"), 400, "RestException",
            f"ENGINE-03043 ExternalTask with id '{task['id']}' is suspended.",
        )
        assert api.task(task["id"])["suspended"] is True
