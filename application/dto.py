"""Plain values the service takes and returns: never live aggregates.

Field names follow Camunda's DTOs in snake_case; times are timezone-aware UTC datetimes and
variables are ``TypedValue`` maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from extask.domain.external_task import ExternalTask
from extask.domain.variables import TypedValue


@dataclass(frozen=True)
class NewExternalTask:
    """What a process application says about a task it wants done (Camunda would take it from the model)."""

    topic_name: str
    process_instance_id: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_version_tag: str | None = None
    activity_id: str | None = None
    activity_instance_id: str | None = None
    execution_id: str | None = None
    business_key: str | None = None
    tenant_id: str | None = None
    priority: int = 0
    retries: int | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    local_variables: dict[str, Any] = field(default_factory=dict)
    extension_properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExternalTaskDTO:
    id: str
    topic_name: str
    worker_id: str | None
    lock_expiration_time: datetime | None
    create_time: datetime | None
    retries: int | None
    error_message: str | None
    suspended: bool
    priority: int
    process_instance_id: str
    process_definition_id: str | None
    process_definition_key: str | None
    process_definition_version_tag: str | None
    activity_id: str | None
    activity_instance_id: str | None
    execution_id: str | None
    tenant_id: str | None
    business_key: str | None

    @classmethod
    def from_task(cls, task: ExternalTask) -> ExternalTaskDTO:
        return cls(
            id=str(task.id),
            topic_name=task.topic_name,
            worker_id=task.worker_id,
            lock_expiration_time=task.lock_expiration_time,
            create_time=task.create_time,
            retries=task.retries,
            error_message=task.error_message,
            suspended=task.suspended,
            priority=task.priority,
            process_instance_id=task.process_instance_id,
            process_definition_id=task.process_definition_id,
            process_definition_key=task.process_definition_key,
            process_definition_version_tag=task.process_definition_version_tag,
            activity_id=task.activity_id,
            activity_instance_id=task.activity_instance_id,
            execution_id=task.execution_id,
            tenant_id=task.tenant_id,
            business_key=task.business_key,
        )


@dataclass(frozen=True)
class LockedExternalTaskDTO:
    """A task as fetch-and-lock hands it to a worker: its state after locking, plus its inputs."""

    task: ExternalTaskDTO
    error_details: str | None
    variables: dict[str, TypedValue]
    extension_properties: dict[str, str]


@dataclass(frozen=True)
class FetchTopic:
    topic_name: str
    lock_duration: int
    variables: list[str] | None = None
    local_variables: bool = False
    business_key: str | None = None
    process_definition_id: str | None = None
    process_definition_id_in: list[str] | None = None
    process_definition_key: str | None = None
    process_definition_key_in: list[str] | None = None
    process_definition_version_tag: str | None = None
    tenant_id_in: list[str] | None = None
    without_tenant_id: bool = False
    process_variables: dict[str, Any] | None = None
    include_extension_properties: bool = False


@dataclass(frozen=True)
class FetchAndLockRequest:
    worker_id: str
    max_tasks: int
    topics: list[FetchTopic]
    use_priority: bool = False
    # (field, order) pairs; only ("createTime", "asc" | "desc") is allowed, as in Camunda.
    sorting: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class HistoricExternalTaskLogDTO:
    id: str
    timestamp: datetime
    external_task_id: str
    topic_name: str
    worker_id: str | None
    priority: int
    retries: int | None
    error_message: str | None
    activity_id: str | None
    activity_instance_id: str | None
    execution_id: str | None
    process_instance_id: str
    process_definition_id: str | None
    process_definition_key: str | None
    tenant_id: str | None
    creation_log: bool
    failure_log: bool
    success_log: bool
    deletion_log: bool
    root_process_instance_id: str | None = None
    removal_time: datetime | None = None


@dataclass(frozen=True)
class IncidentDTO:
    id: str
    incident_timestamp: datetime
    incident_type: str
    incident_message: str | None
    configuration: str
    process_instance_id: str
    process_definition_id: str | None
    execution_id: str | None
    activity_id: str | None
    tenant_id: str | None
    cause_incident_id: str
    root_cause_incident_id: str
    failed_activity_id: str | None = None
    job_definition_id: str | None = None
    annotation: str | None = None


@dataclass(frozen=True)
class ProcessInstanceDTO:
    id: str
    business_key: str | None
    process_definition_id: str | None
    process_definition_key: str | None
    tenant_id: str | None
    suspended: bool
    ended: bool


@dataclass(frozen=True)
class HistoricIncidentDTO:
    """An incident's history: open until resolved (retries raised, task completed) or deleted (task removed)."""

    id: str
    create_time: datetime
    end_time: datetime | None
    incident_type: str
    incident_message: str | None
    configuration: str
    history_configuration: str | None
    process_instance_id: str
    root_process_instance_id: str
    process_definition_id: str | None
    process_definition_key: str | None
    execution_id: str | None
    activity_id: str | None
    tenant_id: str | None
    cause_incident_id: str
    root_cause_incident_id: str
    open: bool
    resolved: bool
    deleted: bool
    failed_activity_id: str | None = None
    job_definition_id: str | None = None
    annotation: str | None = None
    removal_time: datetime | None = None


@dataclass(frozen=True)
class BatchFailureDTO:
    external_task_id: str
    error_type: str
    error_message: str


@dataclass(frozen=True)
class BatchDTO:
    """Camunda's Batch, with extask's progress counts. Each task is one job, run as soon as it is
    created: ``jobs_created`` counts the tasks handled so far, ``completed_jobs`` + ``failed_jobs``."""

    id: str
    type: str
    total_jobs: int
    jobs_created: int
    start_time: datetime
    execution_start_time: datetime | None
    retries: int
    completed_jobs: int
    failed_jobs: int
    ended: bool
    end_time: datetime | None
    failures: list[BatchFailureDTO]
    batch_jobs_per_seed: int = 100
    invocations_per_batch_job: int = 1
    suspended: bool = False
    tenant_id: str | None = None
    create_user_id: str | None = None
