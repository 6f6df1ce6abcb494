"""handleFailure: error message and details, retries, retry timeout, worker kept (spec 2.7, 3.6).

Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #97, #98, #103-#109).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from extask.application.errors import BadRequest, Conflict, NotFound

from .helpers import ANOTHER_WORKER_ID, LOCK_TIME, WORKER_ID, fetch, ids, incidents, raises


class TestHandleFailure:
    # 5.1 #97
    def test_handle_failure(self, service, clock, task):
        """A failure with retries left blocks fetching for retryTimeout, raises no incident, then the task is back."""
        fetch(service, max_tasks=5)
        clock.advance(milliseconds=3000)

        service.handle_failure(task.id, WORKER_ID, error_message="errorMessage", retries=5, retry_timeout=3000)

        assert fetch(service, max_tasks=5) == []
        assert incidents(service) == []

        clock.advance(milliseconds=3000)  # the retry timeout has just expired
        locked = fetch(service, max_tasks=5)
        assert ids(locked) == [task.id]
        assert locked[0].task.error_message == "errorMessage"
        assert locked[0].task.retries == 5

    def test_handle_failure_keeps_the_worker_and_locks_until_now_plus_retry_timeout(self, service, clock, locked):
        """The failing worker stays the task's worker; the lock expires at now + retryTimeout."""
        clock.advance(milliseconds=1500)

        service.handle_failure(locked.task.id, WORKER_ID, error_message="e", retries=2, retry_timeout=2500)

        task = service.get_task(locked.task.id)
        assert task.worker_id == WORKER_ID
        assert task.lock_expiration_time == clock.now + timedelta(milliseconds=2500)
        assert task.retries == 2

    def test_handle_failure_with_zero_retry_timeout_is_fetchable_at_once(self, service, locked):
        """retryTimeout 0 makes the task immediately fetchable by anyone."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="e", retries=1, retry_timeout=0)

        fetched = fetch(service, worker=ANOTHER_WORKER_ID)
        assert ids(fetched) == [locked.task.id]
        assert fetched[0].task.worker_id == ANOTHER_WORKER_ID

    def test_the_failing_worker_can_report_again_without_refetching(self, service, locked):
        """Failure keeps the worker, so it may report another failure or complete without fetching again."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="first", retries=2, retry_timeout=LOCK_TIME)
        service.handle_failure(locked.task.id, WORKER_ID, error_message="second", retries=1, retry_timeout=LOCK_TIME)

        task = service.get_task(locked.task.id)
        assert (task.error_message, task.retries) == ("second", 1)

    # 5.1 #98
    def test_handle_failure_with_error_details(self, service, clock, task):
        """A long message is cut to 666 characters; the full details are kept and handed out with the task."""
        fetch(service, max_tasks=5)
        clock.advance(milliseconds=3000)
        error_message = ":".join(["org.apache.ibatis.jdbc.RuntimeSqlException: test cause"] * 20)[:1000]
        stack_trace = "\n".join(f"\tat org.example.Frame{i}.call(Frame.java:{i})" for i in range(200))
        assert len(error_message) == 1000 and len(stack_trace) > 4000

        service.handle_failure(task.id, WORKER_ID, error_message=error_message, error_details=stack_trace,
                               retries=5, retry_timeout=3000)
        clock.advance(milliseconds=3000)
        locked = fetch(service, max_tasks=5)

        assert len(locked) == 1
        assert locked[0].task.error_message == error_message[:666]
        assert locked[0].task.retries == 5
        assert service.get_error_details(task.id) == stack_trace
        assert locked[0].error_details == stack_trace

    def test_handle_failure_without_details_keeps_the_previous_details(self, service, locked):
        """Error details are replaced only when new ones are sent; the message is always overwritten."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="first", error_details="details 1",
                               retries=2)
        service.handle_failure(locked.task.id, WORKER_ID, error_message="second", retries=1)

        assert service.get_error_details(locked.task.id) == "details 1"
        assert service.get_task(locked.task.id).error_message == "second"

    def test_get_error_details_of_unknown_task(self, service):
        """Error details of an unknown task: Camunda's NullValueException message (spec 2.14)."""
        with raises(NotFound, "No external task found with id unknown: externalTask is null", "NullValueException"):
            service.get_error_details("unknown")

    # 5.1 #103
    def test_handle_failure_with_wrong_worker_id(self, service, locked):
        """Another worker cannot report a failure; the error names both workers."""
        with raises(
            Conflict,
            f"Failure of External Task {locked.task.id} cannot be reported by worker 'someCrazyWorkerId'. "
            f"It is locked by worker '{WORKER_ID}'.",
            "RestException",
        ):
            service.handle_failure(locked.task.id, "someCrazyWorkerId", error_message="error", retries=5,
                                   retry_timeout=LOCK_TIME)

    # 5.1 #104
    def test_handle_failure_non_existing_task(self, service):
        """Reporting a failure of an unknown task is 'not found'."""
        with raises(NotFound, "External task with id nonExistingTaskId does not exist", "RestException"):
            service.handle_failure("nonExistingTaskId", WORKER_ID, error_message="error", retries=5,
                                   retry_timeout=LOCK_TIME)

    # 5.1 #105
    def test_handle_failure_null_task_id(self, service):
        """Reporting a failure without a task id reports that the task does not exist."""
        with raises(NotFound, camunda_type="RestException"):
            service.handle_failure(None, WORKER_ID, error_message="error", retries=5,  # type: ignore[arg-type]
                                   retry_timeout=LOCK_TIME)

    # 5.1 #106
    def test_handle_failure_null_worker_id(self, service, locked):
        """Reporting a failure without a worker id is refused: 'workerId is null'."""
        with raises(BadRequest, "workerId is null", "NullValueException"):
            service.handle_failure(locked.task.id, None, error_message="error", retries=5,  # type: ignore[arg-type]
                                   retry_timeout=LOCK_TIME)

    # 5.1 #107
    def test_handle_failure_negative_lock_duration(self, service, locked):
        """A negative retry timeout is refused: 'retryDuration is not greater than or equal to 0'."""
        with raises(BadRequest, "retryDuration is not greater than or equal to 0", "ProcessEngineException"):
            service.handle_failure(locked.task.id, WORKER_ID, error_message="error", retries=5,
                                   retry_timeout=-LOCK_TIME)

    # 5.1 #108
    def test_handle_failure_negative_retries(self, service, locked):
        """Negative retries are refused: 'retries is not greater than or equal to 0'."""
        with raises(BadRequest, "retries is not greater than or equal to 0", "ProcessEngineException"):
            service.handle_failure(locked.task.id, WORKER_ID, error_message="error", retries=-5,
                                   retry_timeout=LOCK_TIME)

    @pytest.mark.parametrize("retries", [0, 5])
    def test_handle_failure_validates_arguments_before_looking_up_the_task(self, service, retries):
        """Input validation comes before the existence check (spec 3.4 order)."""
        with raises(BadRequest, "retryDuration is not greater than or equal to 0"):
            service.handle_failure("unknown", WORKER_ID, retries=retries, retry_timeout=-1)

    # 5.1 #109
    def test_handle_failure_null_error_message(self, service, locked):
        """A failure without message is accepted: message and details stay null, retries are set."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message=None, retries=5, retry_timeout=LOCK_TIME)

        task = service.get_task(locked.task.id)
        assert task.retries == 5
        assert task.error_message is None
        assert service.get_error_details(locked.task.id) is None

    def test_handle_failure_with_a_message_of_exactly_666_characters(self, service, locked):
        """A message of exactly 666 characters is kept whole."""
        message = "x" * 666

        service.handle_failure(locked.task.id, WORKER_ID, error_message=message, retries=1)

        assert service.get_task(locked.task.id).error_message == message
