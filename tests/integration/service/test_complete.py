"""Complete: only the last locker may complete, even after its lock expired (spec 2.6, 3.4, 3.5).

"The process moves on" is, in extask, "the task is gone from the runtime and a success log exists".
Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #56-#61, #89, #90).
"""

from __future__ import annotations

from extask.application.errors import BadRequest, Conflict, NotFound

from .helpers import ANOTHER_WORKER_ID, LOCK_TIME, WORKER_ID, create_task, fetch, fetch_one, logs, raises


def assert_completed(service, task_id: str, worker: str) -> None:
    with raises(NotFound, f"External task with id {task_id} does not exist"):
        service.get_task(task_id)
    success = logs(service, external_task_id=task_id, success_log=True)
    assert [log.worker_id for log in success] == [worker]


class TestComplete:
    # 5.1 #56
    def test_complete(self, service, locked):
        """Completing removes the task from the runtime, writes a success log, and nothing is fetchable."""
        service.complete(locked.task.id, WORKER_ID)

        assert fetch(service) == []
        assert_completed(service, locked.task.id, WORKER_ID)

    def test_complete_keeps_the_process_instance_and_its_other_tasks(self, service):
        """Completing one task of an instance leaves its other tasks and the instance in place."""
        first = create_task(service, process_instance_id="pi-1")
        second = create_task(service, process_instance_id="pi-1")
        fetch(service, max_tasks=2)

        service.complete(first.id, WORKER_ID)

        assert service.get_task(second.id).process_instance_id == "pi-1"
        assert service.get_process_instance("pi-1").id == "pi-1"

    # 5.1 #58
    def test_complete_with_wrong_worker_id(self, service, locked):
        """Another worker cannot complete the task; the error names both workers."""
        with raises(
            Conflict,
            f"External Task {locked.task.id} cannot be completed by worker 'someCrazyWorkerId'. "
            f"It is locked by worker '{WORKER_ID}'.",
            "RestException",
        ):
            service.complete(locked.task.id, "someCrazyWorkerId")
        assert service.get_task(locked.task.id).worker_id == WORKER_ID

    def test_complete_never_locked_task(self, service, task):
        """A task nobody locked cannot be completed: it 'is locked by worker 'null''."""
        with raises(
            Conflict,
            f"External Task {task.id} cannot be completed by worker '{WORKER_ID}'. It is locked by worker 'null'.",
        ):
            service.complete(task.id, WORKER_ID)

    # 5.1 #59
    def test_complete_non_existing_task(self, service):
        """Completing an unknown task is 'not found'."""
        with raises(NotFound, "External task with id nonExistingTaskId does not exist", "RestException"):
            service.complete("nonExistingTaskId", WORKER_ID)

    def test_complete_twice(self, service, locked):
        """A completed task is gone: completing it again is 'not found'."""
        service.complete(locked.task.id, WORKER_ID)

        with raises(NotFound, f"External task with id {locked.task.id} does not exist", "RestException"):
            service.complete(locked.task.id, WORKER_ID)

    # 5.1 #60
    def test_complete_null_task_id(self, service):
        """Completing without a task id reports that the task does not exist."""
        with raises(NotFound, camunda_type="RestException"):
            service.complete(None, WORKER_ID)  # type: ignore[arg-type]

    # 5.1 #61
    def test_complete_null_worker_id(self, service, locked):
        """Completing without a worker id is refused: 'workerId is null'."""
        with raises(BadRequest, "workerId is null", "NullValueException"):
            service.complete(locked.task.id, None)  # type: ignore[arg-type]

    # 5.1 #89
    def test_complete_lock_expired_task(self, service, clock, locked):
        """The last locker can still complete after its lock expired, if nobody reclaimed the task."""
        clock.advance(milliseconds=LOCK_TIME * 2)

        service.complete(locked.task.id, WORKER_ID)

        assert fetch(service) == []
        assert_completed(service, locked.task.id, WORKER_ID)

    # 5.1 #90
    def test_complete_reclaimed_lock_expired_task(self, service, clock, locked):
        """Once another worker reclaimed an expired task, the first worker cannot complete it; the second can."""
        clock.advance(milliseconds=LOCK_TIME * 2)
        reclaimed = fetch_one(service, worker=ANOTHER_WORKER_ID)

        with raises(
            Conflict,
            f"External Task {locked.task.id} cannot be completed by worker '{WORKER_ID}'. "
            f"It is locked by worker '{ANOTHER_WORKER_ID}'.",
        ):
            service.complete(locked.task.id, WORKER_ID)

        service.complete(reclaimed.task.id, ANOTHER_WORKER_ID)
        assert fetch(service) == []
        assert_completed(service, locked.task.id, ANOTHER_WORKER_ID)
