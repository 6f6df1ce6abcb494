"""The FastAPI application: every router under ``/engine-rest``, errors as Camunda error bodies.

Every error answers ``{"type", "message", "code"}`` with ``Content-Type: application/json``:
application errors with the status of their class, bad input (malformed JSON, wrong JSON
types, unconvertible query parameters or variables) with 400 ``InvalidRequestException``, and
anything unexpected with 500 and the exception's class name, as Camunda does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from application.audit import AuditTrail
from application.batches import BatchService
from application.errors import (
    ApplicationError,
    BadRequest,
    ConcurrentModification,
    Conflict,
    NotFound,
    Suspended,
)
from application.long_polling import LongPoller
from application.service import ExternalTaskService
from domain.variables import InvalidVariableValue
from infrastructure.rest import long_polling
from infrastructure.rest.openapi import document_camunda_errors
from infrastructure.rest.routers import (
    batch,
    execution,
    external_task,
    external_task_query,
    history,
    history_incident,
    incident,
    meta,
    process_instance,
    task_audit,
)
from infrastructure.rest.wire import CamundaJSONResponse, error_response

REST_ROOT = "/engine-rest"

_STATUS = ((NotFound, 404), (BadRequest, 400), (Conflict, 400), (Suspended, 400), (ConcurrentModification, 500))

# Camunda's engine exceptions always carry a code, 0 unless they say otherwise; REST-layer
# exceptions (RestException, InvalidRequestException) created without a cause carry none.
_ENGINE_EXCEPTIONS = {
    "ProcessEngineException", "NullValueException", "BadUserRequestException", "NotValidException",
    "NotFoundException", "NotAllowedException", "SuspendedEntityInteractionException",
}

# 400: a body FastAPI cannot even decode (not UTF-8), like malformed JSON for Camunda.
_HTTP_EXCEPTION_TYPES = {
    400: "InvalidRequestException", 404: "NotFoundException", 405: "NotAllowedException", 415: "NotSupportedException",
}


def create_app(
    service: ExternalTaskService,
    long_poller: LongPoller | None = None,
    batches: BatchService | None = None,
    audit: AuditTrail | None = None,
) -> FastAPI:
    """The app over ``service``; without ``long_poller`` fetch-and-lock answers at once, whatever
    its ``asyncResponseTimeout`` (the lifespan starts and stops the poller's wake-ups); without
    ``audit`` a task's events and past states answer 404."""
    app = FastAPI(
        lifespan=long_polling.lifespan,
        title="extask",
        summary="An event-sourced external-task engine speaking the Camunda 7 external-task REST API",
        version=meta.CAMUNDA_API_VERSION,
        openapi_url=f"{REST_ROOT}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        default_response_class=CamundaJSONResponse,
    )
    app.state.service = service
    app.state.long_polling = long_poller
    app.state.batches = batches  # without it, retries-async and /batch answer 404
    app.state.audit = audit
    root = APIRouter(prefix=REST_ROOT)
    # external_task_query first: its /count and /topic-names are not task ids.
    for module in (
        meta, external_task_query, external_task, history, history_incident, incident, process_instance,
        execution, batch, task_audit,
    ):
        root.include_router(module.router)
    app.include_router(root)
    app.add_exception_handler(ApplicationError, _application_error)
    app.add_exception_handler(InvalidVariableValue, _invalid_variable)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    document_camunda_errors(app, REST_ROOT)
    return app


async def _application_error(request: Request, error: ApplicationError) -> CamundaJSONResponse:
    status = next((status for cls, status in _STATUS if isinstance(error, cls)), 500)
    code = error.code
    if code is None and error.camunda_type in _ENGINE_EXCEPTIONS:
        code = 0
    return error_response(status, error.camunda_type, error.message, code)


async def _invalid_variable(request: Request, error: InvalidVariableValue) -> CamundaJSONResponse:
    return error_response(400, error.camunda_type, error.message)


async def _invalid_request(request: Request, error: RequestValidationError) -> CamundaJSONResponse:
    return error_response(400, "InvalidRequestException", describe_validation_errors(error.errors()))


async def _http_error(request: Request, error: HTTPException) -> CamundaJSONResponse:
    camunda_type = _HTTP_EXCEPTION_TYPES.get(error.status_code, "RestException")
    response = error_response(error.status_code, camunda_type, str(error.detail))
    response.headers.update(error.headers or {})
    return response


async def _unexpected_error(request: Request, error: Exception) -> CamundaJSONResponse:
    return error_response(500, type(error).__name__, str(error))


def describe_validation_errors(errors: Any) -> str:
    """One short readable sentence per problem, in Camunda's words where Camunda has some."""
    return "; ".join(_describe(error) for error in errors)


def _describe(error: dict[str, Any]) -> str:
    location, *path = error["loc"]
    cause = (error.get("ctx") or {}).get("error") if error["type"] in ("value_error", "json_invalid") else None
    reason = str(cause) if cause is not None else error["msg"]
    if location == "query":
        if error["type"] == "missing":
            return f"Query parameter '{path[0]}' is required"
        return f"Cannot set query parameter '{path[0]}' to value '{error.get('input')}': {reason}"
    if error["type"] == "json_invalid":
        return f"The request body is not valid JSON: {reason}"
    if not path:
        if isinstance(error.get("input"), (bytes, str)):
            return "The request body must be JSON, sent with Content-Type application/json"
        return "The request body must be a JSON object"
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")
    if error["type"] == "missing":
        return f"'{field}' is required"
    return f"Invalid value for '{field}': {reason}"
