"""One attempt of one command: the aggregates it loads, and where they came from.

Aggregates are private copies, from the event store's cache unless the attempt must read fresh
state. A refusal decided on cached state is checked again on fresh state before anyone hears of
it, because another server process may have changed the aggregate since it was cached.
"""

from __future__ import annotations

from uuid import UUID

from application.errors import NotFound
from application.event_store import ExternalTaskEventStore
from domain.errors import java_text
from domain.external_task import ExternalTask
from domain.process_instance import ProcessInstance


class UnitOfWork:
    def __init__(self, event_store: ExternalTaskEventStore, *, fresh: bool) -> None:
        self._event_store = event_store
        self._fresh = fresh
        self.used_cache = False

    def find_task(self, task_id: str | None) -> ExternalTask | None:
        try:
            aggregate_id = UUID(str(task_id))
        except ValueError:
            return None
        task, cached = self._event_store.get(aggregate_id, fresh=self._fresh)
        self.used_cache |= cached
        return task if isinstance(task, ExternalTask) else None

    def task(self, task_id: str | None) -> ExternalTask:
        """A task at runtime, or NotFound as Camunda's commands report it."""
        task = self.find_task(task_id)
        if task is None or task.is_removed:
            raise NotFound(f"External task with id {java_text(task_id)} does not exist", code=0)
        return task

    def find_instance(self, process_instance_id: str) -> ProcessInstance | None:
        instance, cached = self._event_store.get(
            ProcessInstance.aggregate_id(process_instance_id), fresh=self._fresh
        )
        self.used_cache |= cached
        return instance if isinstance(instance, ProcessInstance) else None

    def instance(self, process_instance_id: str) -> ProcessInstance:
        instance = self.find_instance(process_instance_id)
        if instance is None or instance.deleted:
            raise NotFound(
                f"Process instance with id {process_instance_id} does not exist", "InvalidRequestException"
            )
        return instance
