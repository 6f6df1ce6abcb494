"""Suspension of a process instance: its tasks are not fetchable and refuse worker commands
(complete, failure, BPMN error, extendLock) but allow lock, unlock, setRetries and setPriority;
activation restores them with their locks (spec 3.12).

Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #36, #62, #110, #133).
"""

from __future__ import annotations

from datetime import timedelta

from extask.application.errors import Conflict, NotFound, Suspended

from .helpers import ANOTHER_WORKER_ID, LOCK_TIME, WORKER_ID, create_task, fetch, ids, logs, raises


def suspended_message(task_id: str) -> str:
    return f"ENGINE-03043 ExternalTask with id '{task_id}' is suspended."


class TestSuspension:
    # 5.1 #36
    def test_fetch_suspended_task(self, service, task):
        """A suspended instance's task is not fetched; after activation it is."""
        service.suspend_process_instance(task.process_instance_id)

        assert fetch(service, max_tasks=5) == []
        assert service.get_task(task.id).suspended is True

        service.activate_process_instance(task.process_instance_id)

        assert ids(fetch(service, max_tasks=5)) == [task.id]

    # 5.1 #62
    def test_complete_suspended_task(self, service, locked):
        """A suspended task cannot be completed; after activation it can, and it is gone."""
        service.suspend_process_instance(locked.task.process_instance_id)

        with raises(Suspended, suspended_message(locked.task.id), "RestException"):
            service.complete(locked.task.id, WORKER_ID)
        assert service.get_task(locked.task.id).id == locked.task.id

        service.activate_process_instance(locked.task.process_instance_id)
        service.complete(locked.task.id, WORKER_ID)

        with raises(NotFound):
            service.get_task(locked.task.id)
        assert len(logs(service, success_log=True)) == 1

    # 5.1 #110
    def test_handle_failure_suspended_task(self, service, locked):
        """A failure cannot be reported for a suspended task; after activation it can."""
        service.suspend_process_instance(locked.task.process_instance_id)

        with raises(Suspended, suspended_message(locked.task.id), "RestException"):
            service.handle_failure(locked.task.id, WORKER_ID, error_message="error", retries=5,
                                   retry_timeout=LOCK_TIME)
        assert service.get_task(locked.task.id).retries is None

        service.activate_process_instance(locked.task.process_instance_id)
        service.handle_failure(locked.task.id, WORKER_ID, error_message="error", retries=5, retry_timeout=LOCK_TIME)

        assert service.get_task(locked.task.id).retries == 5

    # 5.1 #133
    def test_handle_bpmn_error_suspended_task(self, service, locked):
        """A BPMN error cannot be reported for a suspended task."""
        service.suspend_process_instance(locked.task.process_instance_id)

        with raises(Suspended, suspended_message(locked.task.id), "RestException"):
            service.handle_bpmn_error(locked.task.id, WORKER_ID, "ERROR-OCCURED")
        assert service.get_task(locked.task.id).id == locked.task.id

    def test_extend_lock_of_suspended_task(self, service, locked):
        """The holder cannot extend the lock of a suspended task."""
        service.suspend_process_instance(locked.task.process_instance_id)

        with raises(Suspended, suspended_message(locked.task.id), "RestException"):
            service.extend_lock(locked.task.id, WORKER_ID, LOCK_TIME)

    def test_suspension_is_checked_after_the_worker(self, service, locked):
        """A wrong worker on a suspended task hears about the worker first (spec 3.4 order)."""
        service.suspend_process_instance(locked.task.process_instance_id)

        with raises(Conflict):
            service.complete(locked.task.id, ANOTHER_WORKER_ID)

    def test_operator_commands_are_allowed_on_a_suspended_task(self, service, clock, task):
        """lock, unlock, setRetries and setPriority all work while the task is suspended."""
        service.suspend_process_instance(task.process_instance_id)

        service.lock(task.id, WORKER_ID, LOCK_TIME)
        assert service.get_task(task.id).lock_expiration_time == clock.now + timedelta(milliseconds=LOCK_TIME)
        service.unlock(task.id)
        service.set_retries(task.id, 3)
        service.set_priority(task.id, 9)

        suspended = service.get_task(task.id)
        assert (suspended.worker_id, suspended.retries, suspended.priority, suspended.suspended) == (None, 3, 9, True)

    def test_activation_keeps_the_lock(self, service, locked):
        """Activation restores the task with its lock: still held by the same worker, not fetchable by others."""
        service.suspend_process_instance(locked.task.process_instance_id)
        service.activate_process_instance(locked.task.process_instance_id)

        task = service.get_task(locked.task.id)
        assert (task.suspended, task.worker_id, task.lock_expiration_time) == (
            False, WORKER_ID, locked.task.lock_expiration_time,
        )
        assert fetch(service, worker=ANOTHER_WORKER_ID) == []

    def test_task_created_in_a_suspended_instance_is_suspended(self, service, task):
        """A task created for a suspended instance starts suspended and is not fetchable."""
        service.suspend_process_instance(task.process_instance_id)

        added = create_task(service, process_instance_id=task.process_instance_id)

        assert service.get_task(added.id).suspended is True
        assert fetch(service, max_tasks=5) == []

    def test_suspension_affects_only_that_instance(self, service, task):
        """Suspending one instance leaves tasks of other instances fetchable."""
        other = create_task(service)

        service.suspend_process_instance(task.process_instance_id)

        assert ids(fetch(service, max_tasks=5)) == [other.id]

    def test_suspend_unknown_process_instance(self, service):
        """Suspending or activating an unknown process instance is 'not found'."""
        with raises(NotFound, "Process instance with id unknown does not exist", "InvalidRequestException"):
            service.suspend_process_instance("unknown")
        with raises(NotFound, "Process instance with id unknown does not exist", "InvalidRequestException"):
            service.activate_process_instance("unknown")
