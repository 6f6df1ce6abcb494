"""Errors as Camunda's error bodies: every error answers ``{"type", "message", "code"}`` with
``Content-Type: application/json``.

Application errors get the status of their class; bad input (malformed JSON, wrong JSON types,
unconvertible query parameters or variables) 400 ``InvalidRequestException``; anything
unexpected 500 with a generic message and a correlation id, under which the server's log has the
exception: an answer never shows internal class names or raw database messages.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from extask.application.errors import (
    ApplicationError,
    BadRequest,
    ConcurrentModification,
    Conflict,
    NotFound,
    Suspended,
    Unavailable,
)
from extask.domain.variables import InvalidVariableValue
from extask.infrastructure.rest.wire import CamundaJSONResponse, error_response

log = logging.getLogger("extask.rest")

_STATUS = ((NotFound, 404), (BadRequest, 400), (Conflict, 400), (Suspended, 400), (ConcurrentModification, 500), (Unavailable, 503))

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


async def application_error(request: Request, error: ApplicationError) -> CamundaJSONResponse:
    status = next((status for cls, status in _STATUS if isinstance(error, cls)), 500)
    code = error.code
    if code is None and error.camunda_type in _ENGINE_EXCEPTIONS:
        code = 0
    response = error_response(status, error.camunda_type, error.message, code)
    if isinstance(error, Unavailable):
        response.headers["retry-after"] = str(error.retry_after_seconds)
    return response


async def invalid_variable(request: Request, error: InvalidVariableValue) -> CamundaJSONResponse:
    return error_response(400, error.camunda_type, error.message)


async def invalid_request(request: Request, error: RequestValidationError) -> CamundaJSONResponse:
    return error_response(400, "InvalidRequestException", describe_validation_errors(error.errors()))


async def http_error(request: Request, error: HTTPException) -> CamundaJSONResponse:
    camunda_type = _HTTP_EXCEPTION_TYPES.get(error.status_code, "RestException")
    response = error_response(error.status_code, camunda_type, str(error.detail))
    response.headers.update(error.headers or {})
    return response


async def unexpected_error(request: Request, error: Exception) -> CamundaJSONResponse:
    correlation_id = uuid.uuid4().hex[:16]
    log.error(
        "Unexpected error %s answering %s %s", correlation_id, request.method, request.url.path, exc_info=error
    )
    error.extask_correlation_id = correlation_id  # type: ignore[attr-defined]  # logged: see request_guards
    return error_response(
        500, "ProcessEngineException",
        f"An unexpected error occurred; the server's log has its details under correlation id {correlation_id}",
    )


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
