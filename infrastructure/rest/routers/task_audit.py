"""``/history/external-task/{id}``: a task's audit trail from the event store, its events in order
and its state at a given moment, for live and ended tasks alike."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from extask.application.audit import AuditTrail
from extask.infrastructure.rest.audit_schemas import StateAtParams, TaskEvent
from extask.infrastructure.rest.routers import optional_component
from extask.infrastructure.rest.schemas import ExternalTask

router = APIRouter(prefix="/history/external-task", tags=["External Task Audit"])


Audit = Annotated[AuditTrail, Depends(optional_component("audit", "This server keeps no audit trail"))]


@router.get("/{task_id}/events", response_model=list[TaskEvent])
def task_events(audit: Audit, task_id: str) -> list[TaskEvent]:
    """Every stored event of the task, oldest first; also for completed, failed and deleted tasks."""
    return [TaskEvent.from_dto(event) for event in audit.task_events(task_id)]


@router.get("/{task_id}/state", response_model=ExternalTask)
def task_state_at(audit: Audit, task_id: str, params: Annotated[StateAtParams, Query()]) -> ExternalTask:
    """The task as ``GET /external-task/{id}`` would have answered at ``at``: 404 before it was
    created and after it ended (completed, BPMN error, deleted), the message saying which."""
    return ExternalTask.from_dto(audit.task_state_at(task_id, params.at))
