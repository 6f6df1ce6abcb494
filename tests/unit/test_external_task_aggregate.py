"""The ExternalTask aggregate on its own (no database): every rule, the events it emits, and the
state those events leave. Times are fixed; ``at(ms)`` is NOW plus ``ms`` milliseconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4, uuid5

import pytest

from extask.domain.errors import (
    NoOpenIncident,
    InvalidArgument,
    LockedByOtherWorker,
    LockExpired,
    TaskRemoved,
    TaskSuspended,
)
from extask.domain.external_task import ERROR_MESSAGE_MAX_LENGTH, ExternalTask, epoch_millis

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
WORKER = "aWorkerId"
OTHER = "anotherWorkerId"
LOCK = 10_000


def at(milliseconds: int) -> datetime:
    return NOW + timedelta(milliseconds=milliseconds)


def names(task: ExternalTask) -> list[str]:
    """Collect (and so clear) the pending events; their class names."""
    return [type(event).__name__ for event in task.collect_events()]


def new_task(**fields) -> ExternalTask:
    fields.setdefault("topic_name", "topic")
    fields.setdefault("process_instance_id", "pi-1")
    task = ExternalTask.create(now=NOW, **fields)
    task.collect_events()
    return task


def locked_task(worker: str = WORKER, duration: int = LOCK, **fields) -> ExternalTask:
    task = new_task(**fields)
    task.lock(worker, duration, NOW)
    task.collect_events()
    return task


def failed_to_zero(message: str | None = "boom") -> ExternalTask:
    task = locked_task()
    task.handle_failure(WORKER, NOW, error_message=message, retries=0)
    task.collect_events()
    return task


def replayed(events) -> ExternalTask:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def refused(task: ExternalTask, error_class, message: str | None = None, camunda_type: str | None = None):
    """Context for a command the task must refuse without emitting any event."""

    class _Refusal:
        def __enter__(self):
            self._raises = pytest.raises(error_class)
            self.info = self._raises.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self._raises.__exit__(*exc)
            assert type(self.info.value) is error_class
            if message is not None:
                assert self.info.value.message == message
            if camunda_type is not None:
                assert self.info.value.camunda_type == camunda_type
            assert task.collect_events() == []
            return handled

    return _Refusal()


class TestCreation:
    def test_created_carries_every_attribute_and_starts_unlocked_without_retries(self):
        """Created carries the process attributes; the task starts with null retries, no worker, no lock."""
        task_id = uuid4()
        task = ExternalTask.create(
            now=NOW, task_id=task_id, topic_name="invoice", process_instance_id="pi-9",
            process_definition_id="def:1:1", process_definition_key="def", process_definition_version_tag="v1",
            activity_id="charge", activity_instance_id="charge:1", execution_id="ex-1", business_key="bk",
            tenant_id="t1", priority=7, extension_properties={"sla": "high"},
            local_variables={"v": {"type": "String", "value": "x", "valueInfo": {}}},
        )

        [created] = task.collect_events()
        assert type(created).__name__ == "Created"
        assert (created.topic_name, created.priority, created.retries, created.tenant_id) == ("invoice", 7, None, "t1")
        assert task.id == task_id
        assert task.create_time == NOW
        assert (task.worker_id, task.lock_expiration_time, task.retries) == (None, None, None)
        assert (task.error_message, task.error_details, task.incident_id) == (None, None, None)
        assert task.suspended is False and task.is_removed is False
        assert task.extension_properties == {"sla": "high"}
        assert task.local_variables == {"v": {"type": "String", "value": "x", "valueInfo": {}}}
        assert task.business_key == "bk" and task.process_definition_version_tag == "v1"

    def test_priority_defaults_to_zero(self):
        """Without a priority the task has priority 0."""
        assert new_task().priority == 0

    @pytest.mark.parametrize("topic", [None, ""])
    def test_a_topic_is_required(self, topic):
        """A task without topic is refused: 'topicName is null'."""
        with pytest.raises(InvalidArgument) as info:
            ExternalTask.create(now=NOW, topic_name=topic, process_instance_id="pi")
        assert (info.value.message, info.value.camunda_type) == ("topicName is null", "NullValueException")

    @pytest.mark.parametrize("priority", ["7", 1.5, True, None])
    def test_priority_must_be_an_integer(self, priority):
        """A non-integer priority is refused: 'Priority value is not an Integer'."""
        with pytest.raises(InvalidArgument, match="^Priority value is not an Integer$"):
            ExternalTask.create(now=NOW, topic_name="t", process_instance_id="pi", priority=priority)

    def test_negative_initial_retries_are_refused(self):
        """Initial retries, when given, must not be negative."""
        with pytest.raises(InvalidArgument, match="^retries is not greater than or equal to 0$"):
            ExternalTask.create(now=NOW, topic_name="t", process_instance_id="pi", retries=-1)

    def test_replaying_the_events_rebuilds_the_same_task(self):
        """The state is the fold of the events: replaying a whole life gives an equal aggregate."""
        task = ExternalTask.create(now=NOW, topic_name="t", process_instance_id="pi", priority=3)
        task.lock(WORKER, LOCK, NOW)
        task.handle_failure(WORKER, at(1), error_message="e", error_details="d", retries=0, retry_timeout=5)
        task.set_retries(2, at(2))
        task.set_priority(9, at(3))
        task.suspend(at(4))
        task.activate(at(5))
        task.extend_lock(WORKER, 100, at(6))

        events = task.collect_events()

        assert replayed(events).__dict__ == task.__dict__


class TestFetchPredicate:
    def test_a_fresh_task_is_fetchable(self):
        """Unlocked, active, retries null: fetchable."""
        assert new_task().is_fetchable(NOW)

    def test_lock_boundaries(self):
        """Fetch treats lock == now as available; lock/extendLock treat it as still locked."""
        task = locked_task()  # expires at(LOCK)

        assert not task.is_fetchable(at(LOCK - 1)) and task.is_locked(at(LOCK - 1))
        assert task.is_fetchable(at(LOCK)) and task.is_locked(at(LOCK))
        assert task.is_fetchable(at(LOCK + 1)) and not task.is_locked(at(LOCK + 1))

    def test_an_unlocked_task_is_not_locked(self):
        """No lock expiration means not locked."""
        assert not new_task().is_locked(NOW)

    @pytest.mark.parametrize(("retries", "fetchable"), [(None, True), (1, True), (5, True), (0, False)])
    def test_retries(self, retries, fetchable):
        """Retries null or > 0 are fetchable; 0 is not."""
        task = new_task()
        if retries is not None:
            task.set_retries(retries, NOW)
        assert task.is_fetchable(NOW) is fetchable

    def test_a_suspended_task_is_not_fetchable(self):
        """Suspension hides the task from fetching."""
        task = new_task()
        task.suspend(NOW)
        assert not task.is_fetchable(NOW)

    def test_a_removed_task_is_not_fetchable(self):
        """A completed task is gone."""
        task = locked_task()
        task.complete(WORKER, NOW)
        assert not task.is_fetchable(at(LOCK * 2))


class TestFetchLock:
    def test_fetch_lock_locks_until_now_plus_duration(self):
        """Fetching locks for the worker until now + lockDuration (Locked)."""
        task = new_task()

        task.fetch_lock(WORKER, LOCK, NOW)

        assert names(task) == ["Locked"]
        assert (task.worker_id, task.lock_expiration_time) == (WORKER, at(LOCK))

    def test_fetch_lock_takes_over_a_lock_expiring_now(self):
        """Another worker may fetch a task whose lock expires exactly now; worker and expiry are replaced."""
        task = locked_task()

        task.fetch_lock(OTHER, 500, at(LOCK))

        assert names(task) == ["Locked"]
        assert (task.worker_id, task.lock_expiration_time) == (OTHER, at(LOCK + 500))

    def test_fetch_lock_refuses_a_task_that_is_not_available(self):
        """A task still locked is not available for fetching."""
        task = locked_task()
        with refused(task, LockedByOtherWorker):
            task.fetch_lock(OTHER, LOCK, at(LOCK - 1))

    @pytest.mark.parametrize("duration", [0, -1])
    def test_fetch_lock_needs_a_positive_duration(self, duration):
        """'lockTime is not greater than 0'."""
        task = new_task()
        with refused(task, InvalidArgument, "lockTime is not greater than 0"):
            task.fetch_lock(WORKER, duration, NOW)

    def test_fetch_lock_needs_a_worker(self):
        """'workerId is null'."""
        task = new_task()
        with refused(task, InvalidArgument, "workerId is null", "NullValueException"):
            task.fetch_lock(None, LOCK, NOW)


class TestLock:
    def test_lock_an_unlocked_task(self):
        """Explicit lock sets the worker and expiry = now + duration."""
        task = new_task()

        task.lock(WORKER, LOCK, NOW)

        assert names(task) == ["Locked"]
        assert (task.worker_id, task.lock_expiration_time) == (WORKER, at(LOCK))

    def test_lock_refused_while_another_worker_holds_it(self):
        """Another worker's unexpired lock refuses the lock, naming both workers."""
        task = locked_task()
        with refused(
            task, LockedByOtherWorker,
            f"External Task {task.id} cannot be locked by worker '{OTHER}'. It is locked by worker '{WORKER}'.",
            "RestException",
        ):
            task.lock(OTHER, LOCK, at(LOCK - 1))

    def test_a_lock_expiring_now_still_refuses_other_workers(self):
        """For lock, expiry == now still counts as locked."""
        task = locked_task()
        with refused(task, LockedByOtherWorker):
            task.lock(OTHER, LOCK, at(LOCK))

    def test_an_expired_lock_can_be_taken(self):
        """One millisecond after expiry another worker takes the lock."""
        task = locked_task()

        task.lock(OTHER, LOCK, at(LOCK + 1))

        assert names(task) == ["Locked"]
        assert (task.worker_id, task.lock_expiration_time) == (OTHER, at(2 * LOCK + 1))

    def test_the_holder_may_lock_again(self):
        """The same worker relocks: the expiry moves to now + the new duration."""
        task = locked_task()

        task.lock(WORKER, 2 * LOCK, at(1000))

        assert names(task) == ["Locked"]
        assert task.lock_expiration_time == at(1000 + 2 * LOCK)

    def test_lock_ignores_suspension_and_retries(self):
        """lock has neither a suspension nor a retries check."""
        task = new_task()
        task.set_retries(0, NOW)
        task.suspend(NOW)
        task.collect_events()

        task.lock(WORKER, LOCK, NOW)

        assert names(task) == ["Locked"]

    @pytest.mark.parametrize("duration", [0, -1, None])
    def test_lock_needs_a_positive_duration_checked_first(self, duration):
        """'lockDuration is not greater than 0' (RestException), checked even before the worker."""
        task = new_task()
        with refused(task, InvalidArgument, "lockDuration is not greater than 0", "RestException"):
            task.lock(None, duration, NOW)

    def test_lock_needs_a_worker(self):
        """'workerId is null'."""
        task = new_task()
        with refused(task, InvalidArgument, "workerId is null", "NullValueException"):
            task.lock(None, LOCK, NOW)


