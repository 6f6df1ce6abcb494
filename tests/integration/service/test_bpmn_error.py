"""handleBpmnError: the worker ends the task with a business error; extask records it for the
embedding application (BpmnErrorThrown) and removes the task with a deletion log (spec 2.8, 3.8).

Camunda's boundary events and error event sub-processes have no counterpart; what remains of each
scenario is: the task is gone, a deletion log exists, the event carries code, message and variables.
Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #124-#134, #136, #137).
"""

from __future__ import annotations

from extask.application.errors import BadRequest, Conflict, NotFound
from extask.domain.variables import TypedValue

from .helpers import (
    ANOTHER_WORKER_ID,
    LOCK_TIME,
    WORKER_ID,
    create_task,
    events_of,
    fetch,
    fetch_one,
    historic_incidents,
    incidents,
    logs,
    raises,
)


def assert_ended_by_bpmn_error(service, task_id: str, worker: str | None) -> None:
    with raises(NotFound, f"External task with id {task_id} does not exist"):
        service.get_task(task_id)
    assert [(log.worker_id, log.deletion_log) for log in logs(service, external_task_id=task_id,
                                                                deletion_log=True)] == [(worker, True)]
    assert logs(service, external_task_id=task_id, success_log=True) == []


class TestHandleBpmnError:
    # 5.1 #124
    def test_handle_bpmn_error(self, service, engine, locked):
        """A BPMN error removes the task, is recorded with its code, and writes a deletion log (not a success log)."""
        service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED")

        assert fetch(service) == []
        assert_ended_by_bpmn_error(service, locked.task.id, WORKER_ID)
        thrown = events_of(engine, locked.task.id)[-1]
        assert type(thrown).__name__ == "BpmnErrorThrown"
        assert (thrown.worker_id, thrown.error_code, thrown.error_message) == (WORKER_ID, "ERROR-OCCURED", None)

    # 5.1 #125
    def test_handle_bpmn_error_without_defined_boundary(self, service, locked):
        """Without anything to catch it the error still just ends the task; other tasks of the instance stay."""
        sibling = create_task(service, process_instance_id=locked.task.process_instance_id)

        service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED")

        assert_ended_by_bpmn_error(service, locked.task.id, WORKER_ID)
        assert service.get_task(sibling.id).id == sibling.id

    def test_handle_bpmn_error_deletes_an_open_incident(self, service, engine, locked):
        """A BPMN error deletes (does not resolve) the task's open incident."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="e", retries=0)

        service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED")

        assert incidents(service) == []
        assert [i["state"] for i in historic_incidents(engine, locked.task.id)] == ["deleted"]

    # 5.1 #126
    def test_handle_bpmn_error_lock_expired_task(self, service, clock, locked):
        """The last locker can still report a BPMN error after its lock expired."""
        clock.advance(milliseconds=LOCK_TIME * 2)

        service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED")

        assert fetch(service) == []
        assert_ended_by_bpmn_error(service, locked.task.id, WORKER_ID)

    # 5.1 #127
    def test_handle_bpmn_error_reclaimed_lock_expired_task_without_defined_boundary(self, service, clock, locked):
        """After another worker reclaimed the task the old worker's BPMN error is refused; the new one completes."""
        clock.advance(milliseconds=LOCK_TIME * 2)
        reclaimed = fetch_one(service, worker=ANOTHER_WORKER_ID)

        with raises(
            Conflict,
            f"Bpmn error of External Task {locked.task.id} cannot be reported by worker '{WORKER_ID}'. "
            f"It is locked by worker '{ANOTHER_WORKER_ID}'.",
            "RestException",
        ):
            service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED")

        service.complete(reclaimed.task.id, ANOTHER_WORKER_ID)
        assert fetch(service) == []

    # 5.1 #128
    def test_handle_bpmn_error_reclaimed_lock_expired_task_with_boundary(self, service, clock, locked):
        """After a reclaim only the new worker may report the BPMN error."""
        clock.advance(milliseconds=LOCK_TIME * 2)
        fetch_one(service, worker=ANOTHER_WORKER_ID)

        with raises(Conflict, camunda_type="RestException"):
            service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED")

        service.handle_bpmn_error(locked.task.id, ANOTHER_WORKER_ID, "ERROR-OCCURED")
        assert_ended_by_bpmn_error(service, locked.task.id, ANOTHER_WORKER_ID)

    # 5.1 #129
    def test_handle_bpmn_error_non_existing_task(self, service):
        """A BPMN error for an unknown task is 'not found'."""
        with raises(NotFound, "External task with id nonExistingTaskId does not exist", "RestException"):
            service.handle_bpmn_error("nonExistingTaskId", WORKER_ID, "ERROR-OCCURED")

    # 5.1 #130
    def test_handle_bpmn_null_task_id(self, service):
        """A BPMN error without a task id reports that the task does not exist."""
        with raises(NotFound, camunda_type="RestException"):
            service.handle_bpmn_error(None, WORKER_ID, "ERROR-OCCURED")  # type: ignore[arg-type]

    # 5.1 #131
    def test_handle_bpmn_null_error_code(self, service, locked):
        """A BPMN error without a code is refused: 'errorCode is null'."""
        with raises(BadRequest, "errorCode is null", "NullValueException"):
            service.handle_bpmn_error(locked.task.id, WORKER_ID, None)  # type: ignore[arg-type]

    # 5.1 #132
    def test_handle_bpmn_error_null_worker_id(self, service, locked):
        """A BPMN error without a worker id is refused: 'workerId is null'."""
        with raises(BadRequest, "workerId is null", "NullValueException"):
            service.handle_bpmn_error(locked.task.id, None, "ERROR-OCCURED")  # type: ignore[arg-type]

    def test_handle_bpmn_error_twice(self, service, locked):
        """A task ended by a BPMN error is gone: a second report is 'not found'."""
        service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED")

        with raises(NotFound, f"External task with id {locked.task.id} does not exist"):
            service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED")

    # 5.1 #134
    def test_handle_bpmn_error_pass_variables_boundry_event(self, service, clock, locked):
        """Variables sent with a BPMN error become process variables."""
        clock.advance(milliseconds=LOCK_TIME * 2)

        service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED", variables={"foo": "bar"})

        assert fetch(service) == []
        assert service.get_process_variables(locked.task.process_instance_id) == {
            "foo": TypedValue("String", "bar"),
        }

    # 5.1 #136
    def test_handle_bpmn_error_pass_message_event_sub_process(self, service, engine, clock, locked):
        """The error message travels with the recorded BPMN error (Camunda: into errorMessageVariable)."""
        clock.advance(milliseconds=LOCK_TIME * 2)

        service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-SPEC-10",
                                  error_message="Some meaningful message")

        thrown = events_of(engine, locked.task.id)[-1]
        assert (thrown.error_code, thrown.error_message) == ("ERROR-SPEC-10", "Some meaningful message")

    # 5.1 #137
    def test_handle_bpmn_error_reclaimed_lock_expired_task_with_boundary_and_pass_variables(
        self, service, clock, locked
    ):
        """A refused BPMN error from the old worker stores none of its variables."""
        clock.advance(milliseconds=LOCK_TIME * 2)
        reclaimed = fetch_one(service, worker=ANOTHER_WORKER_ID)

        with raises(Conflict):
            service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED", variables={"foo": "bar"})

        assert service.get_process_variables(locked.task.process_instance_id) == {}
        service.complete(reclaimed.task.id, ANOTHER_WORKER_ID)
        assert fetch(service) == []
