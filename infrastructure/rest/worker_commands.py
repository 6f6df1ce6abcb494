"""The worker commands' short way through the app: fetch-and-lock, complete, failure, BPMN error
and extend lock, the requests every worker sends all the time.

FastAPI's per-request machinery (routing through every route in turn, solving dependencies,
its middleware) costs several times what these commands cost the engine. This middleware
recognises them by method and path, reads and validates their bodies as FastAPI would (the same
``json.loads`` and the same request models) and calls the same route functions, whose answers
and errors it renders as the app does. A request it cannot read that way (another content type,
a body that does not validate) goes on to FastAPI untouched, which answers it, error and all; so
there is one meaning for every request, and FastAPI still documents these routes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from extask.application.errors import ApplicationError
from extask.domain.variables import InvalidVariableValue
from extask.infrastructure.rest import errors
from extask.infrastructure.rest.request_guards import BODY, replaying
from extask.infrastructure.rest.routers import external_task
from extask.infrastructure.rest.schemas import (
    BpmnErrorRequest,
    CompleteRequest,
    ExtendLockRequest,
    FailureRequest,
    FetchAndLockBody,
)

# A command on one task: (request model, the route function taking (service, task_id, body)).
_TASK_COMMANDS: dict[str, tuple[type[BaseModel], Callable[..., Awaitable[Response]]]] = {
    "complete": (CompleteRequest, external_task.complete),
    "failure": (FailureRequest, external_task.handle_failure),
    "bpmnError": (BpmnErrorRequest, external_task.handle_bpmn_error),
    "extendLock": (ExtendLockRequest, external_task.extend_lock),
}


class WorkerCommands:
    """ASGI middleware serving the worker commands under ``root`` (``/engine-rest``), in front of
    the app's own middleware: it answers its errors as the app's handlers do."""

    def __init__(self, app: ASGIApp, root: str) -> None:
        self.app = app
        prefix = re.escape(f"{root}/external-task/")
        self._fetch_path = f"{root}/external-task/fetchAndLock"
        self._task_command = re.compile(f"^{prefix}([^/]+)/({'|'.join(_TASK_COMMANDS)})$")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == self._fetch_path:
            model: type[BaseModel] = FetchAndLockBody
            task_id = None
        elif match := self._task_command.match(path):
            model, route = _TASK_COMMANDS[match.group(2)]
            task_id = match.group(1)
        else:
            await self.app(scope, receive, send)
            return
        body = scope.get(BODY)  # read by the request guards, whose receive hands it out still
        if body is None:  # without the guards in front, or no body announced
            body = await _read_body(receive)
            if body is None:
                return  # the client went away before it finished sending
            receive = replaying(body, receive)
        parsed = _validated(model, body)
        if parsed is None:  # not ours to read: FastAPI answers it, errors included
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        service = scope["app"].state.service
        try:
            if task_id is None:
                response: Response = await external_task.fetch_and_lock(request, service, parsed)
            else:
                response = await route(service, task_id, parsed)
        except ApplicationError as error:
            response = await errors.application_error(request, error)
        except InvalidVariableValue as error:
            response = await errors.invalid_variable(request, error)
        except Exception as error:
            # As the app's error middleware does: answer 500, then let the server log it.
            await (await errors.unexpected_error(request, error))(scope, receive, send)
            raise
        await response(scope, receive, send)


def _validated(model: type[BaseModel], body: bytes) -> Any:
    """The body as FastAPI reads it (``json.loads``, then the request model), or None."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # nested too deeply is unparseable too: FastAPI says 400
        return None
    if not isinstance(parsed, dict):
        return None
    try:
        return model.model_validate(parsed)
    except ValidationError:
        return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
