"""Pydantic request and response models of the REST API, separate from the application DTOs.

Field names are snake_case in Python and camelCase on the wire (an alias generator). Requests
ignore unknown fields and accept ``null`` for every optional field, as Camunda's Jackson setup
does. Integers are strict JSON integers within Java's ``int``/``long`` range (Jackson would
truncate ``1.5`` and coerce ``"5"``; extask refuses both). Responses mirror Camunda's DTOs
field for field, every field present and ``null`` where empty, dates in Camunda's format.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, Strict
from pydantic.alias_generators import to_camel

from extask.application.dto import (
    ExternalTaskDTO,
    FetchAndLockRequest,
    FetchTopic,
    HistoricExternalTaskLogDTO,
    IncidentDTO,
    LockedExternalTaskDTO,
    NewExternalTask,
)
from extask.application.queries import HistoricExternalTaskLogQuery, IncidentQuery, Page
from extask.infrastructure.rest import wire

Int32 = Annotated[int, Strict(), Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Strict(), Field(ge=-(2**63), le=2**63 - 1)]
CamundaDate = Annotated[datetime, PlainSerializer(wire.format_date, return_type=str)]

MAX_ASYNC_RESPONSE_TIMEOUT = 1_800_000


class RequestModel(BaseModel):
    # Jackson reads a JSON number into a String field, and clients rely on it
    # (camunda-external-task-client-python3 sends a numeric workerId on complete).
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, coerce_numbers_to_str=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


# -- variables ----------------------------------------------------------------------------------


class VariableValue(RequestModel):
    """A typed variable value; a null ``type`` means untyped (inferred from the JSON value)."""

    value: Any = None
    type: str | None = None
    value_info: dict[str, Any] | None = None


# What a request model reads of one list or map of objects before it refuses the request,
# whatever the engine's limits (which refuse far fewer): pydantic builds an object for each item,
# some fifty times the item's JSON in memory, and stops at this bound.
MOST_ITEMS = 100_000

Variables = Annotated[dict[str, VariableValue], Field(max_length=MOST_ITEMS)]


def variables_in(variables: Variables | None) -> dict[str, Any]:
    """Typed values for the service; raises InvalidVariableValue on bad input."""
    if variables is None:
        return {}
    return wire.variables_from_wire(
        {name: entry.model_dump(by_alias=True) for name, entry in variables.items()}
    )


# -- task creation (extask's own endpoint: Camunda takes these from the process model) ----------


class CreateExternalTaskRequest(RequestModel):
    topic_name: str | None = None
    process_instance_id: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_version_tag: str | None = None
    activity_id: str | None = None
    activity_instance_id: str | None = None
    execution_id: str | None = None
    business_key: str | None = None
    tenant_id: str | None = None
    priority: Int64 | None = None
    retries: Int32 | None = None
    variables: Variables | None = None
    local_variables: Variables | None = None
    extension_properties: dict[str, str] | None = None

    def to_new_task(self) -> NewExternalTask:
        return NewExternalTask(
            topic_name=self.topic_name,  # type: ignore[arg-type]  # None: the service says "topicName is null"
            process_instance_id=self.process_instance_id,
            process_definition_id=self.process_definition_id,
            process_definition_key=self.process_definition_key,
            process_definition_version_tag=self.process_definition_version_tag,
            activity_id=self.activity_id,
            activity_instance_id=self.activity_instance_id,
            execution_id=self.execution_id,
            business_key=self.business_key,
            tenant_id=self.tenant_id,
            priority=self.priority or 0,
            retries=self.retries,
            variables=variables_in(self.variables),
            local_variables=variables_in(self.local_variables),
            extension_properties=dict(self.extension_properties or {}),
        )


class CreateExternalTaskBatchRequest(RequestModel):
    tasks: Annotated[list[CreateExternalTaskRequest], Field(max_length=MOST_ITEMS)] | None = None


# -- fetch and lock -----------------------------------------------------------------------------


class SortingEntry(RequestModel):
    sort_by: str | None = None
    sort_order: str | None = None


class FetchTopicRequest(RequestModel):
    topic_name: str | None = None
    lock_duration: Int64 | None = None
    variables: list[str] | None = None
    local_variables: bool | None = None
    deserialize_values: bool | None = None
    include_extension_properties: bool | None = None
    business_key: str | None = None
    process_definition_id: str | None = None
    process_definition_id_in: list[str] | None = None
    process_definition_key: str | None = None
    process_definition_key_in: list[str] | None = None
    process_definition_version_tag: str | None = None
    tenant_id_in: list[str] | None = None
    without_tenant_id: bool | None = None
    process_variables: dict[str, Any] | None = None

    def to_topic(self) -> FetchTopic:
        return FetchTopic(
            topic_name=self.topic_name,  # type: ignore[arg-type]  # None: "topicName is null"
            lock_duration=self.lock_duration or 0,  # absent is 0, as for a Java long
            variables=self.variables,
            local_variables=bool(self.local_variables),
            business_key=self.business_key,
            process_definition_id=self.process_definition_id,
            process_definition_id_in=self.process_definition_id_in,
            process_definition_key=self.process_definition_key,
            process_definition_key_in=self.process_definition_key_in,
            process_definition_version_tag=self.process_definition_version_tag,
            tenant_id_in=self.tenant_id_in,
            without_tenant_id=bool(self.without_tenant_id),
            process_variables=self.process_variables,
            include_extension_properties=bool(self.include_extension_properties),
        )


class FetchAndLockBody(RequestModel):
    worker_id: str | None = None
    max_tasks: Int32 | None = None
    use_priority: bool | None = None
    sorting: Annotated[list[SortingEntry], Field(max_length=MOST_ITEMS)] | None = None
    async_response_timeout: Int64 | None = None
    topics: Annotated[list[FetchTopicRequest], Field(max_length=MOST_ITEMS)] | None = None

    def to_request(self) -> FetchAndLockRequest:
        return FetchAndLockRequest(
            worker_id=self.worker_id,  # type: ignore[arg-type]  # None: "workerId is null"
            max_tasks=self.max_tasks or 0,
            topics=[topic.to_topic() for topic in self.topics or []],
            use_priority=bool(self.use_priority),
            sorting=[(entry.sort_by, entry.sort_order) for entry in self.sorting or []],  # type: ignore[misc]
        )


# -- worker and operator commands ---------------------------------------------------------------


class CompleteRequest(RequestModel):
    worker_id: str | None = None
    variables: Variables | None = None
    local_variables: Variables | None = None


class FailureRequest(RequestModel):
    worker_id: str | None = None
    error_message: str | None = None
    error_details: str | None = None
    retries: Int32 | None = None
    retry_timeout: Int64 | None = None
    variables: Variables | None = None
    local_variables: Variables | None = None


class BpmnErrorRequest(RequestModel):
    worker_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    variables: Variables | None = None


class ExtendLockRequest(RequestModel):
    worker_id: str | None = None
    new_duration: Int64 | None = None


class LockRequest(RequestModel):
    worker_id: str | None = None
    lock_duration: Int64 | None = None


class AnnotationRequest(RequestModel):
    annotation: str | None = None


class RetriesRequest(RequestModel):
    retries: Int32 | None = None


class PriorityRequest(RequestModel):
    priority: Int64 | None = None


class ProcessVariablesModificationRequest(RequestModel):
    modifications: Variables | None = None
    deletions: list[str] | None = None


class SuspensionStateRequest(RequestModel):
    suspended: bool | None = None


# -- responses ----------------------------------------------------------------------------------


class CamundaError(ResponseModel):
    """The body of every error answer."""

    type: str = Field(description="Camunda's exception class name, e.g. RestException")
    message: str
    code: int | None = Field(description="0 generic, 1 optimistic locking; null from the REST layer itself")


class VersionResponse(ResponseModel):
    version: str


class CountResponse(ResponseModel):
    count: int


class ExternalTask(ResponseModel):
    """Camunda's ExternalTaskDto."""

    activity_id: str | None
    activity_instance_id: str | None
    error_message: str | None
    execution_id: str | None
    id: str
    lock_expiration_time: CamundaDate | None
    create_time: CamundaDate | None
    process_definition_id: str | None
    process_definition_key: str | None
    process_definition_version_tag: str | None
    process_instance_id: str | None
    retries: int | None
    suspended: bool
    worker_id: str | None
    topic_name: str
    tenant_id: str | None
    priority: int
    business_key: str | None

    @classmethod
    def from_dto(cls, task: ExternalTaskDTO, **overrides: Any) -> ExternalTask:
        fields = {name: getattr(task, name) for name in ExternalTask.model_fields}
        return cls(**{**fields, **overrides})