class TestComplete:
    def test_the_holder_completes(self):
        """Completed by the holder: the task is removed and keeps the completion's local variables."""
        task = locked_task()
        local = {"abc": {"type": "String", "value": "bar", "valueInfo": {}}}

        task.complete(WORKER, at(1), local)

        [completed] = task.collect_events()
        assert type(completed).__name__ == "Completed"
        assert (completed.worker_id, completed.local_variables) == (WORKER, local)
        assert task.is_removed and task.end_state == "completed"
        assert task.local_variables == local

    def test_the_holder_completes_after_expiry(self):
        """Expiry is not checked: the last locker completes long after its lock expired."""
        task = locked_task()
        task.complete(WORKER, at(LOCK * 100))
        assert names(task) == ["Completed"]

    def test_another_worker_cannot_complete(self):
        """The worker check names both workers."""
        task = locked_task()
        with refused(
            task, LockedByOtherWorker,
            f"External Task {task.id} cannot be completed by worker '{OTHER}'. It is locked by worker '{WORKER}'.",
            "RestException",
        ):
            task.complete(OTHER, NOW)

    def test_a_never_locked_task_is_locked_by_null(self):
        """Without a locker the message says 'null'."""
        task = new_task()
        with refused(task, LockedByOtherWorker,
                     f"External Task {task.id} cannot be completed by worker '{WORKER}'. "
                     "It is locked by worker 'null'."):
            task.complete(WORKER, NOW)

    def test_complete_needs_a_worker(self):
        """'workerId is null'."""
        task = locked_task()
        with refused(task, InvalidArgument, "workerId is null", "NullValueException"):
            task.complete(None, NOW)

    def test_completion_resolves_an_open_incident(self):
        """Completing with an open incident resolves it first: IncidentResolved, then Completed."""
        task = failed_to_zero()
        incident_id = task.incident_id

        task.complete(WORKER, at(1))

        events = task.collect_events()
        assert [type(e).__name__ for e in events] == ["IncidentResolved", "Completed"]
        assert events[0].incident_id == incident_id
        assert task.incident_id is None


