"""Retries and failedExternalTask incidents: created on the transition to 0 retries, resolved on the
way back or on completion, deleted with the task (spec 3.6 step 8, 3.7).

Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #99-#102, #111-#117, #138, #139).
"""

from __future__ import annotations

from datetime import timedelta


from extask.application.errors import BadRequest, NotFound

from .helpers import (
    LOCK_TIME,
    WORKER_ID,
    create_task,
    epoch_millis,
    failure_logs_newest_first,
    fetch,
    historic_incidents,
    ids,
    incidents,
    logs,
    raises,
)


class TestIncidents:
    # 5.1 #99
    def test_handle_failure_zero_retries(self, service, engine, clock, task):
        """Failing with 0 retries makes the task unfetchable and opens an incident linked to the failure log."""
        locked = fetch(service, max_tasks=5)[0]
        clock.advance(milliseconds=3000)
        failure_time = clock.now

        service.handle_failure(task.id, WORKER_ID, error_message="errorMessage", retries=0, retry_timeout=3000)
        clock.advance(milliseconds=4000)

        assert fetch(service, max_tasks=5) == []
        [incident] = incidents(service)
        assert incident.id
        assert incident.incident_message == "errorMessage"
        assert incident.execution_id == locked.task.execution_id
        assert incident.activity_id == "externalTask"
        assert incident.cause_incident_id == incident.id
        assert incident.root_cause_incident_id == incident.id
        assert incident.incident_type == "failedExternalTask"
        assert incident.process_definition_id == locked.task.process_definition_id
        assert incident.process_instance_id == locked.task.process_instance_id
        assert incident.incident_timestamp == failure_time
        assert incident.configuration == task.id
        assert incident.job_definition_id is None
        assert incident.failed_activity_id is None

        [historic] = historic_incidents(engine, task.id)
        assert historic["id"] == incident.id
        assert historic["state"] == "open"
        assert historic["history_configuration"] == failure_logs_newest_first(service, task.id)[0].id

    # 5.1 #100
    def test_handle_failure_zero_retries_after_incidents_are_resolved(self, service, engine, clock, task):
        """fail(0), setRetries(5), fail(1), fail(0): the first incident is resolved, a second one is open."""
        start = clock.now
        fetch(service, max_tasks=5)
        service.handle_failure(task.id, WORKER_ID, error_message="errorMessage", retries=0, retry_timeout=3000)
        service.set_retries(task.id, 5)
        clock.now = start + timedelta(milliseconds=3000)
        fetch(service, max_tasks=5)
        clock.now = start + timedelta(milliseconds=4000)
        service.handle_failure(task.id, WORKER_ID, error_message="errorMessage", retries=1, retry_timeout=3000)

        clock.now = start + timedelta(milliseconds=5000)
        service.handle_failure(task.id, WORKER_ID, error_message="errorMessage", retries=0, retry_timeout=3000)

        [incident] = incidents(service)
        assert incident.id
        first, second = historic_incidents(engine, task.id)
        failures = failure_logs_newest_first(service, task.id)
        assert len(failures) == 3
        assert first["state"] == "resolved"
        assert first["history_configuration"] == failures[2].id
        assert second["state"] == "open"
        assert second["id"] == incident.id
        assert second["history_configuration"] == failures[0].id

    def test_failing_again_at_zero_retries_creates_no_second_incident(self, service, engine, locked):
        """A failure while retries are already 0 changes no incident (no duplicate)."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="first", retries=0)
        [incident] = incidents(service)

        service.handle_failure(locked.task.id, WORKER_ID, error_message="second", retries=0)

        assert incidents(service) == [incident]
        assert len(historic_incidents(engine, locked.task.id)) == 1

    def test_failure_with_retries_after_an_incident_resolves_it(self, service, engine, locked):
        """A failure with retries > 0 from 0 resolves the open incident."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="e", retries=0)

        service.handle_failure(locked.task.id, WORKER_ID, error_message="e", retries=3)

        assert incidents(service) == []
        assert [i["state"] for i in historic_incidents(engine, locked.task.id)] == ["resolved"]

    # 5.1 #102
    def test_handle_failure_then_complete(self, service, engine, locked):
        """The worker may still complete after failing with 0 retries; completion resolves the incident."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="someError", retries=0,
                               retry_timeout=LOCK_TIME)

        service.complete(locked.task.id, WORKER_ID)

        with raises(NotFound):
            service.get_task(locked.task.id)
        assert incidents(service) == []
        assert [i["state"] for i in historic_incidents(engine, locked.task.id)] == ["resolved"]
        [success] = logs(service, success_log=True)
        assert (success.worker_id, success.retries) == (WORKER_ID, 0)

    def test_incident_time_ends_when_resolved(self, service, engine, clock, locked):
        """A resolved historic incident records when it started and when it ended."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="e", retries=0)
        opened = clock.now
        clock.advance(milliseconds=7000)

        service.set_retries(locked.task.id, 1)

        [historic] = historic_incidents(engine, locked.task.id)
        assert (historic["create_time"], historic["end_time"]) == (epoch_millis(opened), epoch_millis(clock.now))


