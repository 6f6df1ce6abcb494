"""Deleting a process instance deletes its tasks: deletion logs, incidents deleted (spec 3.7, 3.10).

Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #91, #101).
"""

from __future__ import annotations

from extask.application.errors import BadRequest, NotFound

from .helpers import WORKER_ID, create_task, fetch, historic_incidents, ids, incidents, logs, raises


class TestDeleteProcessInstance:
    # 5.1 #91
    def test_delete_process_instance(self, service, task):
        """Deleting the instance removes its external task and the instance itself."""
        service.delete_process_instance(task.process_instance_id)

        assert fetch(service, max_tasks=5) == []
        with raises(NotFound, f"External task with id {task.id} does not exist"):
            service.get_task(task.id)
        with raises(NotFound, f"Process instance with id {task.process_instance_id} does not exist"):
            service.get_process_instance(task.process_instance_id)
        [deletion] = logs(service, deletion_log=True)
        assert (deletion.external_task_id, deletion.worker_id) == (task.id, None)

    # 5.1 #101
    def test_handle_failure_and_delete_process_instance(self, service, engine, locked):
        """An instance whose task has an open incident can be deleted; the incident is deleted, not resolved."""
        service.handle_failure(locked.task.id, WORKER_ID, error_message="someError", retries=0)

        service.delete_process_instance(locked.task.process_instance_id)

        assert incidents(service) == []
        assert [i["state"] for i in historic_incidents(engine, locked.task.id)] == ["deleted"]
        [deletion] = logs(service, deletion_log=True)
        assert (deletion.worker_id, deletion.retries) == (WORKER_ID, 0)

    def test_delete_process_instance_removes_all_its_tasks_and_no_others(self, service):
        """All tasks of the deleted instance go; other instances keep theirs."""
        first = create_task(service, process_instance_id="pi-a")
        second = create_task(service, process_instance_id="pi-a")
        other = create_task(service, process_instance_id="pi-b")

        service.delete_process_instance("pi-a", reason="cancelled by test")

        assert ids(fetch(service, max_tasks=5)) == [other.id]
        assert sorted(log.external_task_id for log in logs(service, deletion_log=True)) == sorted(
            [first.id, second.id]
        )

    def test_delete_process_instance_removes_its_variables(self, service):
        """The deleted instance's variables are gone with it."""
        task = create_task(service, variables={"a": 1})

        service.delete_process_instance(task.process_instance_id)

        with raises(NotFound):
            service.get_process_variables(task.process_instance_id)

    def test_delete_unknown_process_instance(self, service):
        """Deleting an unknown or already deleted instance is 'not found'."""
        task = create_task(service)
        service.delete_process_instance(task.process_instance_id)

        with raises(NotFound, f"Process instance with id {task.process_instance_id} does not exist",
                    "InvalidRequestException"):
            service.delete_process_instance(task.process_instance_id)
        with raises(NotFound, "Process instance with id unknown does not exist", "InvalidRequestException"):
            service.delete_process_instance("unknown")

    def test_worker_commands_on_a_deleted_task(self, service, locked):
        """Once deleted, the task refuses complete, failure and BPMN error with 'not found'."""
        service.delete_process_instance(locked.task.process_instance_id)

        message = f"External task with id {locked.task.id} does not exist"
        with raises(NotFound, message):
            service.complete(locked.task.id, WORKER_ID)
        with raises(NotFound, message):
            service.handle_failure(locked.task.id, WORKER_ID, retries=1)
        with raises(NotFound, message):
            service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR")

    def test_no_task_can_join_a_deleted_process_instance(self, service, task):
        """Creating a task for a deleted process instance id is refused."""
        service.delete_process_instance(task.process_instance_id)

        with raises(BadRequest):
            create_task(service, process_instance_id=task.process_instance_id)