class TestHandleFailure:
    def test_failure_records_message_details_retries_and_pushes_the_lock(self):
        """Failed: message, details, retries; the worker is kept; lock = now + retryTimeout."""
        task = locked_task()

        task.handle_failure(WORKER, at(3000), error_message="boom", error_details="trace", retries=5,
                            retry_timeout=3000)

        [failed] = task.collect_events()
        assert type(failed).__name__ == "Failed"
        assert (failed.worker_id, failed.error_message, failed.error_details) == (WORKER, "boom", "trace")
        assert (failed.retries, failed.retry_timeout, failed.lock_expiration_time) == (5, 3000, at(6000))
        assert (task.worker_id, task.lock_expiration_time, task.retries) == (WORKER, at(6000), 5)
        assert (task.error_message, task.error_details) == ("boom", "trace")
        assert task.incident_id is None

    def test_zero_retry_timeout_makes_the_task_fetchable_at_once(self):
        """retryTimeout 0: lock = now, so fetchable now."""
        task = locked_task()
        task.handle_failure(WORKER, at(10), retries=1, retry_timeout=0)
        assert task.lock_expiration_time == at(10) and task.is_fetchable(at(10))

    def test_message_is_cut_to_666_characters(self):
        """The message is truncated to 666 characters; the details are kept whole."""
        task = locked_task()
        long_message, long_details = "m" * 1000, "d" * 10_000

        task.handle_failure(WORKER, NOW, error_message=long_message, error_details=long_details, retries=1)

        [failed] = task.collect_events()
        assert ERROR_MESSAGE_MAX_LENGTH == 666
        assert failed.error_message == "m" * 666 and task.error_message == "m" * 666
        assert task.error_details == long_details

    def test_a_message_of_666_characters_is_kept(self):
        """Exactly 666 characters are not cut."""
        task = locked_task()
        task.handle_failure(WORKER, NOW, error_message="x" * 666, retries=1)
        assert task.error_message == "x" * 666

    def test_null_message_and_details(self):
        """A null message overwrites the previous one; null details keep the previous details."""
        task = locked_task()
        task.handle_failure(WORKER, NOW, error_message="first", error_details="d1", retries=2)

        task.handle_failure(WORKER, at(1), error_message=None, error_details=None, retries=1)

        assert (task.error_message, task.error_details) == (None, "d1")

    def test_new_details_replace_the_old_ones(self):
        """Details sent with a later failure replace the earlier ones."""
        task = locked_task()
        task.handle_failure(WORKER, NOW, error_details="d1", retries=2)
        task.handle_failure(WORKER, at(1), error_details="d2", retries=1)
        assert task.error_details == "d2"

    def test_failure_keeps_local_variables_on_the_task(self):
        """Local variables of a failure are kept on the task."""
        task = locked_task()
        local = {"n": {"type": "Integer", "value": 1, "valueInfo": {}}}
        task.handle_failure(WORKER, NOW, retries=1, local_variables=local)
        assert task.local_variables == local

    def test_the_failing_worker_may_still_complete(self):
        """The worker is kept after a failure, so it can complete without fetching again."""
        task = locked_task()
        task.handle_failure(WORKER, NOW, retries=1, retry_timeout=0)
        task.collect_events()
        task.complete(WORKER, at(LOCK * 10))
        assert names(task) == ["Completed"]

    def test_another_worker_cannot_report_a_failure(self):
        """The worker check names both workers."""
        task = locked_task()
        with refused(
            task, LockedByOtherWorker,
            f"Failure of External Task {task.id} cannot be reported by worker '{OTHER}'. "
            f"It is locked by worker '{WORKER}'.",
        ):
            task.handle_failure(OTHER, NOW, retries=1)

    @pytest.mark.parametrize(
        ("worker", "retries", "timeout", "message", "camunda_type"),
        [
            (None, 1, 0, "workerId is null", "NullValueException"),
            (WORKER, -1, 0, "retries is not greater than or equal to 0", "ProcessEngineException"),
            (WORKER, 1, -1, "retryDuration is not greater than or equal to 0", "ProcessEngineException"),
        ],
    )
    def test_failure_arguments(self, worker, retries, timeout, message, camunda_type):
        """Null worker, negative retries and negative retry timeout are refused with Camunda's messages."""
        task = locked_task()
        with refused(task, InvalidArgument, message, camunda_type):
            task.handle_failure(worker, NOW, retries=retries, retry_timeout=timeout)


