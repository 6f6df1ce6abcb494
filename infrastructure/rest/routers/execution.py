"""``/execution/{id}/localVariables/{name}/data``: where the JavaScript client downloads File
variables. It asks with the task's process instance id (in Camunda the process instance's own
execution), so that id finds the process variables; a task's execution id finds its local variables."""

from __future__ import annotations

from fastapi import APIRouter, Response

from extask.infrastructure.rest.routers import Service
from extask.infrastructure.rest.routers.process_instance import BINARY
from extask.infrastructure.rest.variable_data import binary_response

router = APIRouter(prefix="/execution", tags=["Execution"])


@router.get("/{execution_id}/localVariables/{name}/data", response_class=Response, responses=BINARY)
def get_local_variable_data(service: Service, execution_id: str, name: str) -> Response:
    """The content of a Bytes or File variable; 400 for any other type."""
    return binary_response(service.get_execution_local_variable(execution_id, name), name)