class LockedExternalTask(ExternalTask):
    """Camunda's LockedExternalTaskDto: the task after locking, with its inputs."""

    error_details: str | None
    variables: dict[str, dict[str, Any]] = Field(
        description="name -> {type, value, valueInfo}; File values come without 'value'"
    )
    extension_properties: dict[str, str]

    @classmethod
    def from_locked(cls, locked: LockedExternalTaskDTO) -> LockedExternalTask:
        return cls.from_dto(
            locked.task,
            suspended=False,  # Camunda never fills it in for locked tasks
            error_details=locked.error_details,
            variables=wire.variables_to_wire(locked.variables),
            extension_properties=locked.extension_properties,
        )


class HistoricExternalTaskLog(ResponseModel):
    """Camunda's HistoricExternalTaskLogDto."""

    id: str
    timestamp: CamundaDate
    removal_time: CamundaDate | None
    external_task_id: str
    topic_name: str | None
    worker_id: str | None
    priority: int
    retries: int | None
    error_message: str | None
    activity_id: str | None
    activity_instance_id: str | None
    execution_id: str | None
    process_instance_id: str | None
    process_definition_id: str | None
    process_definition_key: str | None
    tenant_id: str | None
    root_process_instance_id: str | None
    creation_log: bool
    failure_log: bool
    success_log: bool
    deletion_log: bool

    @classmethod
    def from_dto(cls, log: HistoricExternalTaskLogDTO) -> HistoricExternalTaskLog:
        return cls(**{name: getattr(log, name) for name in cls.model_fields})