class TestIncidents:
    def test_incident_on_the_transition_from_null_to_zero(self):
        """The first failure with 0 retries: Failed then IncidentCreated with the (cut) message."""
        task = locked_task()

        task.handle_failure(WORKER, at(5), error_message="e" * 700, retries=0)

        events = task.collect_events()
        assert [type(e).__name__ for e in events] == ["Failed", "IncidentCreated"]
        created = events[1]
        assert created.incident_message == "e" * 666
        assert created.incident_id == str(uuid5(task.id, f"incident/{events[1].originator_version}"))
        assert (task.incident_id, task.incident_message, task.incident_time) == (created.incident_id, "e" * 666,
                                                                                 at(5))

    def test_incident_on_the_transition_from_positive_to_zero(self):
        """Retries 2 then 0: an incident."""
        task = locked_task()
        task.handle_failure(WORKER, NOW, retries=2)
        task.collect_events()

        task.handle_failure(WORKER, at(1), retries=0)

        assert names(task) == ["Failed", "IncidentCreated"]

    def test_no_second_incident_when_failing_again_at_zero(self):
        """Failing again while at 0 retries raises no new incident and keeps the open one."""
        task = failed_to_zero()
        incident_id = task.incident_id

        task.handle_failure(WORKER, at(1), error_message="again", retries=0)

        assert names(task) == ["Failed"]
        assert task.incident_id == incident_id

    def test_failure_with_retries_from_zero_resolves_the_incident(self):
        """From 0 to > 0 by a failure: Failed then IncidentResolved."""
        task = failed_to_zero()
        incident_id = task.incident_id

        task.handle_failure(WORKER, at(1), retries=3)

        events = task.collect_events()
        assert [type(e).__name__ for e in events] == ["Failed", "IncidentResolved"]
        assert events[1].incident_id == incident_id
        assert task.incident_id is None

    def test_a_new_incident_after_resolution_has_a_new_id(self):
        """fail(0), setRetries(1), fail(0): two different incidents."""
        task = failed_to_zero()
        first = task.incident_id
        task.set_retries(1, at(1))
        task.handle_failure(WORKER, at(2), retries=0)
        assert task.incident_id not in (None, first)


