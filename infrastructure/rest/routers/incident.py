"""``/incident``: runtime incidents (for extask always ``failedExternalTask``, configuration =
the external task id), their count, single incidents, annotations, and the refused manual resolution."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from extask.application.errors import BadRequest, NotFound
from extask.application.queries import INCIDENT_SORT_KEYS, IncidentQuery
from extask.infrastructure.rest.routers import NO_CONTENT, Service, no_content, query_sorting
from extask.infrastructure.rest.schemas import AnnotationRequest, CountResponse, Incident, IncidentCriteria, IncidentParams

router = APIRouter(prefix="/incident", tags=["Incident"])


@router.get("", response_model=list[Incident])
def query_incidents(service: Service, params: Annotated[IncidentParams, Query()]) -> list[Incident]:
    query = params.to_query(query_sorting(params, INCIDENT_SORT_KEYS))
    return [Incident.from_dto(incident) for incident in service.query_incidents(query, params.to_page())]


@router.get("/count", response_model=CountResponse)
def count_incidents(service: Service, params: Annotated[IncidentCriteria, Query()]) -> CountResponse:
    query = params.to_query(query_sorting(params, INCIDENT_SORT_KEYS))
    return CountResponse(count=service.count_incidents(query))


@router.get("/{incident_id}", response_model=Incident)
def get_incident(service: Service, incident_id: str) -> Incident:
    return Incident.from_dto(service.get_incident(incident_id))


@router.delete("/{incident_id}", status_code=204, responses={400: {"description": "Always, for this incident type"}})
def resolve_incident(service: Service, incident_id: str) -> None:
    """Refused, as in Camunda: an external-task incident is resolved by setting retries > 0 or
    by finishing the task."""
    found = service.query_incidents(IncidentQuery(incident_id=incident_id))
    if not found:
        raise NotFound(
            f"Cannot find an incident with id '{incident_id}': incident is null", "InvalidRequestException"
        )
    raise BadRequest(f"Cannot resolve an incident of type {found[0].incident_type}")


@router.put("/{incident_id}/annotation", status_code=204, response_class=Response, responses={204: NO_CONTENT})
def set_annotation(service: Service, incident_id: str, body: AnnotationRequest | None = None) -> Response:
    """Note something on an open incident for operators; kept as an event of its task."""
    service.set_incident_annotation(incident_id, (body or AnnotationRequest()).annotation)
    return no_content()


@router.delete("/{incident_id}/annotation", status_code=204, response_class=Response, responses={204: NO_CONTENT})
def clear_annotation(service: Service, incident_id: str) -> Response:
    service.set_incident_annotation(incident_id, None)
    return no_content()
