"""``/external-task`` queries and bulk commands: the task list and count (``GET`` with query
parameters, ``POST`` with a JSON body, paging by ``firstResult``/``maxResults`` query parameters
on both), the topic names, and retries for many tasks at once, now or in a background batch.

Mounted before the ``external_task`` router, whose ``/{task_id}`` routes would otherwise take
``/count`` and ``/topic-names`` for task ids.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from extask.application.errors import BadRequest
from extask.infrastructure.rest.batch_schemas import Batch, SetRetriesForExternalTasksRequest
from extask.infrastructure.rest.query_schemas import (
    ExternalTaskQueryBody,
    ExternalTaskQueryCriteria,
    ExternalTaskQueryParams,
)
from extask.infrastructure.rest.routers import NO_CONTENT, Service, no_content
from extask.infrastructure.rest.routers.batch import Batches
from extask.infrastructure.rest.schemas import (
    CountResponse,
    ExternalTask,
    PageParams,
    QueryFlag,
    RequestModel,
)

router = APIRouter(prefix="/external-task", tags=["External Task"])


class TopicNamesParams(RequestModel):
    with_locked_tasks: QueryFlag = False
    with_unlocked_tasks: QueryFlag = False
    with_retries_left: QueryFlag = False


@router.get("", response_model=list[ExternalTask])
def query_tasks(service: Service, params: Annotated[ExternalTaskQueryParams, Query()]) -> list[ExternalTask]:
    """Tasks matching every given filter; default order: id ascending."""
    return [ExternalTask.from_dto(task) for task in service.query_tasks(params.query(), params.to_page())]


@router.post("", response_model=list[ExternalTask])
def query_tasks_by_body(
    service: Service, page: Annotated[PageParams, Query()], body: ExternalTaskQueryBody | None = None
) -> list[ExternalTask]:
    query = (body or ExternalTaskQueryBody()).query()
    return [ExternalTask.from_dto(task) for task in service.query_tasks(query, page.to_page())]


@router.get("/count", response_model=CountResponse)
def count_tasks(service: Service, params: Annotated[ExternalTaskQueryCriteria, Query()]) -> CountResponse:
    return CountResponse(count=service.count_tasks(params.query()))


@router.post("/count", response_model=CountResponse)
def count_tasks_by_body(service: Service, body: ExternalTaskQueryBody | None = None) -> CountResponse:
    return CountResponse(count=service.count_tasks((body or ExternalTaskQueryBody()).query()))


@router.get("/topic-names", response_model=list[str])
def topic_names(service: Service, params: Annotated[TopicNamesParams, Query()]) -> list[str]:
    """Distinct topic names of runtime tasks, sorted; ``withLockedTasks`` and ``withUnlockedTasks``
    together select none."""
    return service.topic_names(params.with_locked_tasks, params.with_unlocked_tasks, params.with_retries_left)


@router.put("/retries", status_code=204, response_class=Response, responses={204: NO_CONTENT})
def set_retries_of_many(service: Service, body: SetRetriesForExternalTasksRequest | None = None) -> Response:
    """Set the retries of every selected task (the union of all selectors), all or none."""
    body = body or SetRetriesForExternalTasksRequest()
    selection = body.selection()
    if body.retries is None:
        raise BadRequest("The number of retries cannot be null.")
    service.set_retries_many(service.external_task_ids(selection), body.retries)
    return no_content()


@router.post("/retries-async", response_model=Batch)
def set_retries_async(batches: Batches, body: SetRetriesForExternalTasksRequest | None = None) -> Batch:
    """Answer a batch at once and set the retries in the background; follow it at ``/batch/{id}``.
    Unknown tasks and negative retries fail their task in the batch, not the request."""
    body = body or SetRetriesForExternalTasksRequest()
    return Batch.from_dto(batches.set_retries_async(body.selection(), body.retries))
