"""Query criteria for the read endpoints: the Camunda filter names in snake_case, plus sorting and paging."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from extask.application.errors import BadRequest

SORT_ORDERS = ("asc", "desc")

HISTORIC_LOG_SORT_KEYS = (
    "timestamp", "externalTaskId", "retries", "priority", "topicName", "workerId", "activityId",
    "activityInstanceId", "executionId", "processInstanceId", "processDefinitionId",
    "processDefinitionKey", "tenantId",
)

INCIDENT_SORT_KEYS = (
    "incidentId", "incidentMessage", "incidentTimestamp", "incidentType", "executionId", "activityId",
    "processInstanceId", "processDefinitionId", "causeIncidentId", "rootCauseIncidentId",
    "configuration", "tenantId",
)


@dataclass(frozen=True)
class Page:
    """Camunda paging: one bound alone leaves the other open; neither means unpaged."""

    first_result: int | None = None
    max_results: int | None = None


@dataclass(frozen=True)
class HistoricExternalTaskLogQuery:
    log_id: str | None = None
    external_task_id: str | None = None
    topic_name: str | None = None
    worker_id: str | None = None
    error_message: str | None = None
    activity_id_in: list[str] | None = None
    activity_instance_id_in: list[str] | None = None
    execution_id_in: list[str] | None = None
    process_instance_id: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    priority_higher_than_or_equals: int | None = None
    priority_lower_than_or_equals: int | None = None
    tenant_id_in: list[str] | None = None
    without_tenant_id: bool = False
    creation_log: bool = False
    failure_log: bool = False
    success_log: bool = False
    deletion_log: bool = False
    sorting: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def where(cls, **criteria: Any) -> HistoricExternalTaskLogQuery:
        """A query built as Camunda's fluent API builds it: a criterion given as None is refused
        (``NotValidException``) instead of meaning "no filter"."""
        for name, value in criteria.items():
            if value is None:
                camunda_name = _LOG_NULL_NAMES.get(name, _to_camel(name))
                raise BadRequest(f"{camunda_name} is null", "NotValidException")
        query = cls(**criteria)
        query.check()
        return query

    def check(self) -> None:
        """The id lists may not hold null or empty ids (``NotValidException``), as in Camunda."""
        for name, camunda_name in _LOG_LIST_NAMES.items():
            values = getattr(self, name) or []
            if any(value is None for value in values):
                raise BadRequest(f"{camunda_name} contains null value", "NotValidException")
            if any(value == "" for value in values):
                raise BadRequest(f"{camunda_name} contains empty string", "NotValidException")


# Camunda's names in the messages of HistoricExternalTaskLogQueryImpl (three of them say activityIds).
_LOG_NULL_NAMES = {
    "log_id": "historicExternalTaskLogId", "activity_id_in": "activityIds",
    "activity_instance_id_in": "activityIds", "execution_id_in": "activityIds", "tenant_id_in": "tenantIds",
}
_LOG_LIST_NAMES = {
    "activity_id_in": "activityIds", "activity_instance_id_in": "activityInstanceIds",
    "execution_id_in": "executionIds",
}


def _to_camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class IncidentQuery:
    incident_id: str | None = None
    incident_type: str | None = None
    incident_message: str | None = None
    incident_message_like: str | None = None
    process_definition_id: str | None = None
    process_definition_key_in: list[str] | None = None
    process_instance_id: str | None = None
    execution_id: str | None = None
    incident_timestamp_before: datetime | None = None
    incident_timestamp_after: datetime | None = None
    activity_id: str | None = None
    failed_activity_id: str | None = None
    cause_incident_id: str | None = None
    root_cause_incident_id: str | None = None
    configuration: str | None = None
    tenant_id_in: list[str] | None = None
    job_definition_id_in: list[str] | None = None
    sorting: list[tuple[str, str]] = field(default_factory=list)


HISTORIC_INCIDENT_SORT_KEYS = (
    "incidentId", "incidentMessage", "createTime", "endTime", "incidentType", "executionId", "activityId",
    "processInstanceId", "processDefinitionId", "processDefinitionKey", "causeIncidentId",
    "rootCauseIncidentId", "configuration", "historyConfiguration", "tenantId", "incidentState",
)


@dataclass(frozen=True)
class HistoricIncidentQuery:
    """Camunda's HistoricIncidentQuery; of ``open``, ``resolved`` and ``deleted`` the last true one counts."""

    incident_id: str | None = None
    incident_type: str | None = None
    incident_message: str | None = None
    incident_message_like: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_key_in: list[str] | None = None
    process_instance_id: str | None = None
    execution_id: str | None = None
    create_time_before: datetime | None = None
    create_time_after: datetime | None = None
    end_time_before: datetime | None = None
    end_time_after: datetime | None = None
    activity_id: str | None = None
    failed_activity_id: str | None = None
    cause_incident_id: str | None = None
    root_cause_incident_id: str | None = None
    configuration: str | None = None
    history_configuration: str | None = None
    open: bool = False
    resolved: bool = False
    deleted: bool = False
    tenant_id_in: list[str] | None = None
    without_tenant_id: bool = False
    job_definition_id_in: list[str] | None = None
    sorting: list[tuple[str, str]] = field(default_factory=list)


