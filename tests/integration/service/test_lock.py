"""Explicit lock of one task by id (Camunda 7.15+, spec 2.5 and 3.4).

Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #47-#55).
"""

from __future__ import annotations

from datetime import timedelta

from extask.application.errors import BadRequest, Conflict, NotFound

from .helpers import LOCK_TIME, WORKER_ID, fetch, raises

A_SECOND_WORKER_ID = "aSecondWorkerId"


class TestLock:
    # 5.1 #47
    def test_should_lock_external_task(self, service, clock, task):
        """An explicit lock sets the worker and expiry = now + duration; the task is then locked."""
        service.lock(task.id, WORKER_ID, LOCK_TIME)

        locked = service.get_task(task.id)
        assert locked.worker_id == WORKER_ID
        assert locked.lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)
        assert fetch(service, worker=A_SECOND_WORKER_ID) == []

    # 5.1 #48
    def test_should_lock_external_task_with_expired_lock(self, service, clock, task):
        """After a lock expired another worker can lock the task; worker and expiry are replaced."""
        service.lock(task.id, WORKER_ID, LOCK_TIME)
        clock.advance(milliseconds=LOCK_TIME + 1000)

        service.lock(task.id, A_SECOND_WORKER_ID, LOCK_TIME)

        locked = service.get_task(task.id)
        assert locked.worker_id == A_SECOND_WORKER_ID
        assert locked.lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)

    # 5.1 #49
    def test_should_lock_already_locked_external_task_with_same_worker(self, service, clock, task):
        """The holder may lock again with a longer duration; the expiry moves to now + the new duration."""
        service.lock(task.id, WORKER_ID, LOCK_TIME)
        first_expiry = service.get_task(task.id).lock_expiration_time

        clock.advance(milliseconds=1000)
        service.lock(task.id, WORKER_ID, LOCK_TIME * 2)

        second_expiry = service.get_task(task.id).lock_expiration_time
        assert second_expiry == clock.now + timedelta(milliseconds=LOCK_TIME * 2)
        assert second_expiry > first_expiry

    # 5.1 #50
    def test_should_fail_to_lock_already_locked_external_task(self, service, task):
        """Another worker cannot lock a task with a valid lock; the error names both workers."""
        service.lock(task.id, WORKER_ID, LOCK_TIME)

        with raises(
            Conflict,
            f"External Task {task.id} cannot be locked by worker '{A_SECOND_WORKER_ID}'. "
            f"It is locked by worker '{WORKER_ID}'.",
            "RestException",
        ):
            service.lock(task.id, A_SECOND_WORKER_ID, LOCK_TIME)
        assert service.get_task(task.id).worker_id == WORKER_ID

    def test_lock_expiring_now_still_counts_as_locked(self, service, clock, task):
        """For lock a lock expiring exactly now is still held (now <= expiry); one millisecond later it is not."""
        service.lock(task.id, WORKER_ID, LOCK_TIME)
        clock.advance(milliseconds=LOCK_TIME)

        with raises(Conflict, camunda_type="RestException"):
            service.lock(task.id, A_SECOND_WORKER_ID, LOCK_TIME)

        clock.advance(milliseconds=1)
        service.lock(task.id, A_SECOND_WORKER_ID, LOCK_TIME)
        assert service.get_task(task.id).worker_id == A_SECOND_WORKER_ID

    def test_lock_ignores_retries_and_fetchability(self, service, clock, task):
        """lock has no retries check: a task without retries left can be locked (spec 2.5)."""
        service.set_retries(task.id, 0)

        service.lock(task.id, WORKER_ID, LOCK_TIME)

        assert service.get_task(task.id).lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)

    # 5.1 #51
    def test_should_report_missing_worker_id_on_lock_external_task(self, service, task):
        """Locking without a worker id is refused: 'workerId is null'."""
        with raises(BadRequest, "workerId is null", "NullValueException"):
            service.lock(task.id, None, LOCK_TIME)  # type: ignore[arg-type]

    # 5.1 #52
    def test_should_report_missing_external_task_id_on_lock_external_task(self, service, task):
        """Locking without a task id reports that the task does not exist."""
        with raises(NotFound, camunda_type="RestException"):
            service.lock(None, WORKER_ID, LOCK_TIME)  # type: ignore[arg-type]

    # 5.1 #53
    def test_should_report_nonexistent_external_task_id_on_lock_external_task(self, service, task):
        """Locking an unknown task id is 'not found'."""
        with raises(NotFound, "External task with id fakeExternalTaskId does not exist", "RestException"):
            service.lock("fakeExternalTaskId", WORKER_ID, LOCK_TIME)

    # 5.1 #54
    def test_should_fail_to_lock_external_task_with_null_lock_duration(self, service):
        """A zero lock duration is refused before the task is even looked up."""
        with raises(BadRequest, "lockDuration is not greater than 0", "RestException"):
            service.lock("fakeExternalTaskId", WORKER_ID, 0)

    # 5.1 #55
    def test_should_fail_to_lock_external_task_with_negative_lock_duration(self, service):
        """A negative lock duration is refused before the task is even looked up."""
        with raises(BadRequest, "lockDuration is not greater than 0", "RestException"):
            service.lock("fakeExternalTaskId", WORKER_ID, -1)
