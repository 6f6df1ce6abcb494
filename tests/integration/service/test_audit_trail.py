"""An auditor's view of a task, from the event store: its whole timeline, and the task as it was at T.

``task_state_at`` answers what ``get_task`` (``GET /external-task/{id}``) would have answered at
that moment: NotFound before the task was created and once it had ended, the message saying
which. Times compare to the millisecond, the precision of Camunda dates.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from extask.application.errors import NotFound
from extask.domain.process_instance import ProcessInstance

from .helpers import LOCK_TIME, WORKER_ID, create_task, events_of, fetch_one, raises

START = "2025-01-02T03:04:05.000+0000"  # the FixedClock's first moment
ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


@pytest.fixture
def audit(engine):
    return engine.audit


def types(events):
    return [event.type for event in events]


def not_found(task_id):
    return f"External task with id {task_id} does not exist"


class TestTimelineOfALiveTask:
    def test_every_event_in_order_with_its_version_and_time(self, audit, service, clock, task):
        fetch_one(service)
        clock.advance(1000)
        service.extend_lock(task.id, WORKER_ID, 5000)
        clock.advance(1000)
        service.set_priority(task.id, 7)

        events = audit.task_events(task.id)

        assert types(events) == ["Created", "Locked", "LockExtended", "PrioritySet"]
        assert [e.aggregate_version for e in events] == [1, 2, 3, 4]
        start = task.create_time
        assert [e.timestamp for e in events] == [
            start, start, start + timedelta(seconds=1), start + timedelta(seconds=2),
        ]

    def test_each_event_carries_its_own_fields(self, audit, service, clock, task):
        fetch_one(service)
        clock.advance(1000)
        service.extend_lock(task.id, WORKER_ID, 5000)

        created, locked, extended = audit.task_events(task.id)

        assert locked.data == {
            "worker_id": WORKER_ID, "lock_expiration_time": task.create_time + timedelta(milliseconds=LOCK_TIME),
        }
        assert extended.data == {"lock_expiration_time": clock.now + timedelta(milliseconds=5000)}
        assert created.data["topic_name"] == task.topic_name
        assert created.data["process_instance_id"] == task.process_instance_id
        assert created.data["retries"] is None

    def test_the_data_is_every_stored_field_but_the_librarys_envelope(self, audit, engine, service, task):
        """Generic over the event classes: a field added to an event appears without code changes."""
        fetch_one(service)
        service.handle_failure(task.id, WORKER_ID, error_message="boom", retries=1, retry_timeout=0)

        stored = events_of(engine, task.id)
        events = audit.task_events(task.id)

        assert [e.data for e in events] == [
            {name: value for name, value in vars(event).items() if name not in ENVELOPE} for event in stored
        ]
        assert [e.schema_version for e in events] == [getattr(type(event), "class_version", 1) for event in stored]
        assert [e.type for e in events] == [type(event).__name__ for event in stored]

    def test_variables_appear_as_stored_typed_values(self, audit, service):
        task = create_task(service, local_variables={"amount": 12.5})

        [created] = audit.task_events(task.id)

        assert created.data["local_variables"] == {"amount": {"type": "Double", "value": 12.5, "valueInfo": {}}}


class TestTimelineOfAnEndedTask:
    """The read models forget ended tasks; the event store does not."""

    def test_completed(self, audit, service, clock, locked):
        clock.advance(1000)
        service.complete(locked.task.id, WORKER_ID)

        events = audit.task_events(locked.task.id)

        assert types(events) == ["Created", "Locked", "Completed"]
        assert events[-1].data["worker_id"] == WORKER_ID
        assert events[-1].timestamp == clock.now
        with raises(NotFound, not_found(locked.task.id)):
            service.get_task(locked.task.id)

    def test_failed_until_an_incident_then_retried_and_completed(self, audit, service, clock, locked):
        clock.advance(1000)
        service.handle_failure(
            locked.task.id, WORKER_ID, error_message="gateway down", error_details="trace", retries=0, retry_timeout=0
        )
        clock.advance(1000)
        service.set_retries(locked.task.id, 2)
        clock.advance(1000)
        fetch_one(service)
        service.complete(locked.task.id, WORKER_ID)

        events = audit.task_events(locked.task.id)

        assert types(events) == [
            "Created", "Locked", "Failed", "IncidentCreated", "RetriesSet", "IncidentResolved", "Locked", "Completed",
        ]
        failed, incident = events[2], events[3]
        assert (failed.data["error_message"], failed.data["error_details"], failed.data["retries"]) == (
            "gateway down", "trace", 0,
        )
        assert failed.timestamp == incident.timestamp  # one command, one moment
        assert incident.data["incident_message"] == "gateway down"
        assert events[5].data["incident_id"] == incident.data["incident_id"]

    def test_bpmn_error(self, audit, service, locked):
        service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERR-42", error_message="no stock")

        events = audit.task_events(locked.task.id)

        assert types(events) == ["Created", "Locked", "BpmnErrorThrown"]
        assert (events[-1].data["error_code"], events[-1].data["error_message"]) == ("ERR-42", "no stock")

    def test_deleted_with_its_process_instance(self, audit, service, task):
        service.delete_process_instance(task.process_instance_id, "cancelled by the customer")

        events = audit.task_events(task.id)

        assert types(events) == ["Created", "Deleted"]
        assert events[-1].data == {"reason": "cancelled by the customer"}


class TestTimelineOfSomethingElse:
    def test_an_unknown_id(self, audit):
        task_id = str(uuid4())
        with raises(NotFound, not_found(task_id), "RestException"):
            audit.task_events(task_id)

    def test_an_id_that_is_not_a_uuid(self, audit):
        with raises(NotFound, not_found("not-a-uuid")):
            audit.task_events("not-a-uuid")

    def test_the_id_of_a_process_instance(self, audit, task):
        """Process instances share the event store; their ids name no task."""
        instance_id = str(ProcessInstance.aggregate_id(task.process_instance_id))
        with raises(NotFound, not_found(instance_id)):
            audit.task_events(instance_id)


class TestStateOfALiveTask:
    def test_at_its_creation_it_is_the_created_task(self, audit, task):
        assert audit.task_state_at(task.id, task.create_time) == task

    def test_now_it_is_what_get_task_answers(self, audit, service, clock, task):
        fetch_one(service)
        clock.advance(1000)
        service.handle_failure(task.id, WORKER_ID, error_message="boom", retries=3, retry_timeout=500)
        clock.advance(1000)
        service.set_priority(task.id, 9)

        assert audit.task_state_at(task.id, clock.now) == service.get_task(task.id)

    def test_an_event_counts_from_its_own_millisecond(self, audit, service, clock, task):
        clock.advance(1000)
        locked_at = clock.now
        fetch_one(service)

        before = audit.task_state_at(task.id, locked_at - timedelta(milliseconds=1))
        at = audit.task_state_at(task.id, locked_at)

        assert (before.worker_id, before.lock_expiration_time) == (None, None)
        assert (at.worker_id, at.lock_expiration_time) == (WORKER_ID, locked_at + timedelta(milliseconds=LOCK_TIME))

    def test_times_compare_to_the_millisecond(self, audit, service, clock, task):
        """A Camunda date names a whole millisecond: anything inside it sees that millisecond's events."""
        clock.advance(1000)
        locked_at = clock.now
        fetch_one(service)

        assert audit.task_state_at(task.id, locked_at + timedelta(microseconds=999)).worker_id == WORKER_ID
        assert audit.task_state_at(task.id, locked_at - timedelta(microseconds=1)).worker_id is None

    def test_a_naive_time_is_utc(self, audit, task):
        assert audit.task_state_at(task.id, task.create_time.replace(tzinfo=None)) == task

    def test_failed_to_an_incident_and_retried(self, audit, service, clock, locked):
        clock.advance(1000)
        failed_at = clock.now
        service.handle_failure(
            locked.task.id, WORKER_ID, error_message="gateway down", retries=0, retry_timeout=2000
        )
        clock.advance(5000)
        retried_at = clock.now
        service.set_retries(locked.task.id, 2)

        failed = audit.task_state_at(locked.task.id, failed_at)
        retried = audit.task_state_at(locked.task.id, retried_at)

        assert failed == replace(
            locked.task, retries=0, error_message="gateway down", lock_expiration_time=failed_at + timedelta(seconds=2)
        )
        assert retried == replace(failed, retries=2)

    def test_suspended_with_its_process_instance(self, audit, service, clock, task):
        clock.advance(1000)
        service.suspend_process_instance(task.process_instance_id)

        assert audit.task_state_at(task.id, clock.now - timedelta(milliseconds=1)).suspended is False
        assert audit.task_state_at(task.id, clock.now).suspended is True


