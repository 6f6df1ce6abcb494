"""Response models of ``/process-instance`` beyond variables (see ``schemas`` for the conventions)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from extask.application.dto import ProcessInstanceDTO
from extask.infrastructure.rest.schemas import ResponseModel


class ProcessInstance(ResponseModel):
    """Camunda's ProcessInstanceDto; extask has no case instances, and a process instance it knows
    has not ended (a deleted one is gone)."""

    id: str
    definition_id: str | None
    business_key: str | None
    case_instance_id: str | None = None
    ended: bool = False
    suspended: bool
    tenant_id: str | None
    links: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def from_dto(cls, instance: ProcessInstanceDTO) -> ProcessInstance:
        return cls(
            id=instance.id, definition_id=instance.process_definition_id, business_key=instance.business_key,
            ended=instance.ended, suspended=instance.suspended, tenant_id=instance.tenant_id,
        )