class Incident(ResponseModel):
    """Camunda's IncidentDto (runtime incidents)."""

    id: str
    process_definition_id: str | None
    process_instance_id: str | None
    execution_id: str | None
    incident_timestamp: CamundaDate
    incident_type: str
    activity_id: str | None
    failed_activity_id: str | None
    cause_incident_id: str | None
    root_cause_incident_id: str | None
    configuration: str | None
    incident_message: str | None
    tenant_id: str | None
    job_definition_id: str | None
    annotation: str | None

    @classmethod
    def from_dto(cls, incident: IncidentDTO) -> Incident:
        return cls(**{name: getattr(incident, name) for name in cls.model_fields})


# -- query parameters ---------------------------------------------------------------------------
#
# Camunda converts query parameters itself: "true" (any case) is true and anything else false,
# numbers and dates that do not parse give "Cannot set query parameter '<p>' to value '<v>': <why>".
# The validators below raise ValueError(<why>); the app's validation handler adds the prefix.


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return value is True


_JAVA_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def _number(java_type: str, bits: int):
    def convert(value: Any) -> int | None:
        if value is None or isinstance(value, int):
            return value
        number = int(value) if _JAVA_INTEGER_TEXT.fullmatch(value) else None
        if number is None or not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
            raise ValueError(f"Cannot convert value {value} to java type {java_type}")
        return number

    return convert


def _date(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return wire.parse_date(value)
    except ValueError:
        raise ValueError(f'Cannot convert value "{value}" to java type java.util.Date') from None


def _csv(value: Any) -> list[str] | None:
    # FastAPI hands list-typed query parameters over as the list of their repetitions.
    values = value if isinstance(value, list) else [] if value is None else [value]
    items = [item for text in values for item in str(text).split(",") if item]
    return items or None  # Camunda's REST layer skips empty lists


QueryFlag = Annotated[bool, BeforeValidator(_flag)]
QueryInt = Annotated[int | None, BeforeValidator(_number("java.lang.Integer", 32))]
QueryLong = Annotated[int | None, BeforeValidator(_number("java.lang.Long", 64))]
QueryDate = Annotated[datetime | None, BeforeValidator(_date)]
RequiredQueryDate = Annotated[datetime, BeforeValidator(_date)]
QueryList = Annotated[list[str] | None, BeforeValidator(_csv), Field(description="comma-separated")]


class SortParams(RequestModel):
    sort_by: str | None = None
    sort_order: str | None = None


def _not_negative(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise ValueError("the value must not be negative")
    return value


PageBound = Annotated[QueryInt, AfterValidator(_not_negative)]


class PageParams(RequestModel):
    first_result: PageBound = None
    max_results: PageBound = None

    def to_page(self) -> Page:
        return Page(first_result=self.first_result, max_results=self.max_results)


_NOT_CRITERIA = {"sort_by", "sort_order", "first_result", "max_results"}


class HistoricExternalTaskLogCriteria(SortParams):
    log_id: str | None = None
    external_task_id: str | None = None
    topic_name: str | None = None
    worker_id: str | None = None
    error_message: str | None = None
    activity_id_in: QueryList = None
    activity_instance_id_in: QueryList = None
    execution_id_in: QueryList = None
    process_instance_id: str | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    priority_higher_than_or_equals: QueryLong = None
    priority_lower_than_or_equals: QueryLong = None
    tenant_id_in: QueryList = None
    without_tenant_id: QueryFlag = False
    creation_log: QueryFlag = False
    failure_log: QueryFlag = False
    success_log: QueryFlag = False
    deletion_log: QueryFlag = False

    def to_query(self, sorting: list[tuple[str, str]]) -> HistoricExternalTaskLogQuery:
        criteria = self.model_dump(exclude=_NOT_CRITERIA)
        return HistoricExternalTaskLogQuery(**criteria, sorting=sorting)


class IncidentCriteria(SortParams):
    incident_id: str | None = None
    incident_type: str | None = None
    incident_message: str | None = None
    incident_message_like: str | None = None
    process_definition_id: str | None = None
    process_definition_key_in: QueryList = None
    process_instance_id: str | None = None
    execution_id: str | None = None
    incident_timestamp_before: QueryDate = None
    incident_timestamp_after: QueryDate = None
    activity_id: str | None = None
    failed_activity_id: str | None = None
    cause_incident_id: str | None = None
    root_cause_incident_id: str | None = None
    configuration: str | None = None
    tenant_id_in: QueryList = None
    job_definition_id_in: QueryList = None

    def to_query(self, sorting: list[tuple[str, str]]) -> IncidentQuery:
        criteria = self.model_dump(exclude=_NOT_CRITERIA)
        return IncidentQuery(**criteria, sorting=sorting)


# FastAPI takes one model per request for the query string: list endpoints add paging to criteria.
class HistoricExternalTaskLogParams(HistoricExternalTaskLogCriteria, PageParams):
    pass


class IncidentParams(IncidentCriteria, PageParams):
    pass