class TestStateOutsideTheTasksLife:
    def test_before_it_was_created(self, audit, task):
        moment = task.create_time - timedelta(milliseconds=1)
        with raises(NotFound, f"External task with id {task.id} did not exist yet at "
                    f"2025-01-02T03:04:04.999+0000: it was created at {START}", "RestException"):
            audit.task_state_at(task.id, moment)

    def test_after_it_was_completed(self, audit, service, clock, locked):
        clock.advance(1000)
        service.complete(locked.task.id, WORKER_ID)
        clock.advance(1000)

        with raises(NotFound, f"External task with id {locked.task.id} did not exist at "
                    "2025-01-02T03:04:07.000+0000: it was completed at 2025-01-02T03:04:06.000+0000"):
            audit.task_state_at(locked.task.id, clock.now)

    def test_from_the_millisecond_it_was_completed_and_not_before(self, audit, service, clock, locked):
        clock.advance(1000)
        service.complete(locked.task.id, WORKER_ID)

        assert audit.task_state_at(locked.task.id, clock.now - timedelta(milliseconds=1)) == locked.task
        with raises(NotFound):
            audit.task_state_at(locked.task.id, clock.now)

    def test_after_a_bpmn_error(self, audit, service, clock, locked):
        clock.advance(1000)
        service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERR-42")

        with raises(NotFound, f"External task with id {locked.task.id} did not exist at "
                    "2025-01-02T03:04:06.000+0000: it ended with BPMN error ERR-42 at 2025-01-02T03:04:06.000+0000"):
            audit.task_state_at(locked.task.id, clock.now)

    def test_after_it_was_deleted(self, audit, service, clock, task):
        clock.advance(1000)
        service.delete_process_instance(task.process_instance_id)

        with raises(NotFound, f"External task with id {task.id} did not exist at "
                    "2025-01-02T03:04:06.000+0000: it was deleted at 2025-01-02T03:04:06.000+0000"):
            audit.task_state_at(task.id, clock.now)

    def test_after_it_was_deleted_with_a_reason(self, audit, service, clock, task):
        service.delete_process_instance(task.process_instance_id, "cancelled")

        with raises(NotFound) as info:
            audit.task_state_at(task.id, clock.now)
        assert info.value.message.endswith(f"it was deleted (cancelled) at {START}")

    def test_an_unknown_task(self, audit, clock):
        task_id = str(uuid4())
        with raises(NotFound, not_found(task_id)):
            audit.task_state_at(task_id, clock.now)

