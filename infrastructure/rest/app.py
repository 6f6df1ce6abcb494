"""The FastAPI application: every router under ``/engine-rest``, errors as Camunda error bodies
(``errors``), the checks every request passes first (``request_guards``), and the worker
commands' short way past FastAPI's per-request machinery (``worker_commands``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from extask.application.audit import AuditTrail
from extask.application.batches import BatchService
from extask.application.errors import ApplicationError
from extask.application.long_polling import LongPoller
from extask.application.service import ExternalTaskService
from extask.domain.variables import InvalidVariableValue
from extask.infrastructure.rest import errors, long_polling
from extask.infrastructure.rest.exit_signals import on_exit_signals
from extask.infrastructure.rest.openapi import document_camunda_errors
from extask.infrastructure.rest.request_guards import RequestGuards, RequestPolicy
from extask.infrastructure.rest.routers import (
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
from extask.infrastructure.rest.wire import CamundaJSONResponse
from extask.infrastructure.rest.worker_commands import WorkerCommands

REST_ROOT = "/engine-rest"

class ExtaskAPI(FastAPI):
    """FastAPI with the request guards, then the worker commands' middleware, in front of its own."""

    request_policy = RequestPolicy()

    def build_middleware_stack(self) -> ASGIApp:
        return RequestGuards(WorkerCommands(super().build_middleware_stack(), root=REST_ROOT), self.request_policy)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """What runs beside the requests while the app serves: long polling's wake-ups, and the
    batches, which it lets go when the server stops (uvicorn ends the process with the signal
    that stopped it, so nothing registered with ``atexit`` runs)."""
    batches: BatchService | None = getattr(app.state, "batches", None)
    restore: Callable[[], None] = lambda: None  # noqa: E731
    if batches is not None:
        batches.start()
        # A running batch stops after its current transaction the moment the server is told to
        # stop, rather than once every open request has finished.
        restore = on_exit_signals(batches.stop)
    try:
        async with long_polling.lifespan(app):
            yield
    finally:
        restore()
        if batches is not None:
            await run_in_threadpool(batches.close)


def create_app(
    service: ExternalTaskService,
    long_poller: LongPoller | None = None,
    batches: BatchService | None = None,
    audit: AuditTrail | None = None,
    *,
    policy: RequestPolicy = RequestPolicy(),
) -> FastAPI:
    """The app over ``service``; without ``long_poller`` fetch-and-lock answers at once, whatever
    its ``asyncResponseTimeout`` (the lifespan starts and stops the poller's wake-ups); without
    ``batches``, retries-async and /batch answer 404; without ``audit`` a task's events and past
    states answer 404. ``policy`` says which hosts and origins may send requests, and how large."""
    app = ExtaskAPI(
        lifespan=lifespan,
        title="extask",
        summary="An event-sourced external-task engine speaking the Camunda 7 external-task REST API",
        version=meta.CAMUNDA_API_VERSION,
        openapi_url=f"{REST_ROOT}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        default_response_class=CamundaJSONResponse,
    )
    app.request_policy = policy
    serve(app, service, long_poller, batches, audit)
    root = APIRouter(prefix=REST_ROOT)
    # external_task_query first: its /count and /topic-names are not task ids.
    for module in (
        meta, external_task_query, external_task, history, history_incident, incident, process_instance,
        execution, batch, task_audit,
    ):
        root.include_router(module.router)
    app.include_router(root)
    app.add_exception_handler(ApplicationError, errors.application_error)
    app.add_exception_handler(InvalidVariableValue, errors.invalid_variable)
    app.add_exception_handler(RequestValidationError, errors.invalid_request)
    app.add_exception_handler(HTTPException, errors.http_error)
    app.add_exception_handler(Exception, errors.unexpected_error)
    document_camunda_errors(app, REST_ROOT)
    return app


def serve(
    app: FastAPI,
    service: ExternalTaskService | None,
    long_poller: LongPoller | None = None,
    batches: BatchService | None = None,
    audit: AuditTrail | None = None,
) -> None:
    """Put the engine's parts on ``app.state``, where the routes look for them (None takes a part
    away). Building an app costs FastAPI a tenth of a second or so, deriving every route's models,
    so one app can serve engine after engine, one at a time (the tests do)."""
    app.state.service = service
    app.state.long_polling = long_poller
    app.state.batches = batches  # without it, retries-async and /batch answer 404
    app.state.audit = audit
