"""The historic external-task log: one row per creation, failure, success and deletion, never
updated; a failure row records the retries before that failure and its own error details
(spec 3.10, 3.11, 2.16-2.18).

Ported from Camunda's HistoricExternalTaskLogTest (spec 5.2 #1-#10, all of them).
"""

from __future__ import annotations

from datetime import timedelta


from extask.application.errors import NotFound
from extask.application.queries import HistoricExternalTaskLogQuery

from .helpers import LOCK_TIME, WORKER_ID, create_task, fetch, logs, raises

ERROR_MESSAGE = "This is an error!"
ERROR_DETAILS = "These are the error details!"
LOCK_DURATION = 5 * 60 * 1000
DEFAULT_TOPIC = "foo"


def start_external_task_process(service):
    """Camunda's default external task model: one task on topic 'foo' with full process attributes."""
    return create_task(
        service, topic=DEFAULT_TOPIC, process_definition_key="Process", process_definition_id="Process:1:7",
        activity_id="externalTask", tenant_id="aTenant", priority=3,
    )


def report_failure(service, task_id, error_message=ERROR_MESSAGE, error_details=ERROR_DETAILS):
    fetch(service, topic_name=DEFAULT_TOPIC, lock=LOCK_DURATION, max_tasks=100)
    service.handle_failure(task_id, WORKER_ID, error_message=error_message, error_details=error_details,
                           retries=1, retry_timeout=0)


def complete(service, task_id):
    fetch(service, topic_name=DEFAULT_TOPIC, lock=LOCK_DURATION, max_tasks=100)
    service.complete(task_id, WORKER_ID)


def assert_properties(task, log, *, retries):
    assert log.id
    assert log.timestamp is not None
    assert log.external_task_id == task.id
    assert log.activity_id == task.activity_id
    assert log.activity_instance_id == task.activity_instance_id
    assert log.topic_name == task.topic_name
    assert log.retries == retries
    assert log.execution_id == task.execution_id
    assert log.process_instance_id == task.process_instance_id
    assert log.process_definition_id == task.process_definition_id
    assert log.process_definition_key == task.process_definition_key
    assert log.priority == task.priority
    assert log.tenant_id == task.tenant_id


def state(log):
    return (log.creation_log, log.failure_log, log.success_log, log.deletion_log)


CREATED, FAILED, SUCCESSFUL, DELETED = (
    (True, False, False, False), (False, True, False, False), (False, False, True, False), (False, False, False, True),
)


class TestHistoricExternalTaskLog:
    # 5.2 #1
    def test_historic_external_task_log_create_properties(self, service):
        """The creation log has all task attributes, no worker, timestamp = createTime, creation flag only."""
        task = start_external_task_process(service)

        [log] = logs(service, creation_log=True)

        assert_properties(task, log, retries=None)
        assert log.worker_id is None
        assert log.timestamp == task.create_time
        assert state(log) == CREATED

    # 5.2 #2
    def test_historic_external_task_log_failed_properties(self, service, clock):
        """The failure log has the failing worker, the retries before the failure (null), failure flag only."""
        task = start_external_task_process(service)
        clock.advance(milliseconds=1000)
        report_failure(service, task.id)

        [log] = logs(service, failure_log=True)

        assert_properties(service.get_task(task.id), log, retries=None)
        assert log.worker_id == WORKER_ID
        assert log.error_message == ERROR_MESSAGE
        assert log.timestamp == clock.now
        assert state(log) == FAILED

    # 5.2 #3
    def test_historic_external_task_log_successful_properties(self, service, clock):
        """The success log has the completing worker, success flag only."""
        task = start_external_task_process(service)
        clock.advance(milliseconds=1000)
        complete(service, task.id)

        [log] = logs(service, success_log=True)

        assert_properties(task, log, retries=None)
        assert log.worker_id == WORKER_ID
        assert log.timestamp == clock.now
        assert state(log) == SUCCESSFUL

    # 5.2 #4
    def test_historic_external_task_log_deleted_properties(self, service):
        """Deleting the instance writes a deletion log without worker (never locked), deletion flag only."""
        task = start_external_task_process(service)
        service.delete_process_instance(task.process_instance_id, "Dummy reason for deletion!")

        [log] = logs(service, deletion_log=True)

        assert_properties(task, log, retries=None)
        assert log.worker_id is None
        assert state(log) == DELETED

    # 5.2 #5
    def test_retries_and_worker_id_when_first_failure_and_then_complete(self, service):
        """A success after a failure with retries 1 records retries 1 and the worker."""
        task = start_external_task_process(service)
        report_failure(service, task.id)
        complete(service, task.id)

        [log] = logs(service, success_log=True)

        assert log.worker_id == WORKER_ID
        assert log.retries == 1
        assert state(log) == SUCCESSFUL

    # 5.2 #6
    def test_error_details(self, service):
        """The details of a failure can be read by the failure log's id."""
        task = start_external_task_process(service)
        report_failure(service, task.id)

        [failure] = logs(service, failure_log=True)

        assert service.get_history_log_error_details(failure.id) == ERROR_DETAILS

    # 5.2 #7
    def test_error_details_with_two_different_errors_thrown(self, service, clock):
        """Each failure log keeps its own details."""
        task = start_external_task_process(service)
        report_failure(service, task.id, ERROR_MESSAGE, "Dummy error details!")
        clock.advance(milliseconds=5000)
        report_failure(service, task.id, ERROR_MESSAGE, ERROR_DETAILS)

        first, second = logs(service, failure_log=True, sorting=[("timestamp", "asc")])

        assert service.get_history_log_error_details(first.id) == "Dummy error details!"
        assert service.get_history_log_error_details(second.id) == ERROR_DETAILS

    # 5.2 #8
    def test_get_exception_stacktrace_for_nonexistent_external_task_id(self, service):
        """Error details of an unknown log id: 'No historic external task log found with id foo'."""
        with raises(
            NotFound,
            "No historic external task log found with id foo: historicExternalTaskLog is null",
            "InvalidRequestException",
        ):
            service.get_history_log_error_details("foo")

    # 5.2 #9
    def test_get_exception_stacktrace_for_null_external_task_id(self, service):
        """Error details without a log id are refused: 'historicExternalTaskLogId is null'."""
        with raises(NotFound, "historicExternalTaskLogId is null", "InvalidRequestException"):
            service.get_history_log_error_details(None)  # type: ignore[arg-type]

    # 5.2 #10
    def test_error_message_truncation(self, service):
        """A 1000-character message is stored as its first 666 characters in the failure log."""
        message = "a" * 1000
        task = start_external_task_process(service)
        report_failure(service, task.id, message, ERROR_DETAILS)

        [failure] = logs(service, failure_log=True)

        assert failure.error_message == message[:666]
        assert len(failure.error_message) == 666


