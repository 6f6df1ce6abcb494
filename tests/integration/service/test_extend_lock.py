"""extendLock: only the holder of an unexpired lock, new expiry = now + duration (spec 2.9).

Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #146-#154).
"""

from __future__ import annotations

from datetime import timedelta

from extask.application.errors import BadRequest, Conflict, NotFound

from .helpers import LOCK_TIME, WORKER_ID, create_task, epoch_millis, fetch_one, raises


class TestExtendLock:
    # 5.1 #146
    def test_extend_lock_time(self, service, clock, task):
        """The new expiry is the time of the extend call plus the duration, not the old expiry plus it."""
        clock.advance(milliseconds=-1000)
        locked = fetch_one(service)
        clock.advance(milliseconds=1000)

        service.extend_lock(locked.task.id, WORKER_ID, LOCK_TIME)

        assert service.get_task(locked.task.id).lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)

    def test_extend_lock_expiring_now(self, service, clock, task):
        """A lock that expires exactly now can still be extended (now <= expiry)."""
        locked = fetch_one(service, lock=1)
        clock.advance(milliseconds=1)

        service.extend_lock(locked.task.id, WORKER_ID, 100)

        assert service.get_task(locked.task.id).lock_expiration_time == clock.now + timedelta(milliseconds=100)

    # 5.1 #147
    def test_extend_lock_time_that_expired(self, service, clock, task):
        """An expired lock cannot be extended: 'Cannot extend a lock that expired'."""
        locked = fetch_one(service, lock=1)
        clock.advance(milliseconds=2)

        with raises(
            Conflict,
            "Cannot extend a lock that expired: lockExpirationTime is not greater than or equal to "
            f"{epoch_millis(clock.now)}",
            "RestException",
        ):
            service.extend_lock(locked.task.id, WORKER_ID, 100)

    # 5.1 #148
    def test_extend_lock_time_without_lock(self, service, task):
        """A never locked task cannot be extended: a worker mismatch against 'null'."""
        with raises(
            Conflict,
            f"The lock of the External Task {task.id} cannot be extended by worker '{WORKER_ID}''. "
            "It is locked by worker 'null'.",
            "RestException",
        ):
            service.extend_lock(task.id, WORKER_ID, 100)

    # 5.1 #149
    def test_extend_lock_time_with_null_lock_time(self, service, task):
        """A zero duration is refused: 'lockTime is not greater than 0'."""
        locked = fetch_one(service, lock=1)

        with raises(BadRequest, "lockTime is not greater than 0", "RestException"):
            service.extend_lock(locked.task.id, WORKER_ID, 0)

    # 5.1 #150
    def test_extend_lock_time_with_negative_lock_time(self, service, task):
        """A negative duration is refused: 'lockTime is not greater than 0'."""
        locked = fetch_one(service, lock=1)

        with raises(BadRequest, "lockTime is not greater than 0", "RestException"):
            service.extend_lock(locked.task.id, WORKER_ID, -1)

    # 5.1 #151
    def test_extend_lock_time_with_null_worker_id(self, service, task):
        """Extending without a worker id is refused: 'workerId is null'."""
        locked = fetch_one(service, lock=1)

        with raises(BadRequest, "workerId is null", "NullValueException"):
            service.extend_lock(locked.task.id, None, 100)  # type: ignore[arg-type]

    # 5.1 #152
    def test_extend_lock_time_with_different_worker_id(self, service, task):
        """Another worker cannot extend the lock; the error names both (with Camunda's doubled quote)."""
        locked = fetch_one(service, lock=1)

        with raises(
            Conflict,
            f"The lock of the External Task {task.id} cannot be extended by worker 'anAnotherWorkerId''. "
            f"It is locked by worker '{WORKER_ID}'.",
            "RestException",
        ):
            service.extend_lock(locked.task.id, "anAnotherWorkerId", 100)

    # 5.1 #153
    def test_extend_lock_time_with_null_external_task(self, service, task):
        """Extending without a task id reports that the task does not exist."""
        fetch_one(service, lock=1)

        with raises(NotFound, camunda_type="RestException"):
            service.extend_lock(None, WORKER_ID, 100)  # type: ignore[arg-type]

    # 5.1 #154
    def test_extend_lock_time_for_unexisting_external_task(self, service):
        """Extending an unknown task is 'not found'."""
        with raises(NotFound, "External task with id unexisting does not exist", "RestException"):
            service.extend_lock("unexisting", WORKER_ID, 100)

    def test_extend_lock_checks_the_duration_before_the_task(self, service):
        """The duration is validated before the task is looked up (spec 2.9 order of checks)."""
        with raises(BadRequest, "lockTime is not greater than 0", "RestException"):
            service.extend_lock("unexisting", WORKER_ID, 0)

    def test_extend_lock_after_failure_by_the_same_worker(self, service, clock):
        """A failure keeps the worker, so it can extend the lock the retry timeout set."""
        task = create_task(service)
        fetch_one(service)
        service.handle_failure(task.id, WORKER_ID, error_message="e", retries=1, retry_timeout=5_000)

        service.extend_lock(task.id, WORKER_ID, LOCK_TIME)

        assert service.get_task(task.id).lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)
