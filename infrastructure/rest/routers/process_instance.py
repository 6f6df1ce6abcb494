"""``/process-instance``: the variable scope and grouping of tasks. The instance, its variables
(all or one by name, read and modified as the Java client does, and the raw content of Bytes and
File variables), suspension, and deletion."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from extask.application.errors import BadRequest
from extask.domain.variables import InvalidVariableValue
from extask.infrastructure.rest import wire
from extask.infrastructure.rest.process_instance_schemas import ProcessInstance
from extask.infrastructure.rest.routers import NO_CONTENT, Service, no_content
from extask.infrastructure.rest.schemas import (
    ProcessVariablesModificationRequest,
    SuspensionStateRequest,
    VariableValue,
    variables_in,
)
from extask.infrastructure.rest.variable_data import binary_response

router = APIRouter(prefix="/process-instance", tags=["Process Instance"])

COMMAND: dict[str, Any] = {"status_code": 204, "response_class": Response, "responses": {204: NO_CONTENT}}
BINARY = {
    200: {
        "description": "The variable's raw content: a Bytes value as application/octet-stream, a File as its mimeType.",
        "content": {"application/octet-stream": {}, "*/*": {}},
    }
}


@router.get("/{process_instance_id}", response_model=ProcessInstance)
def get_process_instance(service: Service, process_instance_id: str) -> ProcessInstance:
    return ProcessInstance.from_dto(service.get_process_instance(process_instance_id))


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
    try:
        modifications = variables_in(body.modifications)
    except InvalidVariableValue as error:
        raise BadRequest(f"Cannot modify variables for process instance: {error.message}") from None
    service.set_process_variables(process_instance_id, modifications, body.deletions or [])
    return no_content()


@router.get("/{process_instance_id}/variables/{name}", response_model=dict[str, Any])
def get_variable(service: Service, process_instance_id: str, name: str) -> dict[str, Any]:
    """One VariableValue; ``deserializeValues`` is accepted and has no effect."""
    variable = service.get_process_variable(process_instance_id, name)
    return wire.variables_to_wire({name: variable})[name]


@router.put("/{process_instance_id}/variables/{name}", **COMMAND)
def put_variable(service: Service, process_instance_id: str, name: str, body: VariableValue) -> Response:
    try:
        variable = variables_in({name: body})
    except InvalidVariableValue as error:
        raise BadRequest(f"Cannot put process instance variable {name}: {error.message}") from None
    service.set_process_variables(process_instance_id, variable)
    return no_content()


@router.delete("/{process_instance_id}/variables/{name}", **COMMAND)
def delete_variable(service: Service, process_instance_id: str, name: str) -> Response:
    """Removing a variable the instance does not have is no error, as in Camunda."""
    service.set_process_variables(process_instance_id, deletions=[name])
    return no_content()


@router.get("/{process_instance_id}/variables/{name}/data", response_class=Response, responses=BINARY)
def get_variable_data(service: Service, process_instance_id: str, name: str) -> Response:
    """The content of a Bytes or File variable; 400 for any other type."""
    return binary_response(service.get_process_variable(process_instance_id, name), name)


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