class TestSetRetries:
    def test_set_retries(self):
        """RetriesSet changes retries only: lock and worker stay."""
        task = locked_task()

        task.set_retries(5, at(1))

        assert names(task) == ["RetriesSet"]
        assert (task.retries, task.worker_id, task.lock_expiration_time) == (5, WORKER, at(LOCK))

    def test_set_retries_to_zero_on_a_fresh_task_creates_an_incident_with_a_null_message(self):
        """From null to 0: RetriesSet then IncidentCreated; the message is the task's (null) error message."""
        task = new_task()

        task.set_retries(0, NOW)

        events = task.collect_events()
        assert [type(e).__name__ for e in events] == ["RetriesSet", "IncidentCreated"]
        assert events[1].incident_message is None

    def test_set_retries_to_zero_uses_the_last_failure_message(self):
        """The incident message is the task's current error message."""
        task = locked_task()
        task.handle_failure(WORKER, NOW, error_message="last", retries=2)
        task.collect_events()

        task.set_retries(0, at(1))

        assert task.collect_events()[1].incident_message == "last"

    def test_set_retries_to_zero_twice(self):
        """Already 0: no second incident."""
        task = new_task()
        task.set_retries(0, NOW)
        task.collect_events()

        task.set_retries(0, at(1))

        assert names(task) == ["RetriesSet"]

    def test_set_retries_above_zero_resolves_the_incident_but_keeps_the_lock(self):
        """From 0 to > 0: RetriesSet then IncidentResolved; the retry-timeout lock stays."""
        task = locked_task()
        task.handle_failure(WORKER, NOW, retries=0, retry_timeout=LOCK)
        task.collect_events()

        task.set_retries(5, at(1))

        assert names(task) == ["RetriesSet", "IncidentResolved"]
        assert task.lock_expiration_time == at(LOCK)
        assert not task.is_fetchable(at(1)) and task.is_fetchable(at(LOCK))

    def test_set_retries_from_positive_to_positive(self):
        """No incident change between positive values."""
        task = new_task()
        task.set_retries(3, NOW)
        task.collect_events()
        task.set_retries(1, at(1))
        assert names(task) == ["RetriesSet"]

    @pytest.mark.parametrize("retries", [-1, None])
    def test_retries_must_not_be_negative(self, retries):
        """'The number of retries cannot be negative: ...' (BadUserRequestException)."""
        task = new_task()
        with refused(
            task, InvalidArgument,
            "The number of retries cannot be negative: retries is not greater than or equal to 0",
            "BadUserRequestException",
        ):
            task.set_retries(retries, NOW)


