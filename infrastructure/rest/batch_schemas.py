"""Request and response models of bulk retries (``PUT /external-task/retries``,
``POST /external-task/retries-async``) and batches (``GET /batch/{id}``).

The process instance queries of a bulk retries body are answered from extask's process
instances, which carry only ids, business keys, definitions, tenants and a suspension state; a
field beyond those is refused with 400 rather than ignored, since ignoring a filter would set
the retries of more tasks than asked for.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from extask.application.dto import BatchDTO
from extask.application.errors import BadRequest
from extask.application.queries import ProcessInstanceFilter, RetriesSelection
from extask.infrastructure.rest.query_schemas import ExternalTaskQueryBody
from extask.infrastructure.rest.schemas import CamundaDate, Int32, RequestModel, ResponseModel


class _InstanceQuery(RequestModel):
    # Extra fields are kept (not ignored) so that an unsupported filter can be refused.
    model_config = ConfigDict(extra="allow")

    tenant_id_in: list[str] | None = None
    without_tenant_id: bool | None = None
    process_definition_id: str | None = None
    process_definition_key: str | None = None
    process_definition_key_in: list[str] | None = None
    active: bool | None = None
    suspended: bool | None = None

    def _check_supported(self, query_name: str) -> None:
        unsupported = sorted(name for name, value in (self.model_extra or {}).items() if value is not None)
        if unsupported:
            supported = sorted(field.alias or name for name, field in type(self).model_fields.items())
            raise BadRequest(
                f"extask does not support the {query_name} field '{unsupported[0]}'; "
                f"it supports {', '.join(supported)}"
            )

    def _filter(self, **fields: Any) -> ProcessInstanceFilter:
        return ProcessInstanceFilter(
            tenant_id_in=self.tenant_id_in or None, without_tenant_id=bool(self.without_tenant_id),
            process_definition_id=self.process_definition_id, process_definition_key=self.process_definition_key,
            process_definition_key_in=self.process_definition_key_in or None,
            active=bool(self.active), suspended=bool(self.suspended), **fields,
        )


class ProcessInstanceQueryBody(_InstanceQuery):
    """The supported part of Camunda's ProcessInstanceQueryDto."""

    process_instance_ids: list[str] | None = None
    business_key: str | None = None

    def to_filter(self) -> ProcessInstanceFilter:
        self._check_supported("processInstanceQuery")
        return self._filter(process_instance_ids=self.process_instance_ids or None, business_key=self.business_key)


class HistoricProcessInstanceQueryBody(_InstanceQuery):
    """The supported part of Camunda's HistoricProcessInstanceQueryDto. Finished instances have no
    tasks left, so ``finished`` selects none and ``unfinished`` changes nothing."""

    process_instance_id: str | None = None
    process_instance_ids: list[str] | None = None
    process_instance_business_key: str | None = None
    finished: bool | None = None
    unfinished: bool | None = None

    def to_filter(self) -> ProcessInstanceFilter | None:
        self._check_supported("historicProcessInstanceQuery")
        if self.finished:
            return None
        ids = self.process_instance_ids or None
        if self.process_instance_id is not None:
            ids = [self.process_instance_id] if ids is None or self.process_instance_id in ids else []
        if ids == []:
            return None
        return self._filter(process_instance_ids=ids, business_key=self.process_instance_business_key)


class SetRetriesForExternalTasksRequest(RequestModel):
    """Camunda's SetRetriesForExternalTasksDto: the union of every selector is used, at most
    ``items_per_batch`` tasks in all (the ids given and those the queries find; more is a 400)."""

    retries: Int32 | None = None
    external_task_ids: list[str | None] | None = None
    process_instance_ids: list[str | None] | None = None
    external_task_query: ExternalTaskQueryBody | None = None
    process_instance_query: ProcessInstanceQueryBody | None = None
    historic_process_instance_query: HistoricProcessInstanceQueryBody | None = None

    def selection(self) -> RetriesSelection:
        return RetriesSelection(
            external_task_ids=self.external_task_ids,
            process_instance_ids=self.process_instance_ids,  # type: ignore[arg-type]
            external_task_query=self.external_task_query.query() if self.external_task_query else None,
            process_instance_query=self.process_instance_query.to_filter() if self.process_instance_query else None,
            historic_process_instance_query=(
                self.historic_process_instance_query.to_filter() if self.historic_process_instance_query else None
            ),
        )


class BatchFailure(ResponseModel):
    external_task_id: str
    type: str
    message: str


class Batch(ResponseModel):
    """Camunda's BatchDto, plus extask's progress: ``completedJobs``, ``failedJobs``, ``ended``,
    ``endTime``, ``retries`` and ``failures`` (one per task whose retries could not be set)."""

    id: str
    type: str
    total_jobs: int
    jobs_created: int
    batch_jobs_per_seed: int
    invocations_per_batch_job: int
    seed_job_definition_id: str | None = None
    monitor_job_definition_id: str | None = None
    batch_job_definition_id: str | None = None
    suspended: bool
    tenant_id: str | None
    create_user_id: str | None
    start_time: CamundaDate
    execution_start_time: CamundaDate | None
    retries: int
    completed_jobs: int
    failed_jobs: int
    ended: bool
    end_time: CamundaDate | None
    failures: list[BatchFailure] = Field(description="Tasks whose retries could not be set, and why")

    @classmethod
    def from_dto(cls, batch: BatchDTO) -> Batch:
        fields = {name: getattr(batch, name) for name in cls.model_fields if hasattr(batch, name)}
        fields["failures"] = [
            BatchFailure(external_task_id=f.external_task_id, type=f.error_type, message=f.error_message)
            for f in batch.failures
        ]
        return cls(**fields)

