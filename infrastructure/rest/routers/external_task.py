"""``/external-task``: creating tasks, the worker commands (fetch and lock, complete, failure,
BPMN error, lock, extend lock, unlock) and the operator commands (retries, priority).

Bodies are optional everywhere: a missing body reads as ``{}``, so a missing ``workerId`` gets
Camunda's ``workerId is null`` rather than a body-parsing error. Commands answer 204 with an
empty body. The worker commands are ``async``: they await the group commit rather than hold a
thread for it (``ExternalTaskService.complete_async`` ...).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from extask.application.errors import BadRequest
from extask.infrastructure.rest import long_polling
from extask.infrastructure.rest.locked_tasks import locked_tasks_response
from extask.infrastructure.rest.routers import NO_CONTENT, CamundaTextResponse, Service, no_content, text_or_no_content
from extask.infrastructure.rest.schemas import (
    MAX_ASYNC_RESPONSE_TIMEOUT,
    BpmnErrorRequest,
    CompleteRequest,
    CreateExternalTaskBatchRequest,
    CreateExternalTaskRequest,
    ExtendLockRequest,
    ExternalTask,
    FailureRequest,
    FetchAndLockBody,
    LockedExternalTask,
    LockRequest,
    PriorityRequest,
    RetriesRequest,
    variables_in,
)

router = APIRouter(prefix="/external-task", tags=["External Task"])

TEXT_OR_EMPTY = {
    200: {"description": "The stored error details.", "content": {"text/plain": {}}},
    204: {"description": "The task has no error details.", "content": {}},
}


@router.post("/create", response_model=ExternalTask)
def create(service: Service, body: CreateExternalTaskRequest | None = None) -> ExternalTask:
    """Create a task (extask's own endpoint: Camunda creates tasks from the process model)."""
    task = service.create((body or CreateExternalTaskRequest()).to_new_task())
    return ExternalTask.from_dto(task)


@router.post("/create/batch", response_model=list[ExternalTask])
def create_batch(service: Service, body: CreateExternalTaskBatchRequest | None = None) -> list[ExternalTask]:
    """Create several tasks, all or none."""
    specs = [spec.to_new_task() for spec in (body and body.tasks) or []]
    return [ExternalTask.from_dto(task) for task in service.create_many(specs)]


@router.post("/fetchAndLock", response_model=list[LockedExternalTask])
async def fetch_and_lock(request: Request, service: Service, body: FetchAndLockBody | None = None) -> Response:
    """Lock up to ``maxTasks`` tasks of the given topics for the worker.

    With ``asyncResponseTimeout`` (ms, at most 1,800,000) and no task to lock at once, the request
    is held until a task becomes available (answered with it) or the timeout passes (``[]``). A
    task whose answer cannot be written is left out and ends in an incident (``locked_tasks``).
    """
    body = body or FetchAndLockBody()
    if body.async_response_timeout is not None and body.async_response_timeout > MAX_ASYNC_RESPONSE_TIMEOUT:
        raise BadRequest(
            "The asynchronous response timeout cannot be set to a value greater than "
            f"{MAX_ASYNC_RESPONSE_TIMEOUT} milliseconds"
        )
    tasks = await long_polling.fetch_and_lock(request, service, body.to_request(), body.async_response_timeout)
    return await locked_tasks_response(service, tasks)


@router.get("/{task_id}", response_model=ExternalTask)
def get_task(service: Service, task_id: str) -> ExternalTask:
    return ExternalTask.from_dto(service.get_task(task_id))


@router.get("/{task_id}/errorDetails", response_class=CamundaTextResponse, responses=TEXT_OR_EMPTY)
def get_error_details(service: Service, task_id: str) -> Response:
    return text_or_no_content(service.get_error_details(task_id))


@router.post("/{task_id}/complete", status_code=204, response_class=Response, responses={204: NO_CONTENT})
async def complete(service: Service, task_id: str, body: CompleteRequest | None = None) -> Response:
    body = body or CompleteRequest()
    await service.complete_async(
        task_id,
        body.worker_id,  # type: ignore[arg-type]
        variables=variables_in(body.variables),
        local_variables=variables_in(body.local_variables),
    )
    return no_content()


@router.post("/{task_id}/failure", status_code=204, response_class=Response, responses={204: NO_CONTENT})
async def handle_failure(service: Service, task_id: str, body: FailureRequest | None = None) -> Response:
    """``retries`` and ``retryTimeout`` default to 0 (Java primitives): no retries means an incident."""
    body = body or FailureRequest()
    await service.handle_failure_async(
        task_id,
        body.worker_id,  # type: ignore[arg-type]
        error_message=body.error_message,
        error_details=body.error_details,
        retries=body.retries or 0,
        retry_timeout=body.retry_timeout or 0,
        variables=variables_in(body.variables),
        local_variables=variables_in(body.local_variables),
    )
    return no_content()


@router.post("/{task_id}/bpmnError", status_code=204, response_class=Response, responses={204: NO_CONTENT})
async def handle_bpmn_error(service: Service, task_id: str, body: BpmnErrorRequest | None = None) -> Response:
    body = body or BpmnErrorRequest()
    await service.handle_bpmn_error_async(
        task_id,
        body.worker_id,  # type: ignore[arg-type]
        body.error_code,  # type: ignore[arg-type]
        error_message=body.error_message,
        variables=variables_in(body.variables),
    )
    return no_content()


@router.post("/{task_id}/extendLock", status_code=204, response_class=Response, responses={204: NO_CONTENT})
async def extend_lock(service: Service, task_id: str, body: ExtendLockRequest | None = None) -> Response:
    body = body or ExtendLockRequest()
    await service.extend_lock_async(task_id, body.worker_id, body.new_duration or 0)  # type: ignore[arg-type]
    return no_content()


@router.post("/{task_id}/lock", status_code=204, response_class=Response, responses={204: NO_CONTENT})
def lock(service: Service, task_id: str, body: LockRequest | None = None) -> Response:
    body = body or LockRequest()
    service.lock(task_id, body.worker_id, body.lock_duration or 0)  # type: ignore[arg-type]
    return no_content()


@router.post("/{task_id}/unlock", status_code=204, response_class=Response, responses={204: NO_CONTENT})
def unlock(service: Service, task_id: str) -> Response:
    """Takes no body; whatever body a client sends (none, ``{}``, empty JSON) is not read."""
    service.unlock(task_id)
    return no_content()


@router.put("/{task_id}/retries", status_code=204, response_class=Response, responses={204: NO_CONTENT})
def set_retries(service: Service, task_id: str, body: RetriesRequest | None = None) -> Response:
    service.set_retries(task_id, (body or RetriesRequest()).retries)  # type: ignore[arg-type]
    return no_content()


@router.put("/{task_id}/priority", status_code=204, response_class=Response, responses={204: NO_CONTENT})
def set_priority(service: Service, task_id: str, body: PriorityRequest | None = None) -> Response:
    service.set_priority(task_id, (body or PriorityRequest()).priority)  # type: ignore[arg-type]
    return no_content()