class TestBpmnError:
    def test_the_holder_throws_a_bpmn_error(self):
        """BpmnErrorThrown carries code, message and variables; the task is removed."""
        task = locked_task()
        variables = {"foo": {"type": "String", "value": "bar", "valueInfo": {}}}

        task.handle_bpmn_error(WORKER, "ERROR-OCCURED", at(1), error_message="why", variables=variables)

        [thrown] = task.collect_events()
        assert type(thrown).__name__ == "BpmnErrorThrown"
        assert (thrown.worker_id, thrown.error_code, thrown.error_message) == (WORKER, "ERROR-OCCURED", "why")
        assert thrown.variables == variables
        assert task.is_removed and task.end_state == "bpmnError"

    def test_a_bpmn_error_drops_the_open_incident_without_resolving_it(self):
        """An open incident is deleted with the task: no IncidentResolved event."""
        task = failed_to_zero()

        task.handle_bpmn_error(WORKER, "E", at(1))

        assert names(task) == ["BpmnErrorThrown"]
        assert task.incident_id is None

    def test_after_expiry_by_the_same_worker(self):
        """Expiry is not checked for a BPMN error either."""
        task = locked_task()
        task.handle_bpmn_error(WORKER, "E", at(LOCK * 2))
        assert names(task) == ["BpmnErrorThrown"]

    def test_another_worker_cannot_throw(self):
        """The worker check names both workers."""
        task = locked_task()
        with refused(
            task, LockedByOtherWorker,
            f"Bpmn error of External Task {task.id} cannot be reported by worker '{OTHER}'. "
            f"It is locked by worker '{WORKER}'.",
        ):
            task.handle_bpmn_error(OTHER, "E", NOW)

    @pytest.mark.parametrize(("worker", "code", "message"), [(None, "E", "workerId is null"),
                                                               (WORKER, None, "errorCode is null")])
    def test_worker_and_code_are_required(self, worker, code, message):
        """Null worker or error code: NullValueException."""
        task = locked_task()
        with refused(task, InvalidArgument, message, "NullValueException"):
            task.handle_bpmn_error(worker, code, NOW)


class TestExtendLock:
    def test_the_holder_extends_to_now_plus_the_new_duration(self):
        """LockExtended: expiry = now + newDuration, not old expiry + newDuration."""
        task = locked_task()

        task.extend_lock(WORKER, 500, at(2000))

        [extended] = task.collect_events()
        assert type(extended).__name__ == "LockExtended"
        assert extended.lock_expiration_time == at(2500) == task.lock_expiration_time
        assert task.worker_id == WORKER

    def test_a_lock_expiring_now_can_be_extended(self):
        """expiry == now is still unexpired for extendLock."""
        task = locked_task()
        task.extend_lock(WORKER, 500, at(LOCK))
        assert task.lock_expiration_time == at(LOCK + 500)

    def test_an_expired_lock_cannot_be_extended(self):
        """'Cannot extend a lock that expired: ... <nowMillis>'."""
        task = locked_task()
        now = at(LOCK + 1)
        with refused(
            task, LockExpired,
            f"Cannot extend a lock that expired: lockExpirationTime is not greater than or equal to {epoch_millis(now)}",
            "RestException",
        ):
            task.extend_lock(WORKER, 500, now)

    def test_another_worker_cannot_extend(self):
        """The message keeps Camunda's doubled quote."""
        task = locked_task()
        with refused(
            task, LockedByOtherWorker,
            f"The lock of the External Task {task.id} cannot be extended by worker '{OTHER}''. "
            f"It is locked by worker '{WORKER}'.",
        ):
            task.extend_lock(OTHER, 500, NOW)

    def test_a_never_locked_task_cannot_be_extended(self):
        """Worker mismatch against 'null'."""
        task = new_task()
        with refused(task, LockedByOtherWorker,
                     f"The lock of the External Task {task.id} cannot be extended by worker '{WORKER}''. "
                     "It is locked by worker 'null'."):
            task.extend_lock(WORKER, 500, NOW)

    @pytest.mark.parametrize("duration", [0, -1, None])
    def test_the_new_duration_must_be_positive(self, duration):
        """'lockTime is not greater than 0' (RestException)."""
        task = locked_task()
        with refused(task, InvalidArgument, "lockTime is not greater than 0", "RestException"):
            task.extend_lock(WORKER, duration, NOW)

    def test_extend_needs_a_worker(self):
        """'workerId is null'."""
        task = locked_task()
        with refused(task, InvalidArgument, "workerId is null", "NullValueException"):
            task.extend_lock(None, 500, NOW)

    def test_the_failing_worker_can_extend_its_retry_timeout_lock(self):
        """A failure keeps the worker and sets a lock, which that worker may extend."""
        task = locked_task()
        task.handle_failure(WORKER, NOW, retries=1, retry_timeout=1000)
        task.collect_events()
        task.extend_lock(WORKER, LOCK, at(500))
        assert task.lock_expiration_time == at(500 + LOCK)

    def test_checks_come_in_camundas_order(self):
        """Worker before expiry before suspension."""
        task = locked_task()
        task.suspend(NOW)
        task.collect_events()

        with refused(task, LockedByOtherWorker):
            task.extend_lock(OTHER, 500, at(LOCK + 1))
        with refused(task, LockExpired):
            task.extend_lock(WORKER, 500, at(LOCK + 1))
        with refused(task, TaskSuspended):
            task.extend_lock(WORKER, 500, at(LOCK))


