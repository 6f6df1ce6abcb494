"""AuditTrail: a task's whole timeline, and the task as it was at a moment, read from the event store.

Both answer from the ExternalTask aggregate's stored events, never from the read models, so they
work alike for live tasks and for tasks that ended (completed, BPMN error, deleted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from extask.application.dto import ExternalTaskDTO
from extask.application.errors import NotFound
from extask.application.event_store import ExternalTaskEventStore
from extask.domain.external_task import ExternalTask, to_millisecond
from extask.domain.variables import format_camunda_date

# The library's envelope of every event; the rest of an event's attributes are its own fields.
# originator_topic (the aggregate's class, on Created) is library bookkeeping, not task data.
_ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})


@dataclass(frozen=True)
class TaskEventDTO:
    """One stored event of a task: its type name, its position in the task's sequence (from 1),
    the schema version of its class, when it happened, and its own fields."""

    type: str
    aggregate_version: int
    schema_version: int
    timestamp: datetime
    data: dict[str, Any]

    @classmethod
    def from_event(cls, event: DomainEventProtocol[UUID]) -> TaskEventDTO:
        return cls(
            type=type(event).__name__,
            aggregate_version=event.originator_version,
            schema_version=getattr(type(event), "class_version", 1),
            timestamp=event.timestamp,
            data={name: value for name, value in vars(event).items() if name not in _ENVELOPE},
        )


class AuditTrail:
    def __init__(self, event_store: ExternalTaskEventStore) -> None:
        self._event_store = event_store

    def task_events(self, task_id: str) -> list[TaskEventDTO]:
        """Every stored event of the task, oldest first."""
        return [TaskEventDTO.from_event(event) for event in self._events(task_id)]

    def task_state_at(self, task_id: str, at: datetime) -> ExternalTaskDTO:
        """The task as ``GET /external-task/{id}`` would have answered at ``at``: the fold of its
        events up to ``at`` (compared to the millisecond, as Camunda dates carry no more).

        NotFound before the task was created, and once it had ended.
        """
        events = self._events(task_id)
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)  # naive times are UTC, as everywhere in extask
        at = to_millisecond(at)
        task: ExternalTask | None = None
        ending = None
        for event in events:
            # Versions are a sequence, so the fold is the prefix up to the first later event.
            if to_millisecond(event.timestamp) > at:
                break
            task = event.mutate(task)  # type: ignore[arg-type]
            if ending is None and task is not None and task.is_removed:
                ending = event
        if task is None:
            raise NotFound(
                f"External task with id {task_id} did not exist yet at {format_camunda_date(at)}: "
                f"it was created at {format_camunda_date(events[0].timestamp)}"
            )
        if ending is not None:
            raise NotFound(
                f"External task with id {task_id} did not exist at {format_camunda_date(at)}: "
                f"it {_how_it_ended(task, ending)} at {format_camunda_date(ending.timestamp)}"
            )
        return ExternalTaskDTO.from_task(task)

    def _events(self, task_id: str) -> list[DomainEventProtocol[UUID]]:
        try:
            aggregate_id = UUID(str(task_id))
        except ValueError:
            raise _not_found(task_id) from None
        events = list(self._event_store.events.get(aggregate_id))
        # Process instances and batches live in the same store: only a task's history counts.
        if not events or not isinstance(events[0], ExternalTask.Created):
            raise _not_found(task_id)
        return events


def _not_found(task_id: str) -> NotFound:
    return NotFound(f"External task with id {task_id} does not exist")


def _how_it_ended(task: ExternalTask, ending: DomainEventProtocol[UUID]) -> str:
    if task.end_state == "completed":
        return "was completed"
    if task.end_state == "bpmnError":
        return f"ended with BPMN error {getattr(ending, 'error_code', None)}"
    if task.end_state == "deleted":
        reason = getattr(ending, "reason", None)
        return "was deleted" if reason is None else f"was deleted ({reason})"
    return f"ended ({task.end_state})"