class TestRetries:
    # 5.1 #111
    def test_set_retries(self, service, locked):
        """Retries can be set on a locked task; the lock is untouched."""
        service.set_retries(locked.task.id, 5)

        task = service.get_task(locked.task.id)
        assert task.retries == 5
        assert (task.worker_id, task.lock_expiration_time) == (WORKER_ID, locked.task.lock_expiration_time)

    # 5.1 #112
    def test_set_retries_resolves_failure_incident(self, service, engine, clock, locked):
        """Retries > 0 resolve the incident; the task is fetchable once the last retry timeout has passed."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="error", retries=0, retry_timeout=LOCK_TIME)
        [incident] = incidents(service)

        service.set_retries(locked.task.id, 5)

        assert incidents(service) == []
        [historic] = historic_incidents(engine, locked.task.id)
        assert (historic["id"], historic["state"]) == (incident.id, "resolved")
        assert fetch(service, max_tasks=5) == []  # setRetries does not clear the retry-timeout lock

        clock.advance(milliseconds=LOCK_TIME + 3000)
        assert ids(fetch(service, max_tasks=5)) == [locked.task.id]

    # 5.1 #113
    def test_set_retries_to_zero(self, service, engine, locked):
        """setRetries(0) opens an incident (no failure log to link); setRetries(5) removes it again."""
        service.set_retries(locked.task.id, 0)

        [incident] = incidents(service)
        assert incident.configuration == locked.task.id
        assert incident.incident_message is None
        [historic] = historic_incidents(engine, locked.task.id)
        assert (historic["id"], historic["state"], historic["history_configuration"]) == (incident.id, "open", None)

        service.set_retries(locked.task.id, 5)
        assert incidents(service) == []

    # 5.1 #114
    def test_set_retries_to_zero_after_failure_with_retries_left(self, service, engine, clock, task):
        """After two failures with retries left, setRetries(0) links its incident to the latest failure log."""
        fetch(service, max_tasks=5)
        service.handle_failure(task.id, WORKER_ID, error_message="errorMessage", retries=2, retry_timeout=3000)
        clock.advance(milliseconds=3000)
        fetch(service, max_tasks=5)
        clock.advance(milliseconds=2000)
        service.handle_failure(task.id, WORKER_ID, error_message="errorMessage", retries=1, retry_timeout=3000)
        fetch(service, max_tasks=5)

        clock.advance(milliseconds=2000)
        service.set_retries(task.id, 0)

        [incident] = incidents(service)
        assert incident.incident_message == "errorMessage"
        [historic] = historic_incidents(engine, task.id)
        failures = failure_logs_newest_first(service, task.id)
        assert len(failures) == 2
        assert historic["state"] == "open"
        assert historic["history_configuration"] == failures[0].id

    def test_set_retries_to_zero_twice_creates_one_incident(self, service, engine, task):
        """setRetries(0) when retries are already 0 opens no second incident."""
        service.set_retries(task.id, 0)
        service.set_retries(task.id, 0)

        assert len(incidents(service)) == 1
        assert len(historic_incidents(engine, task.id)) == 1

    # 5.1 #115
    def test_set_retries_negative(self, service, locked):
        """Negative retries are refused: 'retries is not greater than or equal to 0'."""
        with raises(
            BadRequest,
            "The number of retries cannot be negative: retries is not greater than or equal to 0",
            "BadUserRequestException",
        ):
            service.set_retries(locked.task.id, -5)

    def test_set_retries_null(self, service, locked):
        """Missing retries are refused: 'The number of retries cannot be null.' (spec 2.11)."""
        with raises(BadRequest, "The number of retries cannot be null.", "InvalidRequestException"):
            service.set_retries(locked.task.id, None)  # type: ignore[arg-type]

    # 5.1 #116
    def test_set_retries_non_existing_task(self, service):
        """Setting retries of an unknown task is 'not found'."""
        with raises(NotFound, "External task with id someExternalTaskId does not exist", "RestException"):
            service.set_retries("someExternalTaskId", 5)

    # 5.1 #117
    def test_set_retries_null_task_id(self, service):
        """Setting retries without a task id is refused: 'externalTaskId is null'."""
        with raises(BadRequest, "externalTaskId is null", "NullValueException"):
            service.set_retries(None, 5)  # type: ignore[arg-type]

    # 5.1 #138
    def test_update_retries_by_external_task_ids(self, service):
        """Bulk setRetries by a list of ids sets every listed task's retries."""
        tasks = [create_task(service, business_key=str(i)) for i in range(5)]

        service.set_retries_many([t.id for t in tasks], 5)

        assert [service.get_task(t.id).retries for t in tasks] == [5] * 5

    # 5.1 #139
    def test_update_retries_by_external_task_id_array(self, service):
        """Bulk setRetries accepts any iterable of ids (Camunda: varargs)."""
        tasks = [create_task(service, business_key=str(i)) for i in range(5)]

        service.set_retries_many((t.id for t in tasks), 5)

        assert [service.get_task(t.id).retries for t in tasks] == [5] * 5

    def test_update_retries_with_empty_selection(self, service):
        """An empty bulk selection is refused: 'externalTaskIds is empty' (spec 2.12)."""
        with raises(BadRequest, "externalTaskIds is empty", "InvalidRequestException"):
            service.set_retries_many([], 5)

    def test_update_retries_with_a_null_id(self, service, task):
        """A null id in a bulk selection is refused (spec 2.12)."""
        with raises(
            BadRequest, "External task id cannot be null: externalTaskIds contains null value", "InvalidRequestException"
        ):
            service.set_retries_many([task.id, None], 5)  # type: ignore[list-item]

    def test_update_retries_with_an_unknown_id(self, service, task):
        """An unknown id in a bulk selection is 'not found' with the bulk message (SetExternalTasksRetriesTest)."""
        with raises(NotFound, "Cannot find external task with id unknown: externalTask is null",
                    "InvalidRequestException"):
            service.set_retries_many([task.id, "unknown"], 5)

    def test_update_retries_negative(self, service, task):
        """Negative retries in a bulk update are refused as InvalidRequestException (spec 4)."""
        with raises(
            BadRequest,
            "The number of retries cannot be negative: retries is not greater than or equal to 0",
            "InvalidRequestException",
        ):
            service.set_retries_many([task.id], -1)

    def test_update_retries_to_zero_opens_one_incident_per_task(self, service):
        """Bulk setRetries(0) applies the single-task incident logic to every task."""
        tasks = [create_task(service) for _ in range(3)]

        service.set_retries_many([t.id for t in tasks], 0)

        assert sorted(i.configuration for i in incidents(service)) == sorted(t.id for t in tasks)


class TestCreationWithoutRetries:
    def test_a_task_created_with_zero_retries_has_an_incident(self, service):
        """Created with 0 retries, a task is not fetchable and is not lost from sight: an incident shows it."""
        task = create_task(service, retries=0)

        assert fetch(service) == []
        [incident] = incidents(service, configuration=task.id)
        assert incident.incident_type == "failedExternalTask"

        service.set_retries(task.id, 1)
        assert incidents(service, configuration=task.id) == []
        assert ids(fetch(service)) == [task.id]
