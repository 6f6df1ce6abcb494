"""Query criteria for the read endpoints: the Camunda filter names in snake_case, plus sorting and paging."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
