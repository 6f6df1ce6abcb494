"""``/history/external-task-log``: the historic external-task log (created, failed, successful
and deleted entries), queried by GET or by a POST body, its count, single entries and their error
details."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from extask.application.queries import HISTORIC_LOG_SORT_KEYS, HistoricExternalTaskLogQuery
from extask.infrastructure.rest.routers import CamundaTextResponse, Service, query_sorting, text_or_no_content
from extask.infrastructure.rest.routers.external_task import TEXT_OR_EMPTY
from extask.infrastructure.rest.history_schemas import HistoricExternalTaskLogQueryBody
from extask.infrastructure.rest.schemas import (
    CountResponse,
    HistoricExternalTaskLog,
    HistoricExternalTaskLogCriteria,
    HistoricExternalTaskLogParams,
    PageParams,
)
from extask.infrastructure.rest.sorting import body_sorting

router = APIRouter(prefix="/history/external-task-log", tags=["Historic External Task Log"])


@router.get("", response_model=list[HistoricExternalTaskLog])
def query_logs(
    service: Service, params: Annotated[HistoricExternalTaskLogParams, Query()]
) -> list[HistoricExternalTaskLog]:
    """Log entries matching every given filter; of the four log flags the last true one counts
    (creation, failure, success, deletion). Default order: log id ascending."""
    query = params.to_query(query_sorting(params, HISTORIC_LOG_SORT_KEYS))
    return [HistoricExternalTaskLog.from_dto(log) for log in service.query_history_log(query, params.to_page())]


@router.get("/count", response_model=CountResponse)
def count_logs(
    service: Service, params: Annotated[HistoricExternalTaskLogCriteria, Query()]
) -> CountResponse:
    query = params.to_query(query_sorting(params, HISTORIC_LOG_SORT_KEYS))
    return CountResponse(count=service.count_history_log(query))


@router.post("", response_model=list[HistoricExternalTaskLog])
def query_logs_by_body(
    service: Service,
    paging: Annotated[PageParams, Query()],
    body: HistoricExternalTaskLogQueryBody | None = None,
) -> list[HistoricExternalTaskLog]:
    """The GET query as a JSON body (arrays as JSON arrays, ``sorting: [{sortBy, sortOrder}]``);
    ``firstResult`` and ``maxResults`` stay in the query string."""
    query = _body_query(body)
    return [HistoricExternalTaskLog.from_dto(log) for log in service.query_history_log(query, paging.to_page())]


@router.post("/count", response_model=CountResponse)
def count_logs_by_body(service: Service, body: HistoricExternalTaskLogQueryBody | None = None) -> CountResponse:
    return CountResponse(count=service.count_history_log(_body_query(body)))


def _body_query(body: HistoricExternalTaskLogQueryBody | None) -> HistoricExternalTaskLogQuery:
    body = body or HistoricExternalTaskLogQueryBody()
    return body.to_query(body_sorting(body.sort_by, body.sort_order, body.sorting, HISTORIC_LOG_SORT_KEYS))


@router.get("/{log_id}", response_model=HistoricExternalTaskLog)
def get_log(service: Service, log_id: str) -> HistoricExternalTaskLog:
    return HistoricExternalTaskLog.from_dto(service.get_history_log(log_id))


@router.get("/{log_id}/error-details", response_class=CamundaTextResponse, responses=TEXT_OR_EMPTY)
def get_log_error_details(service: Service, log_id: str) -> Response:
    return text_or_no_content(service.get_history_log_error_details(log_id))