class TestUnlock:
    def test_unlock_clears_worker_and_lock(self):
        """Unlocked: no worker, no lock; retries untouched; fetchable again."""
        task = locked_task()
        task.set_retries(3, NOW)
        task.collect_events()

        task.unlock(at(1))

        assert names(task) == ["Unlocked"]
        assert (task.worker_id, task.lock_expiration_time, task.retries) == (None, None, 3)
        assert task.is_fetchable(at(1))

    def test_the_former_worker_no_longer_holds_the_task(self):
        """After unlock, complete by the former worker is a mismatch against 'null'."""
        task = locked_task()
        task.unlock(NOW)
        task.collect_events()
        with refused(task, LockedByOtherWorker, f"External Task {task.id} cannot be completed by worker "
                                                f"'{WORKER}'. It is locked by worker 'null'."):
            task.complete(WORKER, NOW)


class TestPriority:
    def test_set_priority(self):
        """PrioritySet changes the priority only (negative allowed)."""
        task = locked_task()

        task.set_priority(-4, at(1))

        assert names(task) == ["PrioritySet"]
        assert (task.priority, task.worker_id, task.lock_expiration_time) == (-4, WORKER, at(LOCK))

    def test_priority_is_required(self):
        """'priority is null'."""
        task = new_task()
        with refused(task, InvalidArgument, "priority is null", "NullValueException"):
            task.set_priority(None, NOW)


class TestSuspension:
    def test_suspend_and_activate_emit_once(self):
        """Suspended / Activated only on a real change."""
        task = new_task()

        task.suspend(NOW)
        task.suspend(at(1))
        assert names(task) == ["Suspended"] and task.suspended

        task.activate(at(2))
        task.activate(at(3))
        assert names(task) == ["Activated"] and not task.suspended

    @pytest.mark.parametrize(
        "command",
        [
            lambda t: t.complete(WORKER, NOW),
            lambda t: t.handle_failure(WORKER, NOW, retries=1),
            lambda t: t.handle_bpmn_error(WORKER, "E", NOW),
            lambda t: t.extend_lock(WORKER, 500, NOW),
        ],
        ids=["complete", "failure", "bpmnError", "extendLock"],
    )
    def test_suspension_blocks_worker_commands(self, command):
        """complete, failure, BPMN error and extendLock: 'ENGINE-03043 ExternalTask with id ... is suspended.'"""
        task = locked_task()
        task.suspend(NOW)
        task.collect_events()
        with refused(task, TaskSuspended, f"ENGINE-03043 ExternalTask with id '{task.id}' is suspended.",
                     "RestException"):
            command(task)

    def test_the_worker_check_comes_before_suspension(self):
        """A wrong worker on a suspended task is told about the worker."""
        task = locked_task()
        task.suspend(NOW)
        task.collect_events()
        with refused(task, LockedByOtherWorker):
            task.complete(OTHER, NOW)

    def test_suspension_allows_lock_unlock_retries_and_priority(self):
        """lock, unlock, setRetries and setPriority work on a suspended task."""
        task = new_task()
        task.suspend(NOW)
        task.collect_events()

        task.lock(WORKER, LOCK, NOW)
        task.unlock(at(1))
        task.set_retries(2, at(2))
        task.set_priority(5, at(3))

        assert names(task) == ["Locked", "Unlocked", "RetriesSet", "PrioritySet"]
        assert task.suspended

    def test_activation_keeps_the_lock(self):
        """Activation does not touch the lock."""
        task = locked_task()
        task.suspend(NOW)
        task.activate(at(1))
        assert (task.worker_id, task.lock_expiration_time) == (WORKER, at(LOCK))


class TestDeletion:
    def test_delete(self):
        """Deleted carries the reason; the task is removed and its incident dropped without resolution."""
        task = failed_to_zero()

        task.delete(at(1), "process instance deleted")

        [deleted] = task.collect_events()
        assert type(deleted).__name__ == "Deleted" and deleted.reason == "process instance deleted"
        assert task.is_removed and task.end_state == "deleted" and task.incident_id is None

    def test_delete_is_idempotent(self):
        """Deleting a removed task emits nothing."""
        task = new_task()
        task.delete(NOW)
        task.collect_events()
        task.delete(at(1))
        assert task.collect_events() == []

    def test_delete_ignores_suspension(self):
        """A suspended task can be deleted."""
        task = new_task()
        task.suspend(NOW)
        task.collect_events()
        task.delete(at(1))
        assert names(task) == ["Deleted"]


