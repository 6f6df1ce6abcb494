"""A task's whole life over REST, on SQLite and on PostgreSQL: what a worker and an operator see."""

from __future__ import annotations

from rest_support import assert_no_content


class TestTaskLifeOnEachBackend:
    def test_create_fetch_fail_run_out_of_retries_retry_and_complete(self, lifecycle_api, clock):
        api = lifecycle_api
        task = api.create_task(
            processInstanceId="pi-1", businessKey="order-17", priority=2,
            variables={"amount": {"value": 12.5, "type": "Double"}},
        )

        [locked] = api.fetch("w", lockDuration=10_000)
        assert locked["id"] == task["id"]
        assert locked["variables"] == {"amount": {"type": "Double", "value": 12.5, "valueInfo": {}}}
        assert locked["lockExpirationTime"] == "2025-01-02T03:04:15.000+0000"

        clock.advance(1000)
        failure = {
            "workerId": "w", "errorMessage": "timeout", "errorDetails": "trace", "retries": 1, "retryTimeout": 5000
        }
        assert_no_content(api.post(f"/external-task/{task['id']}/failure", json=failure))
        assert api.fetch("w") == []  # not before the retry timeout
        clock.advance(5000)
        [again] = api.fetch("w")
        assert again["retries"] == 1 and again["errorDetails"] == "trace"

        out_of_retries = {"workerId": "w", "errorMessage": "dead"}
        assert_no_content(api.post(f"/external-task/{task['id']}/failure", json=out_of_retries))
        [incident] = api.get("/incident").json()
        assert incident["configuration"] == task["id"] and incident["incidentMessage"] == "dead"

        assert_no_content(api.put(f"/external-task/{task['id']}/retries", json={"retries": 1}))
        assert api.get("/incident/count").json() == {"count": 0}
        assert_no_content(api.post(f"/external-task/{task['id']}/lock", json={"workerId": "w", "lockDuration": 1000}))
        assert_no_content(
            api.post(
                f"/external-task/{task['id']}/complete",
                json={"workerId": "w", "variables": {"paid": {"value": True}}},
            )
        )

        kinds = [
            next(k for k in ("creationLog", "failureLog", "successLog", "deletionLog") if log[k])
            for log in api.history(externalTaskId=task["id"])
        ]
        assert kinds == ["creationLog", "failureLog", "failureLog", "successLog"]
        assert set(api.get("/process-instance/pi-1/variables").json()) == {"amount", "paid"}
