"""The Batch aggregate: an operator command over many tasks, carried out in the background.

Its events are the audit trail of the operation: what was asked for (the task ids and the
retries), when execution started, the outcome for each task (retries set, or failed with the
error the command gave) and when it ended. The only type so far is Camunda's
``set-external-task-retries``.

A batch is run by one engine at a time. An engine that stops before the end lets it go
(``Interrupted``); one that crashed cannot, so a batch whose last event is older than a lease is
free too. Another engine then takes it up (``Resumed``) and carries on with the tasks that have
no outcome yet; as with Camunda's batch jobs, a task whose outcome was not yet recorded when its
engine crashed has its retries set again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
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

    class Interrupted(Aggregate.Event):
        """The engine running the batch stopped before the end, and let it go."""

        class_version = 1

        def apply(self, batch: Batch) -> None:
            batch.interrupted = True

    class Resumed(Aggregate.Event):
        """An engine took up a batch that another one had let go, or that had stood still too long."""

        class_version = 1

        def apply(self, batch: Batch) -> None:
            batch.interrupted = False

    def __init__(self, batch_type: str, retries: int, external_task_ids: list[str]) -> None:
        self.batch_type = batch_type
        self.retries = retries
        self.external_task_ids = list(external_task_ids)
        self.execution_start_time: datetime | None = None
        self.end_time: datetime | None = None
        self.succeeded: list[str] = []
        self.failures: list[tuple[str, str, str]] = []
        self.interrupted = False

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

    def interrupt(self, now: datetime) -> None:
        if not self.ended and not self.interrupted:
            self.trigger_event(self.Interrupted, timestamp=now)

    def is_free(self, now: datetime, lease: timedelta) -> bool:
        """Whether an engine may take the batch up: it has not ended, and its engine let it go or
        has recorded nothing for ``lease`` (it is taken to have crashed)."""
        return _free(self.ended, self.interrupted, self.modified_on, now, lease)

    @classmethod
    def is_free_after(cls, latest: Aggregate.Event, now: datetime, lease: timedelta) -> bool:
        """``is_free`` told from the batch's latest event alone, without loading the batch."""
        return _free(isinstance(latest, cls.Completed), isinstance(latest, cls.Interrupted), latest.timestamp, now, lease)

    def resume(self, now: datetime) -> None:
        self.trigger_event(self.Resumed, timestamp=now)


def _free(ended: bool, let_go: bool, last_recorded: datetime, now: datetime, lease: timedelta) -> bool:
    return not ended and (let_go or now - last_recorded >= lease)
