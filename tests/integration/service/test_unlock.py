"""Unlock: clears worker and lock, no worker or suspension check (spec 2.10).

Ported from Camunda's ExternalTaskServiceTest (spec 5.1 #94-#96).
"""

from __future__ import annotations

from extask.application.errors import BadRequest, Conflict, NotFound

from .helpers import ANOTHER_WORKER_ID, WORKER_ID, fetch, ids, raises


class TestUnlock:
    # 5.1 #94
    def test_unlock(self, service, locked):
        """An unlocked task can be fetched again at once; it is the same task."""
        service.unlock(locked.task.id)

        assert ids(fetch(service)) == [locked.task.id]

    def test_unlock_clears_worker_and_lock_expiration(self, service, locked):
        """Unlock clears workerId and lockExpirationTime and leaves the retries alone."""
        service.set_retries(locked.task.id, 3)

        service.unlock(locked.task.id)

        task = service.get_task(locked.task.id)
        assert (task.worker_id, task.lock_expiration_time, task.retries) == (None, None, 3)

    def test_unlocked_task_cannot_be_completed_by_its_former_worker(self, service, locked):
        """After unlock the former worker no longer holds the task: 'It is locked by worker 'null''."""
        service.unlock(locked.task.id)

        with raises(
            Conflict,
            f"External Task {locked.task.id} cannot be completed by worker '{WORKER_ID}'. "
            "It is locked by worker 'null'.",
        ):
            service.complete(locked.task.id, WORKER_ID)

    def test_unlock_needs_no_worker(self, service, locked):
        """Anyone may unlock a task another worker holds; it is then fetchable by others."""
        service.unlock(locked.task.id)

        assert ids(fetch(service, worker=ANOTHER_WORKER_ID)) == [locked.task.id]

    # 5.1 #95
    def test_unlock_null_task_id(self, service):
        """Unlock without a task id is refused: 'externalTaskId is null'."""
        with raises(BadRequest, "externalTaskId is null", "NullValueException"):
            service.unlock(None)  # type: ignore[arg-type]

    # 5.1 #96
    def test_unlock_non_existing_task(self, service):
        """Unlocking an unknown task is 'not found'."""
        with raises(NotFound, "External task with id nonExistingId does not exist", "RestException"):
            service.unlock("nonExistingId")
