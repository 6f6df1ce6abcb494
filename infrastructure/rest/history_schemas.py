"""Request and response models of the history queries beyond the GET log query: the POST body of
``/history/external-task-log`` and the ``/history/incident`` resource (see ``schemas`` for the
conventions: camelCase on the wire, nulls accepted, Camunda's query-parameter conversions)."""

from __future__ import annotations

from typing import Any

from extask.application.dto import HistoricIncidentDTO
from extask.application.queries import HistoricExternalTaskLogQuery, HistoricIncidentQuery
from extask.infrastructure.rest.schemas import (
    CamundaDate,
    Int64,
    PageParams,
    QueryDate,
    QueryFlag,
    QueryList,
    RequestModel,
    ResponseModel,
    SortingEntry,
    SortParams,
)

_NOT_CRITERIA = {"sort_by", "sort_order", "sorting", "first_result", "max_results"}


class HistoricExternalTaskLogQueryBody(RequestModel):
    """The JSON body of ``POST /history/external-task-log`` (and ``/count``): the GET filters with
    arrays as JSON arrays, plus ``sorting``; paging stays in the query string."""

    log_id: str | None = None
    external_task_id: str | None = None
    topic_name: str | None = None
    worker_id: str | None = None
    error_message: str | None = None
    # Null and empty members are refused by the query (NotValidException), not by parsing.
    activity_id_in: list[str | None] | None = None
    activity_instance_id_in: list[str | None] | None = None
    execution_id_in: list[str | None] | None = None
    process_instance_id: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    priority_higher_than_or_equals: Int64 | None = None
    priority_lower_than_or_equals: Int64 | None = None
    tenant_id_in: list[str | None] | None = None
    without_tenant_id: bool | None = None
    creation_log: bool | None = None
    failure_log: bool | None = None
    success_log: bool | None = None
    deletion_log: bool | None = None
    sort_by: str | None = None
    sort_order: str | None = None
    sorting: list[SortingEntry] | None = None

    def to_query(self, sorting: list[tuple[str, str]]) -> HistoricExternalTaskLogQuery:
        criteria: dict[str, Any] = self.model_dump(exclude=_NOT_CRITERIA)
        for name in ("without_tenant_id", "creation_log", "failure_log", "success_log", "deletion_log"):
            criteria[name] = bool(criteria[name])  # only true filters
        for name in ("activity_id_in", "activity_instance_id_in", "execution_id_in", "tenant_id_in"):
            criteria[name] = criteria[name] or None  # Camunda's REST layer skips empty arrays
        return HistoricExternalTaskLogQuery(**criteria, sorting=sorting)


class HistoricIncident(ResponseModel):
    """Camunda's HistoricIncidentDto."""

    id: str
    process_definition_key: str | None
    process_definition_id: str | None
    process_instance_id: str | None
    execution_id: str | None
    root_process_instance_id: str | None
    create_time: CamundaDate
    end_time: CamundaDate | None
    removal_time: CamundaDate | None
    incident_type: str
    activity_id: str | None
    failed_activity_id: str | None
    cause_incident_id: str | None
    root_cause_incident_id: str | None
    configuration: str | None
    history_configuration: str | None
    incident_message: str | None
    tenant_id: str | None
    job_definition_id: str | None
    open: bool
    deleted: bool
    resolved: bool
    annotation: str | None

    @classmethod
    def from_dto(cls, incident: HistoricIncidentDTO) -> HistoricIncident:
        return cls(**{name: getattr(incident, name) for name in cls.model_fields})


class HistoricIncidentCriteria(SortParams):
    incident_id: str | None = None
    incident_type: str | None = None
    incident_message: str | None = None
    incident_message_like: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_key_in: QueryList = None
    process_instance_id: str | None = None
    execution_id: str | None = None
    create_time_before: QueryDate = None
    create_time_after: QueryDate = None
    end_time_before: QueryDate = None
    end_time_after: QueryDate = None
    activity_id: str | None = None
    failed_activity_id: str | None = None
    cause_incident_id: str | None = None
    root_cause_incident_id: str | None = None
    configuration: str | None = None
    history_configuration: str | None = None
    open: QueryFlag = False
    resolved: QueryFlag = False
    deleted: QueryFlag = False
    tenant_id_in: QueryList = None
    without_tenant_id: QueryFlag = False
    job_definition_id_in: QueryList = None

    def to_query(self, sorting: list[tuple[str, str]]) -> HistoricIncidentQuery:
        return HistoricIncidentQuery(**self.model_dump(exclude=_NOT_CRITERIA), sorting=sorting)


class HistoricIncidentParams(HistoricIncidentCriteria, PageParams):
    pass