class TestHistoricExternalTaskLogExtras:
    def test_full_life_of_a_task_in_order(self, service, clock):
        """Create, fail twice (keeping old details), complete: four rows in order with the right retries and details."""
        task = create_task(service)
        fetch(service)
        clock.advance(milliseconds=1000)
        service.handle_failure(task.id, WORKER_ID, error_message="m1", error_details="d1", retries=2)
        clock.advance(milliseconds=1000)
        service.handle_failure(task.id, WORKER_ID, error_message="m2", retries=1)
        clock.advance(milliseconds=1000)
        service.complete(task.id, WORKER_ID)

        rows = logs(service, external_task_id=task.id)

        assert [state(r) for r in rows] == [CREATED, FAILED, FAILED, SUCCESSFUL]
        assert [r.retries for r in rows] == [None, None, 2, 1]
        assert [r.error_message for r in rows] == [None, "m1", "m2", None]
        assert [r.worker_id for r in rows] == [None, WORKER_ID, WORKER_ID, WORKER_ID]
        assert [r.timestamp - rows[0].timestamp for r in rows] == [timedelta(seconds=s) for s in range(4)]
        details = [service.get_history_log_error_details(r.id) for r in rows]
        assert details == [None, "d1", "d1", None]

    def test_lock_unlock_retries_and_priority_write_no_rows_but_show_in_later_ones(self, service):
        """Lock, extendLock, unlock, setRetries and setPriority write no log rows; later rows carry their values."""
        task = create_task(service)
        fetch(service)
        service.extend_lock(task.id, WORKER_ID, LOCK_TIME)
        service.unlock(task.id)
        service.set_retries(task.id, 4)
        service.set_priority(task.id, 8)
        assert len(logs(service, external_task_id=task.id)) == 1

        service.delete_process_instance(task.process_instance_id)

        [deletion] = logs(service, deletion_log=True)
        assert (deletion.worker_id, deletion.retries, deletion.priority) == (None, 4, 8)

    def test_bpmn_error_writes_a_deletion_log(self, service):
        """A BPMN error is recorded as a deletion log with the worker, not as a success or failure log."""
        task = create_task(service)
        fetch(service)

        service.handle_bpmn_error(task.id, WORKER_ID, "ERROR")

        assert [state(r) for r in logs(service, external_task_id=task.id)] == [CREATED, DELETED]
        assert logs(service, deletion_log=True)[0].worker_id == WORKER_ID

    def test_get_history_log_by_id(self, service):
        """One log row can be read by id; an unknown id is 'not found' with Camunda's message."""
        task = create_task(service)
        [created] = logs(service)

        assert service.get_history_log(created.id) == created
        assert created.external_task_id == task.id
        with raises(NotFound, "Historic external task log with id nope does not exist", "InvalidRequestException"):
            service.get_history_log("nope")

    def test_history_is_visible_right_after_the_command(self, service):
        """A history query made after a command returned sees that command (the projection catches up)."""
        for _ in range(3):
            task = create_task(service)
            assert service.count_history_log(HistoricExternalTaskLogQuery(external_task_id=task.id)) == 1
