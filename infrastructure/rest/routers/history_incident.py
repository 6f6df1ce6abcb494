"""``/history/incident``: every incident a task ever had, open, resolved (retries raised or the task
completed) or deleted (the task was removed), and their count."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from extask.application.queries import HISTORIC_INCIDENT_SORT_KEYS
from extask.infrastructure.rest.history_schemas import HistoricIncident, HistoricIncidentCriteria, HistoricIncidentParams
from extask.infrastructure.rest.routers import Service, query_sorting
from extask.infrastructure.rest.schemas import CountResponse

router = APIRouter(prefix="/history/incident", tags=["Historic Incident"])


@router.get("", response_model=list[HistoricIncident])
def query_historic_incidents(
    service: Service, params: Annotated[HistoricIncidentParams, Query()]
) -> list[HistoricIncident]:
    """Of ``open``, ``resolved`` and ``deleted`` the last true one counts. Default order: incident id."""
    query = params.to_query(query_sorting(params, HISTORIC_INCIDENT_SORT_KEYS))
    return [HistoricIncident.from_dto(i) for i in service.query_historic_incidents(query, params.to_page())]


@router.get("/count", response_model=CountResponse)
def count_historic_incidents(
    service: Service, params: Annotated[HistoricIncidentCriteria, Query()]
) -> CountResponse:
    query = params.to_query(query_sorting(params, HISTORIC_INCIDENT_SORT_KEYS))
    return CountResponse(count=service.count_historic_incidents(query))
