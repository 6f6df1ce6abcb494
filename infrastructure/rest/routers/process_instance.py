"""``/process-instance``: the variable scope and grouping of tasks. Its variables (read, and
modified as the Java client does), suspension, and deletion."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from infrastructure.rest import wire
from infrastructure.rest.routers import NO_CONTENT, Service, no_content
from infrastructure.rest.schemas import (
    ProcessVariablesModificationRequest,
    SuspensionStateRequest,
    variables_in,
)

router = APIRouter(prefix="/process-instance", tags=["Process Instance"])


@router.get("/{process_instance_id}/variables", response_model=dict[str, dict[str, Any]])
def get_variables(service: Service, process_instance_id: str) -> dict[str, dict[str, Any]]:
    """name -> {type, value, valueInfo}; ``deserializeValues`` is accepted and has no effect."""
    return wire.variables_to_wire(service.get_process_variables(process_instance_id))


@router.post(
    "/{process_instance_id}/variables", status_code=204, response_class=Response, responses={204: NO_CONTENT}
)
def modify_variables(
    service: Service, process_instance_id: str, body: ProcessVariablesModificationRequest | None = None
) -> Response:
    """Set ``modifications`` and remove ``deletions`` in one step."""
    body = body or ProcessVariablesModificationRequest()
    service.set_process_variables(process_instance_id, variables_in(body.modifications), body.deletions or [])
    return no_content()


@router.put("/{process_instance_id}/suspended", status_code=204, response_class=Response, responses={204: NO_CONTENT})
def set_suspension_state(
    service: Service, process_instance_id: str, body: SuspensionStateRequest | None = None
) -> Response:
    """Suspend (``{"suspended": true}``) or activate the instance and all its tasks."""
    if body is not None and body.suspended:
        service.suspend_process_instance(process_instance_id)
    else:
        service.activate_process_instance(process_instance_id)
    return no_content()


@router.delete("/{process_instance_id}", status_code=204, response_class=Response, responses={204: NO_CONTENT})
def delete(service: Service, process_instance_id: str) -> Response:
    """Delete the instance; its tasks end with deletion log entries and their incidents close."""
    service.delete_process_instance(process_instance_id)
    return no_content()