class TestNumberRanges:
    """Camunda's retries are a Java int and its priority a Java long; durations must fit the calendar."""

    @pytest.mark.parametrize(
        "command",
        [
            lambda t: t.set_retries(2**31, NOW),
            lambda t: t.handle_failure(WORKER, NOW, retries=2**31),
            lambda t: t.set_priority(2**63, NOW),
            lambda t: t.lock(WORKER, 10**15, NOW),
            lambda t: t.extend_lock(WORKER, 10**15, NOW),
            lambda t: t.handle_failure(WORKER, NOW, retries=1, retry_timeout=10**15),
        ],
        ids=["retries", "failure retries", "priority", "lock", "extendLock", "retryTimeout"],
    )
    def test_out_of_range_numbers_are_invalid_arguments(self, command):
        """Out-of-range numbers are refused as invalid arguments (never a raw OverflowError), with no event."""
        task = locked_task()
        with refused(task, InvalidArgument):
            command(task)

    def test_the_java_limits_themselves_are_accepted(self):
        """2**31 - 1 retries and a priority of 2**63 - 1 are fine."""
        task = locked_task()
        task.set_retries(2**31 - 1, NOW)
        task.set_priority(2**63 - 1, NOW)
        assert (task.retries, task.priority) == (2**31 - 1, 2**63 - 1)

    @pytest.mark.parametrize("fields", [{"retries": 2**31}, {"priority": -(2**63) - 1}])
    def test_creation_checks_the_ranges_too(self, fields):
        """Initial retries and priority are range-checked at creation."""
        with pytest.raises(InvalidArgument):
            ExternalTask.create(now=NOW, topic_name="t", process_instance_id="pi", **fields)


def _complete(task):
    task.complete(WORKER, NOW)


def _bpmn(task):
    task.handle_bpmn_error(WORKER, "E", NOW)


def _delete(task):
    task.delete(NOW)


class TestRemovedTasksRefuseCommands:
    @pytest.mark.parametrize("ending", [_complete, _bpmn, _delete], ids=["completed", "bpmnError", "deleted"])
    @pytest.mark.parametrize(
        "command",
        [
            lambda t: t.complete(WORKER, at(1)),
            lambda t: t.handle_failure(WORKER, at(1), retries=1),
            lambda t: t.handle_bpmn_error(WORKER, "E", at(1)),
            lambda t: t.lock(WORKER, LOCK, at(1)),
            lambda t: t.extend_lock(WORKER, LOCK, at(1)),
            lambda t: t.unlock(at(1)),
            lambda t: t.set_retries(1, at(1)),
            lambda t: t.set_priority(1, at(1)),
            lambda t: t.suspend(at(1)),
            lambda t: t.activate(at(1)),
        ],
        ids=["complete", "failure", "bpmnError", "lock", "extendLock", "unlock", "setRetries", "setPriority",
             "suspend", "activate"],
    )
    def test_a_removed_task_refuses_every_command(self, ending, command):
        """After completion, BPMN error or deletion every command is 'External task with id ... does not exist'."""
        task = locked_task()
        ending(task)
        task.collect_events()
        with refused(task, TaskRemoved, f"External task with id {task.id} does not exist", "RestException"):
            command(task)


def test_epoch_millis_is_exact():
    """epoch_millis uses integer arithmetic (no float rounding of .123 s)."""
    moment = datetime(2025, 1, 2, 3, 4, 5, 123000, tzinfo=timezone.utc)
    assert epoch_millis(moment) == 1735787045123


class TestIncidentAnnotation:
    def test_an_open_incident_can_be_annotated_and_cleared(self):
        """The note is an IncidentAnnotated event; None clears it."""
        task = failed_to_zero()

        task.annotate_incident(task.incident_id, "waiting for the vendor", at(1))
        assert names(task) == ["IncidentAnnotated"]
        assert task.incident_annotation == "waiting for the vendor"

        task.annotate_incident(task.incident_id, None, at(2))
        assert task.incident_annotation is None

    def test_a_new_incident_starts_without_the_old_note(self):
        task = failed_to_zero()
        task.annotate_incident(task.incident_id, "old", NOW)
        task.set_retries(1, NOW)
        task.handle_failure(WORKER, NOW, error_message="again", retries=0)

        assert task.incident_annotation is None

    def test_only_the_open_incident_can_be_annotated(self):
        task = locked_task()
        with refused(task, NoOpenIncident, "Cannot find an incident with id 'x': incident is null"):
            task.annotate_incident("x", "note", NOW)