# -- runtime external-task queries --------------------------------------------------------------

EXTERNAL_TASK_SORT_KEYS = (
    "id", "lockExpirationTime", "processInstanceId", "processDefinitionId", "processDefinitionKey",
    "tenantId", "taskPriority", "createTime",
)

VARIABLE_OPERATORS = ("eq", "neq", "gt", "gteq", "lt", "lteq", "like", "notLike")


@dataclass(frozen=True)
class VariableCondition:
    """``name operator value`` on a process variable. Numbers compare by value whatever their
    type (an Integer 5 equals a Double 5.0), datetimes with Date variables, strings with String
    variables; booleans and None only with eq/neq."""

    name: str
    operator: str
    value: Any


@dataclass(frozen=True)
class ExternalTaskQuery:
    """Camunda's ExternalTaskQuery. ``locked``/``not_locked`` are relative to the time of the query;
    of ``with_retries_left``/``no_retries_left`` and of ``active``/``suspended`` the second wins, as
    in Camunda's REST API. Process definitions have no names in extask, so the two name filters
    match nothing. ``sorting`` holds (sortBy, sortOrder) pairs; default order is id ascending."""

    external_task_id: str | None = None
    external_task_id_in: list[str] | None = None
    topic_name: str | None = None
    worker_id: str | None = None
    locked: bool = False
    not_locked: bool = False
    with_retries_left: bool = False
    no_retries_left: bool = False
    lock_expiration_after: datetime | None = None
    lock_expiration_before: datetime | None = None
    activity_id: str | None = None
    activity_id_in: list[str] | None = None
    execution_id: str | None = None
    process_instance_id: str | None = None
    process_instance_id_in: list[str] | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_key_in: list[str] | None = None
    process_definition_name: str | None = None
    process_definition_name_like: str | None = None
    active: bool = False
    suspended: bool = False
    priority_higher_than_or_equals: int | None = None
    priority_lower_than_or_equals: int | None = None
    tenant_id_in: list[str] | None = None
    process_variables: list[VariableCondition] = field(default_factory=list)
    variable_names_ignore_case: bool = False
    variable_values_ignore_case: bool = False
    sorting: list[tuple[str | None, str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class ProcessInstanceFilter:
    """The part of Camunda's (historic) process instance query extask can answer: every instance
    with runtime tasks is in the runtime model, so both queries select from it."""

    process_instance_ids: list[str] | None = None
    business_key: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_key_in: list[str] | None = None
    tenant_id_in: list[str] | None = None
    without_tenant_id: bool = False
    active: bool = False
    suspended: bool = False


@dataclass(frozen=True)
class RetriesSelection:
    """The tasks a bulk retries command applies to: the union of every selector given."""

    external_task_ids: list[str | None] | None = None
    process_instance_ids: list[str] | None = None
    external_task_query: ExternalTaskQuery | None = None
    process_instance_query: ProcessInstanceFilter | None = None
    historic_process_instance_query: ProcessInstanceFilter | None = None
