"""The Batch aggregate: an operator command over many tasks, carried out in the background.

Its events are the audit trail of the operation: what was asked for (the task ids and the
retries), when execution started, the outcome for each task (retries set, or failed with the
error the command gave) and when it ended. The only type so far is Camunda's
``set-external-task-retries``.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

SET_EXTERNAL_TASK_RETRIES = "set-external-task-retries"


class Batch(Aggregate):
    class Created(Aggregate.Created):
        class_version = 1
        batch_type: str
        retries: int
        external_task_ids: list[str]

    class Started(Aggregate.Event):
        class_version = 1

        def apply(self, batch: Batch) -> None:
            batch.execution_start_time = self.timestamp

    class TaskRetriesSet(Aggregate.Event):
        class_version = 1
        external_task_id: str

        def apply(self, batch: Batch) -> None:
            batch.succeeded.append(self.external_task_id)

    class TaskFailed(Aggregate.Event):
        class_version = 1
        external_task_id: str
        error_type: str
        error_message: str

        def apply(self, batch: Batch) -> None:
            batch.failures.append((self.external_task_id, self.error_type, self.error_message))

    class Completed(Aggregate.Event):
        class_version = 1

        def apply(self, batch: Batch) -> None:
            batch.end_time = self.timestamp

    def __init__(self, batch_type: str, retries: int, external_task_ids: list[str]) -> None:
        self.batch_type = batch_type
        self.retries = retries
        self.external_task_ids = list(external_task_ids)
        self.execution_start_time: datetime | None = None
        self.end_time: datetime | None = None
        self.succeeded: list[str] = []
        self.failures: list[tuple[str, str, str]] = []

    @classmethod
    def set_external_task_retries(
        cls, *, now: datetime, batch_id: UUID, retries: int, external_task_ids: list[str]
    ) -> Batch:
        return cls._create(
            cls.Created,
            id=batch_id,
            timestamp=now,
            batch_type=SET_EXTERNAL_TASK_RETRIES,
            retries=retries,
            external_task_ids=list(external_task_ids),
        )

    @property
    def ended(self) -> bool:
        return self.end_time is not None

    def pending_task_ids(self) -> list[str]:
        """The tasks without an outcome yet, in the order they were asked for."""
        done = set(self.succeeded) | {task_id for task_id, _, _ in self.failures}
        return [task_id for task_id in self.external_task_ids if task_id not in done]

    def start(self, now: datetime) -> None:
        if self.execution_start_time is None:
            self.trigger_event(self.Started, timestamp=now)

    def record_success(self, external_task_id: str, now: datetime) -> None:
        self.trigger_event(self.TaskRetriesSet, timestamp=now, external_task_id=external_task_id)

    def record_failure(self, external_task_id: str, error_type: str, error_message: str, now: datetime) -> None:
        self.trigger_event(
            self.TaskFailed, timestamp=now, external_task_id=external_task_id,
            error_type=error_type, error_message=error_message,
        )

    def complete(self, now: datetime) -> None:
        if not self.ended:
            self.trigger_event(self.Completed, timestamp=now)
