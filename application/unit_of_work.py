"""One attempt of one command: the aggregates it loads, and where they came from.

Aggregates are private copies, from the event store's cache unless the attempt must read fresh
state. A refusal decided on cached state is checked again on fresh state before anyone hears of
it, because another server process may have changed the aggregate since it was cached. An attempt
that must not wait for the database (on an event loop) takes only cached aggregates, and gives
up with ``NotCached`` for any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from extask.application.errors import NotFound
from extask.application.event_store import ExternalTaskEventStore
from extask.domain.errors import java_text
from extask.domain.external_task import ExternalTask
from extask.domain.process_instance import ProcessInstance


class NotCached(Exception):
    """A cached-only attempt needed an aggregate the cache does not hold."""


class UnitOfWork:
    def __init__(self, event_store: ExternalTaskEventStore, *, fresh: bool, cached_only: bool = False) -> None:
        self._event_store = event_store
        self._fresh = fresh
        self._cached_only = cached_only
        self.used_cache = False

    def find_task(self, task_id: str | None) -> ExternalTask | None:
        return self.find_tasks([task_id]).get(task_id)

    def find_tasks(self, task_ids: Sequence[str | None]) -> dict[str | None, ExternalTask]:
        """The tasks among these ids (none for an id that is no UUID or names no task), read
        together: what the cache does not hold comes in one query."""
        ids: dict[str | None, UUID] = {}
        for task_id in task_ids:
            try:
                ids[task_id] = UUID(str(task_id))
            except ValueError:
                pass
        found = self._get(list(ids.values()))
        tasks = {}
        for task_id, aggregate_id in ids.items():
            task, cached = found[aggregate_id]
            self.used_cache |= cached
            if isinstance(task, ExternalTask):
                tasks[task_id] = task
        return tasks

    def task(self, task_id: str | None) -> ExternalTask:
        """A task at runtime, or NotFound as Camunda's commands report it."""
        task = self.find_task(task_id)
        if task is None or task.is_removed:
            raise NotFound(f"External task with id {java_text(task_id)} does not exist", code=0)
        return task

    def find_instance(self, process_instance_id: str) -> ProcessInstance | None:
        aggregate_id = ProcessInstance.aggregate_id(process_instance_id)
        instance, cached = self._get([aggregate_id])[aggregate_id]
        self.used_cache |= cached
        return instance if isinstance(instance, ProcessInstance) else None

    def _get(self, aggregate_ids: list[UUID]) -> dict[UUID, tuple[object, bool]]:
        found = self._event_store.get_many(aggregate_ids, fresh=self._fresh, cached_only=self._cached_only)
        if self._cached_only and not all(cached for _, cached in found.values()):
            raise NotCached()
        return found

    def instance(self, process_instance_id: str) -> ProcessInstance:
        instance = self.find_instance(process_instance_id)
        if instance is None or instance.deleted:
            raise NotFound(
                f"Process instance with id {process_instance_id} does not exist", "InvalidRequestException"
            )
        return instance
