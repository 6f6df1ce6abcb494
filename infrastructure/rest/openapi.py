"""The served OpenAPI document, corrected to say what the API really answers.

FastAPI documents bad input as 422 with its own body and knows nothing of the errors the
application raises. extask answers every error with Camunda's ``{type, message, code}`` body
(``CamundaError``), so the document is rewritten once, when first asked for:

- 400 for every operation that takes input (FastAPI's 422 becomes 400);
- 404 for every operation that names something by a path parameter (an unknown task, log entry,
  incident, process instance, variable or batch), and for the bulk retries commands (an unknown
  task id; a server without batches);
- 500 for every command that changes state (``OptimisticLockingException`` when concurrent
  writers kept winning) and for fetch-and-lock (too many parked polls; shutdown);
- no success answer for ``DELETE /incident/{id}``, which is always refused.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from extask.infrastructure.rest.schemas import CamundaError

_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/CamundaError"}}}

_DESCRIPTIONS = {
    "400": "Invalid input (InvalidRequestException and others), or refused in the task's state",
    "404": "Not found (RestException, InvalidRequestException)",
    "500": "Concurrent writers kept winning (OptimisticLockingException, code 1)",
}

# (method, path below the REST root)
_NOT_FOUND_WITHOUT_PATH_PARAMETER = {("put", "/external-task/retries"), ("post", "/external-task/retries-async")}
_READ_ONLY_POSTS = {
    "/external-task", "/external-task/count", "/history/external-task-log", "/history/external-task-log/count",
}
_FETCH_AND_LOCK_500 = (
    "Too many parked long polls (InvalidRequestException), the server is shutting down (RestException), "
    "or concurrent writers kept winning"
)
_NEVER_SUCCEEDS = {("delete", "/incident/{incident_id}")}


def document_camunda_errors(app: FastAPI, rest_root: str) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for path, operations in document["paths"].items():
                for method, operation in operations.items():
                    _document_errors(method, path.removeprefix(rest_root), operation)
            schemas = document["components"]["schemas"]
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            schemas["CamundaError"] = CamundaError.model_json_schema(ref_template="#/components/schemas/{model}")
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _document_errors(method: str, path: str, operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    statuses = set()
    if responses.pop("422", None) is not None or "400" in responses:
        statuses.add("400")
    has_path_parameter = any(p["in"] == "path" for p in operation.get("parameters", []))
    if has_path_parameter or (method, path) in _NOT_FOUND_WITHOUT_PATH_PARAMETER:
        statuses.add("404")
    if method in ("put", "delete") or (method == "post" and path not in _READ_ONLY_POSTS):
        statuses.add("500")
    if (method, path) in _NEVER_SUCCEEDS:
        responses.pop("204", None)
        statuses.discard("500")
    for status in sorted(statuses):
        description = responses.get(status, {}).get("description") or _DESCRIPTIONS[status]
        if path == "/external-task/fetchAndLock" and status == "500":
            description = _FETCH_AND_LOCK_500
        responses[status] = {"description": description, "content": _ERROR_CONTENT}
